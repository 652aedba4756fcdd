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
    """

    def __init__(self, units: int, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.v = self.add_weight(
            name="v",
            shape=(input_shape[-1], self.units),
            initializer=keras.initializers.RandomNormal(stddev=0.05),
        )
        self.g = self.add_weight(name="g", shape=(self.units,), initializer="ones")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        v = ops.cast(self.v, x.dtype)
        kernel = v * (ops.cast(self.g, x.dtype) / ops.sqrt(ops.sum(v * v, axis=0) + 1e-12))
        return self.activation(ops.matmul(x, kernel) + ops.cast(self.bias, x.dtype))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return super().get_config() | {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
        }
