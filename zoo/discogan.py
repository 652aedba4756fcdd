"""DiscoGAN: learning to discover cross-domain relations with generative adversarial networks.

Reference:
    Kim, Cha, Kim, Lee, Kim. "Learning to Discover Cross-Domain Relations with Generative
    Adversarial Networks." ICML 2017. https://arxiv.org/abs/1703.05192 ; the authors' code:
    github.com/SKTBrain/DiscoGAN (``discogan/model.py``, ``discogan/image_translation.py``),
    which this module follows where the paper is silent.

The family (trained by the two-domain kind, ``training.trainers.cycle``, as CycleGAN):

* Two **encoder-decoder generators** (the authors' ``Generator``): 4x4 stride-2 convolutions
  down to a 4x4 map (64, 128, 256, 512 filters at 64 px), LeakyReLU(0.2) and batch norm on
  all but the first; as many 4x4 stride-2 transposed convolutions back, batch norm and ReLU,
  the last to the image. No skip connections: everything passes the 4x4 bottleneck.
  ``generator`` maps A to B, ``generator_ba`` B to A; their input is ``source``.
* Two **discriminators** (the authors' ``Discriminator``): the same 4x4 stride-2 stack down to
  4x4, then a 4x4 convolution to one logit per image. They also return the maps after each
  LeakyReLU but the first's (``f1``, ``f2``, ...), for feature matching.
* **Objective** (the authors' ``discogan`` model): for each direction, the generator's GAN
  loss (binary cross-entropy, non-saturating) and a feature-matching loss on the
  discriminator's maps (``zoo.terms.DomainFeatureMatching``), weighed 0.1 and 0.9 and together
  by 1 - rate, plus the reconstruction's mean squared error weighed by the rate; the rate is
  0.01 for the first ``gan_curriculum`` steps and 0.5 after them (``zoo.terms.Curriculum``).
  Each discriminator's loss is the mean of its BCE on real and translated images.
  Adam(2e-4, 0.5).

Where we differ from the authors' code, and why:

* **Images in [-1, 1] and tanh**, like every family here, where the authors read images in
  [0, 1] and end with a sigmoid (tanh(x/2) = 2 sigmoid(x) - 1: the same functions, the last
  layer's weights halved). The reconstruction's squared error is computed at the authors'
  [0, 1] scale (a quarter of ours), so that the rate weighs the same loss against the GAN
  terms.
* **One discriminator and one generator update a step.** The authors alternate: one update of
  the discriminators every ``update_interval`` (3) iterations, of the generators in the two
  others. Their curriculum counts those iterations (10,000: about 6,700 generator updates);
  ours counts steps, each one update of both.
* **No weight decay.** The authors' Adam has an L2 weight decay of 1e-5; Keras' is decoupled
  (AdamW), another regularizer, so we leave it out.
* **Sizes.** The paper's networks are for 64 px; ``image_size`` (a power of 2, at least 8)
  sets how many stride-2 layers reach the 4x4 map (3 at 32 px).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Literal

from zoo.contract import TwoDomainObjective
from zoo.cyclegan import STROKES_DATA, contract
from zoo.registry import Family, register_family

if TYPE_CHECKING:  # imported where networks are built: registering the family stays light
    import keras

    from zoo.terms import TwoDomainTerm

Norm = Literal["batch", "none"]
MAX_MULTIPLIER = 8  # filters stop doubling at 8 x filters (the authors' 512 at 64 px)


@dataclasses.dataclass
class DiscoGANConfig:
    """Architecture arguments of DiscoGAN (both generators and both discriminators alike).

    Args:
        image_size: height and width of both domains' square images: a power of 2, at least
            8 (the networks halve it down to 4x4).
        channels: channels of both domains' images (1 or 3).
        filters: filters of the generators' first convolution (the authors' 64), doubled by
            each further one up to 8 times this.
        d_filters: filters of the discriminators' first convolution (64), doubled likewise.
        g_norm, d_norm: ``batch`` (the authors') or ``none``.
    """

    image_size: int = 32
    channels: int = 1
    filters: int = 64
    d_filters: int = 64
    g_norm: Norm = "batch"
    d_norm: Norm = "batch"

    def validate(self) -> None:
        for field in ("image_size", "channels", "filters", "d_filters"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")
        if self.image_size < 8 or self.image_size & (self.image_size - 1):
            raise ValueError(
                f"model.image_size={self.image_size} must be a power of 2 of at least 8 (the "
                "networks halve it down to 4x4): 32 or 64, say"
            )
        for field in ("g_norm", "d_norm"):
            if getattr(self, field) not in ("batch", "none"):
                raise ValueError(f"model.{field} must be batch or none, got {getattr(self, field)}")

    @property
    def depth(self) -> int:
        """Stride-2 layers from ``image_size`` down to 4x4."""
        return int(math.log2(self.image_size)) - 2


def _norm(kind: Norm, name: str):
    """PyTorch's ``BatchNorm2d`` defaults (momentum 0.1: Keras' 0.9), or ``None``."""
    from keras import layers

    if kind == "batch":
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")
    return None


def build_generator(config: DiscoGANConfig, name: str = "generator") -> keras.Model:
    """source [batch, size, size, channels] in [-1, 1] -> its translation, same shape, in
    [-1, 1] (the authors' ``Generator``; 4x4 kernels, stride 2 and padding 1 are Keras'
    ``same`` at even sizes).

    Example:
        >>> g = build_generator(DiscoGANConfig(image_size=32, filters=8))
        >>> g(np.zeros((2, 32, 32, 1), "float32")).shape
        TensorShape([2, 32, 32, 1])
    """
    import keras
    from keras import layers

    config.validate()
    size = config.image_size
    source = keras.Input((size, size, config.channels), name="source")
    x = source
    filters = [config.filters * min(2**i, MAX_MULTIPLIER) for i in range(config.depth)]
    for i, f in enumerate(filters):
        norm = config.g_norm if i > 0 else "none"
        x = layers.Conv2D(f, 4, 2, "same", use_bias=False, name=f"down{i}_conv")(x)
        if (layer := _norm(norm, f"down{i}")) is not None:
            x = layer(x)
        x = layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
    for i, f in enumerate(reversed(filters[:-1])):
        x = layers.Conv2DTranspose(f, 4, 2, "same", use_bias=False, name=f"up{i}_conv")(x)
        if (layer := _norm(config.g_norm, f"up{i}")) is not None:
            x = layer(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)
    x = layers.Conv2DTranspose(config.channels, 4, 2, "same", use_bias=False, name="to_image")(x)
    # Named for what it is, not ``image``: ONNX refuses an input and an output of one name.
    translated = layers.Activation("tanh", dtype="float32", name="translated")(x)
    return keras.Model(source, translated, name=name)


def feature_names(config: DiscoGANConfig) -> tuple[str, ...]:
    """The discriminator's feature outputs: the maps after every LeakyReLU but the first."""
    return tuple(f"f{i}" for i in range(1, config.depth))


