"""cGAN: class-conditional GAN.

Reference:
    Mirza, Osindero. "Conditional Generative Adversarial Nets." 2014.
    https://arxiv.org/abs/1411.1784

Both networks get the class label: the generator an embedding of it concatenated with ``z``,
the discriminator an embedded label plane as an extra image channel. The paper conditions MLPs
by concatenating one-hot labels; ganzoo conditions the DCGAN networks (``zoo.dcgan``) the same
way, which trains faster and better on images. The exported generator takes ``z`` and ``label``.
"""

from zoo.dcgan import DCGANConfig, build
from zoo.registry import Family, register_family

register_family(
    Family(
        name="cgan",
        config_cls=DCGANConfig,
        build=build,
        paper="Mirza & Osindero 2014, arXiv:1411.1784",
        loss="non_saturating",
        default_preset="cgan_mnist",
        presets={
            "cgan_mnist": {
                "data": {"dataset": "mnist", "batch_size": 64},
                "model": {
                    "image_size": 28,
                    "channels": 1,
                    "latent_dim": 100,
                    "base_filters": 64,
                    "num_classes": 10,
                    "d_labels": "input",
                },
                "train": {
                    "steps": 5000,
                    "g_lr": 2e-4,
                    "d_lr": 2e-4,
                    "beta_1": 0.5,
                    "sample_every": 500,
                    "checkpoint_every": 1000,
                },
                "eval": {"every": 1000, "metric": "kid", "num_samples": 1000},
            },
            "tiny": {
                "data": {"dataset": "mnist", "batch_size": 8},
                "model": {
                    "image_size": 16,
                    "channels": 1,
                    "latent_dim": 8,
                    "base_filters": 4,
                    "num_classes": 10,
                    "d_labels": "input",
                },
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
            },
        },
    )
)
