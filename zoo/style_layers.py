"""StyleGAN2's building blocks (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN", arXiv:1912.04958), written after the authors' ``stylegan2-ada-pytorch``
(``training/networks.py``, ``torch_utils/ops``) in the forms that export to SavedModel, TFLite
and ONNX (``../shared/EXPORT-FACTS.md``):

* ``EqualizedDense``, ``EqualizedConv2D``: weights drawn from N(0, 1) / ``lr_mul`` and scaled at
  run time by ``lr_mul / sqrt(fan_in)`` (equalized learning rate; ``lr_mul`` 0.01 slows the
  mapping network), bias times ``lr_mul``, leaky ReLU times sqrt(2) (the authors' ``bias_act``);
* ``ModulatedConv2D``: the **non-fused** modulated convolution: the input scaled by the style,
  a plain convolution, the output scaled by the demodulation coefficients (the fused, grouped
  form does not export with a dynamic batch);
* ``Upsample2D``, ``Downsample2D``: the [1, 3, 3, 1] FIR filter as a constant depthwise
  convolution (zero insertion then the filter with gain 4 up, the filter with stride 2 down:
  ``upfirdn2d.upsample2d`` and ``downsample2d``);
* ``NoiseInjection``: per-pixel noise times a learned strength (initialised to 0), the noise an
  input of the layer in training and a constant buffer in what ships (``noise_mode="const"``);
* ``TrackedAverage``: the running mean of ``w`` (``w_avg``, decay 0.995) over the global batch,
  and truncation towards it;
* ``StyleMix``: style-mixing regularisation: the ``w`` of a second latent from a crossover layer
  on.

The ProGAN pieces StyleGAN2 keeps (pixel norm as ``normalize_2nd_moment``, minibatch standard
deviation) are ``zoo.layers.PixelNorm`` and ``zoo.layers.MinibatchStddev``. Each layer is
registered for Keras serialization as ``ganzoo>ClassName``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

_SQRT2 = math.sqrt(2.0)
FIR = (1.0, 3.0, 3.0, 1.0)  # the authors' resample_filter


def _activate(x, activation: str | None, gain: float):
    if activation == "lrelu":
        return ops.leaky_relu(x, 0.2) * (_SQRT2 * gain)
    if activation is None or activation == "linear":
        return x * gain if gain != 1.0 else x
    raise ValueError(f"unknown activation {activation!r}; use lrelu or linear")


@keras.saving.register_keras_serializable(package="ganzoo")
class EqualizedDense(keras.layers.Layer):
    """A dense layer with equalized learning rate (the authors' ``FullyConnectedLayer``): kernel
    N(0, 1) / ``lr_mul``, used as kernel * lr_mul / sqrt(fan_in); bias initialised to
    ``bias_init`` and used times ``lr_mul``; then ``activation`` (``lrelu``: leaky ReLU 0.2 times
    sqrt(2)).

    Example:
        >>> layer = EqualizedDense(8)
        >>> layer(np.ones((2, 4), "float32")).shape
        TensorShape([2, 8])
    """

    def __init__(self, units, activation=None, lr_mul=1.0, bias_init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, activation
        self.lr_mul, self.bias_init = lr_mul, bias_init

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = self.lr_mul / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_mul),
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(self.units,),
            initializer=keras.initializers.Constant(self.bias_init / self.lr_mul),
        )

    def call(self, x):
        y = ops.matmul(x, self.kernel * self.scale) + self.bias * self.lr_mul
        return _activate(y, self.activation, 1.0)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def portable(self):
        """Keras' ``Dense`` with the effective kernel and bias, then the activation."""
        x = _inputs(self)
        dense = keras.layers.Dense(self.units, name="dense")
        y = _activate(dense(x), self.activation, 1.0)
        dense.set_weights([_np(self.kernel * self.scale), _np(self.bias * self.lr_mul)])
        return keras.Model(x, y, name=self.name)

    def get_config(self):
        return super().get_config() | {
            "units": self.units,
            "activation": self.activation,
            "lr_mul": self.lr_mul,
            "bias_init": self.bias_init,
        }


@keras.saving.register_keras_serializable(package="ganzoo")
class EqualizedConv2D(keras.layers.Layer):
    """A 'same' convolution with equalized learning rate (the authors' ``Conv2dLayer``): kernel
    N(0, 1) used times 1 / sqrt(fan_in), then bias and ``activation`` times ``gain`` (the
    residual discriminator's sqrt(0.5))."""

    def __init__(self, filters, kernel_size=3, activation="lrelu", use_bias=True, gain=1.0,
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.activation, self.use_bias, self.gain = activation, use_bias, gain

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self.scale = 1.0 / math.sqrt(channels * k * k)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, channels, self.filters),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
        )
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        y = ops.conv(x, self.kernel * self.scale, padding="same")
        if self.use_bias:
            y = y + self.bias
        return _activate(y, self.activation, self.gain)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def portable(self):
        """Keras' ``Conv2D`` with the effective kernel, then the activation."""
        x = _inputs(self)
        conv = keras.layers.Conv2D(self.filters, self.kernel_size, padding="same",
                                   use_bias=self.use_bias, name="conv")  # fmt: skip
        y = _activate(conv(x), self.activation, self.gain)
        weights = [_np(self.kernel * self.scale)]
        conv.set_weights(weights + [_np(self.bias)] if self.use_bias else weights)
        return keras.Model(x, y, name=self.name)

    def get_config(self):
        return super().get_config() | {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "gain": self.gain,
        }