def build_discriminator(config: DiscoGANConfig, name: str = "discriminator") -> keras.Model:
    """image [batch, size, size, channels] -> ``logits`` [batch, 1] and the feature maps
    ``f1``, ``f2``, ... (the authors' ``Discriminator``, which returns ``relu2``-``relu4``)."""
    import keras
    from keras import layers

    config.validate()
    size = config.image_size
    image = keras.Input((size, size, config.channels), name="image")
    x, features = image, []
    for i in range(config.depth):
        norm = config.d_norm if i > 0 else "none"
        f = config.d_filters * min(2**i, MAX_MULTIPLIER)
        x = layers.Conv2D(f, 4, 2, "same", use_bias=False, name=f"d{i}_conv")(x)
        if (layer := _norm(norm, f"d{i}")) is not None:
            x = layer(x)
        x = layers.LeakyReLU(0.2, name=f"f{i}" if i > 0 else "d0_lrelu")(x)
        if i > 0:
            features.append(x)
    x = layers.Conv2D(1, 4, use_bias=False, dtype="float32", name="d_out")(x)  # 4x4 -> 1x1
    logits = layers.Flatten(dtype="float32", name="logits")(x)
    return keras.Model(image, [logits, *features], name=name)


def build(config: DiscoGANConfig) -> dict[str, keras.Model]:
    """The four networks, named as CycleGAN's: ``generator`` (A -> B), ``discriminator``
    (judges B), ``generator_ba`` (B -> A), ``discriminator_a`` (judges A)."""
    return {
        "generator": build_generator(config, "generator"),
        "generator_ba": build_generator(config, "generator_ba"),
        "discriminator": build_discriminator(config, "discriminator"),
        "discriminator_a": build_discriminator(config, "discriminator_a"),
    }


