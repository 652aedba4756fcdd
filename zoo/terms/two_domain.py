"""The terms of the two-domain kind (``cycle``: CycleGAN; DiscoGAN and DualGAN next): each
reads a ``Translation``, every domain's real, translated, round-tripped and identity-mapped
images."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import tensorflow as tf

from zoo.losses import LossPair, reduce_loss
from zoo.terms.core import l1_per_example


@dataclasses.dataclass
class Translation:
    """What one two-domain step computed, by domain (``"a"``, ``"b"``), for the terms.

    Args:
        global_batch: examples per domain in the global batch (losses divide by it).
        real: each domain's real images (this replica's rows).
        fake: images translated *into* each domain (``fake["b"]`` = G_AB(real A)).
        rec: each domain's real images translated there and back (``rec["a"]`` =
            G_BA(G_AB(real A))).
        same: each domain's real images through the generator *into* that domain
            (``same["b"]`` = G_AB(real B)), for the identity loss; empty when no term needs it.
        real_out, fake_out: each domain's discriminator's outputs by name on its real and on
            its fake images (the fakes from the history pool, in the discriminators' update).
        logs: this replica's shares of the logged values.
    """

    global_batch: tf.Tensor
    real: dict
    fake: dict = dataclasses.field(default_factory=dict)
    rec: dict = dataclasses.field(default_factory=dict)
    same: dict = dataclasses.field(default_factory=dict)
    real_out: dict = dataclasses.field(default_factory=dict)
    fake_out: dict = dataclasses.field(default_factory=dict)
    logs: dict = dataclasses.field(default_factory=dict)

    def log(self, name: str, value: tf.Tensor) -> None:
        self.logs[name] = self.logs.get(name, 0.0) + value

    def distance_to_real(self, images: dict, distance) -> tf.Tensor:
        """The per-example ``distance`` between ``images`` and the real images of their
        domain, reduced over the global batch and summed over the domains of ``images``."""
        loss = 0.0
        for domain in sorted(images):
            loss += reduce_loss(distance(images[domain], self.real[domain]), self.global_batch)
        return loss


class TwoDomainTerm:
    """A piece of a two-domain objective. ``generator_loss`` is the piece's part of the
    generators' joint loss; ``discriminator_loss`` its part of domain ``domain``'s
    discriminator loss; both weighted and globally reduced, or ``None`` for nothing. (Not a
    ``Term``: it reads a ``Translation``, and a discriminator's loss is asked per domain.)"""

    needs_identity = False  # whether the trainer must compute ``Translation.same``

    def generator_loss(self, t: Translation) -> tf.Tensor | None:
        return None

    def discriminator_loss(self, t: Translation, domain: str) -> tf.Tensor | None:
        return None

    def after_discriminator_update(self, discriminator: keras.Model) -> None:
        """Runs after each discriminator's update (DualGAN's weight clipping, say)."""
        return None  # (a body of its own: AutoGraph cannot convert a docstring-only method)


@dataclasses.dataclass
class DomainAdversarial(TwoDomainTerm):
    """The loss pair in each direction, on each discriminator's ``logits`` (a patch map: the
    pairs average over it). Logs ``d_loss_a``/``d_loss_b`` (each domain's discriminator),
    their sum ``d_loss``, and ``g_loss``, the generators' adversarial loss summed over both
    directions.

    Args:
        pair: the loss pair (``zoo.losses``).
        generator_scale: multiplies the generators' side (2 for the authors' least squares
            in CycleGAN, see ``zoo.cyclegan``).
    """

    pair: LossPair
    generator_scale: float = 1.0

    def generator_loss(self, t):
        loss = 0.0
        for domain in sorted(t.fake_out):
            per_example = self.pair.g_loss(t.fake_out[domain]["logits"])
            loss += self.generator_scale * reduce_loss(per_example, t.global_batch)
        t.log("g_loss", loss)
        return loss

    def discriminator_loss(self, t, domain):
        real, fake = t.real_out[domain]["logits"], t.fake_out[domain]["logits"]
        loss = reduce_loss(self.pair.d_loss(real, fake), t.global_batch)
        t.log(f"d_loss_{domain}", loss)
        t.log("d_loss", loss)
        return loss


@dataclasses.dataclass
class CycleConsistency(TwoDomainTerm):
    """``weight`` times the distance between each domain's real images and their round trip,
    summed over both domains (Zhu et al. 2017, eq. 2); logs the weighted value as
    ``cycle_loss``.

    Args:
        weight: lambda (CycleGAN: 10).
        distance: per-example distance (``l1_per_example``; DiscoGAN: ``l2_per_example``).
    """

    weight: float = 10.0
    distance: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] = l1_per_example

    def generator_loss(self, t):
        loss = self.weight * t.distance_to_real(t.rec, self.distance)
        t.log("cycle_loss", loss)
        return loss


@dataclasses.dataclass
class IdentityMapping(TwoDomainTerm):
    """``weight`` times the L1 distance between each domain's real images and the output of
    the generator into that domain on them (Zhu et al. 2017, sec. 5.2: "the generator ... close
    to an identity mapping when real samples of the target domain are provided"), summed over
    both domains; logs the weighted value as ``identity_loss``."""

    weight: float = 5.0

    @property
    def needs_identity(self) -> bool:
        return self.weight > 0

    def generator_loss(self, t):
        if not t.same:
            return None
        loss = self.weight * t.distance_to_real(t.same, l1_per_example)
        t.log("identity_loss", loss)
        return loss