@keras.saving.register_keras_serializable(package="ganzoo")
class ModulatedConv2D(keras.layers.Layer):
    """[x, styles] -> the modulated (and demodulated) 'same' convolution of x, non-fused
    (Karras et al. 2020, sec. 2.2, eq. 1-3; the authors' ``modulated_conv2d`` with
    ``fused_modconv=False``): x * s, convolved with the N(0, 1) kernel w, times
    d_j = 1 / sqrt(sum_{i,k} (s_i w_ijk)^2 + 1e-8) for each output channel j of each example.
    ``styles`` [N, in_channels] come from an affine map of ``w`` (``EqualizedDense`` with bias 1).
    Without demodulation (to-RGB) the caller scales the styles by 1 / sqrt(fan_in) instead.
    ``zero_init``: the kernel starts at 0 (the authors': N(0, 1); ``zoo.stylegan2``'s
    ``rgb_init``)."""

    def __init__(self, filters, kernel_size=3, demodulate=True, zero_init=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.demodulate = filters, kernel_size, demodulate
        self.zero_init = zero_init

    def build(self, input_shapes):
        channels = int(input_shapes[0][-1])
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, channels, self.filters),
            initializer="zeros" if self.zero_init else keras.initializers.RandomNormal(0.0, 1.0),
        )

    def call(self, inputs):
        x, styles = inputs
        styles = ops.cast(styles, x.dtype)
        y = ops.conv(x * styles[:, None, None, :], self.kernel, padding="same")
        if self.demodulate:
            # sum over k, k, in of (s_i w_ijk)^2 = (s^2) @ (sum_k w_ijk^2): [N, out]
            energy = ops.matmul(ops.square(styles), ops.sum(ops.square(self.kernel), axis=(0, 1)))
            y = y * ops.rsqrt(energy + 1e-8)[:, None, None, :]
        return y

    def compute_output_shape(self, input_shapes):
        return (*input_shapes[0][:-1], self.filters)

    def portable(self):
        """The same computation with Keras' ``Conv2D`` (the kernel) and, for the demodulation,
        ``Dense`` (the kernel's energy per input and output channel) on the squared styles."""
        x, styles = _inputs(self)
        conv = keras.layers.Conv2D(self.filters, self.kernel_size, padding="same",
                                   use_bias=False, name="conv")  # fmt: skip
        y = conv(x * ops.expand_dims(ops.expand_dims(styles, 1), 1))
        weights = [(conv, _np(self.kernel))]
        if self.demodulate:
            energy = keras.layers.Dense(self.filters, use_bias=False, name="energy")
            d = ops.rsqrt(energy(ops.square(styles)) + 1e-8)
            y = y * ops.expand_dims(ops.expand_dims(d, 1), 1)
            weights.append((energy, _np(ops.sum(ops.square(self.kernel), axis=(0, 1)))))
        for layer, value in weights:
            layer.set_weights([value])
        return keras.Model([x, styles], y, name=self.name)

    def get_config(self):
        return super().get_config() | {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "demodulate": self.demodulate,
            "zero_init": self.zero_init,
        }


