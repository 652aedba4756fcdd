"""pix2pix: image-to-image translation with a conditional GAN.

Reference:
    Isola, Zhu, Zhou, Efros. "Image-to-Image Translation with Conditional Adversarial
    Networks." CVPR 2017. https://arxiv.org/abs/1611.07004 ; the authors' code:
    github.com/phillipi/pix2pix (Lua Torch) and github.com/junyanz/pytorch-CycleGAN-and-pix2pix
    (``models/pix2pix_model.py``, ``models/networks.py``), which this module follows.

The family:

* **Generator**: a U-Net (sec. 3.2.1, appendix 6.1.1): an encoder of 4x4 stride-2 convolutions
  C64-C128-C256-C512-C512..., LeakyReLU(0.2), batch norm on every layer but the first and the
  1x1 bottleneck (as the PyTorch port; the Lua original normalises the bottleneck too, which
  at batch 1 sets it to beta whatever the input); a decoder of 4x4 stride-2 transposed
  convolutions with ReLU, batch norm and 50% dropout on its first three layers, each
  concatenated with the encoder layer of the same size (the skips), and a tanh output.
  Dropout is the only noise (sec. 3.2: the authors found a noise input ``z`` ignored), so the
  generator's one input is ``source``.
* **Discriminator**: a PatchGAN (sec. 3.2.2) on the channel-wise concatenation of the
  ``source`` and an ``image`` (the target, or G's output): ``d_layers`` 4x4 stride-2
  convolutions, then two 4x4 stride-1 ones (the authors' ``NLayerDiscriminator``, zero padding
  1), giving a map of ``logits``, one per overlapping patch. Every logit is classified real or
  fake and the losses average over the map.
* **Objective** (eq. 4): the non-saturating conditional GAN loss plus lambda = 100 times the
  L1 distance between G(source) and the target; the discriminator's loss is halved (sec. 3.3:
  "we divide the objective by 2 while optimizing D"). Adam(2e-4, beta_1 = 0.5).

Sizes. The paper's U-Net takes 256 px to a 1x1 bottleneck in 8 levels and its 70x70
PatchGAN has ``d_layers = 3``. Here ``levels`` and ``d_layers`` are arguments: the default
32 px model has 5 levels (32 -> 1) and ``d_layers = 1``, whose logits each see a **16x16**
patch of the 32x32 pair (receptive field r = (r_next - 1) * stride + 4 from the output: 1 ->
4 -> 7 -> 16), a 14x14 map; the paper's 70 px patch is about a quarter of its 256 px image,
16 px is half of ours (``d_layers = 2`` would see 34 px: the whole image, an "ImageGAN").
``receptive_field(d_layers)`` computes it.

Where we differ from the paper, and why:

* **Batch size and normalization.** The paper trains with batch 1 (to 4), where batch norm is
  instance norm, and normalizes with the test batch's statistics at test time. We train at
  batch 16 with true batch norm and ship the moving averages (``g_norm="batch"``), so that
  the shipped generator is a deterministic function of its input that exports with parity;
  ``g_norm="instance"`` (Keras ``GroupNormalization(groups=-1)``, which exports) reproduces
  the paper's batch-1 arithmetic at any batch size, for pix2pixHD and CycleGAN. Batch-norm
  momentum 0.9 and epsilon 1e-5 are PyTorch's defaults, which the authors use.
* **Dropout at test time.** The paper keeps dropout on at inference; the shipped generator
  runs with ``training=False``: no dropout (Keras' Dropout vanishes from the exported graph),
  so outputs are reproducible and every runtime agrees.
* The decoder layers with dropout are the paper's and the Lua original's (the first three
  after the bottleneck, CD512-CD512-CD512, at 2, 4 and 8 px); the PyTorch port puts them one
  level further out. At 32 px with 5 levels that is three of the four hidden decoder layers.

Everything is Keras' own layers (Conv2D, Conv2DTranspose, BatchNormalization,
GroupNormalization, Dropout, ZeroPadding2D, Concatenate), so a saved generator loads without
ganzoo and converts to TFLite and ONNX.

The objective is a list of ``zoo.terms.Term``s, which the paired trainer
(``training/trainers/paired.py``) sums: ``ConditionalAdversarial`` (a loss pair of
``zoo.losses`` on the patch map, D's half scaled) and ``L1Reconstruction`` (with its weight);
pix2pixHD's feature matching and SRGAN's content loss are further terms of the same shape.
``terms`` imports them when called: ``zoo.terms`` imports TensorFlow, and registering a family
must not.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from zoo.contract import Contract, PairedObjective, from_data
from zoo.registry import Family, register_family

if TYPE_CHECKING:  # imported where networks are built: registering the family stays light
    import keras

Norm = Literal["batch", "instance", "none"]
MAX_MULTIPLIER = 8  # filters stop doubling at 8 x base, as the paper's C512 layers


@dataclasses.dataclass
class Pix2PixConfig:
    """Architecture arguments of pix2pix.

    Args:
        image_size: height and width of the square target and source; divisible by
            2**levels (the U-Net halves it ``levels`` times).
        channels: channels of the target (and of G's output): 1 or 3.
        source_channels: channels of the source (``None``: as ``channels``).
        base_filters: filters of G's first encoder layer (the paper's 64); each level down
            doubles them, up to 8 times this.
        levels: the U-Net's stride-2 levels (the paper's 8 at 256 px; 5 takes 32 px to 1x1).
        dropout: the dropout rate of the decoder's first ``dropout_layers`` layers, G's noise
            (the paper's 0.5; 0 switches it off).
        dropout_layers: how many decoder layers, from the bottleneck out, have dropout (3).
        g_norm, d_norm: ``batch`` (the paper), ``instance`` (per image, any batch size) or
            ``none``.
        d_filters: filters of D's first layer (the paper's 64), doubled by each layer up to
            8 times this.
        d_layers: D's stride-2 layers (the paper's 70x70 PatchGAN has 3); its receptive field
            is ``receptive_field(d_layers)`` pixels.
    """

    image_size: int = 32
    channels: int = 1
    source_channels: int | None = None
    base_filters: int = 64
    levels: int = 5
    dropout: float = 0.5
    dropout_layers: int = 3
    g_norm: Norm = "batch"
    d_filters: int = 64
    d_layers: int = 1
    d_norm: Norm = "batch"

    def validate(self) -> None:
        for field in ("image_size", "channels", "base_filters", "levels", "d_filters"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")
        if self.source_channels is not None and self.source_channels not in (1, 3):
            raise ValueError(
                f"model.source_channels must be 1, 3 or none, got {self.source_channels}"
            )
        if self.levels < 2:
            raise ValueError(
                f"model.levels must be at least 2 (a U-Net with a skip), got {self.levels}"
            )
        if self.image_size % 2**self.levels:
            raise ValueError(
                f"model.image_size={self.image_size} is not divisible by 2**model.levels="
                f"{2**self.levels}; use a size such as {2**self.levels * 2} or fewer levels"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.dropout_layers < 0:
            raise ValueError(f"model.dropout_layers must be 0 or more, got {self.dropout_layers}")
        if self.d_layers < 0:
            raise ValueError(f"model.d_layers must be 0 or more, got {self.d_layers}")
        if patch_map_size(self.image_size, self.d_layers) < 1:
            raise ValueError(
                f"model.d_layers={self.d_layers} leaves no patch of a {self.image_size} px image; "
                "use fewer discriminator layers"
            )


def receptive_field(d_layers: int) -> int:
    """The side in pixels of the patch each logit of the PatchGAN sees: from the output back,
    a 4x4 convolution of stride s turns a field of r into (r - 1) * s + 4 (two stride-1 layers,
    then ``d_layers`` stride-2 ones). 3 layers give the paper's 70."""
    field = 1
    for stride in [1, 1] + [2] * d_layers:
        field = (field - 1) * stride + 4
    return field