@dataclasses.dataclass
class DiscoGANObjective(TwoDomainObjective):
    """DiscoGAN's objective (the authors' defaults; no history pool, a constant rate).

    Args:
        loss: the adversarial loss pair (the authors' BCE: ``non_saturating``).
        gan_weight, fm_weight: the GAN and feature-matching losses' shares of the adversarial
            part (0.1 and 0.9).
        gan_curriculum: steps at ``starting_rate`` before ``default_rate`` (the authors'
            10,000 iterations).
        starting_rate, default_rate: the reconstruction's weight, the adversarial part's being
            1 - rate (0.01, then 0.5).
    """

    loss: str = "non_saturating"
    pool_size: int = 0
    lr_decay_steps: int | None = 0
    gan_weight: float = 0.1
    fm_weight: float = 0.9
    gan_curriculum: int = 10_000
    starting_rate: float = 0.01
    default_rate: float = 0.5

    def validate(self) -> None:
        super().validate()
        if self.gan_curriculum < 0:
            raise ValueError(
                f"objective.gan_curriculum must be 0 or more, got {self.gan_curriculum}"
            )
        for field in ("starting_rate", "default_rate"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise ValueError(f"objective.{field} must be in [0, 1], got {getattr(self, field)}")


def terms(objective: DiscoGANObjective) -> list[TwoDomainTerm]:
    """(gan_weight x GAN + fm_weight x feature matching) x (1 - rate) + rate x reconstruction,
    the rate following the curriculum; each discriminator's BCE halved."""
    from zoo.losses import get_loss
    from zoo.terms import (
        Curriculum,
        CycleConsistency,
        DomainAdversarial,
        DomainFeatureMatching,
        l2_per_example,
    )

    steps, r0, r1 = objective.gan_curriculum, objective.starting_rate, objective.default_rate
    adversarial = DomainAdversarial(get_loss(objective.loss), d_scale=0.5)
    # The squared error at the authors' [0, 1] scale: a quarter of it at ours.
    reconstruction = CycleConsistency(0.25, distance=l2_per_example)
    return [
        Curriculum(
            adversarial, objective.gan_weight * (1 - r0), objective.gan_weight * (1 - r1), steps
        ),
        Curriculum(
            DomainFeatureMatching(1.0),
            objective.fm_weight * (1 - r0),
            objective.fm_weight * (1 - r1),
            steps,
        ),
        Curriculum(reconstruction, r0, r1, steps),
    ]


PRESETS = {
    # CycleGAN's digits -> bold strokes (zoo.cyclegan.STROKES_DATA) at 32 px: no digit in both
    # domains, the held-out 8000-9999 scored against their true bold version.
    "discogan_strokes": {
        "data": {**STROKES_DATA, "batch_size": 16},
        "model": {"image_size": 32, "channels": 1, "filters": 32, "d_filters": 32},
        "objective": {"gan_curriculum": 1000},
        "train": {
            "steps": 3000,
            "g_lr": 2e-4,
            "d_lr": 2e-4,
            "beta_1": 0.5,
            "log_every": 100,
            "sample_every": 500,
            "checkpoint_every": 500,
        },
        "eval": {"split": "test[8000:]"},
    },
    # The paper's 64 px networks on an image folder with trainA/ and trainB/ (edges2shoes,
    # say), the authors' batch of 64 (their script uses 500) and curriculum.
    "discogan_64": {
        "data": {"source": "folder", "domains": ["trainA", "trainB"], "batch_size": 64},
        "model": {"image_size": 64, "channels": 3, "filters": 64, "d_filters": 64},
        "train": {"steps": 50_000, "g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5},
    },
    # For tests: seconds on a CPU; the curriculum switches after the first step.
    "tiny": {
        "data": {**STROKES_DATA, "batch_size": 8},
        "model": {"image_size": 16, "channels": 1, "filters": 4, "d_filters": 4},
        "objective": {"gan_curriculum": 1},
        "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
    },
}

register_family(
    Family(
        name="discogan",
        config_cls=DiscoGANConfig,
        build=build,
        contract=contract,
        presets=PRESETS,
        default_preset="discogan_strokes",
        paper="Kim et al. 2017, arXiv:1703.05192",
        objective_cls=DiscoGANObjective,
        terms=terms,
    )
)
