"""Layers shared by families that Keras does not ship.

* ``WeightNormDense`` (and ``initialize_weight_norm``): weight normalization, for the
  semi-supervised GAN's discriminator (``zoo.sgan``).
* ``PixelNorm``, ``MinibatchStddev``: ProGAN's pixelwise feature normalization and minibatch
  standard deviation feature (Karras et al. 2018), which StyleGAN and StyleGAN2 keep.
* ``LevelOfDetail``, ``CrossFade``: a network's level of detail and the blends it drives, for
  progressive growing (``zoo.progan``); ``ChannelBiasDense``: ProGAN's first generator layer
  (a dense layer with one bias per channel of the map it is reshaped to).

Each is registered for Keras serialization as ``ganzoo>ClassName``, so a saved network with
them loads in a process that has imported this module (``training.sample`` and
``export.sampler`` do). What ships must not need them: each family ships Keras' own layers
that compute the same (``training.checkpoints.portable_copy``, ``zoo.progan.ship``).

(Spectral normalization is Keras' own ``keras.layers.SpectralNormalization``; see
``zoo.dcgan._spectral``.)
"""

from __future__ import annotations

import keras
import numpy as np
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
class ChannelBiasDense(keras.layers.Layer):
    """A dense layer whose ``units`` outputs are ``positions`` pixels of ``units // positions``
    channels each (a reshape to a map follows), with one bias per channel shared by every
    pixel: ProGAN's first generator layer, where the authors add the bias after the reshape to
    4x4 (``networks.py``: ``apply_bias`` on [N, C, 4, 4]). A bias per pixel would let the
    generator draw a fixed 4x4 template that ``z`` does not move. Ships as the
    ``keras.layers.Dense`` with that bias repeated at every pixel (``dense_weights``).

    Args:
        units: output width, ``positions`` times the channels.
        positions: pixels of the map the output is reshaped to (16 for 4x4).
        kernel_initializer: the kernel's initializer (the bias starts at zero).
    """

    def __init__(self, units: int, positions: int, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if positions < 1 or units % positions:
            raise ValueError(f"units={units} is not a whole number of positions={positions}")
        self.units, self.positions = units, positions
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.activation = None  # what ships: a Dense without activation

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.units), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units // self.positions,), initializer="zeros"
        )

    def call(self, x):
        bias = ops.tile(ops.cast(self.bias, x.dtype), [self.positions])
        return ops.matmul(x, ops.cast(self.kernel, x.dtype)) + bias

    def dense_weights(self) -> list:
        """[kernel, bias] of the ``keras.layers.Dense`` that computes what this layer does."""
        bias = ops.convert_to_numpy(self.bias)
        return [ops.convert_to_numpy(self.kernel), np.tile(bias, self.positions)]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return super().get_config() | {
            "units": self.units,
            "positions": self.positions,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


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


# -- BigGAN and SAGAN: self-attention, batch norm over the global batch, orthogonal regularization
#
# ``SelfAttention`` (Zhang et al. 2019), ``CrossReplicaBatchNorm`` and ``ConditionalBatchNorm``
# (Brock et al. 2019's cross-replica and class-conditional batch norm) train as ganzoo layers
# and ship as Keras' own layers that share their weights (``as_keras_layers``): the batch
# statistics and the attention's gain are held by Keras layers inside them.
# ``OrthogonalRegularizer`` is BigGAN's modified orthogonal regularization (``zoo.biggan``).


@keras.saving.register_keras_serializable(package="ganzoo")
class SpectralNorm(keras.layers.SpectralNormalization):
    """Keras' ``SpectralNormalization`` (Miyato et al. 2018: in training, one power iteration
    updates ``u`` and the layer's kernel becomes W / sigma(W)) without its guard against an
    all-zero kernel. The guard is a ``tf.cond`` in every training call, and tracing it cost 30%
    of the time of tracing a BigGAN training step (measured: 130 conds in a 16x16 BigGAN's
    step, 15 s -> 11 s to trace); the step's run time is the same. A kernel of zeros only,
    which the guard leaves alone, does not occur here: the kernels are drawn at random."""

    def call(self, inputs, training=False):
        if training:
            vector_u, kernel = self.normalized_weights()
            self.vector_u.assign(vector_u)
            self.kernel.assign(kernel)
        return ops.cast(self.layer(inputs), inputs.dtype)


def _spectral(layer, spectral_norm: bool):
    """``layer`` spectrally normalized (``SpectralNorm``, one power iteration per training
    call) under its own name, when asked; the wrapped layer keeps its name, and ships alone."""
    if not spectral_norm:
        return layer
    return SpectralNorm(layer, power_iterations=1, name=layer.name)


def _unwrapped(layer):
    """The layer a ``SpectralNormalization`` wraps (in inference it computes the same: the
    wrapper writes the normalized kernel into the wrapped layer's kernel when it trains)."""
    return layer.layer if isinstance(layer, keras.layers.SpectralNormalization) else layer


@keras.saving.register_keras_serializable(package="ganzoo")
class SelfAttention(keras.layers.Layer):
    """SAGAN's self-attention block as BigGAN-PyTorch writes it: x + gamma * o(beta g), with
    beta = softmax(theta(x) phi(x)^T) over the positions of the max-pooled map.

    theta, phi and g are 1x1 convolutions (no bias) to C/8, C/8 and C/2 channels, phi and g
    max-pooled 2x2 (four times fewer keys than queries); o is a 1x1 convolution back to C
    channels; gamma is a learned scalar that starts at 0, so the block starts as the identity
    (Zhang et al. 2019, sec. 3; BigGAN-PyTorch ``layers.Attention``). Written with ``keras.ops``.

    gamma is the kernel of a one-unit ``Dense`` layer without bias (``gamma``), so that what
    ships (``as_keras_layers``) multiplies by it with a Keras layer that shares it.

    Args:
        spectral_norm: spectrally normalize the four convolutions (``SpectralNorm``).
        kernel_initializer: the convolutions' initializer.

    Example:
        >>> SelfAttention()(np.zeros((2, 8, 8, 16), "float32")).shape
        (2, 8, 8, 16)

    Reference:
        Zhang, Goodfellow, Metaxas, Odena. "Self-Attention Generative Adversarial Networks."
        ICML 2019. https://arxiv.org/abs/1805.08318
    """

    def __init__(self, spectral_norm: bool = True, kernel_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        self.spectral_norm = spectral_norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        _, h, w, c = input_shape
        if c is None or c < 8:
            raise ValueError(f"{self.name}: self-attention needs 8 channels or more, got {c}")
        if h is None or w is None or h % 2 or w % 2:
            raise ValueError(
                f"{self.name}: self-attention pools 2x2: needs an even size, got {h}x{w}"
            )

        def conv(filters, part):
            init = keras.initializers.get(keras.initializers.serialize(self.kernel_initializer))
            layer = keras.layers.Conv2D(
                filters, 1, use_bias=False, kernel_initializer=init, name=f"{self.name}_{part}"
            )
            return _spectral(layer, self.spectral_norm)

        self.theta, self.phi = conv(c // 8, "theta"), conv(c // 8, "phi")
        self.g, self.o = conv(c // 2, "g"), conv(c, "o")
        self.gamma = keras.layers.Dense(
            1, use_bias=False, kernel_initializer="zeros", name=f"{self.name}_gamma"
        )
        for layer in (self.theta, self.phi, self.g):
            layer.build(input_shape)
        self.o.build((None, h, w, c // 2))
        self.gamma.build((None, 1))

    def call(self, x, training=None):
        _, h, w, c = x.shape
        n, pooled = h * w, (h // 2) * (w // 2)
        theta = ops.reshape(self.theta(x, training=training), (-1, n, c // 8))
        phi = ops.max_pool(self.phi(x, training=training), 2, 2)
        phi = ops.reshape(phi, (-1, pooled, c // 8))
        g = ops.reshape(ops.max_pool(self.g(x, training=training), 2, 2), (-1, pooled, c // 2))
        logits = ops.matmul(theta, ops.transpose(phi, (0, 2, 1)))  # [B, n, n/4]
        beta = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), x.dtype)
        o = ops.reshape(ops.matmul(beta, g), (-1, h, w, c // 2))
        o = self.o(o, training=training)
        return x + o * ops.cast(ops.reshape(self.gamma.kernel, ()), x.dtype)

    def as_keras_layers(self, x):
        """This block on the Keras tensor ``x`` made of Keras' own layers that share its weights
        (what ships): 1x1 convolutions, ``MaxPooling2D``, ``Dot``, ``Softmax`` and ``Reshape``;
        gamma is the ``Dense`` holding it, applied to each entry as a [1, 1] matmul."""
        layers, name = keras.layers, self.name
        _, h, w, c = x.shape
        n, pooled = h * w, (h // 2) * (w // 2)
        theta = layers.Reshape((n, c // 8), name=f"{name}_theta_rows")(_unwrapped(self.theta)(x))
        phi = layers.MaxPooling2D(2, name=f"{name}_phi_pool")(_unwrapped(self.phi)(x))
        phi = layers.Reshape((pooled, c // 8), name=f"{name}_phi_rows")(phi)
        g = layers.MaxPooling2D(2, name=f"{name}_g_pool")(_unwrapped(self.g)(x))
        g = layers.Reshape((pooled, c // 2), name=f"{name}_g_rows")(g)
        logits = layers.Dot(axes=(2, 2), name=f"{name}_logits")([theta, phi])
        beta = layers.Softmax(axis=-1, name=f"{name}_beta")(logits)
        o = layers.Dot(axes=(2, 1), name=f"{name}_attend")([beta, g])
        o = _unwrapped(self.o)(layers.Reshape((h, w, c // 2), name=f"{name}_attend_map")(o))
        o = self.gamma(layers.Reshape((h * w * c, 1), name=f"{name}_entries")(o))
        o = layers.Reshape((h, w, c), name=f"{name}_scaled")(o)
        return layers.Add(name=f"{name}_residual")([x, o])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {
            "spectral_norm": self.spectral_norm,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def global_moments(x, axes) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean and (biased) variance of ``x`` over ``axes`` and over the *global* batch: in a
    replica context with more than one replica, the replicas' sums of x and x^2 and their
    counts are all-reduced (SUM, one collective), so every replica gets what one device
    computes on the whole batch (BigGAN's cross-replica batch norm). The variance is
    E[x^2] - E[x]^2 (BigGAN-PyTorch's ``manual_bn``), computed that way on one device too. The
    all-reduce is differentiable (its gradient is the all-reduce of the gradients)."""
    x = tf.cast(x, tf.float32)
    count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), axes)), tf.float32)
    sums = tf.reduce_sum(x, axis=axes)
    squares = tf.reduce_sum(tf.square(x), axis=axes)
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        c = sums.shape[-1]
        packed = tf.concat([sums, squares, tf.reshape(count, [1])], axis=0)
        packed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, packed)
        sums, squares, count = packed[:c], packed[c : 2 * c], packed[2 * c]
    mean = sums / count
    return mean, tf.maximum(squares / count - tf.square(mean), 0.0)


@keras.saving.register_keras_serializable(package="ganzoo")
class CrossReplicaBatchNorm(keras.layers.Layer):
    """Batch normalization over the channels' statistics of the **global** batch
    (``global_moments``): under ``tf.distribute`` with several replicas each replica normalizes
    with the statistics of all of them, so a step on two replicas equals the step on one
    device (Keras' ``BatchNormalization`` keeps per-replica statistics). BigGAN's
    cross-replica BN (Brock et al. 2019, sec. 4; BigGAN-PyTorch ``layers.bn``).

    The moving statistics (for inference), and the learned scale and offset when ``center``
    and ``scale`` are set, live in a Keras ``BatchNormalization`` held as ``norm``, which is
    what ships (``as_keras_layers``): in inference this layer *is* that layer. Its variables
    have Keras' aggregation "none": under MirroredStrategy each replica writes its own copy
    (measured), and every replica writes the same global statistics.

    Args:
        momentum: of the moving statistics (Keras' convention: 0.9 is PyTorch's 0.1).
        epsilon: added to the variance.
        center, scale: learn an offset (init 0) and a scale (init 1) per channel.
    """

    def __init__(self, momentum=0.9, epsilon=1e-5, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon
        self.center, self.scale = center, scale

    def build(self, input_shape):
        self.norm = keras.layers.BatchNormalization(
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            name=f"{self.name}_norm",
        )
        self.norm.build(input_shape)

    def normalize(self, x, training=None):
        """x standardized per channel (and scaled and offset by ``norm``'s own weights, when it
        has them): with the global batch's statistics in training (updating the moving ones),
        with the moving statistics otherwise. float32 [B, ..., C]."""
        norm = self.norm
        if not (training and self.trainable):
            return tf.cast(norm(x, training=False), tf.float32)
        x = tf.cast(x, tf.float32)
        mean, variance = global_moments(x, list(range(len(x.shape) - 1)))
        m = self.momentum
        norm.moving_mean.assign(norm.moving_mean * m + mean * (1.0 - m))
        norm.moving_variance.assign(norm.moving_variance * m + variance * (1.0 - m))
        gamma = tf.cast(norm.gamma, tf.float32) if self.scale else None
        beta = tf.cast(norm.beta, tf.float32) if self.center else None
        return tf.nn.batch_normalization(x, mean, variance, beta, gamma, self.epsilon)

    def call(self, x, training=None):
        return tf.cast(self.normalize(x, training), self.compute_dtype)

    def as_keras_layers(self, x):
        """This layer on the Keras tensor ``x`` as Keras' own layers sharing its weights (what
        ships): its ``BatchNormalization`` (inference uses the moving statistics)."""
        return self.norm(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


@keras.saving.register_keras_serializable(package="ganzoo")
class ConditionalBatchNorm(CrossReplicaBatchNorm):
    """[x, gain, bias] -> x_hat * (1 + gain) + bias: batch norm without an affine of its own
    (global statistics, as ``CrossReplicaBatchNorm``) whose per-example, per-channel gain and
    bias ([batch, C] each) are inputs, computed from the conditioning (BigGAN's ``ccbn``: linear
    maps of the shared class embedding and a chunk of z; SAGAN's: per-class embeddings).

    Args:
        momentum, epsilon: as ``CrossReplicaBatchNorm``.

    Example:
        >>> cbn = ConditionalBatchNorm()
        >>> cbn([x, gain, bias], training=True)  # x [B, H, W, C], gain and bias [B, C]

    Reference:
        de Vries et al. "Modulating early visual processing by language." NeurIPS 2017;
        Brock, Donahue, Simonyan. "Large Scale GAN Training for High Fidelity Natural Image
        Synthesis." ICLR 2019. https://arxiv.org/abs/1809.11096
    """

    def __init__(self, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(momentum, epsilon, center=False, scale=False, **kwargs)

    def build(self, input_shape):
        super().build(input_shape[0])

    def call(self, inputs, training=None):
        x, gain, bias = inputs
        x_hat = self.normalize(x, training)
        shape = (-1,) + (1,) * (len(x.shape) - 2) + (x.shape[-1],)
        gain = ops.reshape(tf.cast(gain, tf.float32), shape)
        bias = ops.reshape(tf.cast(bias, tf.float32), shape)
        return tf.cast(x_hat * (1.0 + gain) + bias, self.compute_dtype)

    def as_keras_layers(self, inputs):
        """[x, gain, bias] (Keras tensors) -> the same, of Keras' own layers (what ships): the
        ``BatchNormalization`` holding the moving statistics, then ``Rescaling`` (1 + gain),
        ``Multiply`` and ``Add`` with the gain and bias reshaped to [B, 1, 1, C]."""
        layers, name = keras.layers, self.name
        x, gain, bias = inputs
        shape = (1,) * (len(x.shape) - 2) + (x.shape[-1],)
        gain = layers.Reshape(shape, name=f"{name}_gain_map")(gain)
        gain = layers.Rescaling(1.0, offset=1.0, name=f"{name}_one_plus_gain")(gain)
        bias = layers.Reshape(shape, name=f"{name}_bias_map")(bias)
        scaled = layers.Multiply(name=f"{name}_scale")([self.norm(x), gain])
        return layers.Add(name=f"{name}_shift")([scaled, bias])

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        config = super().get_config()
        del config["center"], config["scale"]  # always False: no affine of its own
        return config


@keras.saving.register_keras_serializable(package="ganzoo")
class OrthogonalRegularizer(keras.regularizers.Regularizer):
    """BigGAN's modified orthogonal regularization, beta * ||W^T W * (1 - I)||_F^2 on the
    kernel flattened to [fan_in, units] (Brock et al. 2019, eq. 3): it pushes the filters
    towards mutual orthogonality without constraining their norms.

    Args:
        beta: the weight (the paper: 1e-4).
    """

    def __init__(self, beta: float = 1e-4):
        self.beta = beta

    def __call__(self, kernel):
        w = ops.cast(kernel, "float32")
        w = ops.reshape(w, (-1, w.shape[-1]))
        gram = ops.matmul(ops.transpose(w), w)
        off_diagonal = gram * (1.0 - ops.eye(w.shape[-1], dtype="float32"))
        return self.beta * ops.sum(ops.square(off_diagonal))

    def get_config(self):
        return {"beta": self.beta}