def patch_map_size(image_size: int, d_layers: int) -> int:
    """The side of D's logit map: halved by each stride-2 layer, then 1 less for each of the
    two 4x4 stride-1 layers with padding 1."""
    return image_size // 2**d_layers - 2


def _init(mean: float = 0.0):
    """N(mean, 0.02), the authors' ``init_weights('normal')``."""
    import keras

    return keras.initializers.RandomNormal(mean=mean, stddev=0.02)


def _norm(kind: Norm, name: str):
    """The normalization layer ``kind`` (``None`` for none). Batch norm's scale starts at
    N(1, 0.02), as the authors' ``init_weights``."""
    from keras import layers

    if kind == "batch":
        return layers.BatchNormalization(
            momentum=0.9,
            epsilon=1e-5,
            gamma_initializer=_init(1.0),
            name=f"{name}_bn",
        )
    if kind == "instance":  # per image and channel: exports (EXPORT-FACTS), unlike a custom op
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=f"{name}_in")
    return None


def _conv(layer_cls, filters, stride, norm: Norm, name: str, padding="same"):
    """A 4x4 (transposed) convolution; no bias when a normalization follows (it would be
    cancelled by the mean subtraction)."""
    return layer_cls(
        filters,
        4,
        strides=stride,
        padding=padding,
        use_bias=norm == "none",
        kernel_initializer=_init(),
        name=f"{name}_conv",
    )


