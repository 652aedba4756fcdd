"""pix2pixHD: coarse-to-fine conditional GANs for high-resolution image-to-image translation.

Reference:
    Wang, Liu, Zhu, Tao, Kautz, Catanzaro. "High-Resolution Image Synthesis and Semantic
    Manipulation with Conditional GANs." CVPR 2018. https://arxiv.org/abs/1711.11585 ; the
    authors' code: github.com/NVIDIA/pix2pixHD (``models/networks.py``: ``LocalEnhancer``,
    ``GlobalGenerator``, ``MultiscaleDiscriminator``; ``models/pix2pixHD_model.py``), which this
    module follows.

The family (the paired kind, as pix2pix):

* **Generator** (sec. 3.2): a *global* generator G1 (CycleGAN's ResNet generator: a 7x7
  convolution, ``global_downsamplings`` 3x3 stride-2 convolutions, ``global_blocks`` residual
  blocks, as many transposed convolutions; reflection padding, instance norm) runs on the
  source downsampled 2x and its output *features* (its last 7x7 convolution and tanh removed)
  are added to the front-end of a *local enhancer* G2 on the full-size source (7x7 conv and a
  stride-2 conv); then ``local_blocks`` residual blocks, a transposed convolution and the 7x7
  convolution to the image with tanh. G1 has twice G2's filters (the authors' ``ngf_global =
  ngf * 2``). The 2x downsampling is the authors' 3x3 average pool of stride 2.
* **Discriminators** (sec. 3.2): ``d_scales`` PatchGANs of the same architecture on the
  (source, image) pair at full size, 1/2, 1/4 (average-pooled), each ``d_layers`` 4x4 stride-2
  convolutions, a stride-1 one and a 1-channel map (zero padding 2: the authors' ``padw =
  ceil(3 / 2)``), instance norm on all but the first, LeakyReLU(0.2). Each exposes its
  intermediate maps (``getIntermFeat``) for the feature matching loss.
* **Objective** (eq. 4, the authors' options): least squares GAN summed over the scales (the
  discriminators' half: ``0.5 * (real + fake)``) plus lambda = 10 times the discriminator
  feature matching loss (``zoo.terms.DiscriminatorFeatureMatching``); Adam(2e-4, 0.5).

Where we differ from the authors, and why:

* **Sizes**: the paper's 2048x1024 Cityscapes model has G1 at 1024x512 with 3 downsamplings
  and 9 blocks, 3 local blocks, 3 discriminators. The offline default is 32 px edges -> digit
  with 2 downsamplings, 3 global blocks, 2 local blocks, 2 discriminators of 2 layers
  (receptive fields of 22 px at full size and 46 px at half).
* **Training schedule**: the authors train G1 alone first, then G1 + G2 (``--niter_fix_global``
  freezes G1 for some epochs). Here both train together from the start, which at 32 px trains
  to the same use of the coarse path (the paper's schedule is for memory at 2048 px).
* **No VGG loss.** The authors' code adds a VGG19 perceptual loss by default (``--no_vgg_loss``
  switches it off); the paper's ablation (sec. 4) credits feature matching, and VGG19 needs
  ImageNet weights this machine does not have. No instance maps or encoder features (the
  issue makes them optional; the digits have no instances).
* **Update order**: D, then G against the updated D (pix2pix's); the authors compute both
  losses with the same D, then step G and D.
* **Average pooling**: Keras' ``AveragePooling2D(3, 2, "same")`` excludes the padding from the
  mean, as the authors' ``count_include_pad=False``, but pads right and bottom only (TF's
  ``SAME``) where PyTorch pads 1 on every side: the pooled grid is shifted by half a pixel.
* Batch 16 with instance norm (the authors' batch 1).

Everything is Keras' own layers (and cyclegan's ``reflect_pad`` of Cropping2D/Concatenate), so
the generator exports to SavedModel, TFLite and ONNX; it takes ``source`` at the static
``image_size``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from zoo import pix2pix
from zoo.contract import Contract, from_data
from zoo.registry import Family, register_family

if TYPE_CHECKING:
    import keras

MAX_FILTERS = 512  # the discriminators' filters stop doubling at 512, as the authors'


@dataclasses.dataclass
class Pix2PixHDConfig:
    """Architecture arguments of pix2pixHD.

    Args:
        image_size: height and width of the square source and target; divisible by
            2 ** (global_downsamplings + 1).
        channels, source_channels: as pix2pix's.
        filters: the local enhancer's filters (the paper's ngf = 32; G1 has twice as many).
        global_downsamplings: G1's stride-2 convolutions (3).
        global_blocks: G1's residual blocks (9).
        local_blocks: the local enhancer's residual blocks (3).
        d_filters: each discriminator's first layer's filters (64).
        d_layers: each discriminator's stride-2 layers (3).
        d_scales: discriminators, on the pair at full size, 1/2, 1/4 ... (2 or 3).
    """

    image_size: int = 32
    channels: int = 1
    source_channels: int | None = None
    filters: int = 32
    global_downsamplings: int = 3
    global_blocks: int = 9
    local_blocks: int = 3
    d_filters: int = 64
    d_layers: int = 3
    d_scales: int = 2

    def validate(self) -> None:
        for field in ("image_size", "channels", "filters", "d_filters", "d_layers", "d_scales"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")
        for field in ("global_downsamplings", "global_blocks", "local_blocks"):
            if getattr(self, field) < 0:
                raise ValueError(f"model.{field} must be 0 or more, got {getattr(self, field)}")
        if self.source_channels is not None and self.source_channels not in (1, 3):
            raise ValueError(
                f"model.source_channels must be 1, 3 or none, got {self.source_channels}"
            )
        levels = 2 ** (self.global_downsamplings + 1)
        if self.image_size % levels or self.image_size // levels < 2:
            raise ValueError(
                f"model.image_size={self.image_size} must be a multiple of 2**("
                f"model.global_downsamplings + 1)={levels} and leave G1 at least 2x2 pixels"
            )


def _pool(x, name: str):
    """The authors' ``AvgPool2d(3, stride=2, padding=1, count_include_pad=False)``."""
    from keras import layers

    return layers.AveragePooling2D(3, 2, padding="same", name=name)(x)


