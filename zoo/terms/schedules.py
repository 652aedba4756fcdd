"""Pieces that run on their own intervals (the ``progressive`` kind): ``Lazy`` terms and
``Schedule``s computed from the step in the graph."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from zoo.terms.core import Term


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

    def real_signs(self, real_out):
        return self.term.real_signs(real_out)


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