def _np(value) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(value), np.float32)


def _inputs(layer):
    """Fresh ``keras.Input``s shaped like what ``layer`` was built on (one, or a list)."""
    shape = next(iter(layer._build_shapes_dict.values()))
    if isinstance(shape[0], list | tuple):
        return [keras.Input(tuple(s[1:])) for s in shape]
    return keras.Input(tuple(shape[1:]))


def _portable_ops(layer):
    """``layer``'s computation as Keras operations alone (a layer without weights whose
    ``call`` uses ``keras.ops`` and constants only)."""
    x = _inputs(layer)
    return keras.Model(x, layer.call(x), name=layer.name)


def _fir_kernel(channels: int, gain: float) -> np.ndarray:
    f = np.asarray(FIR, np.float32)
    f = np.outer(f, f)
    f = f / f.sum() * gain
    return np.tile(f[:, :, None, None], (1, 1, channels, 1))  # [4, 4, C, 1], depthwise


class _FIR(keras.layers.Layer):
    """The [1, 3, 3, 1] FIR filter as a frozen depthwise kernel (a weight, so that every
    format sees a constant filter: a kernel given as a constant operand fails ONNX)."""

    gain = 1.0

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.fir = self.add_weight(
            name="fir",
            shape=(4, 4, channels, 1),
            initializer=keras.initializers.Constant(_fir_kernel(channels, self.gain)),
            trainable=False,
        )

    def _filter(self, x, strides):
        return ops.depthwise_conv(x, ops.cast(self.fir, x.dtype), strides=strides, padding="valid")

    def _portable_filter(self, strides):
        conv = keras.layers.DepthwiseConv2D(4, strides=strides, padding="valid", use_bias=False,
                                            name="fir")  # fmt: skip
        return conv, lambda: conv.set_weights([_np(self.fir)])


@keras.saving.register_keras_serializable(package="ganzoo")
class Upsample2D(_FIR):
    """2x upsampling with the [1, 3, 3, 1] FIR filter (``upfirdn2d.upsample2d``): zeros
    inserted between pixels, padded (2, 1) and filtered with gain 4."""

    gain = 4.0

    def call(self, x):
        return self._filter(_zero_insert(x), 1)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, 2 * h, 2 * w, c)

    def portable(self):
        x = _inputs(self)
        conv, load = self._portable_filter(1)
        model = keras.Model(x, conv(_zero_insert(x)), name=self.name)
        load()
        return model


def _zero_insert(x):
    """Zeros between the pixels of x, then padded by (2, 1): [N, 2H + 3, 2W + 3, C]."""
    _, h, w, c = x.shape
    x = ops.reshape(ops.stack([x, ops.zeros_like(x)], axis=3), (-1, h, 2 * w, c))
    x = ops.reshape(ops.stack([x, ops.zeros_like(x)], axis=2), (-1, 2 * h, 2 * w, c))
    return ops.pad(x, [[0, 0], [2, 1], [2, 1], [0, 0]])


@keras.saving.register_keras_serializable(package="ganzoo")
class Downsample2D(_FIR):
    """2x downsampling with the [1, 3, 3, 1] FIR filter (``upfirdn2d.downsample2d``): padded
    by 1, filtered and strided 2."""

    def call(self, x):
        return self._filter(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), 2)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, h // 2, w // 2, c)

    def portable(self):
        x = _inputs(self)
        conv, load = self._portable_filter(2)
        model = keras.Model(x, conv(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])), name=self.name)
        load()
        return model