def _resnet_block(x, filters: int, name: str):
    from keras import layers

    from zoo.cyclegan import conv_in_relu, reflect_pad

    y = conv_in_relu(reflect_pad(x, 1, f"{name}_pad_a"), filters, 3, 1, f"{name}_a")
    y = conv_in_relu(reflect_pad(y, 1, f"{name}_pad_b"), filters, 3, 1, f"{name}_b", relu=False)
    return layers.Add(name=f"{name}_add")([x, y])


def _up(x, filters: int, name: str):
    """The authors' ``ConvTranspose2d(3, stride 2, padding 1, output_padding 1)``, instance
    norm and ReLU (cyclegan's, which crops the valid transposed convolution as theirs)."""
    from keras import layers

    from zoo.cyclegan import _init, instance_norm

    x = layers.Conv2DTranspose(
        filters, 3, 2, use_bias=False, kernel_initializer=_init(), name=f"{name}_conv"
    )(x)
    x = layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}_crop")(x)
    return layers.ReLU(name=f"{name}_relu")(instance_norm(name)(x))


def _down(x, filters: int, name: str):
    from keras import layers

    from zoo.cyclegan import conv_in_relu

    return conv_in_relu(layers.ZeroPadding2D(1, name=f"{name}_pad")(x), filters, 3, 2, name)


def build_generator(config: Pix2PixHDConfig, name: str = "generator") -> keras.Model:
    """source [batch, size, size, source_channels] in [-1, 1] -> image [batch, size, size,
    channels] in [-1, 1]: G1 on the half-size source, its features added to the local
    enhancer's.

    Example:
        >>> g = build_generator(Pix2PixHDConfig(filters=4, global_downsamplings=1,
        ...                                     global_blocks=1, local_blocks=1))
        >>> g(np.zeros((2, 32, 32, 1), "float32")).shape
        TensorShape([2, 32, 32, 1])
    """
    import keras
    from keras import layers

    from zoo.cyclegan import _init, conv_in_relu, reflect_pad

    config.validate()
    size, f = config.image_size, config.filters
    source = keras.Input((size, size, config.source_channels or config.channels), name="source")

    # G1, the global generator, on the source downsampled 2x; its output is its features.
    g = 2 * f
    x = conv_in_relu(reflect_pad(_pool(source, "half"), 3, "g1_stem_pad"), g, 7, 1, "g1_stem")
    for i in range(config.global_downsamplings):
        g *= 2
        x = _down(x, g, f"g1_down{i}")
    for i in range(config.global_blocks):
        x = _resnet_block(x, g, f"g1_block{i}")
    for i in range(config.global_downsamplings):
        g //= 2
        x = _up(x, g, f"g1_up{i}")

    # G2, the local enhancer: its front-end on the full source, plus G1's features.
    y = conv_in_relu(reflect_pad(source, 3, "g2_stem_pad"), f, 7, 1, "g2_stem")
    y = _down(y, 2 * f, "g2_down")
    x = layers.Add(name="g1_plus_g2")([y, x])
    for i in range(config.local_blocks):
        x = _resnet_block(x, 2 * f, f"g2_block{i}")
    x = _up(x, f, "g2_up")
    x = layers.Conv2D(config.channels, 7, kernel_initializer=_init(), name="to_image")(
        reflect_pad(x, 3, "to_image_pad")
    )
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(source, image, name=name)


def feature_names(config: Pix2PixHDConfig) -> tuple[tuple[str, ...], ...]:
    """Per discriminator, the names of its intermediate outputs (all maps but the last)."""
    return tuple(
        tuple(f"s{k}_f{j}" for j in range(config.d_layers + 1)) for k in range(config.d_scales)
    )


def logit_names(config: Pix2PixHDConfig) -> tuple[str, ...]:
    """Per discriminator, its map of logits (``logits`` for the full-size one)."""
    return tuple("logits" if k == 0 else f"logits_s{k}" for k in range(config.d_scales))


