"""Adversarial loss pairs and the one reduction every loss goes through.

A loss pair returns *per-example* losses; ``reduce_loss`` turns them into the value a replica
differentiates. Under ``tf.distribute`` each replica sees ``global_batch / replicas`` examples
and Keras' TF optimizer SUMS the replicas' gradients, so a replica must divide its summed loss by
the *global* batch, not take its local mean (which would multiply the step by the replica count).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf


def reduce_loss(per_example: tf.Tensor, global_batch_size: tf.Tensor | int) -> tf.Tensor:
    """Sum of ``per_example`` divided by the global batch size.

    Summing this over replicas gives the mean over the global batch, exactly what a single
    device computes for the same batch.
    """
    per_example = tf.cast(per_example, tf.float32)
    return tf.reduce_sum(per_example) / tf.cast(global_batch_size, tf.float32)


@dataclasses.dataclass(frozen=True)
class LossPair:
    """Per-example discriminator and generator losses computed from logits."""

    name: str
    d_loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (real_logits, fake_logits) -> [B]
    g_loss: Callable[[tf.Tensor], tf.Tensor]  # fake_logits -> [B]


def _flat(logits: tf.Tensor) -> tf.Tensor:
    return tf.reshape(tf.cast(logits, tf.float32), [tf.shape(logits)[0], -1])


def _ns_d_loss(real_logits, fake_logits):
    # -log sigmoid(real) - log(1 - sigmoid(fake)), written with softplus to stay finite.
    real, fake = _flat(real_logits), _flat(fake_logits)
    return tf.reduce_mean(tf.nn.softplus(-real), axis=1) + tf.reduce_mean(
        tf.nn.softplus(fake), axis=1
    )


def _ns_g_loss(fake_logits):
    # The non-saturating generator loss: -log sigmoid(fake) (Goodfellow et al. 2014, sec. 3).
    return tf.reduce_mean(tf.nn.softplus(-_flat(fake_logits)), axis=1)


NON_SATURATING = LossPair("non_saturating", _ns_d_loss, _ns_g_loss)

_LOSSES = {pair.name: pair for pair in (NON_SATURATING,)}


def get_loss(name: str) -> LossPair:
    """The loss pair called ``name``; an unknown name raises with the known ones."""
    try:
        return _LOSSES[name]
    except KeyError:
        raise ValueError(
            f"unknown loss {name!r}; known losses: {', '.join(sorted(_LOSSES))}"
        ) from None


def list_losses() -> list[str]:
    return sorted(_LOSSES)
