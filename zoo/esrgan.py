"""ESRGAN: enhanced super-resolution GAN.

Reference:
    Wang, Yu, Wu, Gu, Liu, Dong, Loy, Qiao, Tang. "ESRGAN: Enhanced Super-Resolution
    Generative Adversarial Networks." ECCV Workshops 2018. https://arxiv.org/abs/1809.00219 ;
    the authors' code: github.com/xinntao/ESRGAN and github.com/xinntao/BasicSR
    (``RRDBNet_arch.py``, ``discriminator_vgg_arch.py``, ``SRGAN_model.py`` and the
    ``train_ESRGAN.yml`` options), which this module follows.

ESRGAN keeps SRGAN's setting (``zoo/srgan.py``: the paired kind, a warm-up, a content loss and
a VGG-style discriminator) and changes three things (sec. 3):

* **Generator** (RRDBNet): no batch norm anywhere; ``blocks`` Residual-in-Residual Dense Blocks,
  each three dense blocks of five 3x3 convolutions (the first four grow the features by
  ``growth`` channels and are concatenated with all before them, LeakyReLU(0.2)), every dense
  block's output scaled by 0.2 before its skip, and the RRDB's too (residual scaling); a trunk
  convolution added to the first convolution's output; per factor 2 of ``scale``, nearest
  upsampling and a 3x3 convolution with LeakyReLU (the authors' ``F.interpolate(...,
  mode='nearest')``, not a pixel shuffle; a Keras ``Resizing`` layer, which
  exports); a 3x3 convolution, LeakyReLU and a 3x3 convolution
  to the image. The dense blocks' convolutions start at Kaiming-normal weights times 0.1 (the
  authors' ``initialize_weights(..., 0.1)``).
* **Relativistic average discriminator** (``zoo.terms.RelativisticAverage``), whose means are
  over the global batch under ``tf.distribute``. The network is SRGAN's with 4x4 stride-2
  convolutions and 100 dense units (``Discriminator_VGG_128``).
* **Perceptual loss before activation**: the mean absolute distance of the feature maps before
  the ReLU (``objective.content_network``: VGG19 ``block5_conv4`` with ImageNet weights, or
  offline for digits the project's digit classifier, as in srgan).

Objective (``train_ESRGAN.yml``): a PSNR-oriented warm-up of L1 alone (``warmup_steps``), then
L_G = L_percep + 5e-3 L_G^Ra + 1e-2 L1. Adam(1e-4, beta_1 = 0.9, beta_2 = 0.99).

Where we differ, and why:

* **Sizes**: the paper has 23 RRDBs of 64 filters on 128 px crops of DIV2K for 10^6 warm-up and
  4 x 10^5 GAN updates with step decays; the digits default has 4 RRDBs of 32 filters, 7x7 ->
  28x28, a few thousand steps at a constant rate.
* **Output**: the authors' last convolution is linear and images are clamped at test time.
  Here too the generator trains linear, and what ships is clipped to [-1, 1]
  (``ship``), the range of every ganzoo generator.
* **One run, two phases** and **D then G in a step**, as srgan says.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from zoo import srgan
from zoo.registry import Family, register_family

if TYPE_CHECKING:
    import keras

RESIDUAL_SCALE = 0.2  # the authors' ``x5 * 0.2 + x`` and ``out * 0.2 + x``


@dataclasses.dataclass
class ESRGANConfig:
    """Architecture arguments of ESRGAN.

    Args:
        image_size, channels, scale: as srgan's (the output's size, 1 or 3, a power of 2).
        filters: the trunk's feature maps (the paper's nf = 64).
        blocks: Residual-in-Residual Dense Blocks (the paper's 23).
        growth: channels each dense-block convolution adds (gc = 32).
        d_filters, d_stages: as srgan's discriminator.
        d_dense: units of the discriminator's dense layer (100).
        d_norm: the discriminator's ``batch`` norm (the authors') or ``none``.
    """

    image_size: int = 28
    channels: int = 1
    scale: int = 4
    filters: int = 64
    blocks: int = 23
    growth: int = 32
    d_filters: int = 64
    d_stages: int = 4
    d_dense: int = 100
    d_norm: srgan.Norm = "batch"

    def validate(self) -> None:
        srgan.validate_sizes(self)
        if self.blocks < 0 or self.growth < 1:
            raise ValueError(
                f"model.blocks must be 0 or more and model.growth positive, got "
                f"{self.blocks} and {self.growth}"
            )


def _conv(filters, name, scaled=False):
    """A 3x3 convolution; ``scaled``: Kaiming-normal (fan in) weights times 0.1."""
    import keras

    init = (
        keras.initializers.VarianceScaling(0.02, "fan_in", "untruncated_normal")
        if scaled
        else "glorot_uniform"
    )
    return keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=init, name=name)


def _lrelu(name):
    import keras

    return keras.layers.LeakyReLU(0.2, name=name)


def _dense_block(x, filters: int, growth: int, name: str):
    """ResidualDenseBlock_5C: x5 * 0.2 + x."""
    from keras import layers

    features = [x]
    for n in range(1, 5):
        inputs = features[0] if n == 1 else layers.Concatenate(name=f"{name}_cat{n}")(features)
        y = _lrelu(f"{name}_lrelu{n}")(_conv(growth, f"{name}_conv{n}", scaled=True)(inputs))
        features.append(y)
    y = _conv(filters, f"{name}_conv5", scaled=True)(
        layers.Concatenate(name=f"{name}_cat5")(features)
    )
    return _residual(x, y, name)


def _residual(x, y, name):
    from keras import layers

    y = layers.Rescaling(RESIDUAL_SCALE, name=f"{name}_scale")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_generator(config: ESRGANConfig, name: str = "generator") -> keras.Model:
    """RRDBNet: source [batch, s, s, channels] (s = image_size / scale) -> image [batch,
    image_size, image_size, channels], linear (``ship`` clips what ships to [-1, 1]).

    Example:
        >>> g = build_generator(ESRGANConfig(image_size=28, filters=8, blocks=1, growth=4))
        >>> g(np.zeros((2, 7, 7, 1), "float32")).shape
        TensorShape([2, 28, 28, 1])
    """
    import keras
    from keras import layers

    config.validate()
    size, f = srgan.low_res_size(config), config.filters
    source = keras.Input((size, size, config.channels), name="source")
    head = x = _conv(f, "conv_first")(source)
    for b in range(config.blocks):
        block_input = x
        for d in range(3):
            x = _dense_block(x, f, config.growth, f"rrdb{b}_rdb{d}")
        x = _residual(block_input, x, f"rrdb{b}")
    x = layers.Add(name="trunk_add")([head, _conv(f, "trunk_conv")(x)])
    for n in range(srgan.int_log2(config.scale)):
        # Resizing, not UpSampling2D: Keras' nearest UpSampling2D repeats rows with a dynamic
        # shape, and TFLite cannot convert the convolution after it (measured).
        x = layers.Resizing(
            size * 2 ** (n + 1), size * 2 ** (n + 1), "nearest", name=f"up{n}_nearest"
        )(x)
        x = _lrelu(f"up{n}_lrelu")(_conv(f, f"up{n}_conv")(x))
    x = _lrelu("hr_lrelu")(_conv(f, "hr_conv")(x))
    image = layers.Conv2D(config.channels, 3, padding="same", dtype="float32", name="conv_last")(x)
    return keras.Model(source, image, name=name)


def build(config: ESRGANConfig) -> dict[str, keras.Model]:
    return {
        "generator": build_generator(config),
        "discriminator": srgan.build_discriminator(config, stride_kernel=4),
    }


def ship(artifact: str, network: keras.Model) -> keras.Model:
    """The generator as it ships: its output clipped to [-1, 1] (the authors clamp the output
    at test time), by Keras' own layers, sharing its weights."""
    import keras

    clipped = keras.layers.Activation("hard_tanh", name="image", dtype="float32")
    return keras.Model(network.input, clipped(network.output), name=network.name)