def build_generator(config: Pix2PixConfig, name: str = "generator") -> keras.Model:
    """source [batch, size, size, source_channels] in [-1, 1] -> image [batch, size, size,
    channels] in [-1, 1].

    Example:
        >>> g = build_generator(Pix2PixConfig(image_size=32, levels=5, base_filters=8))
        >>> g(np.zeros((2, 32, 32, 1), "float32")).shape
        TensorShape([2, 32, 32, 1])
    """
    import keras
    from keras import layers

    config.validate()
    size, base = config.image_size, config.base_filters
    source = keras.Input((size, size, config.source_channels or config.channels), name="source")

    def filters(level):
        return base * min(2**level, MAX_MULTIPLIER)

    # Encoder: C64 (no norm) - C128 - ... - bottleneck (no norm), LeakyReLU(0.2) before each
    # convolution but the first (the authors' downrelu - downconv - downnorm).
    x, skips = source, []
    for level in range(config.levels):
        norm = config.g_norm if 0 < level < config.levels - 1 else "none"
        if level > 0:
            x = layers.LeakyReLU(0.2, name=f"down{level}_lrelu")(x)
        x = _conv(layers.Conv2D, filters(level), 2, norm, f"down{level}")(x)
        if (layer := _norm(norm, f"down{level}")) is not None:
            x = layer(x)
        skips.append(x)

    # Decoder: ReLU - transposed conv - norm - dropout (first layers), then the skip of the
    # same size concatenated (uprelu - upconv - upnorm - dropout, torch.cat([x, up(x)])).
    for j, level in enumerate(reversed(range(config.levels - 1))):
        x = layers.ReLU(name=f"up{level}_relu")(x)
        x = _conv(layers.Conv2DTranspose, filters(level), 2, config.g_norm, f"up{level}")(x)
        if (layer := _norm(config.g_norm, f"up{level}")) is not None:
            x = layer(x)
        if config.dropout > 0 and j < config.dropout_layers:
            x = layers.Dropout(config.dropout, name=f"up{level}_dropout")(x)
        x = layers.Concatenate(name=f"up{level}_skip")([x, skips[level]])
    x = layers.ReLU(name="out_relu")(x)
    x = layers.Conv2DTranspose(
        config.channels, 4, strides=2, padding="same", kernel_initializer=_init(), name="to_image"
    )(x)
    image = layers.Activation("tanh", name="image", dtype="float32")(x)
    return keras.Model(source, image, name=name)


def build_discriminator(config: Pix2PixConfig, name: str = "discriminator") -> keras.Model:
    """(source, image) -> logits [batch, m, m, 1], one per patch of ``receptive_field``
    pixels (m = ``patch_map_size``); real > 0 > fake."""
    import keras
    from keras import layers

    config.validate()
    size, base = config.image_size, config.d_filters
    source = keras.Input((size, size, config.source_channels or config.channels), name="source")
    image = keras.Input((size, size, config.channels), name="image")
    x = layers.Concatenate(name="pair")([source, image])  # torch.cat((real_A, fake_B), 1)
    for n in range(config.d_layers + 1):
        stride = 2 if n < config.d_layers else 1
        norm = config.d_norm if n > 0 else "none"  # none on the first layer (C64)
        if stride == 1:
            x = layers.ZeroPadding2D(1, name=f"d{n}_pad")(x)
        padding = "same" if stride == 2 else "valid"  # 'same' at stride 2 pads 1, as the authors
        x = _conv(layers.Conv2D, base * min(2**n, MAX_MULTIPLIER), stride, norm, f"d{n}", padding)(
            x
        )
        if (layer := _norm(norm, f"d{n}")) is not None:
            x = layer(x)
        x = layers.LeakyReLU(0.2, name=f"d{n}_lrelu")(x)
    x = layers.ZeroPadding2D(1, name="logits_pad")(x)
    logits = layers.Conv2D(
        1, 4, padding="valid", kernel_initializer=_init(), dtype="float32", name="logits"
    )(x)
    return keras.Model([source, image], logits, name=name)


