"""Composable terms of an adversarial objective.

A family's objective is a list of terms (``Family.terms(objective)``). In each discriminator
update the trainer sums every term's ``discriminator_loss``; in the generator update, every
term's ``generator_loss``; so WGAN-GP is ``[Adversarial(WASSERSTEIN), GradientPenalty(10)]``
and ACGAN ``[Adversarial(NON_SATURATING), AuxiliaryClassifier(1)]``. A term reads what the
update computed from an ``Update`` (the images, the discriminator's named outputs, the drawn
generator inputs), returns its weighted loss, reduced over the *global* batch
(``zoo.losses.reduce_loss``), and logs what it wants to show.

The kinds that translate images read other updates, with pieces of the same shape:

* the ``paired`` kind (pix2pix) sums ``Term``s too, on an ``Update`` whose ``batch`` holds
  the ``source`` and the real ``image``: ``ConditionalAdversarial`` (a loss pair on a
  PatchGAN's map, the discriminator's side scaled) and ``L1Reconstruction``;
* the ``cycle`` kind (CycleGAN; DiscoGAN and DualGAN next) sums ``TwoDomainTerm``s, each
  reading a ``Translation`` (every domain's real, translated, round-tripped and identity-mapped
  images): ``DomainAdversarial``, ``CycleConsistency`` and ``IdentityMapping``, with the
  per-example distances ``l1_per_example`` and ``l2_per_example``.

The families import them in their ``terms(objective)`` only: this module imports TensorFlow,
and registering a family (``import zoo``) must not.

Two pieces serve the kinds that run things on their own intervals (``progressive``):

* ``Lazy(term, every=N)`` adds ``term`` only on the steps where ``step % N == 0``, with its
  loss multiplied by N, decided in the graph (StyleGAN2's lazy regularization, Karras et al.
  2020, sec. 3.1: R1 every 16 steps, path length every 4);
* a ``Schedule`` is a value computed from the step in the graph at the start of every step
  (ProGAN's level of detail), so that a resumed run recomputes it exactly from the step.

Every term is tested on its own (``tests/test_terms.py``), with known answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import tensorflow as tf

from zoo.losses import (
    LossPair,
    feature_matching,
    gradient_penalty,
    reduce_loss,
    semi_supervised_logit,
)


@dataclasses.dataclass
class Update:
    """What one discriminator or generator update computed, on this replica.

    ``real_out`` and ``fake_out`` are the discriminator's outputs by name; ``critic(x)`` is its
    real-vs-fake logit on images ``x`` conditioned like the real batch (for penalties);
    ``draw(stream, shape)`` gives uniform [0, 1) noise of this replica's rows from a named
    stream (for a penalty's interpolation weights); ``discriminate(images)`` runs the
    discriminator on other images (a labelled batch). Terms add to ``logs``; what a term
    computes in ``prepare_generator`` (outside the generator's tape) goes in ``prepared``.
    """

    global_batch: tf.Tensor
    batch: dict
    real_out: dict
    fake_in: dict
    fake: tf.Tensor
    fake_out: dict
    critic: Callable[[tf.Tensor], tf.Tensor]
    draw: Callable[[str, list[int]], tf.Tensor]
    discriminate: Callable[[tf.Tensor], dict]
    logs: dict
    prepared: dict = dataclasses.field(default_factory=dict)  # from prepare_generator
    step: tf.Tensor | None = None  # the steps done before this one (for ``Lazy`` terms)

    @property
    def real(self) -> tf.Tensor:
        return self.batch["image"]

    def log(self, name: str, value: tf.Tensor) -> None:
        self.logs[name] = self.logs.get(name, 0.0) + value


class Term:
    """A piece of the objective; each method returns a weighted, globally reduced loss or
    ``None`` when the term has nothing to add to that network. ``log_names``: what it logs
    (a ``Lazy`` term logs them on the steps it skips too, as 0)."""

    log_names: tuple[str, ...] = ()

    def discriminator_loss(self, update: Update) -> tf.Tensor | None:
        return None

    def prepare_generator(self, update: Update) -> None:
        """Runs before the generator's tape (e.g. feature matching's real features)."""
        return None  # (a body of its own: AutoGraph cannot convert a docstring-only method)

    def generator_loss(self, update: Update) -> tf.Tensor | None:
        return None

    def after_discriminator_update(self, discriminator: keras.Model) -> None:
        """Runs after each discriminator update (e.g. WGAN's weight clipping)."""
        return None


def accuracy(correct: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    """This replica's share of the global batch's mean share of ``correct``: each example's
    share of its entries (the patches of a PatchGAN's map; the one entry of a logit or a
    label), averaged over the global batch."""
    flat = tf.reshape(tf.cast(correct, tf.float32), [tf.shape(correct)[0], -1])
    return reduce_loss(tf.reduce_mean(flat, axis=1), global_batch)


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    per_example = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return reduce_loss(per_example, global_batch)


def l1_per_example(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference of each example [B] (``torch.nn.L1Loss`` once averaged over
    the batch)."""
    diff = tf.abs(tf.cast(x, tf.float32) - tf.cast(y, tf.float32))
    return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)


def l2_per_example(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of each example [B] (DiscoGAN's reconstruction distance)."""
    diff = tf.square(tf.cast(x, tf.float32) - tf.cast(y, tf.float32))
    return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)


@dataclasses.dataclass
class Adversarial(Term):
    """The adversarial loss pair on the discriminator's ``logits`` output (Goodfellow et al.
    2014, and the pairs of ``zoo.losses``); logs ``d_loss`` (scaled: what the discriminator
    minimises), ``g_loss`` and, for a pair with a real/fake threshold, the share of real and
    fake images (or patches) the discriminator gets right.

    Args:
        pair: the loss pair (``zoo.losses``).
        d_scale: the factor of the discriminator's loss (1; pix2pix halves it).
        output: the discriminator's output the pair reads (pix2pixHD's discriminator of each
            scale has its own).
    """

    pair: LossPair
    d_scale: float = 1.0
    output: str = "logits"

    def logit(self, outputs: dict) -> tf.Tensor:
        return outputs[self.output]

    def discriminator_loss(self, update):
        real, fake = self.logit(update.real_out), self.logit(update.fake_out)
        loss = self.d_scale * reduce_loss(self.pair.d_loss(real, fake), update.global_batch)
        update.log("d_loss", loss)
        if self.pair.threshold is not None:
            update.log("d_real_acc", accuracy(real > self.pair.threshold, update.global_batch))
            update.log("d_fake_acc", accuracy(fake < self.pair.threshold, update.global_batch))
        return loss

    def generator_loss(self, update):
        loss = reduce_loss(self.pair.g_loss(self.logit(update.fake_out)), update.global_batch)
        update.log("g_loss", loss)
        return loss


@dataclasses.dataclass
class ConditionalAdversarial(Adversarial):
    """pix2pix's conditional GAN loss L_cGAN(G, D) (Isola et al. 2017, eq. 1) on the
    discriminator's map of ``logits`` on (source, image) pairs: the pair's per-example losses
    average over the patches (the authors' BCE-with-logits mean over the map), the
    discriminator's scaled by ``d_scale`` (0.5: "we divide the objective by 2 while optimizing
    D", sec. 3.3). Logs as ``Adversarial``, the accuracies a share of patches.

    For pix2pixHD's several discriminators, one instance per scale reads its own ``output``."""

    d_scale: float = 0.5
    log_names = ("d_loss", "d_real_acc", "d_fake_acc", "g_loss")


@dataclasses.dataclass
class L1Reconstruction(Term):
    """``weight`` times L_L1(G) = E ||y - G(x)||_1 (Isola et al. 2017, eq. 3), the mean
    absolute difference per pixel between the generator's output and the target (the authors'
    ``nn.L1Loss``, a mean over pixels and channels), averaged over the global batch. Logs the
    unweighted distance as ``l1``."""

    weight: float = 100.0
    log_names = ("l1",)

    def generator_loss(self, update):
        distance = reduce_loss(l1_per_example(update.fake, update.real), update.global_batch)
        update.log("l1", distance)
        return self.weight * distance


@dataclasses.dataclass
class SemiSupervised(Adversarial):
    """Salimans et al. 2016, sec. 3.1 and 5: the discriminator is a K-class classifier whose
    logsumexp is the real-vs-fake logit. Its loss is the unsupervised loss (the mean over the
    real and fake halves of the (K+1)-class problem: half the pair's sum) plus cross-entropy on
    the batch's ``labelled_image``/``labelled_label``; the generator matches the mean of the
    discriminator's ``features`` on real data (feature matching) instead of fooling it."""

    def logit(self, outputs):
        return semi_supervised_logit(outputs["class_logits"])

    def discriminator_loss(self, update):
        unsupervised = 0.5 * super().discriminator_loss(update)
        batch = update.batch
        labelled = update.discriminate(batch["labelled_image"])["class_logits"]
        supervised = cross_entropy(batch["labelled_label"], labelled, update.global_batch)
        update.log("d_sup_loss", supervised)
        predicted = tf.argmax(labelled, axis=-1, output_type=tf.int32)
        update.log("d_sup_acc", accuracy(predicted == batch["labelled_label"], update.global_batch))
        return unsupervised + supervised

    def prepare_generator(self, update):
        update.prepared["real_features"] = update.discriminate(update.real)["features"]

    def generator_loss(self, update):
        real_features = update.prepared["real_features"]
        loss = feature_matching(real_features, update.fake_out["features"], update.global_batch)
        update.log("g_loss", loss)
        return loss


@dataclasses.dataclass
class GradientPenalty(Term):
    """WGAN-GP's penalty on the critic's gradient norm at random interpolates (Gulrajani et al.
    2017, alg. 1), ``weight`` times ``zoo.losses.gradient_penalty``; logs ``gp``."""

    weight: float = 10.0
    log_names = ("gp",)

    def discriminator_loss(self, update):
        real = update.real
        eps = update.draw("gp", [1] * (len(real.shape) - 1))
        per_example = gradient_penalty(update.critic, real, update.fake, eps)
        penalty = reduce_loss(per_example, update.global_batch)
        update.log("gp", penalty)
        return self.weight * penalty


@dataclasses.dataclass
class R1(Term):
    """The R1 penalty on the discriminator's gradient at real images, ``weight / 2`` times
    ``||grad D(x)||^2`` (Mescheder et al. 2018, eq. 9; StyleGAN2's ``r1_gamma`` is ``weight``);
    logs ``r1`` (the unweighted squared norm). Wrap it in ``Lazy`` for StyleGAN2's every-16."""

    weight: float = 10.0
    log_names = ("r1",)

    def discriminator_loss(self, update):
        real = tf.convert_to_tensor(update.real)
        with tf.GradientTape() as tape:
            tape.watch(real)
            scores = tf.reduce_sum(tf.cast(update.critic(real), tf.float32))
        grads = tf.cast(tape.gradient(scores, real), tf.float32)
        squared = tf.reduce_sum(tf.reshape(grads, [tf.shape(grads)[0], -1]) ** 2, axis=1)
        penalty = reduce_loss(squared, update.global_batch)
        update.log("r1", penalty)
        return 0.5 * self.weight * penalty


@dataclasses.dataclass
class WeightClipping(Term):
    """WGAN's Lipschitz constraint: every discriminator weight clipped to [-c, c] after each
    update (Arjovsky et al. 2017, alg. 1)."""

    clip_value: float = 0.01

    def after_discriminator_update(self, discriminator):
        for var in discriminator.trainable_variables:
            var.assign(tf.clip_by_value(var, -self.clip_value, self.clip_value))


@dataclasses.dataclass
class AuxiliaryClassifier(Term):
    """ACGAN's L_C (Odena et al. 2017): the cross-entropy of the discriminator's
    ``class_logits`` on the labels of the real batch and of the fakes, added to both networks'
    losses with ``weight``; logs the head's accuracy on real images as ``d_aux_acc``."""

    weight: float = 1.0

    def discriminator_loss(self, update):
        logits = update.real_out["class_logits"]
        labels = update.batch["label"]
        loss = cross_entropy(labels, logits, update.global_batch)
        fake_labels = update.fake_in["label"]
        loss += cross_entropy(fake_labels, update.fake_out["class_logits"], update.global_batch)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        update.log("d_aux_acc", accuracy(predicted == labels, update.global_batch))
        return self.weight * loss

    def generator_loss(self, update):
        logits = update.fake_out["class_logits"]
        return self.weight * cross_entropy(update.fake_in["label"], logits, update.global_batch)


@dataclasses.dataclass
class MutualInformation(Term):
    """InfoGAN's L_I (Chen et al. 2016): the Q head's negative log-likelihood of the codes the
    fakes were made from, a lower bound on their mutual information with the images up to a
    constant: cross-entropy of ``code_logits`` for the categorical code ``label``, and a
    unit-variance Gaussian for the continuous ``code`` weighted by ``continuous_weight``. Added
    to both networks with ``weight``; logs the discriminator's as ``info``."""

    weight: float = 1.0
    continuous_weight: float = 0.1

    def _loss(self, update):
        out, codes, loss = update.fake_out, update.fake_in, 0.0
        if "code_logits" in out:
            loss += cross_entropy(codes["label"], out["code_logits"], update.global_batch)
        if "code" in out:
            squared = 0.5 * tf.reduce_sum(tf.square(out["code"] - codes["code"]), axis=-1)
            loss += self.continuous_weight * reduce_loss(squared, update.global_batch)
        return self.weight * loss

    def discriminator_loss(self, update):
        loss = self._loss(update)
        update.log("info", loss)
        return loss

    def generator_loss(self, update):
        return self._loss(update)


@dataclasses.dataclass
class Drift(Term):
    """ProGAN's drift penalty, ``weight`` * D(x)^2 on the critic's logits for real images
    (Karras et al. 2018, sec. A.1: epsilon_drift = 0.001; ``loss.py`` of the authors' code):
    it keeps a Wasserstein critic's output near zero, which the loss alone leaves free to
    drift. Logs the unweighted mean ``drift``."""

    weight: float = 0.001
    log_names = ("drift",)

    def discriminator_loss(self, update):
        real = tf.cast(update.real_out["logits"], tf.float32)
        squared = tf.reduce_mean(tf.reshape(real, [tf.shape(real)[0], -1]) ** 2, axis=1)
        drift = reduce_loss(squared, update.global_batch)
        update.log("drift", drift)
        return self.weight * drift


@dataclasses.dataclass
class Lazy(Term):
    """``term`` on the steps where ``step % every == 0`` only, its loss multiplied by
    ``every`` so that its weight per step is unchanged: StyleGAN2's lazy regularization
    (Karras et al. 2020, sec. 3.1; R1 every 16 steps, path length every 4).

    The choice is made in the graph (``tf.cond`` on ``Update.step``), so a skipped step does
    not compute the term, and a resumed run skips the steps an uninterrupted one skips. The
    term's losses are added to the update they belong to (the discriminator's or generator's
    of that step) rather than applied in a separate optimizer step as in StyleGAN2's code;
    with ``every=1`` this is the term itself. Its logs (``term.log_names``) are ``every``
    times the value on the steps it runs and 0 on the others, so their mean over a multiple
    of ``every`` steps is the term's mean.

    Args:
        term: the term to run lazily.
        every: run it once every this many steps (1: every step).
    """

    term: Term
    every: int = 1

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"a lazy term runs every N >= 1 steps, got every={self.every}")

    @property
    def log_names(self):
        return self.term.log_names

    def _lazily(self, loss_fn, update):
        if self.every == 1:
            return loss_fn(update)
        if update.step is None:
            raise ValueError("a Lazy term needs the step (Update.step); this trainer sets none")
        names = self.log_names

        def run():
            private = dataclasses.replace(update, logs={})
            loss = loss_fn(private)
            loss = tf.zeros([]) if loss is None else tf.cast(loss, tf.float32)
            logs = [tf.cast(private.logs.get(n, 0.0), tf.float32) for n in names]
            return [loss * self.every, *[v * self.every for v in logs]]

        def skip():
            return [tf.zeros([]) for _ in range(len(names) + 1)]

        due = tf.equal(tf.math.floormod(tf.cast(update.step, tf.int64), self.every), 0)
        loss, *values = tf.cond(due, run, skip)
        for name, value in zip(names, values, strict=True):
            update.log(name, value)
        return loss

    def discriminator_loss(self, update):
        return self._lazily(self.term.discriminator_loss, update)

    def prepare_generator(self, update):
        self.term.prepare_generator(update)

    def generator_loss(self, update):
        return self._lazily(self.term.generator_loss, update)

    def after_discriminator_update(self, discriminator):
        self.term.after_discriminator_update(discriminator)


class Schedule:
    """A value computed from the step in the graph at the start of every training step (by the
    ``progressive`` kind), so that a resumed run recomputes what an uninterrupted one had.

    A schedule is bound once to the trainer's networks (``bind``), sets what it drives at the
    start of each step (``start_step``, returning the values to log) and may transform the
    real images the discriminator sees (``real_images``; ProGAN's level of detail blurs them to
    the resolution being trained)."""

    def bind(self, networks) -> None:
        """Finds what the schedule drives in the trainer's networks (by name)."""
        return None

    def start_step(self, step: tf.Tensor) -> dict[str, tf.Tensor]:
        """Sets the schedule's value for the step after ``step`` steps; returns logs."""
        return {}

    def real_images(self, images: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """The real images the discriminator sees at the step after ``step`` steps."""
        return images


# -- the two-domain kind (``cycle``) ------------------------------------------------------------


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
