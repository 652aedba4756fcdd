"""CycleGAN: unpaired image-to-image translation with cycle-consistent adversarial networks.

Reference:
    Zhu, Park, Isola, Efros. "Unpaired Image-to-Image Translation using Cycle-Consistent
    Adversarial Networks." ICCV 2017. https://arxiv.org/abs/1703.10593 ; the authors' code:
    github.com/junyanz/pytorch-CycleGAN-and-pix2pix (``models/cycle_gan_model.py``,
    ``models/networks.py``, ``util/image_pool.py``), which this module follows.

The family (trained by the two-domain kind, ``training.trainers.cycle``):

* Two **ResNet generators** (appendix 7.2, Johnson et al.'s network): a 7x7 convolution,
  ``downsamplings`` 3x3 stride-2 convolutions, ``residual_blocks`` residual blocks, as many
  3x3 stride-2 transposed convolutions and a 7x7 convolution to the image with tanh; instance
  norm and ReLU after every convolution but the last; reflection padding before the 7x7
  convolutions and inside the residual blocks. ``generator`` maps domain A to B (the paper's
  G; the authors' ``G_A``) and ships, ``generator_ba`` maps B to A (F, ``G_B``) and ships
  beside it. Their input is ``source``.
* Two **70x70 PatchGANs** (the authors' ``NLayerDiscriminator``): ``discriminator`` judges
  domain B (D_Y, the authors' ``D_A``), ``discriminator_a`` judges domain A (D_X); each gives
  a map of ``logits``, one per overlapping patch.
* **Objective** (eq. 3 and sec. 7.1): the least-squares adversarial loss in both directions,
  the L1 cycle loss with lambda = 10 (``cycle_weight``) and the L1 identity loss with 0.5
  lambda (``identity_weight`` is relative to the cycle weight, as the authors'
  ``lambda_identity``); the discriminators learn from a history of 50 generated images per
  direction (``pool_size``, Shrivastava et al.'s buffer); Adam(2e-4, 0.5); the learning rate
  is constant for the first half of training, then decays linearly to 0.

The objective is made of pieces the two-domain trainer sums (``zoo.terms``'
``DomainAdversarial``, ``CycleConsistency``, ``IdentityMapping``), so that DiscoGAN (an L2
cycle), DualGAN (WGAN critics with clipping: another loss pair and
``after_discriminator_update``) and Ganilla (another generator) are the same kind with other
pieces. ``terms`` imports them when called: ``zoo.terms`` imports TensorFlow, and registering
a family must not.

Where we differ from the paper and the authors' code, and why:

* **No bias before instance norm.** The authors' convolutions followed by (affine-free)
  instance norm keep a bias, which the mean subtraction cancels: it never receives a
  gradient. We leave it out; the networks compute the same functions.
* **Reflection padding from Keras' own layers** (``Cropping2D`` rows and columns joined by
  ``Concatenate``): Keras has no reflection-padding layer, and a custom one would make
  ``generator.keras`` need ganzoo to load. It exports as slices and concatenations.
* **Instance norm** is ``keras.layers.GroupNormalization(groups=-1)`` without scale and
  offset, epsilon 1e-5 (PyTorch's ``InstanceNorm2d(affine=False)``); it exports to TFLite and
  ONNX (``../shared/EXPORT-FACTS.md``).
* **Least-squares generator loss.** ``zoo.losses``' pair halves both sides (Mao et al.); the
  authors' ``GANLoss`` is the plain mean squared error for the generator and halves only the
  discriminator ("(loss_D_real + loss_D_fake) * 0.5"). ``terms`` scales the generator's side
  by 2, so that the adversarial loss weighs against the cycle loss as in the authors' code.
* **Sizes.** The paper's 256 px models have 9 residual blocks and a 3-layer PatchGAN (70x70
  patches); ``residual_blocks``, ``filters`` and ``d_layers`` are arguments, and the digits
  preset uses a smaller model (see ``cyclegan_strokes``).
* **Batch size.** The paper trains with batch 1; instance norm makes each image's forward pass
  independent of its batch, so a larger batch only averages more gradients per step (and
  uses the CPU's cores); the presets use 8 to 16 (see them).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from zoo.contract import Contract, TwoDomainObjective, from_data
from zoo.pix2pix import patch_map_size, receptive_field  # noqa: F401 (the same PatchGAN)
from zoo.registry import Family, register_family

if TYPE_CHECKING:  # imported where networks are built: registering the family stays light
    import keras

    from zoo.terms import TwoDomainTerm

MAX_MULTIPLIER = 8  # the PatchGAN's filters stop doubling at 8 x d_filters (the authors' 512)


@dataclasses.dataclass
class CycleGANConfig:
    """Architecture arguments of CycleGAN (both generators and both discriminators alike).

    Args:
        image_size: height and width of the square images of both domains; divisible by
            2**downsamplings, and at least 2 pixels at the residual blocks.
        channels: channels of both domains' images (1 or 3; the identity loss feeds each
            generator images of its output domain, so the two must agree).
        filters: filters of the generators' first convolution (the paper's 64); each
            downsampling doubles them.
        residual_blocks: residual blocks of each generator (the paper's 6 at 128 px, 9 at
            256 px).
        downsamplings: stride-2 convolutions before the blocks, and transposed ones after
            (the paper's 2).
        d_filters: filters of the PatchGAN's first layer (the paper's 64), doubled by each
            further layer up to 8 times this.
        d_layers: the PatchGAN's stride-2 layers (the paper's 3: 70x70 patches); each logit
            sees ``receptive_field(d_layers)`` pixels.
    """

    image_size: int = 28
    channels: int = 1
    filters: int = 64
    residual_blocks: int = 9
    downsamplings: int = 2
    d_filters: int = 64
    d_layers: int = 3

    def validate(self) -> None:
        for field in ("image_size", "channels", "filters", "d_filters"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")
        for field in ("residual_blocks", "downsamplings", "d_layers"):
            if getattr(self, field) < 0:
                raise ValueError(f"model.{field} must be 0 or more, got {getattr(self, field)}")
        inner = self.image_size // 2**self.downsamplings
        if self.image_size % 2**self.downsamplings or inner < 4:
            raise ValueError(
                f"model.image_size={self.image_size} must be divisible by 2**model.downsamplings"
                f"={2**self.downsamplings} and leave at least 4 pixels at the residual blocks; "
                "use fewer downsamplings or a larger image"
            )
        if patch_map_size(self.image_size, self.d_layers) < 1:
            raise ValueError(
                f"model.d_layers={self.d_layers} leaves no patch of a {self.image_size} px image; "
                "use fewer discriminator layers"
            )


# --- networks -----------------------------------------------------------------------------


def _init():
    """N(0, 0.02), the authors' ``init_weights('normal')``."""
    import keras

    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def instance_norm(name: str):
    """Instance norm without scale and offset (the authors' ``InstanceNorm2d(affine=False)``):
    per image and channel, so a replica's batch does not change an image's output."""
    from keras import layers

    return layers.GroupNormalization(
        groups=-1, epsilon=1e-5, center=False, scale=False, name=f"{name}_in"
    )


