"""ProGAN: progressive growing of GANs.

Reference:
    Karras, Aila, Laine, Lehtinen. "Progressive Growing of GANs for Improved Quality,
    Stability, and Variation." ICLR 2018. https://arxiv.org/abs/1710.10196
    Authors' code: github.com/tkarras/progressive_growing_of_gans (``networks.py``,
    ``train.py``, ``loss.py``), which this module follows.

Training starts at 4x4 and doubles the resolution level by level. Each level is faded in: the
new layers' output is blended with the upscaled output of the level below, the blend moving
linearly from the old to the new over ``fade_steps``, after which the level trains alone
(stabilizes) for ``stabilize_steps``. Both networks use equalized learning rate (weights drawn
from N(0, 1) and scaled at run time by He's constant, sec. 4.1), the generator pixelwise
feature normalization (sec. 4.2) and the discriminator a minibatch standard deviation feature
(sec. 3); the loss is WGAN-GP with the drift term epsilon_drift * D(x)^2 (sec. A.1), and Adam
(lr 0.001, beta_1 0, beta_2 0.99).

How it is built, as in the authors' TF code ("linear" structure of ``networks.py``): each
network is built once, at the final resolution, with every level. A float *level of detail*
``lod`` (0 = the final resolution, one more for each halving) decides the blend: the generator
always outputs the final resolution, the lower levels' images upscaled (nearest), and the
discriminator reads full-resolution images through a from-RGB layer per level, blended the same
way. ``lod`` is a non-trainable variable of each network (as in the authors' code), held by a
``LevelOfDetail`` layer and read by the ``CrossFade`` blends (both in ``zoo.layers``, beside
``PixelNorm`` and ``MinibatchStddev``, which later families reuse), and the level-of-detail
schedule (``LevelOfDetailSchedule``) sets it at the start of every step from the step itself,
in the graph (``level_of_detail``), so a run resumed in the middle of a fade-in continues
exactly. The real images are blurred to the current level (``lod_reals``: box-downscaled,
blended between the two nearest levels and upscaled back, the authors' ``process_reals``).

What ships (``ship``): the generator at lod 0, i.e. the final resolution's path alone (the lower
levels' to-RGB layers and the blends dropped), made of Keras' own layers that share the trained
(or EMA) weights, but the first (``ChannelBiasDense``, a bias per channel), which the run's
``generator.keras`` stores as the ``Dense`` it equals, so the file loads without ganzoo.
Equalized learning rate needs no layer of its own: a convolution with kernel ``w`` scaled by
``c`` equals the same convolution (zero padding included) of the input scaled by ``c``, so each
equalized layer is a ``Rescaling(c)`` followed by a plain ``Conv2D``/``Dense`` with N(0, 1)
weights; the gradient with respect to ``w`` is the authors'. Pixel norm trains as ``PixelNorm``
(the authors' op) and ships as ``keras.layers.RMSNormalization`` (the same formula, times a
scale of ones).

Where this differs from the authors' code, and why:

- The schedule counts optimizer steps (``stabilize_steps``, ``fade_steps``) instead of
  thousands of real images (``lod_training_kimg``, ``lod_transition_kimg``): our batch size is
  fixed, theirs changes with the resolution. Their phase order is kept: each level stabilizes,
  then the next fades in.
- The minibatch standard deviation groups *consecutive* examples (theirs takes every M-th): a
  replica's examples are consecutive rows of the global batch, so with a per-replica batch
  divisible by the group size the groups, and the step, are the same on any number of
  replicas. A batch that the group size does not divide forms one group.
- The Adam state is not reset when the level changes (theirs: ``reset_opt_for_new_lod``, at
  the start and the end of each fade-in, moments and bias correction alike): the run's step
  counter is the generator optimizer's iteration count, which Keras' Adam also uses for its
  bias correction, so a reset could not restart the correction. The new layers get exactly
  zero gradient before their fade-in, so their moments are zero when it starts, but corrected
  as at a late step their n-th update is about lr / sqrt(1 - 0.99^n): 10 times the rate at
  first, 1.3 times after 100 steps. The old layers keep their moments.
- Upscaling and downscaling are separate nearest/box layers, not fused into the convolutions
  (the authors' ``fused_scale=False``, the same function).
- The training generator's output is linear, as the authors'; what ships is clipped to the
  image range [-1, 1] (their image conversion clips too).
- The presets are small: MNIST padded to 32x32 by the data pipeline, 16-64 filters (the
  paper trains CelebA-HQ, LSUN and CIFAR-10 up to 1024x1024 with up to 512 filters).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING

from zoo.contract import AdversarialObjective, Contract, normal
from zoo.registry import Family, register_family

if TYPE_CHECKING:  # imported where networks are built: registering the family stays light
    import keras
    import tensorflow as tf


@dataclasses.dataclass
class ProGANConfig:
    """Architecture arguments of a ProGAN.

    Args:
        image_size: the final resolution, a power of two from 4 (levels 4x4, 8x8, ... up to it).
        channels: image channels (1 or 3).
        latent_dim: size of ``z`` (the paper: 512).
        filters: feature maps of each level, from 4x4 up (one per level: 4 numbers for 32x32).
            The generator's block at a level has that many; the discriminator's reads that many
            and hands on the next lower level's number (the authors' ``nf``).
        mbstd_group_size: examples per group of the discriminator's minibatch standard
            deviation feature (the paper: 4; 0 or 1 leaves the feature out).
    """

    image_size: int = 32
    channels: int = 1
    latent_dim: int = 128
    filters: list[int] = dataclasses.field(default_factory=lambda: [64, 64, 32, 16])
    mbstd_group_size: int = 4

    @property
    def levels(self) -> int:
        return int(round(math.log2(self.image_size))) - 1

    def validate(self) -> None:
        for field in ("image_size", "channels", "latent_dim"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")
        size = self.image_size
        if size < 4 or size & (size - 1):
            raise ValueError(
                f"model.image_size={size} is not reached by doubling from 4x4; use a power of "
                "two from 4 (4, 8, 16, 32, 64, ...)"
            )
        if len(self.filters) != self.levels or min(self.filters) < 1:
            raise ValueError(
                f"model.filters needs one positive number per level from 4x4 to {size}x{size} "
                f"({self.levels} numbers), got {self.filters}"
            )
        if self.mbstd_group_size < 0:
            raise ValueError(
                f"model.mbstd_group_size must be 0 or more, got {self.mbstd_group_size}"
            )


@dataclasses.dataclass
class ProGANObjective(AdversarialObjective):
    """The objective of a ProGAN: WGAN-GP with the drift term, and the growth schedule.

    Args:
        loss: the adversarial loss pair (the paper: ``wasserstein``).
        d_steps: discriminator updates per generator update (the paper: 1).
        gp_weight: the gradient penalty's lambda (10).
        drift_weight: epsilon_drift, the weight of D(real)^2 (0.001).
        stabilize_steps: steps each level trains alone before the next fades in (the 4x4 level
            first; the final level trains alone from its fade-in's end on).
        fade_steps: steps over which each new level fades in (0: it appears at once).
    """

    loss: str = "wasserstein"
    d_steps: int = 1
    gp_weight: float = 10.0
    drift_weight: float = 0.001
    stabilize_steps: int = 600
    fade_steps: int = 600

    def validate(self) -> None:
        super().validate()
        if self.stabilize_steps < 0 or self.fade_steps < 0:
            raise ValueError(
                "objective.stabilize_steps and objective.fade_steps must be 0 or more, got "
                f"{self.stabilize_steps} and {self.fade_steps}"
            )
        if self.stabilize_steps + self.fade_steps < 1:
            raise ValueError("objective.stabilize_steps + objective.fade_steps must be at least 1")


# -- the schedule ------------------------------------------------------------------------------


def level_of_detail(step, max_lod: int, stabilize_steps: int, fade_steps: int) -> tf.Tensor:
    """The level of detail after ``step`` steps (float32, in the graph): ``max_lod`` (4x4) for
    the first ``stabilize_steps``, then falling linearly by 1 over ``fade_steps`` while the next
    level fades in, and so on down to 0 (the final resolution), where it stays. The authors'
    ``TrainingSchedule`` in steps instead of images."""
    import tensorflow as tf

    step = tf.cast(step, tf.float32)
    phase = float(stabilize_steps + fade_steps)
    done = tf.floor(step / phase)  # levels fully faded in
    into = step - done * phase  # steps into the current phase
    lod = float(max_lod) - done
    if fade_steps > 0:
        lod -= tf.maximum(into - stabilize_steps, 0.0) / float(fade_steps)
    return tf.maximum(lod, 0.0)


def lod_reals(images, lod, max_lod: int) -> tf.Tensor:
    """Real images as the networks see them at level of detail ``lod``: box-downscaled to the
    two levels around ``lod``, blended linearly between them and upscaled back (nearest) to the
    full resolution (the authors' ``process_reals``: FadeLOD and UpscaleLOD). Written as the sum
    of every level's images weighted by max(0, 1 - |lod - k|), which is that blend."""
    import tensorflow as tf

    x, out = images, None
    lod = tf.cast(lod, images.dtype)
    for k in range(max_lod + 1):
        if k:
            x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
        factor = 2**k
        up = tf.repeat(tf.repeat(x, factor, axis=1), factor, axis=2) if k else x
        weight = tf.nn.relu(1.0 - tf.abs(lod - float(k)))
        out = weight * up if out is None else out + weight * up
    return out


# -- the level-of-detail schedule --------------------------------------------------------------


@functools.cache
def _schedule_class() -> type:
    """``LevelOfDetailSchedule``, defined on first use: it is a ``zoo.terms.Schedule``, and
    ``zoo.terms`` imports TensorFlow, which registering the family must not. (The layers it
    drives, ``zoo.layers.LevelOfDetail`` and ``CrossFade``, are shared ones.)"""
    from zoo.layers import LevelOfDetail
    from zoo.terms import Schedule

    class LevelOfDetailSchedule(Schedule):
        """ProGAN's growth (a ``zoo.terms.Schedule``): at the start of every step it sets the
        ``lod`` variable of each network's ``LevelOfDetail`` layer to ``level_of_detail(step)``,
        and blurs the real images to that level (``lod_reals``); logs ``lod``."""

        def __init__(self, stabilize_steps: int, fade_steps: int):
            self.stabilize_steps, self.fade_steps = stabilize_steps, fade_steps
            self.targets, self.max_lod = [], None

        def bind(self, networks) -> None:
            found = [
                layer
                for network in networks.values()
                for layer in network.layers
                if isinstance(layer, LevelOfDetail)
            ]
            if not found:
                raise ValueError("the level-of-detail schedule found no LevelOfDetail layer")
            if len({layer.max_lod for layer in found}) != 1:
                raise ValueError("the networks' LevelOfDetail layers disagree on their levels")
            self.targets, self.max_lod = found, found[0].max_lod

        def lod(self, step) -> tf.Tensor:
            return level_of_detail(step, self.max_lod, self.stabilize_steps, self.fade_steps)

        def start_step(self, step):
            lod = self.lod(step)
            for layer in self.targets:
                layer.lod.assign(lod)
            return {"lod": lod}

        def real_images(self, images, step):
            return lod_reals(images, self.lod(step), self.max_lod)

    return LevelOfDetailSchedule


# -- networks ---------------------------------------------------------------------------------

_RELU_GAIN = math.sqrt(2.0)


class _Builder:
    """Makes (or, in ``ship``, finds by name in ``source``) the layers of a network, so that the
    training network and the shipped one are written once (``_synthesis``). Layers without
    weights that do not export (pixel norm, upscaling) ship as Keras layers that compute the
    same."""

    def __init__(self, source: keras.Model | None = None):
        self.source = source

    def __call__(self, name: str, make):
        return self.source.get_layer(name) if self.source is not None else make(name)

    def equalized(self, x, name: str, layer_cls, units, gain=_RELU_GAIN, **kwargs):
        """``layer_cls`` (``Conv2D``, ``Dense`` or ``ChannelBiasDense``) with equalized learning
        rate: N(0, 1) weights on the input scaled by He's constant gain / sqrt(fan_in) (Karras et
        al. 2018, sec. 4.1; the authors' ``get_weight(use_wscale=True)``), zero biases."""
        import keras

        kernel = kwargs.get("kernel_size", 1)
        fan_in = kernel * kernel * x.shape[-1]
        scale = gain / math.sqrt(fan_in)
        x = self(f"{name}_scale", lambda n: keras.layers.Rescaling(scale, name=n))(x)
        init = keras.initializers.RandomNormal(0.0, 1.0)
        return self(name, lambda n: layer_cls(units, kernel_initializer=init, name=n, **kwargs))(x)

    def conv(self, x, name: str, filters: int, kernel_size: int = 3, activate: bool = True):
        import keras

        x = self.equalized(x, name, keras.layers.Conv2D, filters, kernel_size=kernel_size,
                           padding="same")  # fmt: skip
        if activate:
            x = self(f"{name}_lrelu", lambda n: keras.layers.LeakyReLU(0.2, name=n))(x)
        return x

    def upsample(self, x, name: str):
        """Nearest 2x upscaling. What ships uses ``Resizing`` (the same values): two chained
        ``UpSampling2D`` (``ops.repeat``) fail TFLite's conversion with a dynamic batch
        (measured: "tf.Conv2D op is neither a custom op nor a flex op" on the convolution after
        the second), and ``Resizing`` passes no gradient, so training keeps ``UpSampling2D``."""
        import keras

        if self.source is not None:
            size = 2 * x.shape[1]
            return keras.layers.Resizing(size, size, interpolation="nearest", name=name)(x)
        return keras.layers.UpSampling2D(2, name=name)(x)

    def pixel_norm(self, x, name: str):
        import keras

        from zoo.layers import PixelNorm

        if self.source is not None:  # what ships: Keras' own layer, the same function
            return keras.layers.RMSNormalization(epsilon=1e-8, name=name)(x)
        return PixelNorm(name=name)(x)


def _synthesis(config: ProGANConfig, make: _Builder, z, lod=None):
    """The generator's graph on ``z``: every level blended by ``lod`` (training), or, with no
    ``lod``, the final resolution's path alone (what ships, at lod 0)."""
    import keras
    from keras import layers

    from zoo.layers import ChannelBiasDense, CrossFade

    f, last = config.filters, config.levels - 1
    x = make.pixel_norm(z, "z_norm")  # the authors' normalize_latents
    # 4x4: dense to 4x4 maps (gain sqrt(2)/4, as the authors' Theano port) with a bias per
    # channel (the authors' add it after the reshape; ships as a Dense), then a 3x3 conv
    x = make.equalized(x, "b4_dense", ChannelBiasDense, 16 * f[0], gain=_RELU_GAIN / 4,
                       positions=16)  # fmt: skip
    x = make("b4_reshape", lambda n: layers.Reshape((4, 4, f[0]), name=n))(x)
    x = make("b4_dense_lrelu", lambda n: layers.LeakyReLU(0.2, name=n))(x)
    x = make.pixel_norm(x, "b4_dense_norm")
    x = make.pixel_norm(make.conv(x, "b4_conv", f[0]), "b4_conv_norm")
    image = _to_rgb(config, make, x, 4) if lod is not None else None
    for k in range(1, config.levels):
        res = 4 * 2**k
        x = make.upsample(x, f"b{res}_up")
        x = make.pixel_norm(make.conv(x, f"b{res}_conv0", f[k]), f"b{res}_conv0_norm")
        x = make.pixel_norm(make.conv(x, f"b{res}_conv1", f[k]), f"b{res}_conv1_norm")
        if lod is not None:
            new = _to_rgb(config, make, x, res)
            old = make.upsample(image, f"image{res}_up")
            fade = make(f"fade{res}", lambda n, k=k: CrossFade(last - k, name=n))
            image = fade([new, old, lod])
    if lod is None:
        image = _to_rgb(config, make, x, config.image_size)
        clip = keras.layers.Activation("hard_tanh", dtype="float32", name="image")
        return clip(image)
    return make("image", lambda n: layers.Activation("linear", dtype="float32", name=n))(image)


def _to_rgb(config, make: _Builder, x, res: int):
    import keras

    # a 1x1 conv with gain 1 (the authors' torgb)
    return make.equalized(
        x, f"to_rgb{res}", keras.layers.Conv2D, config.channels, gain=1.0, kernel_size=1
    )


def build_generator(config: ProGANConfig, name: str = "generator") -> keras.Model:
    """z [batch, latent_dim] -> images [batch, size, size, channels] at the network's level of
    detail (its ``lod`` layer's variable; 0, the final resolution, until a schedule sets it).

    Example:
        >>> g = build_generator(ProGANConfig(image_size=16, filters=[16, 16, 8]))
        >>> g(np.zeros((2, 128), "float32")).shape
        TensorShape([2, 16, 16, 1])
    """
    import keras

    from zoo.layers import LevelOfDetail

    config.validate()
    z = keras.Input((config.latent_dim,), name="z")
    lod = LevelOfDetail(config.levels - 1, name="lod")(z)
    return keras.Model(z, _synthesis(config, _Builder(), z, lod), name=name)


def build_discriminator(config: ProGANConfig, name: str = "discriminator") -> keras.Model:
    """images [batch, size, size, channels] -> logits [batch, 1] (a critic: real > fake), at
    the network's level of detail: the from-RGB layer of each level reads the image box-
    downscaled to it, blended with the level above by ``lod`` (the authors' ``D_paper``,
    linear structure)."""
    import keras
    from keras import layers

    from zoo.layers import CrossFade, LevelOfDetail, MinibatchStddev

    config.validate()
    make, f, last = _Builder(), config.filters, config.levels - 1
    size = config.image_size
    image = keras.Input((size, size, config.channels), name="image")
    lod = LevelOfDetail(last, name="lod")(image)
    x = make.conv(image, f"from_rgb{size}", f[last], kernel_size=1)
    img = image
    for k in range(last, 0, -1):
        res = 4 * 2**k
        x = make.conv(x, f"b{res}_conv0", f[k])
        x = make.conv(x, f"b{res}_conv1", f[k - 1])
        x = layers.AveragePooling2D(2, name=f"b{res}_down")(x)
        img = layers.AveragePooling2D(2, name=f"image{res // 2}_down")(img)
        y = make.conv(img, f"from_rgb{res // 2}", f[k - 1], kernel_size=1)
        x = CrossFade(last - k, name=f"fade{res}")([x, y, lod])
    if config.mbstd_group_size > 1:
        x = MinibatchStddev(config.mbstd_group_size, name="b4_mbstd")(x)
    x = make.conv(x, "b4_conv", f[0])
    x = layers.Flatten(name="b4_flatten")(x)
    x = make.equalized(x, "b4_dense0", layers.Dense, f[0])
    x = layers.LeakyReLU(0.2, name="b4_dense0_lrelu")(x)
    logits = make.equalized(x, "logits", layers.Dense, 1, gain=1.0, dtype="float32")
    return keras.Model(image, logits, name=name)


def build(config: ProGANConfig) -> dict[str, keras.Model]:
    return {"generator": build_generator(config), "discriminator": build_discriminator(config)}


def contract(config: ProGANConfig) -> Contract:
    """``z`` is standard normal; the progressive kind trains it (schedules in the graph)."""
    return Contract("progressive", {"z": normal()})


def ship(artifact: str, network: keras.Model) -> keras.Model:
    """The generator at lod 0 (the final resolution), clipped to [-1, 1]: the final path's
    layers of ``network`` (sharing its weights), with pixel norm as Keras' RMSNormalization and
    without the level-of-detail variable, the lower levels' to-RGB layers and the blends."""
    import keras

    z = keras.Input((_latent(network),), name="z")
    config = _config_of(network)
    return keras.Model(z, _synthesis(config, _Builder(network), z), name=network.name)


def _latent(network: keras.Model) -> int:
    return int(network.inputs[0].shape[-1])


def _config_of(network: keras.Model) -> ProGANConfig:
    """The architecture a generator was built with, read from its layers (``ship`` receives the
    network only)."""
    levels = network.get_layer("lod").max_lod + 1
    filters = [int(network.get_layer("b4_conv").filters)]
    filters += [int(network.get_layer(f"b{4 * 2**k}_conv1").filters) for k in range(1, levels)]
    channels = int(network.get_layer("to_rgb4").filters)
    return ProGANConfig(
        image_size=4 * 2 ** (levels - 1),
        channels=channels,
        latent_dim=_latent(network),
        filters=filters,
    )


def terms(objective: ProGANObjective) -> list:
    """WGAN-GP with the drift term, and the level-of-detail schedule."""
    from zoo import terms as t
    from zoo.losses import get_loss

    pieces = [t.Adversarial(get_loss(objective.loss))]
    if objective.gp_weight > 0:
        pieces.append(t.GradientPenalty(objective.gp_weight))
    if objective.drift_weight > 0:
        pieces.append(t.Drift(objective.drift_weight))
    schedule = _schedule_class()(objective.stabilize_steps, objective.fade_steps)
    return [*pieces, schedule]


_PAPER_TRAIN = {"g_lr": 1e-3, "d_lr": 1e-3, "beta_1": 0.0, "beta_2": 0.99}

# Measured on the tiny run: full-int8 TFLite reaches 26.6 dB against the Keras generator (export
# needs 30 dB): pixel norm's mean of squares loses small activations to int8 rounding, and its
# reciprocal square root amplifies what is left.
NO_INT8 = (
    "pixel norm's mean of squares and reciprocal square root lose too much in int8 activations "
    "(26.6 dB measured, 30 dB needed); use the float16 or dynamic-range variant"
)

register_family(
    Family(
        name="progan",
        config_cls=ProGANConfig,
        build=build,
        contract=contract,
        objective_cls=ProGANObjective,
        terms=terms,
        ship=ship,
        no_int8=NO_INT8,
        paper="Karras et al. 2018, arXiv:1710.10196",
        default_preset="progan_mnist",
        presets={
            # Digits grown 4 -> 8 -> 16 -> 32, padded to 32x32 (2 black pixels each side).
            "progan_mnist": {
                "data": {"dataset": "mnist", "batch_size": 32, "fit": "pad"},
                "model": {
                    "image_size": 32,
                    "channels": 1,
                    "latent_dim": 128,
                    "filters": [64, 64, 32, 16],
                },
                # 300 steps alone at 4x4, 8x8 and 16x16, each fading in over 300; 32x32
                # trains alone from step 1,800 on, for 4,200 steps (15 min 48 s on the 2-core Xeon).
                "objective": {"stabilize_steps": 300, "fade_steps": 300},
                "train": {
                    "steps": 6000,
                    **_PAPER_TRAIN,
                    "ema_decay": 0.995,
                    "sample_every": 250,
                    "checkpoint_every": 500,
                },
                "eval": {"every": 1000, "metric": "kid", "num_samples": 1000},
            },
            # CelebA faces (TFDS celeb_a, center-cropped and resized by the pipeline) at 64 and
            # 128 px, for GPUs: the paper's widths (min(8192 / 2^level, 512)) and minibatch 16,
            # 800k images to stabilize each level and 800k to fade in the next (50,000 steps
            # each at batch 16). The paper grew CelebA-HQ to 1024 px in 4 days on 8 P100s; these
            # smaller targets need a fraction of that, still GPU-days.
            "progan_celeba64": {
                "data": {"dataset": "celeb_a", "batch_size": 16},
                "model": {
                    "image_size": 64,
                    "channels": 3,
                    "latent_dim": 512,
                    "filters": [512, 512, 512, 512, 256],
                },  # fmt: skip
                "objective": {"stabilize_steps": 50_000, "fade_steps": 50_000},
                "train": {"steps": 450_000, **_PAPER_TRAIN, "ema_decay": 0.999},
            },
            "progan_celeba128": {
                "data": {"dataset": "celeb_a", "batch_size": 16},
                "model": {
                    "image_size": 128,
                    "channels": 3,
                    "latent_dim": 512,
                    "filters": [512, 512, 512, 512, 256, 128],
                },  # fmt: skip
                "objective": {"stabilize_steps": 50_000, "fade_steps": 50_000},
                "train": {"steps": 550_000, **_PAPER_TRAIN, "ema_decay": 0.999},
            },
            # For tests: every level fades in over 3 steps, so 2 steps already train two levels
            # and a resume after 2 steps is inside a fade-in.
            "tiny": {
                "data": {"dataset": "mnist", "batch_size": 8},
                "model": {
                    "image_size": 16,
                    "channels": 1,
                    "latent_dim": 8,
                    "filters": [16, 16, 8],
                },
                "objective": {"stabilize_steps": 0, "fade_steps": 3},
                "train": {
                    **_PAPER_TRAIN,
                    "ema_decay": 0.5,  # an EMA that moves within the tests' few steps
                    "steps": 4,
                    "log_every": 1,
                    "sample_every": 2,
                    "checkpoint_every": 2,
                },
            },
        },
    )
)
