"""LSGAN: least-squares GAN.

Reference:
    Mao et al. "Least Squares Generative Adversarial Networks." ICCV 2017.
    https://arxiv.org/abs/1611.04076

The DCGAN networks (``zoo.dcgan``) trained with least-squares losses, targets 1 for real and 0
for fake (the paper's a=0, b=c=1 coding), which penalise fakes by their distance from the
decision boundary instead of saturating.
"""

from zoo.dcgan import DCGANConfig, build
from zoo.registry import Family, register_family

register_family(
    Family(
        name="lsgan",
        config_cls=DCGANConfig,
        build=build,
        paper="Mao et al. 2017, arXiv:1611.04076",
        loss="least_squares",
        default_preset="lsgan_mnist",
        presets={
            "lsgan_mnist": {
                "data": {"dataset": "mnist", "batch_size": 64},
                "model": {"image_size": 28, "channels": 1, "latent_dim": 100, "base_filters": 64},
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
                "model": {"image_size": 16, "channels": 1, "latent_dim": 8, "base_filters": 4},
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
            },
        },
    )
)
