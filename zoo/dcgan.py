"""DCGAN: deep convolutional GAN.

Reference:
    Radford, Metz, Chintala. "Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks." ICLR 2016. https://arxiv.org/abs/1511.06434

The architecture follows the paper's guidelines: strided (transposed) convolutions instead of
pooling, batch normalization in both networks (not on the generator output nor the discriminator
input), ReLU in the generator with a tanh output, LeakyReLU(0.2) in the discriminator, and
weights initialised from N(0, 0.02).

Networks are plain functional ``keras.Model``s of built-in layers, so a saved generator loads
with ``keras.saving.load_model`` in any Keras 3 process, without ganzoo installed; the arguments
that built it are kept in the run folder's ``config.yaml``. All generator ops (Dense, Reshape,
Conv2DTranspose, BatchNormalization, ReLU, tanh) convert to TFLite and ONNX.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from zoo.contract import Contract, normal, uniform_class, uniform_code
from zoo.registry import Family, register_family

if TYPE_CHECKING:  # imported where networks are built: registering the family stays light
    import keras


@dataclasses.dataclass
class DCGANConfig:
    """Architecture arguments of a DCGAN.

    Args:
        image_size: height and width of the square images; it is halved down to a starting
            size of 4 to 7 pixels, so it must be 2**k times a number from 4 to 7 (16, 28, 32,
            64, 128, ...).
        channels: image channels (1 for grayscale, 3 for RGB).
        latent_dim: size of the generator's input ``z``.
        base_filters: filters of the generator's last hidden layer and the discriminator's first;
            each resolution step towards 4x4 doubles them (the paper's 64x64 model is 128).
        kernel_size: size of every (transposed) convolution kernel.
        g_norm: the generator's normalization: ``"batch"`` (the paper) or ``"none"``.
        d_norm: the discriminator's: ``"batch"`` (the paper), ``"none"`` (a WGAN-GP critic),
            or ``"spectral"`` (spectral normalization of every weight, SNGAN).
        num_classes: when set, the generator takes a second input ``label`` (int32 [batch]),
            embedded and concatenated with ``z`` (class-conditional families; InfoGAN's
            categorical code).
        num_codes: continuous codes (InfoGAN): the generator takes an input ``code``
            (float32 [batch, num_codes], uniform in [-1, 1] in training) concatenated with ``z``.
        d_labels: how the discriminator uses labels: ``"none"``, ``"input"`` (an embedded label
            plane concatenated to the image as an extra channel, cGAN), ``"auxiliary"`` (a
            second output of class logits, ACGAN) or ``"info"`` (InfoGAN's Q head: outputs
            ``code_logits`` for the categorical code and ``code`` for the continuous ones, from
            a hidden layer shared on top of the discriminator's features).
    """

    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    base_filters: int = 64
    kernel_size: int = 4
    g_norm: Literal["batch", "none"] = "batch"
    d_norm: Literal["batch", "none", "spectral"] = "batch"
    num_classes: int | None = None
    num_codes: int = 0
    d_labels: Literal["none", "input", "auxiliary", "info"] = "none"

    def validate(self) -> None:
        for field in ("image_size", "channels", "latent_dim", "base_filters", "kernel_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")
        if self.d_labels in ("input", "auxiliary") and not self.num_classes:
            raise ValueError(f"model.d_labels={self.d_labels} needs model.num_classes")
        if self.num_codes < 0:
            raise ValueError(f"model.num_codes must be 0 or more, got {self.num_codes}")
        if self.d_labels == "info" and not (self.num_classes or self.num_codes):
            raise ValueError("model.d_labels=info needs model.num_classes or model.num_codes")
        if self.d_labels != "info" and self.num_codes:
            raise ValueError("model.num_codes needs model.d_labels=info (the Q head)")
        if self.num_classes is not None and self.num_classes < 2:
            raise ValueError(f"model.num_classes must be at least 2, got {self.num_classes}")
        start, _ = _resolution_plan(self.image_size)
        if start is None:
            raise ValueError(
                f"model.image_size={self.image_size} cannot be reached by doubling from 4-7 "
                "pixels; use 2**k times 4, 5, 6 or 7 (e.g. 16, 28, 32, 64, 128)"
            )


def _resolution_plan(image_size: int) -> tuple[int | None, int]:
    """(starting size, number of 2x steps) to reach ``image_size``; (None, 0) if impossible."""
    size, steps = image_size, 0
    while size % 2 == 0 and size // 2 >= 4:
        size, steps = size // 2, steps + 1
    if not 4 <= size <= 7 or steps == 0:
        return None, 0
    return size, steps


def _init():
    import keras

    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _block(x, conv, filters, kernel_size, batch_norm: bool, name: str, spectral: bool = False):
    """A stride-2 (transposed) convolution, spectrally normalized or followed by batch norm
    (which makes the bias redundant) when asked."""
    from keras import layers

    layer = conv(
        filters,
        kernel_size,
        strides=2,
        padding="same",
        use_bias=not batch_norm,
        kernel_initializer=_init(),
        name=None if spectral else f"{name}_conv",
    )
    x = _spectral(layer, spectral, f"{name}_conv")(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x) if batch_norm else x


def _spectral(layer, spectral: bool, name: str):
    """``layer`` wrapped in Keras' SpectralNormalization named ``name`` when asked (one power
    iteration per training call, Miyato et al. 2018); otherwise ``layer`` itself."""
    if not spectral:
        return layer
    from keras import layers

    return layers.SpectralNormalization(layer, power_iterations=1, name=name)


def build_generator(config: DCGANConfig, name: str = "generator") -> keras.Model:
    """z [batch, latent_dim] -> images [batch, size, size, channels] in [-1, 1].

    Example:
        >>> g = build_generator(DCGANConfig(image_size=28, channels=1))
        >>> g(keras.random.normal((2, 100))).shape
        TensorShape([2, 28, 28, 1])
    """
    import keras
    from keras import layers

    config.validate()
    start, steps = _resolution_plan(config.image_size)
    filters = config.base_filters * 2 ** (steps - 1)
    batch_norm = config.g_norm == "batch"

    z = keras.Input((config.latent_dim,), name="z")
    inputs, x = z, z
    if config.num_classes:
        # A one-hot label next to z, as in Mirza & Osindero: the projection learns what each
        # class adds. (A unit-variance embedding as wide as z made the generator ignore z:
        # one image per class.)
        label = keras.Input((), dtype="int32", name="label")
        embedded = layers.CategoryEncoding(config.num_classes, "one_hot", name="label_one_hot")(
            label
        )
        inputs, x = [z, label], layers.Concatenate(name="z_label")([z, embedded])
    if config.num_codes:
        code = keras.Input((config.num_codes,), name="code")
        inputs = [*inputs, code] if isinstance(inputs, list) else [z, code]
        x = layers.Concatenate(name="z_code")([x, code])
    x = layers.Dense(
        start * start * filters, use_bias=not batch_norm, kernel_initializer=_init(), name="project"
    )(x)
    x = layers.Reshape((start, start, filters), name="reshape")(x)
    if batch_norm:
        x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for i in range(1, steps):
        filters //= 2
        x = _block(x, layers.Conv2DTranspose, filters, config.kernel_size, batch_norm, f"up{i}")
        x = layers.ReLU(name=f"up{i}_relu")(x)
    x = layers.Conv2DTranspose(
        config.channels,
        config.kernel_size,
        strides=2,
        padding="same",
        kernel_initializer=_init(),
        name="to_image",
    )(x)
    image = layers.Activation("tanh", name="image", dtype="float32")(x)
    return keras.Model(inputs, image, name=name)


def build_discriminator(config: DCGANConfig, name: str = "discriminator") -> keras.Model:
    """images [batch, size, size, channels] -> logits [batch, 1] (real > 0 > fake)."""
    import keras
    from keras import layers

    config.validate()
    _, steps = _resolution_plan(config.image_size)
    batch_norm, spectral = config.d_norm == "batch", config.d_norm == "spectral"

    size = config.image_size
    image = keras.Input((size, size, config.channels), name="image")
    inputs, x = image, image
    if config.d_labels == "input":
        # One-hot label channels, as in Mirza & Osindero (and keras.io's conditional GAN).
        label = keras.Input((), dtype="int32", name="label")
        one_hot = layers.CategoryEncoding(config.num_classes, "one_hot", name="label_one_hot")
        planes = layers.Reshape((1, 1, config.num_classes), name="label_pixel")(one_hot(label))
        planes = layers.UpSampling2D(size, name="label_planes")(planes)
        inputs, x = [image, label], layers.Concatenate(name="image_label")([image, planes])
    filters = config.base_filters
    for i in range(steps):
        use_bn = batch_norm and i > 0  # the paper leaves BN off the discriminator input layer
        x = _block(x, layers.Conv2D, filters, config.kernel_size, use_bn, f"down{i}", spectral)
        x = layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        filters *= 2
    x = layers.Flatten(name="flatten")(x)
    dense = layers.Dense(
        1, kernel_initializer=_init(), dtype="float32", name=None if spectral else "logits"
    )
    logits = _spectral(dense, spectral, "logits")(x)
    if config.d_labels == "auxiliary":
        classes = layers.Dense(config.num_classes, dtype="float32", name="class_logits")(x)
        return keras.Model(inputs, [logits, classes], name=name)
    if config.d_labels == "info":  # Chen et al.: FC-128, BN, LeakyReLU, then the code heads
        q = layers.Dense(128, use_bias=not batch_norm, kernel_initializer=_init(), name="q")(x)
        if batch_norm:
            q = layers.BatchNormalization(name="q_bn")(q)
        q = layers.LeakyReLU(0.2, name="q_lrelu")(q)
        heads = []
        if config.num_classes:
            heads.append(layers.Dense(config.num_classes, dtype="float32", name="code_logits")(q))
        if config.num_codes:
            heads.append(layers.Dense(config.num_codes, dtype="float32", name="code")(q))
        return keras.Model(inputs, [logits, *heads], name=name)
    return keras.Model(inputs, logits, name=name)


def build(config: DCGANConfig) -> dict[str, keras.Model]:
    return {"generator": build_generator(config), "discriminator": build_discriminator(config)}


def contract(config: DCGANConfig) -> Contract:
    """``z`` is standard normal; a ``label`` (cGAN, ACGAN, InfoGAN's categorical code) is a
    uniform class; InfoGAN's continuous ``code`` is uniform in [-1, 1]. The data's labels train
    a conditional discriminator (cGAN) and an auxiliary classifier (ACGAN), not InfoGAN's Q."""
    inputs = {"z": normal()}
    if config.num_classes:
        inputs["label"] = uniform_class(config.num_classes)
    if config.num_codes:
        inputs["code"] = uniform_code()
    return Contract("adversarial", inputs, labels=config.d_labels in ("input", "auxiliary"))


# What makes the unconditional DCGAN-based families unconditional: setting one of these would
# train a cGAN, an ACGAN or an InfoGAN under another name.
UNCONDITIONAL = {"num_classes": None, "num_codes": 0, "d_labels": "none"}


def mnist_presets(
    family: str,
    model: dict | None = None,
    train: dict | None = None,
    tiny_objective: dict | None = None,
    objective: dict | None = None,
    runtime: dict | None = None,
) -> dict[str, dict]:
    """The ``<family>_mnist`` preset (28x28 digits, batch 64, evaluated every 1000 steps) and the
    ``tiny`` test preset of a DCGAN-based family, with the family's own model and train keys
    (``objective``, ``runtime``: the default preset's own; ``tiny_objective``: the tiny
    preset's objective, e.g. fewer critic steps)."""
    model = model or {}
    return {
        f"{family}_mnist": {
            "data": {"dataset": "mnist", "batch_size": 64},
            **({"objective": objective} if objective else {}),
            **({"runtime": runtime} if runtime else {}),
            "model": {"image_size": 28, "channels": 1, "latent_dim": 100, "base_filters": 64}
            | model,
            "train": {
                "steps": 5000,
                "g_lr": 2e-4,
                "d_lr": 2e-4,
                "beta_1": 0.5,
                "sample_every": 500,
                "checkpoint_every": 1000,
            }
            | (train or {}),
            "eval": {"every": 1000, "metric": "kid", "num_samples": 1000},
        },
        # For tests: seconds on a CPU.
        "tiny": {
            "data": {"dataset": "mnist", "batch_size": 8},
            "model": model | {"image_size": 16, "channels": 1, "latent_dim": 8, "base_filters": 4},
            "objective": tiny_objective or {},
            "train": {
                key: value
                for key, value in (train or {}).items()
                if key in ("optimizer", "beta_1", "beta_2")
            }
            | {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
        },
    }


STACKED_STEPS = 3000  # the mode-coverage table's budget for every family: docs/modes.md


def stacked_preset(preset: dict, steps: int = STACKED_STEPS, **data) -> dict:
    """``preset`` (a digit preset) on Stacked MNIST: three channels, ``steps`` generator steps,
    and the ``data`` keys given (``fit="pad"`` for a 32x32 model). No evaluation while it trains:
    the digit classifier reads one digit, not three, and the modes need 26,000 samples;
    ``python -m training.evaluate RUN --metrics modes`` counts them after the run."""
    return preset | {
        "data": preset["data"] | {"dataset": "stacked_mnist"} | data,
        "model": preset["model"] | {"channels": 3},
        "train": preset["train"] | {"steps": steps},
        "eval": {"every": None},
    }


register_family(
    Family(
        name="dcgan",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        fixed=UNCONDITIONAL,
        paper="Radford et al. 2015, arXiv:1511.06434",
        default_preset="dcgan_mnist",
        presets={
            # Handwritten digits, 28x28x1, in about 6 minutes on 2 CPUs. Two departures from the
            # paper's recipe, measured in docs/quality.md (FID 75 instead of 109 in the same
            # time): twice its learning rate, and an R1 penalty (Mescheder et al. 2018) on the
            # discriminator; and bfloat16 where the CPU computes it natively (the steps).
            **mnist_presets(
                "dcgan",
                train={"steps": 7000, "g_lr": 4e-4, "d_lr": 4e-4},
                objective={"r1_weight": 1.0, "r1_every": 4},
                runtime={"mixed_precision": "auto"},
            ),
            # The paper's recipe on the same digits (Adam 2e-4, float32, 5000 steps): the
            # default before docs/quality.md, whose published runs it reproduces.
            "dcgan_mnist_paper": mnist_presets("dcgan")["dcgan_mnist"],
            # Stacked MNIST (1,000 modes: a digit per channel), the mode-coverage benchmark of
            # VEEGAN and PacGAN, with the paper's recipe as PacGAN's DCGAN baseline; add
            # --set objective.pack=2 for PacGAN2. Measured with --metrics modes: docs/modes.md.
            "dcgan_stacked_mnist": stacked_preset(mnist_presets("dcgan")["dcgan_mnist"]),
            # The paper's 64x64 RGB model for CelebA-like faces (needs a GPU to be practical).
            "dcgan_celeba": {
                "data": {"dataset": "celeb_a", "batch_size": 128},
                "model": {"image_size": 64, "channels": 3, "latent_dim": 100, "base_filters": 128},
                "train": {"steps": 20000, "g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5},
            },
        },
    )
)
