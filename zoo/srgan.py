"""SRGAN: photo-realistic single-image super-resolution with a GAN.

Reference:
    Ledig, Theis, Huszar, Caballero, Cunningham, Acosta, Aitken, Tejani, Totz, Wang, Shi.
    "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network."
    CVPR 2017. https://arxiv.org/abs/1609.04802 . The authors released no code; this module
    follows the paper (fig. 4, sec. 2-3) and, where the paper is silent, the ESRGAN authors'
    SRGAN baseline in github.com/xinntao/BasicSR (``MSRResNet``, ``Discriminator_VGG_128``).

The family:

* **Generator** (SRResNet, fig. 4): a 9x9 convolution and PReLU; ``blocks`` residual blocks
  (3x3 conv - BN - PReLU - 3x3 conv - BN, plus the block's input); a 3x3 conv - BN added to the
  first convolution's output (the long skip); per factor 2 of ``scale``, a 3x3 convolution to
  4x the filters, a sub-pixel shuffle (``depth_to_space``, Shi et al. 2016) and PReLU; a 9x9
  convolution to the image and tanh (the paper scales high-resolution images to [-1, 1]).
  PReLU has one slope per channel (``shared_axes`` over height and width), as the paper's.
* **Discriminator** (fig. 4): 3x3 convolutions with LeakyReLU(0.2), ``d_filters`` doubling
  every two layers, every second layer of stride 2 and all but the first batch-normalized
  (the paper's 64-64s2-128-128s2-256-256s2-512-512s2 for ``d_stages = 4``), then a dense layer
  of ``d_dense`` (1024) units, LeakyReLU and one logit.
* **Objective**: warm-up (the paper's SRResNet, sec. 3.2): ``objective.warmup_steps`` steps of
  the pixel-wise MSE alone (eq. 4), the generator only; then the perceptual loss (eq. 3):
  a content loss on a feature network's maps (eq. 5, ``content_weight``) plus 1e-3 times the
  non-saturating adversarial loss (eq. 6). Adam with beta_1 = 0.9.

The content loss. The paper's is the MSE of VGG19's ``conv5_4`` maps after the ReLU ("VGG54"),
the maps rescaled by 1/12.75 (a weight of 1/12.75^2 = 0.006 on their MSE):
``objective.content_network=vgg19``, which reads Keras' ImageNet VGG19 weights when the
machine has them (``training.features.content_network``). Offline, for digits,
``content_network=digits`` is the project's digit classifier (``training/classifier.py``), its
last convolution (``conv1b``, 14x14x64 maps after the ReLU) in place of VGG's: the same role
(the deepest convolutional maps of a classifier trained on the data's domain, before its last
pooling) on the images it was trained for, which VGG19 on 28 px grey digits is not. The photo preset
offline uses ``content_network=pixels``, the paper's SRGAN-MSE (table 2: the content loss is
the pixel MSE); with VGG19's weights in Keras' cache, ``objective.content_network=vgg19``
makes it the paper's SRGAN-VGG54.

Where we differ from the paper, and why:

* **Sizes.** The paper trains 96 px crops at 4x with 16 blocks of 64 filters for 10^6 warm-up
  and 2 x 10^5 GAN updates (lr 1e-4, then 1e-5). The offline default is 7x7 -> 28x28 digits
  with 8 blocks and a few thousand steps at a constant rate; ``srgan_photos`` trains 96 px
  crops of photographs.
* **One run, two phases.** The paper trains SRResNet, then starts SRGAN from its weights with
  new optimizers. Here one run switches at ``warmup_steps``: the discriminator and its
  optimizer start there untouched, the generator's Adam keeps its moments.
* **Update order.** The paired trainer updates D, then G against the updated D (pix2pix's
  order); the paper does not say, BasicSR updates G first.
* The discriminator ends in a logit; its sigmoid is inside the loss.

Everything is Keras' own layers and ``keras.ops.depth_to_space`` (which exports: see
``../shared/EXPORT-FACTS.md``), so the generator exports to SavedModel, TFLite and ONNX. It
takes ``source`` [batch, h, w, channels] at ``image_size / scale`` (a static size) and gives
``image`` at ``image_size``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from zoo.contract import ContentObjective, Contract, from_data
from zoo.registry import Family, register_family

if TYPE_CHECKING:  # imported where networks are built: registering the family stays light
    import keras

Norm = Literal["batch", "none"]
MAX_MULTIPLIER = 8  # the discriminator's filters stop doubling at 8 x d_filters (512)


@dataclasses.dataclass
class SRGANConfig:
    """Architecture arguments of SRGAN.

    Args:
        image_size: height and width of the high-resolution output (and the target).
        channels: channels of the images: 1 or 3.
        scale: the upscaling factor, a power of 2 (the paper's 4); the input is
            ``image_size / scale`` pixels.
        filters: the generator's feature maps (the paper's 64).
        blocks: residual blocks (the paper's 16).
        d_filters: filters of the discriminator's first layers (64).
        d_stages: pairs of discriminator convolutions, each ending in a stride-2 one (4).
        d_dense: units of the discriminator's dense layer (1024).
        g_norm, d_norm: ``batch`` (the paper's batch norm) or ``none``.
    """

    image_size: int = 28
    channels: int = 1
    scale: int = 4
    filters: int = 64
    blocks: int = 16
    d_filters: int = 64
    d_stages: int = 4
    d_dense: int = 1024
    g_norm: Norm = "batch"
    d_norm: Norm = "batch"

    def validate(self) -> None:
        validate_sizes(self)
        if self.blocks < 0:
            raise ValueError(f"model.blocks must be 0 or more, got {self.blocks}")


def validate_sizes(config) -> None:
    """The checks SRGAN and ESRGAN share: positive sizes, a power-of-2 scale that divides the
    image size, 1 or 3 channels."""
    for field in ("image_size", "filters", "d_filters", "d_stages", "d_dense"):
        if getattr(config, field) < 1:
            raise ValueError(f"model.{field} must be positive, got {getattr(config, field)}")
    for field in ("g_norm", "d_norm"):
        if getattr(config, field, "none") not in ("batch", "none"):
            raise ValueError(f"model.{field} must be batch or none, got {getattr(config, field)!r}")
    if config.channels not in (1, 3):
        raise ValueError(f"model.channels must be 1 or 3, got {config.channels}")
    if config.scale < 2 or config.scale & (config.scale - 1):
        raise ValueError(f"model.scale must be a power of 2 (2, 4, 8), got {config.scale}")
    if config.image_size % config.scale:
        raise ValueError(
            f"model.image_size={config.image_size} is not divisible by model.scale="
            f"{config.scale}; use a multiple of it"
        )


def low_res_size(config) -> int:
    return config.image_size // config.scale


def int_log2(scale: int) -> int:
    """The number of factor-2 upsampling stages of a power-of-2 ``scale``."""
    return scale.bit_length() - 1


def _prelu(name: str):
    from keras import layers

    return layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")


def _bn(norm: Norm, name: str):
    """Batch norm (PyTorch's momentum and epsilon, as BasicSR), or the identity for ``none``."""
    from keras import layers

    if norm == "none":
        return lambda x: x
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")


def build_generator(config: SRGANConfig, name: str = "generator") -> keras.Model:
    """SRResNet: source [batch, s, s, channels] in [-1, 1] (s = image_size / scale) -> image
    [batch, image_size, image_size, channels] in [-1, 1].

    Example:
        >>> g = build_generator(SRGANConfig(image_size=28, filters=8, blocks=2))
        >>> g(np.zeros((2, 7, 7, 1), "float32")).shape
        TensorShape([2, 28, 28, 1])
    """
    import keras
    from keras import layers

    config.validate()
    size, f = low_res_size(config), config.filters
    source = keras.Input((size, size, config.channels), name="source")
    x = layers.Conv2D(f, 9, padding="same", name="head_conv")(source)
    head = x = _prelu("head")(x)
    for b in range(config.blocks):
        y = layers.Conv2D(
            f, 3, padding="same", use_bias=config.g_norm == "none", name=f"res{b}_conv1"
        )(x)
        y = _prelu(f"res{b}")(_bn(config.g_norm, f"res{b}_1")(y))
        y = layers.Conv2D(
            f, 3, padding="same", use_bias=config.g_norm == "none", name=f"res{b}_conv2"
        )(y)
        x = layers.Add(name=f"res{b}_add")([x, _bn(config.g_norm, f"res{b}_2")(y)])
    x = layers.Conv2D(f, 3, padding="same", use_bias=config.g_norm == "none", name="trunk_conv")(x)
    x = layers.Add(name="long_skip")([head, _bn(config.g_norm, "trunk")(x)])
    x = upsample_pixel_shuffle(x, f, config.scale, activation=_prelu)
    x = layers.Conv2D(config.channels, 9, padding="same", name="to_image")(x)
    image = layers.Activation("tanh", name="image", dtype="float32")(x)
    return keras.Model(source, image, name=name)


def upsample_pixel_shuffle(x, filters: int, scale: int, activation):
    """log2(scale) sub-pixel stages: a 3x3 convolution to 4 x ``filters``, ``depth_to_space``
    by 2, then ``activation(name)`` (a layer factory)."""
    import keras
    from keras import layers

    for n in range(int_log2(scale)):
        x = layers.Conv2D(4 * filters, 3, padding="same", name=f"up{n}_conv")(x)
        x = keras.ops.depth_to_space(x, 2)
        x = activation(f"up{n}")(x)
    return x


def build_discriminator(config, name: str = "discriminator", stride_kernel: int = 3) -> keras.Model:
    """image [batch, image_size, image_size, channels] -> logits [batch, 1], real > 0 > fake.

    SRGAN's VGG-style discriminator (fig. 4); ESRGAN's (BasicSR ``Discriminator_VGG_128``) is
    the same with 4x4 stride-2 convolutions (``stride_kernel=4``) and 100 dense units."""
    import keras
    from keras import layers

    config.validate()
    image = keras.Input((config.image_size, config.image_size, config.channels), name="image")
    x = image
    for stage in range(config.d_stages):
        filters = config.d_filters * min(2**stage, MAX_MULTIPLIER)
        for stride, kernel in ((1, 3), (2, stride_kernel)):
            label = f"d{stage}_s{stride}"
            first = stage == 0 and stride == 1
            x = layers.Conv2D(
                filters,
                kernel,
                stride,
                padding="same",
                use_bias=first or config.d_norm == "none",
                name=f"{label}_conv",
            )(x)
            if not first:
                x = _bn(config.d_norm, label)(x)
            x = layers.LeakyReLU(0.2, name=f"{label}_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(config.d_dense, name="dense")(x)
    x = layers.LeakyReLU(0.2, name="dense_lrelu")(x)
    logits = layers.Dense(1, dtype="float32", name="logits")(x)
    return keras.Model(image, logits, name=name)


def build(config: SRGANConfig) -> dict[str, keras.Model]:
    return {"generator": build_generator(config), "discriminator": build_discriminator(config)}


def contract(config) -> Contract:
    """The generator reads the data's ``source`` (``data.pair=low_res4``: each image
    downsampled 4x); the target is the batch's ``image``; the discriminator sees images alone
    (unconditional, as the paper's)."""
    return Contract("paired", {"source": from_data("source")})


# -- the objective -------------------------------------------------------------------------


@dataclasses.dataclass
class SRGANObjective(ContentObjective):
    """The ``objective`` section of SRGAN.

    Args:
        loss: the adversarial loss pair (the paper's ``non_saturating``, eq. 6).
        warmup_steps: steps of the pixel-wise MSE alone, the generator only (SRResNet), before
            the perceptual loss starts.
        adversarial_weight: the adversarial loss's weight in the perceptual loss (1e-3).
        content_weight: the content loss's weight (0.006: the paper's 1/12.75 rescaling of
            VGG maps, squared).
        content_network: ``vgg19`` (the paper; ImageNet weights from Keras' cache),
            ``digits`` (the project's digit classifier, offline, for 28 px digits) or
            ``pixels`` (the images themselves: the paper's SRGAN-MSE variant, table 2).
        content_layer: the network's layer whose maps are compared (VGG's ``block5_conv4``,
            the classifier's ``conv1b``).
    """

    warmup_steps: int = 0
    adversarial_weight: float = 1e-3
    content_weight: float = 0.006
    content_network: str = "vgg19"
    content_layer: str = "block5_conv4"


def content_term(objective: SRGANObjective, distance: str, before_activation: bool):
    """The content loss of ``objective``'s network and layer (SRGAN: ``l2`` after the
    activation; ESRGAN: ``l1`` before it)."""
    from zoo.terms import FeatureDistance

    return FeatureDistance(
        objective.content_weight,
        distance,
        objective.content_network,
        objective.content_layer,
        before_activation=before_activation,
    )


def terms(objective: SRGANObjective, warmup: bool = False) -> list:
    """The perceptual loss (eq. 3) as terms; with ``warmup``, SRResNet's MSE (eq. 4)."""
    from zoo.losses import get_loss
    from zoo.terms import Adversarial, MSEReconstruction

    if warmup:
        return [MSEReconstruction(1.0)]
    return [
        Adversarial(get_loss(objective.loss), g_weight=objective.adversarial_weight),
        content_term(objective, "l2", before_activation=False),
    ]


DIGITS = {  # 7x7 -> 28x28 digits on the vendored MNIST: 0-7999 train, 8000-9999 held out
    "dataset": "mnist",
    "split": "test[:8000]",
    "pair": "low_res4",
    "batch_size": 16,
}
PHOTOS = {  # 12x12 -> 48x48 random crops of scikit-image's photographs; two held out
    "dataset": "skimage_photos",
    "split": "train",
    "crops": True,
    "cache": "memory",
    "pair": "low_res4",
    "batch_size": 16,
}

register_family(
    Family(
        name="srgan",
        config_cls=SRGANConfig,
        build=build,
        contract=contract,
        objective_cls=SRGANObjective,
        terms=terms,
        paper="Ledig et al. 2017, arXiv:1609.04802",
        default_preset="srgan_digits",
        presets={
            "srgan_digits": {
                "data": DIGITS,
                "model": {"image_size": 28, "channels": 1, "filters": 64, "blocks": 8},
                "objective": {
                    "warmup_steps": 1000,
                    "content_network": "digits",
                    "content_layer": "conv1b",
                    "content_weight": 1.0,
                },
                "eval": {"split": "test[8000:]"},
                "train": {
                    "steps": 2000,
                    "g_lr": 1e-4,
                    "d_lr": 1e-4,
                    "beta_1": 0.9,
                    "sample_every": 500,
                    "checkpoint_every": 500,
                },
            },
            "srgan_photos": {
                "data": PHOTOS,
                "model": {
                    "image_size": 48,
                    "channels": 3,
                    "filters": 32,
                    "blocks": 8,
                    "d_filters": 32,
                },
                # SRGAN-MSE (the paper's table 2): the content loss is the pixel MSE, weight 1
                "objective": {
                    "warmup_steps": 600,
                    "content_network": "pixels",
                    "content_weight": 1.0,
                },
                "eval": {"split": "test"},
                "train": {
                    "steps": 1200,
                    "g_lr": 1e-4,
                    "d_lr": 1e-4,
                    "beta_1": 0.9,
                    "sample_every": 300,
                    "checkpoint_every": 300,
                },
            },
            "tiny": {
                "data": {**DIGITS, "batch_size": 8},
                "model": {
                    "image_size": 28,
                    "channels": 1,
                    "filters": 4,
                    "blocks": 1,
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