@dataclasses.dataclass
class ESRGANObjective(srgan.SRGANObjective):
    """The ``objective`` section of ESRGAN (``train_ESRGAN.yml``).

    Args:
        warmup_steps: steps of L1 alone, the generator only (the PSNR-oriented RRDB model).
        adversarial_weight: lambda of the relativistic generator loss (5e-3).
        content_weight: the perceptual loss's weight (1).
        l1_weight: eta, the weight of the pixel L1 after the warm-up (1e-2).
        content_network, content_layer: as srgan's; the maps are taken before the activation.
    """

    adversarial_weight: float = 5e-3
    content_weight: float = 1.0
    l1_weight: float = 1e-2


def terms(objective: ESRGANObjective, warmup: bool = False) -> list:
    """L_G = L_percep + lambda L_G^Ra + eta L1 (eq. 3); with ``warmup``, L1 alone."""
    from zoo.losses import get_loss
    from zoo.terms import L1Reconstruction, RelativisticAverage

    if warmup:
        return [L1Reconstruction(1.0)]
    return [
        RelativisticAverage(get_loss(objective.loss), g_weight=objective.adversarial_weight),
        srgan.content_term(objective, "l1", before_activation=True),
        L1Reconstruction(objective.l1_weight),
    ]


register_family(
    Family(
        name="esrgan",
        config_cls=ESRGANConfig,
        build=build,
        contract=srgan.contract,
        objective_cls=ESRGANObjective,
        terms=terms,
        ship=ship,
        paper="Wang et al. 2018, arXiv:1809.00219",
        default_preset="esrgan_digits",
        presets={
            "esrgan_digits": {
                "data": srgan.DIGITS,
                "model": {
                    "image_size": 28,
                    "channels": 1,
                    "filters": 32,
                    "blocks": 4,
                    "d_filters": 32,
                },
                "objective": {
                    "warmup_steps": 1000,
                    "content_network": "digits",
                    "content_layer": "conv1b",
                },
                "eval": {"split": "test[8000:]"},
                "train": {
                    "steps": 2000,
                    "g_lr": 1e-4,
                    "d_lr": 1e-4,
                    "beta_1": 0.9,
                    "beta_2": 0.99,
                    "sample_every": 500,
                    "checkpoint_every": 500,
                },
            },
            "esrgan_photos": {
                "data": srgan.PHOTOS,
                "model": {
                    "image_size": 48,
                    "channels": 3,
                    "filters": 32,
                    "blocks": 4,
                    "d_filters": 32,
                },
                "objective": {"warmup_steps": 600, "content_network": "pixels"},
                "eval": {"split": "test"},
                "train": {
                    "steps": 1200,
                    "g_lr": 1e-4,
                    "d_lr": 1e-4,
                    "beta_1": 0.9,
                    "beta_2": 0.99,
                    "sample_every": 300,
                    "checkpoint_every": 300,
                },
            },
            # The paper's DIV2K setting, for a GPU machine with internet (TFDS prepares
            # div2k/bicubic_x4, Keras downloads VGG19's ImageNet weights): 128 px crops at 4x,
            # 23 RRDBs, 10^6 PSNR-oriented steps then 4 x 10^5 GAN steps, batch 16. The
            # authors halve the rates on a schedule; ganzoo's stay constant. The held-out
            # split is DIV2K's validation set, tiled into 128 px crops.
            "esrgan_div2k": {
                "data": {
                    "dataset": "div2k/bicubic_x4",
                    "source": "tfds",
                    "split": "train",
                    "pair": "given",
                    "pair_keys": ["lr", "hr"],
                    "crops": True,
                    "batch_size": 16,
                },
                "model": {
                    "image_size": 128,
                    "channels": 3,
                    "filters": 64,
                    "blocks": 23,
                    "growth": 32,
                    "d_filters": 64,
                    "d_stages": 5,
                },
                "objective": {
                    "warmup_steps": 1000000,
                    "content_network": "vgg19",
                    "content_layer": "block5_conv4",
                },
                "eval": {"split": "validation"},
                "train": {
                    "steps": 1400000,
                    "g_lr": 1e-4,
                    "d_lr": 1e-4,
                    "beta_1": 0.9,
                    "beta_2": 0.99,
                    "sample_every": 5000,
                    "checkpoint_every": 5000,
                },
            },
            "tiny": {
                "data": {**srgan.DIGITS, "batch_size": 8},
                "model": {
                    "image_size": 28,
                    "channels": 1,
                    "filters": 4,
                    "blocks": 1,
                    "growth": 2,
                    "d_filters": 4,
                    "d_stages": 2,
                    "d_dense": 8,
                },
                "objective": {
                    "warmup_steps": 1,
                    "content_network": "digits",
                    "content_layer": "conv1b",
                },
                "eval": {"split": "test[8000:]"},
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
            },
        },
    )
)
