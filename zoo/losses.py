"""Adversarial loss pairs and the one reduction every loss goes through.

A loss pair returns *per-example* losses; ``reduce_loss`` turns them into the value a replica
differentiates. Under ``tf.distribute`` each replica sees ``global_batch / replicas`` examples
and Keras' TF optimizer SUMS the replicas' gradients, so a replica must divide its summed loss by
the *global* batch, not take its local mean (which would multiply the step by the replica count).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by each function: the loss names are listed without TensorFlow
    import tensorflow as tf


def reduce_loss(per_example: tf.Tensor, global_batch_size: tf.Tensor | int) -> tf.Tensor:
    """Sum of ``per_example`` divided by the global batch size.

    Summing this over replicas gives the mean over the global batch, exactly what a single
    device computes for the same batch.
    """
    import tensorflow as tf

    per_example = tf.cast(per_example, tf.float32)
    return tf.reduce_sum(per_example) / tf.cast(global_batch_size, tf.float32)


def global_mean(values: tf.Tensor, global_batch_size: tf.Tensor | int) -> tf.Tensor:
    """The mean of ``values`` [B, ...] over every entry of the *global* batch, the same on every
    replica (ESRGAN's E[C(x)] of the relativistic average discriminator).

    Each replica sums its rows and the sums are all-reduced. It stays differentiable: the
    gradient of an all-reduce is the all-reduce of the gradients, so each replica's rows receive
    the gradient of every replica's loss, as one device's rows do."""
    import tensorflow as tf

    flat = _flat(values)
    local = tf.reduce_sum(tf.reduce_mean(flat, axis=1)) / tf.cast(global_batch_size, tf.float32)
    ctx = tf.distribute.get_replica_context()
    return local if ctx is None else ctx.all_reduce(tf.distribute.ReduceOp.SUM, local)


def batch_mean(values: tf.Tensor, global_batch_size: tf.Tensor | int) -> tf.Tensor:
    """The mean of ``values`` [B, ...] over the *global* batch axis, [...], the same on every
    replica (DiscoGAN's feature matching compares such means): each replica sums its rows and
    the sums are all-reduced; differentiable, as ``global_mean``."""
    import tensorflow as tf

    values = tf.cast(values, tf.float32)
    local = tf.reduce_sum(values, axis=0) / tf.cast(global_batch_size, tf.float32)
    ctx = tf.distribute.get_replica_context()
    return local if ctx is None else ctx.all_reduce(tf.distribute.ReduceOp.SUM, local)


@dataclasses.dataclass(frozen=True)
class LossPair:
    """Per-example discriminator and generator losses computed from the discriminator's outputs.

    ``threshold`` separates "real" from "fake" outputs for the logged accuracies (``None`` for
    a critic, whose outputs have no such boundary). ``d_fake``, when given, is the fake half
    of ``d_loss`` on its own (``d_loss(real, fake) = d_loss(real, x) - d_fake(x) +
    d_fake(fake)``), for objectives with more than one kind of fake (CartoonGAN's edge-smoothed
    images).
    """

    name: str
    d_loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (real_out, fake_out) -> [B]
    g_loss: Callable[[tf.Tensor], tf.Tensor]  # fake_out -> [B]
    threshold: float | None = 0.0
    d_fake: Callable[[tf.Tensor], tf.Tensor] | None = None  # fake_out -> [B]


def _flat(logits: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf

    return tf.reshape(tf.cast(logits, tf.float32), [tf.shape(logits)[0], -1])


def _ns_d_loss(real_logits, fake_logits):
    import tensorflow as tf

    # -log sigmoid(real) - log(1 - sigmoid(fake)), written with softplus to stay finite.
    real, fake = _flat(real_logits), _flat(fake_logits)
    return tf.reduce_mean(tf.nn.softplus(-real), axis=1) + tf.reduce_mean(
        tf.nn.softplus(fake), axis=1
    )


def _ns_d_fake(fake_logits):
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.softplus(_flat(fake_logits)), axis=1)


def _ns_g_loss(fake_logits):
    import tensorflow as tf

    # The non-saturating generator loss: -log sigmoid(fake) (Goodfellow et al. 2014, sec. 3).
    return tf.reduce_mean(tf.nn.softplus(-_flat(fake_logits)), axis=1)


def _minimax_g_loss(fake_logits):
    import tensorflow as tf

    # The original minimax generator loss, log(1 - sigmoid(fake)) (Goodfellow et al. 2014,
    # eq. 1); it saturates when D rejects the fakes confidently.
    return -tf.reduce_mean(tf.nn.softplus(_flat(fake_logits)), axis=1)


def _ls_d_loss(real, fake):
    import tensorflow as tf

    # Least squares with targets 1 (real) and 0 (fake) (Mao et al. 2017, eq. 9 with a=0, b=c=1).
    real, fake = _flat(real), _flat(fake)
    return 0.5 * tf.reduce_mean((real - 1.0) ** 2, axis=1) + 0.5 * tf.reduce_mean(fake**2, axis=1)


def _ls_d_fake(fake):
    import tensorflow as tf

    return 0.5 * tf.reduce_mean(_flat(fake) ** 2, axis=1)


def _ls_g_loss(fake):
    import tensorflow as tf

    return 0.5 * tf.reduce_mean((_flat(fake) - 1.0) ** 2, axis=1)


def _wasserstein_d_loss(real, fake):
    import tensorflow as tf

    # The critic maximises E[C(real)] - E[C(fake)] (Arjovsky et al. 2017).
    return tf.reduce_mean(_flat(fake), axis=1) - tf.reduce_mean(_flat(real), axis=1)


def _wasserstein_d_fake(fake):
    import tensorflow as tf

    return tf.reduce_mean(_flat(fake), axis=1)


def _wasserstein_g_loss(fake):
    import tensorflow as tf

    return -tf.reduce_mean(_flat(fake), axis=1)


def _hinge_d_loss(real, fake):
    import tensorflow as tf

    # max(0, 1 - D(real)) + max(0, 1 + D(fake)) (Lim & Ye 2017; Miyato et al. 2018).
    real, fake = _flat(real), _flat(fake)
    return tf.reduce_mean(tf.nn.relu(1.0 - real), axis=1) + tf.reduce_mean(
        tf.nn.relu(1.0 + fake), axis=1
    )


def _hinge_d_fake(fake):
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.relu(1.0 + _flat(fake)), axis=1)


NON_SATURATING = LossPair("non_saturating", _ns_d_loss, _ns_g_loss, d_fake=_ns_d_fake)
MINIMAX = LossPair("minimax", _ns_d_loss, _minimax_g_loss, d_fake=_ns_d_fake)
LEAST_SQUARES = LossPair("least_squares", _ls_d_loss, _ls_g_loss, 0.5, _ls_d_fake)
WASSERSTEIN = LossPair(
    "wasserstein", _wasserstein_d_loss, _wasserstein_g_loss, None, _wasserstein_d_fake
)
HINGE = LossPair("hinge", _hinge_d_loss, _wasserstein_g_loss, d_fake=_hinge_d_fake)

_LOSSES = {p.name: p for p in (NON_SATURATING, MINIMAX, LEAST_SQUARES, WASSERSTEIN, HINGE)}


def gradient_penalty(critic, real: tf.Tensor, fake: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
    """Per-example (||grad C(x_hat)|| - 1)^2 at x_hat = eps real + (1 - eps) fake, where ``eps``
    [batch, 1, ...] is drawn from U[0, 1] per example by the caller (Gulrajani et al. 2017,
    alg. 1; uniform, not normal, weights: keras-io #415).

    The norm is sqrt(sum g^2 + 1e-12), so a vanished gradient gives a penalty of ~1, not NaN
    (the derivative of sqrt at 0 is infinite; keras-io #624).
    """
    import tensorflow as tf

    mixed = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = critic(mixed)
    grads = tape.gradient(scores, mixed)
    norm = tf.sqrt(tf.reduce_sum(tf.reshape(grads, [tf.shape(grads)[0], -1]) ** 2, axis=1) + 1e-12)
    return (norm - 1.0) ** 2


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


def semi_supervised_logit(class_logits: tf.Tensor) -> tf.Tensor:
    """The real-vs-fake logit of a K-class classifier used as a (K+1)-class discriminator with
    the fake class's logit fixed at 0 (Salimans et al. 2016, sec. 5): D(x) = Z / (Z + 1) with
    Z = sum_k exp(l_k), so logit D(x) = logsumexp_k l_k. [B, K] -> [B, 1]."""
    import tensorflow as tf

    return tf.reduce_logsumexp(tf.cast(class_logits, tf.float32), axis=-1, keepdims=True)


def feature_matching(real: tf.Tensor, fake: tf.Tensor, global_batch) -> tf.Tensor:
    """Salimans et al.'s feature matching, ||E f(real) - E f(fake)||^2 over the global batch.

    The squared norm of a batch mean does not split into per-example terms, so the means are
    all-reduced over the replicas and the loss is written as a surrogate whose gradient with
    respect to each fake's features is the true one, 2 (m_fake - m_real) / global_batch; its
    value is this replica's share of the true loss (summing over replicas gives it)."""
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()

    def global_mean(x):
        local = tf.reduce_sum(tf.cast(x, tf.float32), axis=0) / tf.cast(global_batch, tf.float32)
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, local)

    m_real = tf.stop_gradient(global_mean(real))
    m_fake = tf.stop_gradient(global_mean(fake))
    local_share = tf.reduce_sum(tf.cast(fake, tf.float32), axis=0) / tf.cast(
        global_batch, tf.float32
    )
    surrogate = tf.reduce_sum(2.0 * (m_fake - m_real) * local_share)
    value = tf.reduce_sum(tf.square(m_fake - m_real)) / ctx.num_replicas_in_sync
    return surrogate - tf.stop_gradient(surrogate) + value
