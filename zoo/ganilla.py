"""GANILLA: generative adversarial networks for image-to-illustration translation.

Reference:
    Hicsonmez, Samet, Akbas, Duygulu. "GANILLA: Generative Adversarial Networks for Image to
    Illustration Translation." Image and Vision Computing 95, 2020.
    https://arxiv.org/abs/2002.05638 ; the authors' code: github.com/giddyyupp/ganilla
    (``models/networks.py``: ``resnet18`` with ``BasicBlock_Ganilla`` and ``PyramidFeatures``,
    the default ``--netG resnet_fpn``), which this module follows.

GANILLA is CycleGAN with another generator: the same two-domain kind, the same 70x70 PatchGANs,
least-squares, cycle and identity losses, history pool and schedule (``zoo.cyclegan``). The
generator keeps the content of the input through its skip connections while the
downsampling path learns the style:

* **Stem**: a 7x7 convolution (reflection padding), instance norm, ReLU and a 3x3 stride-2
  max pool (H/2).
* **Downsampling**: four stages of two ResNet-18-style blocks (64, 128, 128, 256 filters at
  the paper's size; the first block of stages 2-4 has stride 2: H/2, H/4, H/8, H/16). A block
  does not add its input to its output: it concatenates them and fuses the two with a 3x3
  convolution, instance norm and ReLU ("we concatenate ... to preserve low-level features").
* **Upsampling**: a feature pyramid: a 1x1 convolution of each stage's output (128 filters)
  added to the nearest-neighbour 2x upsampling of the deeper sum, from the last stage to the
  first; a last 2x upsampling to full size, a 3x3 convolution (64 filters), and a 7x7
  convolution to the image with tanh.

Where we differ from the authors' code, and why:

* **Padding of the 7x7 convolutions.** The authors' stem and output layers pad by
  ``input_nc`` and ``output_nc`` pixels (3 for their RGB images, which keeps the size); for
  one-channel images that would shrink the map by 4 pixels, so we pad by 3, as for RGB.
* **No bias before instance norm**, as in ``zoo.cyclegan`` (the mean subtraction cancels it).
* **The pyramid's initialization.** The authors draw every weight from N(0, 0.02). Their
  pyramid has no normalization, so its gain grows with its width: at the paper's (64-256
  channels) the output starts with a spread of about 0.25, at the digits preset's (16-64) about
  0.03. There the biases won: within 100 steps the generators put out black images
  (pre-tanh -3.2), and the discriminators were never fooled again (measured, with 16 and 32
  filters). The pyramid's and the output's convolutions are drawn Glorot-normal instead, so
  their gain does not depend on the width (output spread 0.70 at initialization).
* **Sizes.** ``filters`` scales every width (the paper's 64: stages 64-128-128-256, pyramid
  128) and ``blocks`` sets the blocks per stage (ResNet-18's 2); ``image_size`` must be a
  multiple of 16 (at least 32). The digits preset has 16 filters and one block per stage.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from zoo import cyclegan
from zoo.registry import Family, register_family

if TYPE_CHECKING:  # imported where networks are built: registering the family stays light
    import keras


@dataclasses.dataclass
class GanillaConfig:
    """Architecture arguments of GANILLA (both generators alike; the discriminators are
    CycleGAN's PatchGANs).

    Args:
        image_size: height and width of both domains' square images: a multiple of 16, at
            least 32.
        channels: channels of both domains' images (1 or 3).
        filters: the stem's filters (the paper's 64); the stages have 1, 2, 2 and 4 times
            this, the pyramid 2 times.
        blocks: blocks per stage (ResNet-18's 2).
        d_filters, d_layers: the PatchGAN's (``zoo.cyclegan``; 70x70 patches: 3 layers).
    """

    image_size: int = 32
    channels: int = 1
    filters: int = 64
    blocks: int = 2
    d_filters: int = 64
    d_layers: int = 3

    def validate(self) -> None:
        for field in ("image_size", "channels", "filters", "blocks", "d_filters"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")
        if self.image_size % 16 or self.image_size < 32:
            raise ValueError(
                f"model.image_size={self.image_size} must be a multiple of 16 of at least 32 "
                "(the generator halves it 4 times, to 2x2 or more): 32, 64 or 256, say"
            )
        self.patchgan().validate()

    def patchgan(self) -> cyclegan.CycleGANConfig:
        return cyclegan.CycleGANConfig(
            image_size=self.image_size,
            channels=self.channels,
            d_filters=self.d_filters,
            d_layers=self.d_layers,
            downsamplings=0,
        )


def _conv(x, filters: int, kernel: int, stride: int, name: str, bias: bool = False, init=None):
    """A convolution after reflection padding of kernel // 2 (the authors' blocks)."""
    from keras import layers

    if kernel > 1:
        x = cyclegan.reflect_pad(x, kernel // 2, f"{name}_pad")
    return layers.Conv2D(
        filters,
        kernel,
        stride,
        use_bias=bias,
        kernel_initializer=init or cyclegan._init(),
        name=f"{name}_conv",
    )(x)


def _block(x, filters: int, stride: int, name: str):
    """``BasicBlock_Ganilla``: conv-IN-ReLU-conv-IN, its input (projected by a 1x1
    convolution and IN when the stride or width changes) concatenated, fused by a 3x3
    convolution, IN and ReLU."""
    from keras import layers

    out = _conv(x, filters, 3, stride, f"{name}_a")
    out = layers.ReLU(name=f"{name}_a_relu")(cyclegan.instance_norm(f"{name}_a")(out))
    out = cyclegan.instance_norm(f"{name}_b")(_conv(out, filters, 3, 1, f"{name}_b"))
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = cyclegan.instance_norm(f"{name}_skip")(
            _conv(x, filters, 1, stride, f"{name}_skip")
        )
    out = layers.Concatenate(name=f"{name}_cat")([out, shortcut])
    out = cyclegan.instance_norm(f"{name}_fuse")(_conv(out, filters, 3, 1, f"{name}_fuse"))
    return layers.ReLU(name=f"{name}_relu")(out)


def _pyramid_init():
    """The pyramid's and output's initialization, scaled by each layer's fan-in (Glorot
    normal), where the authors' code draws N(0, 0.02) everywhere: see the module's notes."""
    import keras

    return keras.initializers.GlorotNormal()


def build_generator(config: GanillaConfig, name: str = "generator") -> keras.Model:
    """source [batch, size, size, channels] in [-1, 1] -> its translation, same shape, in
    [-1, 1] (the authors' ``resnet18`` with ``BasicBlock_Ganilla`` and ``PyramidFeatures``).

    Example:
        >>> g = build_generator(GanillaConfig(image_size=32, filters=8))
        >>> g(np.zeros((2, 32, 32, 1), "float32")).shape
        TensorShape([2, 32, 32, 1])
    """
    import keras
    from keras import layers

    config.validate()
    f, size = config.filters, config.image_size
    source = keras.Input((size, size, config.channels), name="source")
    x = _conv(source, f, 7, 1, "stem")
    x = layers.ReLU(name="stem_relu")(cyclegan.instance_norm("stem")(x))
    x = cyclegan.reflect_pad(x, 1, "pool_pad")
    x = layers.MaxPooling2D(3, 2, name="pool")(x)
    stages = []
    for s, (width, stride) in enumerate(zip((f, 2 * f, 2 * f, 4 * f), (1, 2, 2, 2), strict=True)):
        for b in range(config.blocks):
            x = _block(x, width, stride if b == 0 else 1, f"stage{s}_block{b}")
        stages.append(x)
    # The pyramid: from the deepest stage out, each stage's 1x1 projection plus the 2x
    # nearest upsampling of the sum below it.
    pyramid = 2 * f
    p = None
    for s in reversed(range(4)):
        lateral = layers.Conv2D(pyramid, 1, kernel_initializer=_pyramid_init(), name=f"lateral{s}")(
            stages[s]
        )
        if p is not None:
            up = layers.UpSampling2D(2, interpolation="nearest", name=f"up{s}")(p)
            lateral = layers.Add(name=f"merge{s}")([lateral, up])
        p = lateral
    p = layers.UpSampling2D(2, interpolation="nearest", name="up_full")(p)
    p = _conv(p, f, 3, 1, "smooth", bias=True, init=_pyramid_init())
    x = _conv(p, config.channels, 7, 1, "to_image", bias=True, init=_pyramid_init())
    # Named for what it is, not ``image``: ONNX refuses an input and an output of one name.
    translated = layers.Activation("tanh", dtype="float32", name="translated")(x)
    return keras.Model(source, translated, name=name)


def build(config: GanillaConfig) -> dict[str, keras.Model]:
    """The four networks, named as CycleGAN's: ``generator`` (A -> B), ``discriminator``
    (judges B), ``generator_ba`` (B -> A), ``discriminator_a`` (judges A)."""
    config.validate()
    patchgan = config.patchgan()
    return {
        "generator": build_generator(config, "generator"),
        "generator_ba": build_generator(config, "generator_ba"),
        "discriminator": cyclegan.build_discriminator(patchgan, "discriminator"),
        "discriminator_a": cyclegan.build_discriminator(patchgan, "discriminator_a"),
    }


PRESETS = {
    # CycleGAN's digits -> bold strokes (zoo.cyclegan.STROKES_DATA) at 32 px.
    "ganilla_strokes": {
        "data": {**cyclegan.STROKES_DATA, "batch_size": 8},
        "model": {
            "image_size": 32,
            "channels": 1,
            "filters": 16,
            "blocks": 1,
            "d_filters": 32,
            "d_layers": 2,
        },
        "train": {
            "steps": 2500,
            "g_lr": 2e-4,
            "d_lr": 2e-4,
            "beta_1": 0.5,
            "log_every": 100,
            "sample_every": 500,
            "checkpoint_every": 500,
        },
        "eval": {"split": cyclegan.HELD_OUT},
    },
    # The paper's 256 px networks on an image folder with trainA/ (photos) and trainB/ (an
    # illustrator's pages), batch 1, 200 epochs.
    "ganilla_256": {
        "data": {"source": "folder", "domains": ["trainA", "trainB"], "batch_size": 1},
        "model": {"image_size": 256, "channels": 3, "filters": 64},
        "train": {"steps": 200_000, "g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5},
    },
    # For tests: seconds on a CPU (its graph is large: tracing takes most of them). 64 px: at
    # 32 px the last stage's instance norm over 2x2 maps turns an untrained generator's
    # round-off into export differences above the parity bounds (TFLite float32 off by 2e-4,
    # measured); trained, the 32 px default exports within them.
    "tiny": {
        "data": {**cyclegan.STROKES_DATA, "batch_size": 8},
        "model": {
            "image_size": 64,
            "channels": 1,
            "filters": 4,
            "blocks": 1,
            "d_filters": 4,
            "d_layers": 1,
        },
        # No identity loss: two generator passes fewer to trace (CycleGAN's tests cover it).
        "objective": {
            "identity_weight": 0.0,
            "pool_size": 12,
            "lr_constant_steps": 1,
            "lr_decay_steps": 2,
        },
        "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
    },
}

# Measured on the default run: full-int8 TFLite is 26.2 dB from the Keras generator, a pixel
# off by 0.97 (export asks 30 dB and 0.5): instance norm over flat backgrounds, as
# zoo.cyclegan explains.
NO_INT8 = (
    "instance norm over flat backgrounds loses too much in int8 activations (26.2 dB measured, "
    "30 dB needed); use the float16 or dynamic-range variant"
)

register_family(
    Family(
        name="ganilla",
        config_cls=GanillaConfig,
        build=build,
        contract=cyclegan.contract,
        presets=PRESETS,
        default_preset="ganilla_strokes",
        paper="Hicsonmez et al. 2020, arXiv:2002.05638",
        objective_cls=cyclegan.CycleGANObjective,
        terms=cyclegan.terms,
        no_int8=NO_INT8,
    )
)