@keras.saving.register_keras_serializable(package="ganzoo")
class NoiseInjection(keras.layers.Layer):
    """[x, noise] -> x + strength * noise, or x alone -> x + strength * a constant noise buffer
    (what ships: StyleGAN2's ``noise_mode="const"``). ``strength`` is learned from 0; the buffer
    is a fixed N(0, 1) draw of [1, H, W, 1] from ``seed``."""

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def build(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape[0], list | tuple) else input_shape
        h, w = int(shape[1]), int(shape[2])
        const = np.random.default_rng(self.seed).standard_normal((1, h, w, 1)).astype("float32")
        self.strength = self.add_weight(name="strength", shape=(), initializer="zeros")
        self.const = self.add_weight(
            name="const",
            shape=(1, h, w, 1),
            initializer=keras.initializers.Constant(const),
            trainable=False,
        )

    def call(self, inputs):
        if isinstance(inputs, list | tuple):
            x, noise = inputs
        else:
            x, noise = inputs, self.const
        return x + ops.cast(noise * self.strength, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0] if isinstance(input_shape[0], list | tuple) else input_shape

    def portable(self):
        """The constant-noise form, the noise times the strength baked in."""
        x = _inputs(self)
        x = x[0] if isinstance(x, list) else x
        return keras.Model(x, ops.add(x, _np(self.const * self.strength)), name=self.name)

    def get_config(self):
        return super().get_config() | {"seed": self.seed}


@keras.saving.register_keras_serializable(package="ganzoo")
class TrackedAverage(keras.layers.Layer):
    """``w`` unchanged; in training, ``w_avg`` moves towards the mean of the *global* batch's
    ``w`` with ``decay`` (the authors' ``w_avg_beta`` 0.995: w_avg = lerp(mean w, w_avg, 0.995)).
    Every replica computes the same value (all-reduced), so the variable's replicas agree
    (aggregation: first replica). Called on [w, psi] instead, it returns the truncation trick,
    w_avg + psi (w - w_avg), for a rank-0 or [N, 1] ``psi``, and tracks nothing."""

    def __init__(self, decay: float = 0.995, **kwargs):
        super().__init__(**kwargs)
        self.decay = decay

    def build(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape[0], list | tuple) else input_shape
        self.w_avg = self.add_weight(
            name="w_avg",
            shape=(int(shape[-1]),),
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )

    def call(self, inputs, training=False):
        if isinstance(inputs, list | tuple):
            w, psi = inputs
            avg = ops.cast(self.w_avg, w.dtype)
            return avg + ops.reshape(ops.cast(psi, w.dtype), (-1, 1)) * (w - avg)
        w = inputs
        if training:
            mean = tf.reduce_mean(tf.cast(tf.stop_gradient(w), tf.float32), axis=0)
            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                mean = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, mean)
            self.w_avg.assign(mean + self.decay * (self.w_avg - mean))
        return w

    def compute_output_shape(self, input_shape):
        return input_shape[0] if isinstance(input_shape[0], list | tuple) else input_shape

    def portable(self):
        """The truncation form, [w, psi] -> w_avg + psi (w - w_avg), ``w_avg`` baked in."""
        w = keras.Input((int(self.w_avg.shape[0]),))
        psi = keras.Input(batch_shape=(), name="psi")
        avg = _np(self.w_avg)
        out = ops.add(avg, ops.reshape(psi, (-1, 1)) * ops.subtract(w, avg))
        return keras.Model([w, psi], out, name=self.name)

    def get_config(self):
        return super().get_config() | {"decay": self.decay}


