"""DiffAugment: the same random, differentiable augmentation of every image the discriminator
sees, real and generated, in its update and in the generator's (Zhao et al. 2020,
"Differentiable Augmentation for Data-Efficient GAN Training", https://arxiv.org/abs/2006.10738;
a port of the authors' ``DiffAugment_tf.py``).

The random values come from the caller (``DRAWS`` uniform values per image): a trainer draws
them from a stateless stream for the global batch, so an augmented step is the same on any
number of replicas and after a resume. Policies (comma-separated, applied in this order):

- ``color``: brightness in [-0.5, 0.5), saturation in [0, 2), contrast in [0.5, 1.5);
- ``translation``: a shift of up to 1/8 of the image size in each direction, filled with 0;
- ``cutout``: a square of half the image size set to 0 at a random centre (the part of it
  outside the image is dropped; the authors' clamped indices zero the border pixels instead).

``translation,cutout`` is the authors' policy for small datasets without colour (add ``color``
for RGB). The discriminator, not the generator, sees augmented images: what the generator makes
is not augmented.

**ADA** (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data",
https://arxiv.org/abs/2006.06676): ``gated_augment`` applies the policy to each image with a
probability p (one more uniform value per image, ``GATE``: the image is augmented when it is
below p), and ``ada_adjustment`` is the authors' step of p from the overfitting heuristic
r_t = E[sign(D(x_real))] (``training/training_loop.py`` of stylegan2-ada-pytorch). The paper's
p gates each of its 18 transforms of its own pipeline separately; here it gates the DiffAugment
policy as a whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by each op: objectives validate a policy without TensorFlow
    import tensorflow as tf

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """The policy's parts, in the authors' order (none for ``None``); a one-line error for an
    unknown one."""
    parts = tuple(p.strip() for p in (policy or "").split(",") if p.strip())
    unknown = [p for p in parts if p not in POLICIES]
    if unknown:
        raise ValueError(
            f"unknown DiffAugment policy {', '.join(unknown)}; use a comma-separated subset "
            f"of {', '.join(POLICIES)} (or none)"
        )
    return tuple(p for p in POLICIES if p in parts)


DRAWS = 7  # uniform values per image: 3 for color, 2 for translation, 2 for cutout
GATE = DRAWS  # with ADA, column DRAWS of [B, DRAWS + 1] draws decides whether an image is augmented


def _color(x, u):
    import tensorflow as tf

    u = tf.reshape(u, [-1, 1, 1, 1, DRAWS])
    x = x + (u[..., 0] - 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * (u[..., 1] * 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (u[..., 2] + 0.5) + mean


def _translation(x, u, ratio=0.125):
    import tensorflow as tf

    height, width = tf.shape(x)[1], tf.shape(x)[2]
    shift_h = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    shift_w = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    # Integer shifts in [-shift, shift], as the authors' uniform int draw.
    dy = _integer(u[:, 3:4], 2 * shift_h + 1) - shift_h
    dx = _integer(u[:, 4:5], 2 * shift_w + 1) - shift_w
    rows = tf.clip_by_value(tf.range(height)[None, :] + dy + 1, 0, height + 1)
    cols = tf.clip_by_value(tf.range(width)[None, :] + dx + 1, 0, width + 1)
    padded = tf.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]])
    x = tf.gather(padded, rows, axis=1, batch_dims=1)
    padded = tf.pad(x, [[0, 0], [0, 0], [1, 1], [0, 0]])
    return tf.gather(padded, cols, axis=2, batch_dims=1)


def _cutout(x, u, ratio=0.5):
    import tensorflow as tf

    height, width = tf.shape(x)[1], tf.shape(x)[2]
    size_h = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    size_w = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    cy = _integer(u[:, 5:6, None], height + (1 - size_h % 2))
    cx = _integer(u[:, 6:7, None], width + (1 - size_w % 2))
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    # The authors' clipped scatter covers rows cy - size//2 .. cy - size//2 + size - 1.
    top, left = cy - size_h // 2, cx - size_w // 2
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    mask = 1.0 - tf.cast(inside, x.dtype)
    return x * mask[..., None]


def _integer(u, n):
    """Uniform [0, 1) values to integers in [0, n), as the authors' integer draws."""
    import tensorflow as tf

    return tf.minimum(tf.cast(tf.floor(u * tf.cast(n, tf.float32)), tf.int32), n - 1)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(images: tf.Tensor, policy: tuple[str, ...], uniform: tf.Tensor) -> tf.Tensor:
    """``images`` [B, H, W, C] augmented by ``policy`` (``parse_policy``) with ``uniform``
    [B, DRAWS] values in [0, 1); the images themselves when the policy is empty."""
    for name in policy:
        images = _OPS[name](images, uniform)
    return images


def gated_augment(images: tf.Tensor, policy: tuple[str, ...], uniform: tf.Tensor, p) -> tf.Tensor:
    """ADA's gate: each image of ``images`` augmented by ``policy`` with ``uniform`` [B, DRAWS
    + 1] values when its ``uniform[:, GATE]`` is below ``p``, passed unchanged otherwise (p = 0:
    every image as it is; p = 1: ``diff_augment`` of every image, as the values are below 1)."""
    import tensorflow as tf

    augmented = diff_augment(images, policy, uniform[:, :DRAWS])
    chosen = tf.reshape(uniform[:, GATE] < tf.cast(p, uniform.dtype), [-1, 1, 1, 1])
    return tf.where(chosen, augmented, images)


def ada_adjustment(r_t, target: float, images, kimg: float):
    """ADA's step of p after an interval in which the discriminator saw ``images`` real images
    (the authors' ``batch_size * ada_interval``) with mean sign ``r_t`` of its outputs: up by
    images / (kimg * 1000) when r_t is above ``target`` (overfitting), down as much when below,
    none at the target; so p can cross [0, 1] in ``kimg`` thousand images."""
    import tensorflow as tf

    step = tf.cast(images, tf.float32) / (float(kimg) * 1000.0)
    return tf.sign(tf.cast(r_t, tf.float32) - float(target)) * step
