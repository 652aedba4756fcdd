"""GAN: the original multilayer-perceptron generative adversarial network.

Reference:
    Goodfellow et al. "Generative Adversarial Nets." NeurIPS 2014.
    https://arxiv.org/abs/1406.2661

Both networks are MLPs on flattened images; the generator reshapes its tanh output to an image
so that sampling, evaluation and export treat it like every other family. The generator loss is
selectable: ``train.loss=non_saturating`` (the default, sec. 3 of the paper) or ``minimax``
(eq. 1, which saturates early in training).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from zoo.contract import Contract, normal
from zoo.registry import Family, register_family

if TYPE_CHECKING:
    import keras


@dataclasses.dataclass
class GANConfig:
    """Architecture arguments of an MLP GAN.

    Args:
        image_size, channels: image shape (square).
        latent_dim: size of ``z``.
        units: width of the generator's first hidden layer; its three hidden layers have
            units, 2 units, 4 units, the discriminator's 2 units, units.
    """

    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    units: int = 256

    def validate(self) -> None:
        for field in ("image_size", "channels", "latent_dim", "units"):
            if getattr(self, field) < 1:
                raise ValueError(f"model.{field} must be positive, got {getattr(self, field)}")


def build_generator(config: GANConfig, name: str = "generator") -> keras.Model:
    """z [batch, latent_dim] -> images [batch, size, size, channels] in [-1, 1]."""
    import keras
    from keras import layers

    config.validate()
    z = keras.Input((config.latent_dim,), name="z")
    x = z
    for i, width in enumerate((config.units, 2 * config.units, 4 * config.units)):
        x = layers.Dense(width, name=f"hidden{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"hidden{i}_lrelu")(x)
    return keras.Model(z, to_image(x, config.image_size, config.channels), name=name)


def to_image(x, image_size: int, channels: int):
    """An MLP generator's output: a dense layer of every pixel, tanh, reshaped to an image."""
    from keras import layers

    x = layers.Dense(image_size * image_size * channels, name="to_pixels")(x)
    x = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return layers.Reshape((image_size, image_size, channels), dtype="float32", name="image")(x)


def build_discriminator(config: GANConfig, name: str = "discriminator") -> keras.Model:
    """images -> logits [batch, 1]."""
    import keras
    from keras import layers

    config.validate()
    image = keras.Input((config.image_size, config.image_size, config.channels), name="image")
    x = layers.Flatten(name="flatten")(image)
    for i, width in enumerate((2 * config.units, config.units)):
        x = layers.Dense(width, name=f"hidden{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"hidden{i}_lrelu")(x)
    logits = layers.Dense(1, dtype="float32", name="logits")(x)
    return keras.Model(image, logits, name=name)


def build(config: GANConfig) -> dict[str, keras.Model]:
    return {"generator": build_generator(config), "discriminator": build_discriminator(config)}


def contract(config: GANConfig) -> Contract:
    return Contract("adversarial", {"z": normal()})


register_family(
    Family(
        name="gan",
        config_cls=GANConfig,
        build=build,
        contract=contract,
        paper="Goodfellow et al. 2014, arXiv:1406.2661",
        default_preset="gan_mnist",
        presets={
            "gan_mnist": {
                "data": {"dataset": "mnist", "batch_size": 64},
                "model": {"image_size": 28, "channels": 1, "latent_dim": 100, "units": 256},
                "train": {
                    "steps": 10000,
                    "g_lr": 2e-4,
                    "d_lr": 2e-4,
                    "beta_1": 0.5,
                    "sample_every": 1000,
                    "checkpoint_every": 2000,
                },
                "eval": {"every": 2000, "metric": "kid", "num_samples": 1000},
            },
            "tiny": {
                "data": {"dataset": "mnist", "batch_size": 8},
                "model": {"image_size": 16, "channels": 1, "latent_dim": 8, "units": 8},
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
            },
        },
    )
)
