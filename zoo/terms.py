"""Composable terms of an adversarial objective.

A family's objective is a list of terms (``Family.terms(objective)``). In each discriminator
update the trainer sums every term's ``discriminator_loss``; in the generator update, every
term's ``generator_loss``; so WGAN-GP is ``[Adversarial(WASSERSTEIN), GradientPenalty(10)]``
and ACGAN ``[Adversarial(NON_SATURATING), AuxiliaryClassifier(1)]``. A term reads what the
update computed from an ``Update`` (the images, the discriminator's named outputs, the drawn
generator inputs), returns its weighted loss, reduced over the *global* batch
(``zoo.losses.reduce_loss``), and logs what it wants to show.

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
    """This replica's share of the share of ``correct`` over the global batch."""
    return reduce_loss(tf.reshape(tf.cast(correct, tf.float32), [-1]), global_batch)


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    per_example = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return reduce_loss(per_example, global_batch)


@dataclasses.dataclass
class Adversarial(Term):
    """The adversarial loss pair on the discriminator's ``logits`` output (Goodfellow et al.
    2014, and the pairs of ``zoo.losses``); logs ``d_loss``, ``g_loss`` and, for a pair with a
    real/fake threshold, the share of real and fake images the discriminator gets right."""

    pair: LossPair

    def logit(self, outputs: dict) -> tf.Tensor:
        return outputs["logits"]

    def discriminator_loss(self, update):
        real, fake = self.logit(update.real_out), self.logit(update.fake_out)
        loss = reduce_loss(self.pair.d_loss(real, fake), update.global_batch)
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