def build_discriminator(config: Pix2PixHDConfig, name: str = "discriminator") -> keras.Model:
    """(source, image) -> the logits maps of every scale, then every scale's intermediate maps,
    by name (``logit_names``, ``feature_names``)."""
    import keras
    from keras import layers

    from zoo.cyclegan import _init, instance_norm

    config.validate()
    size = config.image_size
    source = keras.Input((size, size, config.source_channels or config.channels), name="source")
    image = keras.Input((size, size, config.channels), name="image")
    pair = layers.Concatenate(name="pair")([source, image])
    logits, features = [], []
    for k, (logit_name, names) in enumerate(
        zip(logit_names(config), feature_names(config), strict=True)
    ):
        x, filters = pair, config.d_filters
        for j in range(config.d_layers + 1):
            stride = 2 if j < config.d_layers else 1
            if j > 0:
                filters = min(filters * 2, MAX_FILTERS)
            x = layers.ZeroPadding2D(2, name=f"s{k}_d{j}_pad")(x)
            x = layers.Conv2D(
                filters,
                4,
                stride,
                use_bias=j == 0,
                kernel_initializer=_init(),
                name=f"s{k}_d{j}_conv",
            )(x)
            if j > 0:
                x = instance_norm(f"s{k}_d{j}")(x)
            x = layers.LeakyReLU(0.2, name=names[j])(x)
            features.append(x)
        x = layers.ZeroPadding2D(2, name=f"s{k}_logits_pad")(x)
        logits.append(
            layers.Conv2D(1, 4, kernel_initializer=_init(), dtype="float32", name=logit_name)(x)
        )
        pair = _pool(pair, f"pool{k + 1}")
    return keras.Model([source, image], logits + features, name=name)


def build(config: Pix2PixHDConfig) -> dict[str, keras.Model]:
    return {"generator": build_generator(config), "discriminator": build_discriminator(config)}


def contract(config: Pix2PixHDConfig) -> Contract:
    return Contract("paired", {"source": from_data("source")})


@dataclasses.dataclass
class Pix2PixHDObjective(pix2pix.Pix2PixObjective):
    """The ``objective`` section of pix2pixHD.

    Args:
        loss: the adversarial pair (the authors' least squares, ``--no_lsgan`` off).
        feature_matching_weight: lambda of the feature matching loss (10).
        d_loss_scale: the discriminators' loss factor (0.5).
        l1_weight: pix2pix's L1 to the target; 0 here, as the authors' (kept for ablations).
    """

    loss: str = "least_squares"
    feature_matching_weight: float = 10.0
    l1_weight: float = 0.0


def terms(objective: Pix2PixHDObjective) -> list:
    """Eq. 4: least squares over every scale, plus lambda times feature matching (the terms
    find the scales' maps by their output names: ``logit_names``, ``feature_names``)."""
    from zoo.losses import LEAST_SQUARES, get_loss
    from zoo.terms import DiscriminatorFeatureMatching, L1Reconstruction, MultiScaleAdversarial

    pair = get_loss(objective.loss)
    # zoo.losses' least squares pair halves both sides (Mao et al.'s 1/2); the authors' MSE
    # does not: loss_D = 0.5 (MSE(real, 1) + MSE(fake, 0)), loss_G_GAN = MSE(fake, 1).
    halved = 2.0 if pair is LEAST_SQUARES else 1.0
    pieces = [
        MultiScaleAdversarial(pair, objective.d_loss_scale * halved, g_weight=halved),
        DiscriminatorFeatureMatching(objective.feature_matching_weight),
    ]
    if objective.l1_weight:
        pieces.append(L1Reconstruction(objective.l1_weight))
    return pieces


register_family(
    Family(
        name="pix2pixhd",
        config_cls=Pix2PixHDConfig,
        build=build,
        contract=contract,
        objective_cls=Pix2PixHDObjective,
        terms=terms,
        paper="Wang et al. 2018, arXiv:1711.11585",
        default_preset="pix2pixhd_edges",
        presets={
            # Edges -> digit on the vendored MNIST, as pix2pix_edges: 0-7999 train, 8000-9999
            # held out.
            "pix2pixhd_edges": {
                "data": pix2pix.EDGES,
                "model": {
                    "image_size": 32,
                    "channels": 1,
                    "filters": 16,
                    "global_downsamplings": 2,
                    "global_blocks": 3,
                    "local_blocks": 2,
                    "d_filters": 32,
                    "d_layers": 2,
                    "d_scales": 2,
                },
                "eval": {"split": "test[8000:]"},
                "train": {
                    "steps": 3000,
                    "g_lr": 2e-4,
                    "d_lr": 2e-4,
                    "beta_1": 0.5,
                    "sample_every": 500,
                    "checkpoint_every": 1000,
                },
            },
            "tiny": {
                "data": {**pix2pix.EDGES, "batch_size": 8},
                "model": {
                    "image_size": 16,
                    "channels": 1,
                    "filters": 2,
                    "global_downsamplings": 1,
                    "global_blocks": 1,
                    "local_blocks": 1,
                    "d_filters": 4,
                    "d_layers": 1,
                    "d_scales": 2,
                },
                "eval": {"split": "test[8000:]"},
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
            },
        },
    )
)