def reflect_pad(x, pad: int, name: str):
    """``x`` [N, H, W, C] padded by ``pad`` pixels on every side with its reflection (PyTorch's
    ``ReflectionPad2d``, TensorFlow's ``mode="REFLECT"``: the edge row is not repeated), made
    of Keras' own ``Cropping2D`` and ``Concatenate`` so that a saved model loads without
    ganzoo: the reflected rows, then the reflected columns of the result."""
    from keras import layers

    def side(t, axis: int, size: int):
        def one(index: int, tag: str):  # row or column ``index`` of ``t``
            crop = (index, size - 1 - index)
            cropping = (crop, (0, 0)) if axis == 1 else ((0, 0), crop)
            return layers.Cropping2D(cropping, name=f"{name}_{tag}{index}")(t)

        first, last = ("top", "bottom") if axis == 1 else ("left", "right")
        before = [one(i, first) for i in range(pad, 0, -1)]
        after = [one(size - 1 - i, last) for i in range(1, pad + 1)]
        return layers.Concatenate(axis=axis, name=f"{name}_{'rows' if axis == 1 else 'cols'}")(
            [*before, t, *after]
        )

    height, width = x.shape[1], x.shape[2]
    if pad >= min(height, width):
        raise ValueError(f"a reflection pad of {pad} needs images larger than {height}x{width}")
    return side(side(x, 1, height), 2, width)


