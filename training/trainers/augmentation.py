"""What the discriminator sees: DiffAugment of every image it judges, and ADA's probability.

Every kind that augments (``Trainer.augments``) calls the base's ``augment_images`` on each
image batch before its discriminator reads it, with draws of the stateless ``augment`` stream
(``Trainer.augment_draws``), so an augmented step is the same on any number of replicas and
after a resume. With ``objective.ada_target`` set, the policy is applied to each image with the
probability p of ``AdaptiveProbability`` (``zoo.augment.gated_augment``), and each kind hands
the discriminator's outputs on real images to ``Trainer.observe_reals``; at the end of the step
``Trainer.finish_augmentation`` moves p by ADA's rule every ``ada_interval`` steps.

p and the interval's statistics are scalar variables, the same on every replica: each replica
computes the same value from the all-reduced (global) signs and writes it outside any
``tf.cond`` (an update of a replicated variable cannot sit in a branch under
``MirroredStrategy``), as ``zoo.terms.PathLength`` does with its running mean. They are
checkpointed (the ``augment`` part), so a run resumed inside an interval continues exactly.
"""

from __future__ import annotations

import tensorflow as tf

from zoo.augment import ada_adjustment


class AdaptiveProbability:
    """ADA's augmentation probability p and the statistics of the current interval (Karras et
    al. 2020, sec. 3; the authors' ``training_loop.py``: target 0.6, interval 4, 500 kimg).

    Args:
        target: the r_t = E[sign(D(x_real))] to hold (above it, p rises).
        interval: steps between two adjustments of p; r_t is the mean over the real images the
            discriminator judged since the last one.
        kimg: thousands of real images (steps times the global batch) in which p can move by 1.

    Variables (``state``, by name): ``p`` (starts at 0, as the authors' ``augment_p``),
    ``signs`` (the sum of the signs so far in the interval) and ``count`` (how many).
    """

    def __init__(self, target: float, interval: int = 4, kimg: float = 500.0):
        if not 0.0 <= target <= 1.0:
            raise ValueError(f"ada_target must be in [0, 1], got {target}")
        if interval < 1 or kimg <= 0:
            raise ValueError(f"ada_interval and ada_kimg must be positive: {interval}, {kimg}")
        self.target, self.interval, self.kimg = float(target), int(interval), float(kimg)
        self.state = {
            name: tf.Variable(
                0.0,
                trainable=False,
                name=f"ada_{name}",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            for name in ("p", "signs", "count")
        }

    @property
    def p(self) -> tf.Variable:
        return self.state["p"]

    def update(self, signs: tf.Tensor, count: tf.Tensor, step: tf.Tensor, global_batch):
        """Adds this step's ``signs`` (their sum over the global batch) and ``count`` to the
        interval's; after the step numbered ``step`` (0-based), if the interval ends, moves p
        by ``ada_adjustment`` of the interval's mean sign, clipped to [0, 1], and starts a new
        interval. Every replica passes the same global values. Returns the new p."""
        total = self.state["signs"] + signs
        seen = self.state["count"] + count
        due = tf.equal(tf.math.floormod(tf.cast(step, tf.int64) + 1, self.interval), 0)
        due = tf.logical_and(due, seen > 0)  # a warm-up interval judged no real image
        r_t = total / tf.maximum(seen, 1.0)
        images = tf.cast(global_batch, tf.float32) * self.interval
        moved = tf.clip_by_value(self.p + ada_adjustment(r_t, self.target, images, self.kimg), 0, 1)
        p = tf.where(due, moved, self.p)
        self.state["p"].assign(p)
        self.state["signs"].assign(tf.where(due, 0.0, total))
        self.state["count"].assign(tf.where(due, 0.0, seen))
        return p
