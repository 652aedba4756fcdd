"""SGAN: the semi-supervised GAN with feature matching.

Reference:
    Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. "Improved Techniques for Training
    GANs." NeurIPS 2016, sec. 3.1 and 5. https://arxiv.org/abs/1606.03498
    (the semi-supervised GAN itself: Odena 2016, arXiv:1606.01583)

The discriminator is a K-class classifier whose K logits also give the real-vs-fake logit,
logsumexp of the logits (the (K+1)th "fake" class has its logit fixed at 0). It learns from
unlabelled real images (real vs fake), from a few labelled ones (cross-entropy) and from the
generator's fakes; the generator matches the mean of the discriminator's last hidden features
on real data (feature matching) instead of fooling it. What ships is the generator, and the
classifier the run produces (``classifier.keras``: image -> K logits), whose held-out
accuracy is measured while training (``eval.metric=accuracy``).

The networks follow the paper's MNIST model: MLPs with Gaussian noise on the discriminator's
input (std 0.3) and hidden layers (0.5) and weight normalization (``zoo.layers``) in the
discriminator, softplus and batch norm in the generator.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import keras
from keras import layers

from zoo.gan import to_image
from zoo.layers import WeightNormDense
from zoo.registry import Family, Networks, register_family


@dataclasses.dataclass
class SGANConfig:
    """Architecture arguments of a semi-supervised GAN.

    Args:
        image_size, channels: image shape (square).
        latent_dim: size of ``z``.
        num_classes: classes of the classifier (K).
        g_units: widths of the generator's hidden layers.
        d_units: widths of the discriminator's hidden layers; the last is the feature layer
            that feature matching compares.
        input_noise, hidden_noise: std of the Gaussian noise added (in training only) to the
            discriminator's input and to each of its hidden layers.
        g_norm: ``"batch"`` or ``"none"``: the generator's normalization.
    """

    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    num_classes: int = 10
    g_units: list[int] = dataclasses.field(default_factory=lambda: [500, 500])
    d_units: list[int] = dataclasses.field(default_factory=lambda: [1000, 500, 250, 250, 250])
    input_noise: float = 0.3
    hidden_noise: float = 0.5
    g_norm: Literal["batch", "none"] = "batch"

    def validate(self) -> None:
        for field in ("image_size", "channels", "latent_dim"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")
        if self.num_classes < 2:
            raise ValueError(f"model.num_classes must be at least 2, got {self.num_classes}")
        for field in ("g_units", "d_units"):
            units = getattr(self, field)
            if not units or min(units) < 1:
                raise ValueError(f"model.{field} must be a non-empty list of positive widths")
        if self.input_noise < 0 or self.hidden_noise < 0:
            raise ValueError("model.input_noise and model.hidden_noise must be 0 or more")


def build_generator(config: SGANConfig, name: str = "generator") -> keras.Model:
    """z [batch, latent_dim] -> images [batch, size, size, channels] in [-1, 1]."""
    config.validate()
    z = keras.Input((config.latent_dim,), name="z")
    x = z
    for i, width in enumerate(config.g_units):
        x = layers.Dense(width, use_bias=config.g_norm != "batch", name=f"hidden{i}")(x)
        if config.g_norm == "batch":
            x = layers.BatchNormalization(name=f"hidden{i}_bn")(x)
        x = layers.Activation("softplus", name=f"hidden{i}_softplus")(x)
    return keras.Model(z, to_image(x, config.image_size, config.channels), name=name)


def build_discriminator(config: SGANConfig, name: str = "discriminator") -> keras.Model:
    """images -> [class_logits [batch, K], features [batch, d_units[-1]]]."""
    config.validate()
    image = keras.Input((config.image_size, config.image_size, config.channels), name="image")
    x = layers.Flatten(name="flatten")(image)
    x = layers.GaussianNoise(config.input_noise, name="input_noise")(x)
    for i, width in enumerate(config.d_units):
        x = WeightNormDense(width, "relu", name=f"hidden{i}")(x)
        features = x
        x = layers.GaussianNoise(config.hidden_noise, name=f"hidden{i}_noise")(x)
    logits = WeightNormDense(config.num_classes, dtype="float32", name="class_logits")(x)
    features = layers.Identity(name="features", dtype="float32")(features)
    return keras.Model(image, [logits, features], name=name)


def build(config: SGANConfig) -> Networks:
    return Networks(build_generator(config), build_discriminator(config))


register_family(
    Family(
        name="sgan",
        config_cls=SGANConfig,
        build=build,
        paper="Salimans et al. 2016, arXiv:1606.03498",
        loss="non_saturating",
        default_preset="sgan_mnist100",
        presets={
            # 100 labels (10 per class) among the vendored digits 0-7999; accuracy on 8000-9999,
            # the split the mnist_cnn classifier is held out on too.
            "sgan_mnist100": {
                "data": {
                    "dataset": "mnist",
                    "batch_size": 100,
                    "split": "test[:8000]",
                    "labelled": 100,
                },
                "model": {"image_size": 28, "channels": 1, "latent_dim": 100},
                "train": {
                    "steps": 5000,
                    "g_lr": 3e-3,
                    "d_lr": 3e-3,
                    "beta_1": 0.5,
                    "sample_every": 500,
                    "checkpoint_every": 500,
                },
                "eval": {"every": 500, "metric": "accuracy", "split": "test[8000:]"},
            },
            "tiny": {
                "data": {
                    "dataset": "mnist",
                    "batch_size": 8,
                    "split": "test[:200]",
                    "labelled": 20,
                },
                "model": {
                    "image_size": 16,
                    "channels": 1,
                    "latent_dim": 8,
                    "g_units": [8],
                    "d_units": [16, 8],
                },
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
                "eval": {"metric": "accuracy", "split": "test[9900:]"},
            },
        },
    )
)