@keras.saving.register_keras_serializable(package="ganzoo")
class StyleMix(keras.layers.Layer):
    """[w, w_mix, draws] -> ws [N, num_ws, w_dim]: style-mixing regularisation (Karras et al.
    2019, sec. 3.1; 2020, app. B): with probability ``prob`` an example takes ``w_mix``'s styles
    from a crossover layer drawn uniformly in [1, num_ws) on, and ``w``'s before it; otherwise
    ``w`` everywhere. ``draws`` [N, 2] are uniform in [-1, 1] (one decides whether to mix, one
    the crossover), drawn by the trainer. One crossover per example (the authors draw one per
    batch)."""

    def __init__(self, num_ws: int, prob: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        self.num_ws, self.prob = num_ws, prob

    def call(self, inputs):
        w, w_mix, draws = inputs
        u = ops.clip((ops.cast(draws, "float32") + 1.0) / 2.0, 0.0, 0.999999)  # in [0, 1)
        crossover = 1.0 + ops.floor(u[:, 1] * (self.num_ws - 1))
        crossover = ops.where(u[:, 0] < self.prob, crossover, float(self.num_ws))
        layer = ops.arange(self.num_ws, dtype="float32")[None, :]
        first = ops.cast(layer < crossover[:, None], w.dtype)[:, :, None]  # [N, num_ws, 1]
        return first * w[:, None, :] + (1.0 - first) * w_mix[:, None, :]

    def compute_output_shape(self, input_shapes):
        n, d = input_shapes[0]
        return (n, self.num_ws, d)

    def get_config(self):
        return super().get_config() | {"num_ws": self.num_ws, "prob": self.prob}


@keras.saving.register_keras_serializable(package="ganzoo")
class BroadcastStyles(keras.layers.Layer):
    """w [N, w_dim] -> ws [N, num_ws, w_dim]: the same style for every layer."""

    def __init__(self, num_ws: int, **kwargs):
        super().__init__(**kwargs)
        self.num_ws = num_ws

    def call(self, w):
        return ops.repeat(w[:, None, :], self.num_ws, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_ws, input_shape[-1])

    portable = _portable_ops

    def get_config(self):
        return super().get_config() | {"num_ws": self.num_ws}


@keras.saving.register_keras_serializable(package="ganzoo")
class LearnedConstant(keras.layers.Layer):
    """ws -> the synthesis network's learned 4x4 input (N(0, 1) initialised), one per example
    (the authors' ``const``)."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape = tuple(shape)

    def build(self, input_shape):
        self.const = self.add_weight(
            name="const", shape=self.shape, initializer=keras.initializers.RandomNormal(0.0, 1.0)
        )

    def call(self, ws):
        return _batch_zeros(ws, len(self.shape)) + ops.cast(self.const, ws.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.shape)

    def portable(self):
        ws = _inputs(self)
        return keras.Model(
            ws, ops.add(_batch_zeros(ws, len(self.shape)), _np(self.const)), name=self.name
        )

    def get_config(self):
        return super().get_config() | {"shape": list(self.shape)}


def _batch_zeros(x, rank: int):
    """Zeros [N, 1, ..., 1] (``rank`` ones) for the batch of ``x``."""
    zeros = ops.zeros_like(ops.reshape(x, (-1, int(np.prod(x.shape[1:])))))[:, :1]
    return ops.reshape(zeros, (-1,) + (1,) * rank)


@keras.saving.register_keras_serializable(package="ganzoo")
class BiasActivation(keras.layers.Layer):
    """x + bias per channel, then ``activation`` (``lrelu``: leaky ReLU 0.2 times sqrt(2)): the
    authors' ``bias_act`` after a modulated convolution and its noise."""

    def __init__(self, activation="lrelu", **kwargs):
        super().__init__(**kwargs)
        self.activation = activation

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(int(input_shape[-1]),),
                                    initializer="zeros")  # fmt: skip

    def call(self, x):
        return _activate(x + ops.cast(self.bias, x.dtype), self.activation, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def portable(self):
        x = _inputs(self)
        return keras.Model(
            x, _activate(ops.add(x, _np(self.bias)), self.activation, 1.0), name=self.name
        )

    def get_config(self):
        return super().get_config() | {"activation": self.activation}
