"""Layers shared by families that Keras does not ship.

(Spectral normalization is Keras' own ``keras.layers.SpectralNormalization``; see
``zoo.dcgan._spectral``.)
"""

from __future__ import annotations

import keras
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