def conv_in_relu(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True):
    """A convolution without bias (instance norm follows), instance norm and ReLU."""
    from keras import layers

    x = layers.Conv2D(
        filters, kernel, stride, use_bias=False, kernel_initializer=_init(), name=f"{name}_conv"
    )(x)
    x = instance_norm(name)(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def build_generator(config: CycleGANConfig, name: str = "generator") -> keras.Model:
    """source [batch, size, size, channels] in [-1, 1] -> its translation, same shape, in
    [-1, 1] (the authors' ``ResnetGenerator``).

    The strided convolutions pad as the authors' do (zero padding 1, then a valid 3x3
    convolution; a valid transposed 3x3 convolution cropped by 1 pixel at the start, their
    ``padding=1, output_padding=1``), so that the pixel grid is theirs.

    Example:
        >>> g = build_generator(CycleGANConfig(image_size=28, filters=8, residual_blocks=2))
        >>> g(np.zeros((2, 28, 28, 1), "float32")).shape
        TensorShape([2, 28, 28, 1])
    """
    import keras
    from keras import layers

    config.validate()
    size, filters = config.image_size, config.filters
    source = keras.Input((size, size, config.channels), name="source")
    x = reflect_pad(source, 3, "stem_pad")
    x = conv_in_relu(x, filters, 7, 1, "stem")
    for i in range(config.downsamplings):
        filters *= 2
        x = layers.ZeroPadding2D(1, name=f"down{i}_pad")(x)
        x = conv_in_relu(x, filters, 3, 2, f"down{i}")
    for i in range(config.residual_blocks):
        y = reflect_pad(x, 1, f"block{i}_pad_a")
        y = conv_in_relu(y, filters, 3, 1, f"block{i}_a")
        y = reflect_pad(y, 1, f"block{i}_pad_b")
        y = conv_in_relu(y, filters, 3, 1, f"block{i}_b", relu=False)
        x = layers.Add(name=f"block{i}_add")([x, y])
    for i in range(config.downsamplings):
        filters //= 2
        x = layers.Conv2DTranspose(
            filters, 3, 2, use_bias=False, kernel_initializer=_init(), name=f"up{i}_conv"
        )(x)
        x = layers.Cropping2D(((1, 0), (1, 0)), name=f"up{i}_crop")(x)
        x = instance_norm(f"up{i}")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)
    x = reflect_pad(x, 3, "to_image_pad")
    x = layers.Conv2D(config.channels, 7, kernel_initializer=_init(), name="to_image")(x)
    # Named for what it is, not ``image``: export names the shipped output ``image``, and ONNX
    # refuses a graph whose input and output share a name.
    translated = layers.Activation("tanh", dtype="float32", name="translated")(x)
    return keras.Model(source, translated, name=name)