def build(config: Pix2PixConfig) -> dict[str, keras.Model]:
    return {"generator": build_generator(config), "discriminator": build_discriminator(config)}


def contract(config: Pix2PixConfig) -> Contract:
    """The generator translates the data's ``source`` (a view of each image that the
    ``data.pair`` key names); the target is the batch's ``image``."""
    return Contract("paired", {"source": from_data("source")})


# -- the objective -------------------------------------------------------------------------


@dataclasses.dataclass
class Pix2PixObjective(PairedObjective):
    """The ``objective`` section of pix2pix (eq. 4).

    Args:
        loss: the adversarial loss pair on the patch map (the paper's ``non_saturating``;
            ``least_squares`` is the authors' ``--gan_mode lsgan``).
        d_steps: discriminator updates per generator update: 1, as the paper.
        l1_weight: lambda, the weight of the L1 distance to the target (100).
        d_loss_scale: the factor of the discriminator's loss (0.5: "we divide the objective
            by 2 while optimizing D").
    """

    l1_weight: float = 100.0
    d_loss_scale: float = 0.5

    def validate(self) -> None:
        super().validate()
        if self.d_loss_scale <= 0:
            raise ValueError(f"objective.d_loss_scale must be positive, got {self.d_loss_scale}")


def terms(objective: Pix2PixObjective) -> list:
    """Eq. 4 as terms: the conditional GAN loss, then lambda times L1."""
    from zoo.losses import get_loss
    from zoo.terms import ConditionalAdversarial, L1Reconstruction

    return [
        ConditionalAdversarial(get_loss(objective.loss), objective.d_loss_scale),
        L1Reconstruction(objective.l1_weight),
    ]


# Edges -> digit on the vendored MNIST: digits 0-7999 train, 8000-9999 are held out (eval.split).
EDGES = {"dataset": "mnist", "split": "test[:8000]", "pair": "edges", "batch_size": 16}

register_family(
    Family(
        name="pix2pix",
        config_cls=Pix2PixConfig,
        build=build,
        contract=contract,
        objective_cls=Pix2PixObjective,
        terms=terms,
        paper="Isola et al. 2017, arXiv:1611.07004",
        default_preset="pix2pix_edges",
        presets={
            # Edges -> digit on the vendored MNIST: digits 0-7999 train, 8000-9999 are held
            # out, where ``python -m training.evaluate RUN`` measures the translations.
            "pix2pix_edges": {
                "data": EDGES,
                "model": {
                    "image_size": 32,
                    "channels": 1,
                    "base_filters": 32,
                    "levels": 5,
                    "d_filters": 32,
                    "d_layers": 1,
                },
                "eval": {"split": "test[8000:]"},
                "train": {
                    "steps": 2500,
                    "g_lr": 2e-4,
                    "d_lr": 2e-4,
                    "beta_1": 0.5,
                    "sample_every": 500,
                    "checkpoint_every": 1000,
                },
            },
            # The paper's facades setting (labels -> photo, 256 px, batch 1, 200 epochs of
            # 400 images), for a GPU machine: the authors' side-by-side images (their
            # datasets/download_pix2pix_dataset.sh facades), labels on the right (BA).
            # Instance norm is batch norm at batch 1 with the test batch's statistics, as the
            # paper's test time. No random jitter (resize to 286, crop 256): ganzoo's crops
            # do not resize first.
            "pix2pix_facades": {
                "data": {
                    "source": "folder",
                    "path": "datasets/facades/train",
                    "pair": "given",
                    "pair_direction": "BA",
                    "batch_size": 1,
                },
                "model": {
                    "image_size": 256,
                    "channels": 3,
                    "base_filters": 64,
                    "levels": 8,
                    "g_norm": "instance",
                    "d_filters": 64,
                    "d_layers": 3,
                    "d_norm": "instance",
                },
                "train": {
                    "steps": 80000,
                    "g_lr": 2e-4,
                    "d_lr": 2e-4,
                    "beta_1": 0.5,
                    "sample_every": 2000,
                    "checkpoint_every": 4000,
                },
            },
            # For tests: seconds on a CPU.
            "tiny": {
                "data": {**EDGES, "batch_size": 8},
                "model": {
                    "image_size": 16,
                    "channels": 1,
                    "base_filters": 4,
                    "levels": 4,
                    "d_filters": 4,
                    "d_layers": 1,
                },
                "eval": {"split": "test[8000:]"},
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
            },
        },
    )
)
