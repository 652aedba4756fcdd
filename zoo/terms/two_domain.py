"""The terms of the two-domain kind (``cycle``: CycleGAN, DiscoGAN, DualGAN, Ganilla): each
reads a ``Translation``, every domain's real, translated, round-tripped and identity-mapped
images."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import tensorflow as tf

from zoo.losses import LossPair, batch_mean, gradient_penalty, reduce_loss
from zoo.terms.core import clip_weights, l1_per_example, mean_signs


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
            its fake images (the fakes from the history pool, in the discriminators' update);
            in the generators' update ``real_out`` only when a term ``needs_real_outputs``.
        logs: this replica's shares of the logged values.
        step: the steps done before this one (for terms whose weight follows a schedule).
        critics: in the discriminators' update, each domain's real-vs-fake ``logits`` on
            other images (for a gradient penalty), by domain.
        judged: in the discriminators' update, the fakes each domain's discriminator judged
            (the history pool's answer), by domain.
        draw: ``draw(stream, shape)``, uniform [0, 1) noise of this replica's rows from a
            named stream (a penalty's interpolation weights).
    """

    global_batch: tf.Tensor
    real: dict
    step: tf.Tensor | None = None
    critics: dict = dataclasses.field(default_factory=dict)
    judged: dict = dataclasses.field(default_factory=dict)
    draw: Callable | None = None
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
    # whether the generators' update must run each discriminator on its real images too
    needs_real_outputs = False

    def generator_loss(self, t: Translation) -> tf.Tensor | None:
        return None

    def discriminator_loss(self, t: Translation, domain: str) -> tf.Tensor | None:
        return None

    def after_discriminator_update(self, discriminator: keras.Model) -> None:
        """Runs after each discriminator's update (DualGAN's weight clipping, say)."""
        return None  # (a body of its own: AutoGraph cannot convert a docstring-only method)

    def real_signs(self, real_out: dict) -> tf.Tensor | None:
        """[B]: as ``zoo.terms.Term.real_signs``, on one domain's discriminator's outputs."""
        return None


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
        d_scale: multiplies each discriminator's side (0.5 for DiscoGAN's halved BCE).
    """

    pair: LossPair
    generator_scale: float = 1.0
    d_scale: float = 1.0

    def generator_loss(self, t):
        loss = 0.0
        for domain in sorted(t.fake_out):
            per_example = self.pair.g_loss(t.fake_out[domain]["logits"])
            loss += self.generator_scale * reduce_loss(per_example, t.global_batch)
        t.log("g_loss", loss)
        return loss

    def real_signs(self, real_out):
        if self.pair.threshold is None:
            return None
        return mean_signs(real_out["logits"], self.pair.threshold)

    def discriminator_loss(self, t, domain):
        real, fake = t.real_out[domain]["logits"], t.fake_out[domain]["logits"]
        loss = self.d_scale * reduce_loss(self.pair.d_loss(real, fake), t.global_batch)
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


@dataclasses.dataclass
class DomainFeatureMatching(TwoDomainTerm):
    """``weight`` times DiscoGAN's feature-matching loss (the authors' ``get_fm_loss``): for
    each of the discriminator's intermediate ``outputs`` (by default every output named
    ``f1``, ``f2``, ...), the mean over its entries of the
    squared difference between the batch means of its maps on real images and on translated
    ones, summed over the maps and both domains; logs the weighted value as ``fm_loss``.

    The batch means are over the *global* batch (``zoo.losses.batch_mean``, all-reduced), and
    each replica adds its share of the loss (1 / replicas), so that two replicas compute one
    device's loss and gradient. The real maps are held fixed: they do not depend
    on the generators. (The authors' ``HingeEmbeddingLoss`` with target 1 is the identity on
    these non-negative values.)
    """

    weight: float = 0.9
    outputs: tuple[str, ...] | None = None  # None: every output named f1, f2, ...
    needs_real_outputs = True

    def _names(self, outputs: dict) -> list[str]:
        if self.outputs is not None:
            return list(self.outputs)
        return sorted(n for n in outputs if n[:1] == "f" and n[1:].isdigit())

    def generator_loss(self, t):
        loss = 0.0
        for domain in sorted(t.fake_out):
            for name in self._names(t.fake_out[domain]):
                real = tf.stop_gradient(batch_mean(t.real_out[domain][name], t.global_batch))
                fake = batch_mean(t.fake_out[domain][name], t.global_batch)
                loss += tf.reduce_mean(tf.square(real - fake))
        # Every replica computes the whole loss from the global means; the all-reduce's
        # gradient sums the replicas' gradients of it, so each contributes its share.
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx else 1
        loss = self.weight * loss / replicas
        t.log("fm_loss", loss)
        return loss


@dataclasses.dataclass
class CriticClipping(TwoDomainTerm):
    """WGAN's Lipschitz constraint on each domain's critic: every weight clipped to
    [-c, c] after each update (DualGAN, Yi et al. 2017, after Arjovsky et al. 2017)."""

    clip_value: float = 0.01

    def after_discriminator_update(self, discriminator):
        clip_weights(discriminator, self.clip_value)


@dataclasses.dataclass
class Curriculum(TwoDomainTerm):
    """``term`` whose generator loss is multiplied by ``before`` for the first ``steps`` steps
    and by ``after`` from then on, chosen in the graph from ``Translation.step`` (so a resumed
    run weighs each step as an uninterrupted one). DiscoGAN's code weighs its GAN and
    reconstruction losses by a rate that jumps from 0.01 to 0.5 after ``gan_curriculum``
    iterations. The discriminators' side is the term's own."""

    term: TwoDomainTerm
    before: float
    after: float
    steps: int

    @property
    def needs_identity(self):
        return self.term.needs_identity

    @property
    def needs_real_outputs(self):
        return self.term.needs_real_outputs

    def generator_loss(self, t):
        loss = self.term.generator_loss(t)
        if loss is None:
            return None
        if t.step is None:
            raise ValueError("a Curriculum term needs the step (Translation.step)")
        early = tf.cast(t.step, tf.int64) < self.steps
        return tf.where(early, self.before, self.after) * loss

    def discriminator_loss(self, t, domain):
        return self.term.discriminator_loss(t, domain)

    def after_discriminator_update(self, discriminator):
        self.term.after_discriminator_update(discriminator)

    def real_signs(self, real_out):
        return self.term.real_signs(real_out)


@dataclasses.dataclass
class DomainGradientPenalty(TwoDomainTerm):
    """WGAN-GP's penalty (Gulrajani et al. 2017) on each domain's critic, ``weight`` times
    (||grad C(x)|| - 1)^2 at random interpolates of its real images and the fakes it judged
    (``zoo.losses.gradient_penalty``; the gradient of the summed patch map, as the authors of
    DualGAN's and StarGAN's code take it), drawn from the stream ``gp_<domain>``; logs ``gp``,
    summed over the domains."""

    weight: float = 10.0

    def discriminator_loss(self, t, domain):
        real = t.real[domain]
        eps = t.draw(f"gp_{domain}", [1] * (len(real.shape) - 1))
        per_example = gradient_penalty(t.critics[domain], real, t.judged[domain], eps)
        penalty = reduce_loss(per_example, t.global_batch)
        t.log("gp", penalty)
        return self.weight * penalty