def build_discriminator(config: CycleGANConfig, name: str = "discriminator") -> keras.Model:
    """image [batch, size, size, channels] -> logits [batch, m, m, 1], one per overlapping
    ``receptive_field(d_layers)`` px patch (the authors' ``NLayerDiscriminator``: 4x4
    convolutions with zero padding 1, LeakyReLU(0.2), instance norm on all but the first and
    the last)."""
    import keras
    from keras import layers

    config.validate()
    image = keras.Input((config.image_size, config.image_size, config.channels), name="image")
    x = image
    strides = [2] * config.d_layers + [1]
    for i, stride in enumerate(strides):
        filters = config.d_filters * min(2**i, MAX_MULTIPLIER)
        x = layers.ZeroPadding2D(1, name=f"d{i}_pad")(x)
        x = layers.Conv2D(
            filters,
            4,
            stride,
            use_bias=i == 0,
            kernel_initializer=_init(),
            name=f"d{i}_conv",
        )(x)
        if i > 0:
            x = instance_norm(f"d{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"d{i}_lrelu")(x)
    x = layers.ZeroPadding2D(1, name="logits_pad")(x)
    logits = layers.Conv2D(1, 4, kernel_initializer=_init(), dtype="float32", name="logits")(x)
    return keras.Model(image, logits, name=name)


def build(config: CycleGANConfig) -> dict[str, keras.Model]:
    """The four networks: ``generator`` (A -> B) and ``discriminator`` (judges B), the pair
    that ships and is judged like every family's; ``generator_ba`` (B -> A) and
    ``discriminator_a`` (judges A)."""
    return {
        "generator": build_generator(config, "generator"),
        "generator_ba": build_generator(config, "generator_ba"),
        "discriminator": build_discriminator(config, "discriminator"),
        "discriminator_a": build_discriminator(config, "discriminator_a"),
    }


def contract(config: CycleGANConfig) -> Contract:
    """The A -> B generator reads domain A's images (``image_a``); both generators train with
    the generators' learning rate, both discriminators with theirs; both generators ship."""
    return Contract(
        "cycle",
        {"source": from_data("image_a")},
        updates={
            "generator": "generator",
            "generator_ba": "generator",
            "discriminator": "discriminator",
            "discriminator_a": "discriminator",
        },
        ships={"generator": "generator", "generator_ba": "generator_ba"},
        ema=("generator", "generator_ba"),
    )


# --- objective ----------------------------------------------------------------------------


@dataclasses.dataclass
class CycleGANObjective(TwoDomainObjective):
    """CycleGAN's objective and its schedule (with ``TwoDomainObjective``'s pool of 50 and a
    rate constant for half of ``train.steps``, then decayed linearly to 0).

    Args:
        loss: the adversarial loss pair of both directions (the paper's ``least_squares``).
        d_steps: discriminator updates per generator update (the paper's 1), each on its own
            batch.
        cycle_weight: lambda, the weight of the L1 cycle loss of each direction (10).
        identity_weight: the identity loss's weight relative to ``cycle_weight`` (0.5: the
            identity term weighs 5; 0 switches it off and skips its forward passes).
    """

    loss: str = "least_squares"
    cycle_weight: float = 10.0
    identity_weight: float = 0.5


def terms(objective: CycleGANObjective) -> list[TwoDomainTerm]:
    """The least-squares pair in both directions (the generators' side at the authors' scale),
    the L1 cycle loss and the L1 identity loss (``identity_weight`` x ``cycle_weight``)."""
    from zoo.losses import get_loss
    from zoo.terms import CycleConsistency, DomainAdversarial, IdentityMapping

    pair = get_loss(objective.loss)
    pieces = [
        DomainAdversarial(pair, generator_scale=2.0 if pair.name == "least_squares" else 1.0),
        CycleConsistency(objective.cycle_weight),
    ]
    if objective.identity_weight > 0:
        pieces.append(IdentityMapping(objective.identity_weight * objective.cycle_weight))
    return pieces


# --- presets ------------------------------------------------------------------------------

# Digits as they are (domain A, 0-3999 of the vendored MNIST) and in bold strokes (domain B,
# 4000-7999, each dilated by 3x3: strokes 2 pixels wider), so that no digit is seen in both
# domains; 8000-9999 are held out, and the true translation of a held-out digit x is bold(x).
# A = "none" rather than "thin": bold(x) is then a function of the input, so a perfect
# translation scores L1 = 0, and the identity's distance to the truth is the baseline to beat
# (a 2x2 erosion loses thin strokes, which no translation could restore).
STROKES_DATA = {
    "dataset": "mnist",
    "domains": ["test[:4000]", "test[4000:8000]"],
    "domain_views": ["none", "bold"],
}
HELD_OUT = "test[8000:]"

PRESETS = {
    # Digits -> bold strokes on the vendored digits (STROKES_DATA). Measured: 3000 steps in 757 s
    # on the 2-core EPYC; held-out L1 0.040 (identity 0.112), read as the source digit 98.1%
    # (true translations 96.1%; at 28 px only 82.4%): python -m training.evaluate RUN.
    "cyclegan_strokes": {
        "data": {**STROKES_DATA, "batch_size": 8},
        "model": {
            "image_size": 32,
            "channels": 1,
            "filters": 16,
            "residual_blocks": 4,
            "downsamplings": 2,
            "d_filters": 32,
            "d_layers": 2,
        },
        "train": {
            "steps": 3000,
            "g_lr": 2e-4,
            "d_lr": 2e-4,
            "beta_1": 0.5,
            "log_every": 100,
            "sample_every": 500,
            "checkpoint_every": 500,
        },
        "eval": {"split": HELD_OUT},
    },
    # The paper's 256 px model (horse2zebra and the like: an image folder with trainA/ and
    # trainB/), batch 1, 200 epochs of about 1,000 images (needs a GPU to be practical).
    "cyclegan_256": {
        "data": {"source": "folder", "domains": ["trainA", "trainB"], "batch_size": 1},
        "model": {"image_size": 256, "channels": 3, "filters": 64, "residual_blocks": 9},
        "train": {"steps": 200_000, "g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5},
    },
    # For tests: seconds on a CPU. A pool smaller than two batches, so that the second step
    # fills it and then swaps: resume tests cross that step.
    "tiny": {
        "data": {**STROKES_DATA, "batch_size": 8},
        "model": {
            "image_size": 16,
            "channels": 1,
            "filters": 4,
            "residual_blocks": 1,
            "downsamplings": 2,
            "d_filters": 4,
            "d_layers": 1,
        },
        # The pool fills in the second step; the rate decays from the second step on.
        "objective": {"pool_size": 12, "lr_constant_steps": 1, "lr_decay_steps": 2},
        "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
    },
}


# Measured on the tiny and the default run: full-int8 TFLite reaches 26.6-28.3 dB against the
# Keras generator (below export's 30 dB bound), the error starting at the first instance norm,
# whose statistics over a digit's flat background are tiny and do not survive int8 activations.
NO_INT8 = (
    "instance norm over flat backgrounds loses too much in int8 activations (26.6-28.3 dB "
    "measured, 30 dB needed); use the float16 or dynamic-range variant"
)

register_family(
    Family(
        name="cyclegan",
        config_cls=CycleGANConfig,
        build=build,
        contract=contract,
        presets=PRESETS,
        default_preset="cyclegan_strokes",
        paper="Zhu et al. 2017, arXiv:1703.10593",
        objective_cls=CycleGANObjective,
        terms=terms,
        no_int8=NO_INT8,
    )
)
