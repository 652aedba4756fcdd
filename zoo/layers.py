"""Layers shared by families that Keras does not ship.

* ``WeightNormDense`` (and ``initialize_weight_norm``): weight normalization, for the
  semi-supervised GAN's discriminator (``zoo.sgan``).
* ``PixelNorm``, ``MinibatchStddev``: ProGAN's pixelwise feature normalization and minibatch
  standard deviation feature (Karras et al. 2018), which StyleGAN and StyleGAN2 keep.
* ``LevelOfDetail``, ``CrossFade``: a network's level of detail and the blends it drives, for
  progressive growing (``zoo.progan``).

Each is registered for Keras serialization as ``ganzoo>ClassName``, so a saved network with
them loads in a process that has imported this module (``training.sample`` and
``export.sampler`` do). What ships must not need them: each family ships Keras' own layers
that compute the same (``training.checkpoints.portable_copy``, ``zoo.progan.ship``).

(Spectral normalization is Keras' own ``keras.layers.SpectralNormalization``; see
``zoo.dcgan._spectral``.)
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="ganzoo")
class WeightNormDense(keras.layers.Layer):
    """A dense layer with a weight-normalized kernel, w = g * v / ||v|| per output unit
    (Salimans & Kingma 2016, arXiv:1602.07868), which the semi-supervised GAN of Salimans et al.
    2016 uses throughout its discriminator.

    Args:
        units: output width.
        activation: a Keras activation name or ``None``.
        train_scale: whether the scale ``g`` is trained. Salimans et al.'s MNIST discriminator
            fixes it in its hidden layers once ``initialize_weight_norm`` has set it.
        stddev: std of the normal initializer of the direction ``v`` (0.1 as in their code);
            with ``g`` fixed, it sets how fast Adam turns ``v``.
    """

    def __init__(
        self, units: int, activation=None, train_scale: bool = True, stddev: float = 0.1, **kwargs
    ):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.train_scale = train_scale
        self.stddev = stddev

    def build(self, input_shape):
        self.v = self.add_weight(
            name="v",
            shape=(input_shape[-1], self.units),
            initializer=keras.initializers.RandomNormal(stddev=self.stddev),
        )
        self.g = self.add_weight(
            name="g", shape=(self.units,), initializer="ones", trainable=self.train_scale
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def kernel(self, dtype="float32"):
        """The effective kernel g * v / ||v||."""
        v = ops.cast(self.v, dtype)
        return v * (ops.cast(self.g, dtype) / ops.sqrt(ops.sum(v * v, axis=0) + 1e-12))

    def pre_activation(self, x):
        return ops.matmul(x, self.kernel(x.dtype)) + ops.cast(self.bias, x.dtype)

    def dense_weights(self) -> list:
        """[kernel, bias] of the ``keras.layers.Dense`` that computes what this layer does
        (what ships: a file that loads without ganzoo)."""
        return [ops.convert_to_numpy(self.kernel()), ops.convert_to_numpy(self.bias)]

    def call(self, x):
        return self.activation(self.pre_activation(x))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return super().get_config() | {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "train_scale": self.train_scale,
            "stddev": self.stddev,
        }


def initialize_weight_norm(model: keras.Model, inputs, training: bool = False) -> None:
    """Data-dependent initialization of every ``WeightNormDense`` in ``model`` (Salimans &
    Kingma 2016, sec. 3): in order from the input, each layer's ``g`` and bias are set so that
    its pre-activations on ``inputs`` have zero mean and unit variance per unit. ``training``:
    run the layers before each one in training mode (noise and dropout on; their draws are
    seeded, so every worker computes the same values)."""
    model_inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]
    for layer in model.layers:
        if not isinstance(layer, WeightNormDense):
            continue
        upstream = keras.Model(model_inputs, layer.input)
        x = ops.cast(upstream(inputs, training=training), "float32")
        bias = ops.convert_to_numpy(layer.bias)
        t = ops.convert_to_numpy(layer.pre_activation(x)) - bias  # w x, without the bias
        mean, std = t.mean(axis=0), t.std(axis=0) + 1e-8
        layer.g.assign(ops.convert_to_numpy(layer.g) / std)
        layer.bias.assign(-mean / std)


@keras.saving.register_keras_serializable(package="ganzoo")
class PixelNorm(keras.layers.Layer):
    """x / sqrt(mean over channels of x^2 + epsilon) at every pixel (Karras et al. 2018,
    sec. 4.2). Ships as ``keras.layers.RMSNormalization`` (the same, times ones)."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="ganzoo")
class LevelOfDetail(keras.layers.Layer):
    """Holds a network's level of detail, a non-trainable scalar variable ``lod`` in
    [0, ``max_lod``] that the training schedule sets before every step (the authors' ``lod``
    variable); outputs it as [batch, 1] for the blends (``CrossFade``). Every replica sets
    the same value, so the variable's replicas stay equal (aggregation: first replica).

    Args:
        max_lod: the lowest level's lod (the number of doublings from 4x4).
    """

    def __init__(self, max_lod: int, **kwargs):
        super().__init__(**kwargs)
        self.max_lod = max_lod

    def build(self, input_shape):
        self.lod = self.add_weight(
            name="lod",
            shape=(),
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )

    def call(self, x):
        lod = ops.cast(self.lod, self.compute_dtype)
        return ops.broadcast_to(ops.reshape(lod, (1, 1)), (ops.shape(x)[0], 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return super().get_config() | {"max_lod": self.max_lod}


@keras.saving.register_keras_serializable(package="ganzoo")
class CrossFade(keras.layers.Layer):
    """[new, old, lod] -> new + (old - new) * clip(lod - level, 0, 1): the level of detail
    ``level`` and below show ``new``, ``level + 1`` and above ``old`` (the authors'
    ``lerp_clip``). No gradient reaches ``new`` before its fade-in starts."""

    def __init__(self, level: int, **kwargs):
        super().__init__(**kwargs)
        self.level = level

    def call(self, inputs):
        new, old, lod = inputs
        t = ops.clip(ops.cast(lod, new.dtype) - float(self.level), 0.0, 1.0)
        return new + (old - new) * ops.reshape(t, (-1,) + (1,) * (len(new.shape) - 1))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return super().get_config() | {"level": self.level}


@keras.saving.register_keras_serializable(package="ganzoo")
class MinibatchStddev(keras.layers.Layer):
    """Appends one feature map: the standard deviation of each feature over a group of
    ``group_size`` consecutive examples, averaged over features and pixels (Karras et al.
    2018, sec. 3; the authors' ``minibatch_stddev_layer``, with consecutive instead of
    strided groups so that the groups do not depend on the replica count). A batch that
    ``group_size`` does not divide forms one group."""

    def __init__(self, group_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size

    def call(self, x):
        n = tf.shape(x)[0]
        group = tf.where(n % self.group_size == 0, self.group_size, n)
        _, h, w, c = x.shape
        y = tf.reshape(tf.cast(x, tf.float32), [-1, group, h, w, c])  # [M, G, H, W, C]
        y -= tf.reduce_mean(y, axis=1, keepdims=True)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=1) + 1e-8)  # [M, H, W, C]
        y = tf.reduce_mean(y, axis=[1, 2, 3])  # [M]
        y = tf.repeat(y, group)  # [N]
        y = tf.broadcast_to(tf.reshape(y, [-1, 1, 1, 1]), [n, h, w, 1])
        return tf.concat([x, tf.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return super().get_config() | {"group_size": self.group_size}
