"""SNGAN: spectral normalization with the hinge loss.

Reference:
    Miyato et al. "Spectral Normalization for Generative Adversarial Networks." ICLR 2018.
    https://arxiv.org/abs/1802.05957

The DCGAN generator with a discriminator whose every weight is spectrally normalized (Keras'
``SpectralNormalization``, one power iteration per step) instead of batch-normalized, trained
with the hinge loss and Adam(2e-4, 0.5, 0.999), n_dis = 1 (the paper's setting for its standard
CNN).
"""

from zoo.dcgan import DCGANConfig, build
from zoo.registry import Family, register_family

register_family(
    Family(
        name="sngan",
        config_cls=DCGANConfig,
        build=build,
        paper="Miyato et al. 2018, arXiv:1802.05957",
        loss="hinge",
        default_preset="sngan_mnist",
        presets={
            "sngan_mnist": {
                "data": {"dataset": "mnist", "batch_size": 64},
                "model": {
                    "image_size": 28,
                    "channels": 1,
                    "latent_dim": 100,
                    "base_filters": 64,
                    "d_norm": "spectral",
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
                    "d_norm": "spectral",
                },
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
            },
        },
    )
)
