"""ACGAN: auxiliary classifier GAN.

Reference:
    Odena, Olah, Shlens. "Conditional Image Synthesis with Auxiliary Classifier GANs."
    ICML 2017. https://arxiv.org/abs/1610.09585

The generator gets the class label (an embedding concatenated with ``z``); the discriminator
sees only the image and has a second head of class logits. Both networks add the
cross-entropy of that head on the labels of real and generated images (the paper's L_C) to
their adversarial losses. Built on the DCGAN networks (``zoo.dcgan``).
"""

from zoo.dcgan import DCGANConfig, build
from zoo.registry import Family, register_family

register_family(
    Family(
        name="acgan",
        config_cls=DCGANConfig,
        build=build,
        paper="Odena et al. 2017, arXiv:1610.09585",
        loss="non_saturating",
        default_preset="acgan_mnist",
        presets={
            "acgan_mnist": {
                "data": {"dataset": "mnist", "batch_size": 64},
                "model": {
                    "image_size": 28,
                    "channels": 1,
                    "latent_dim": 100,
                    "base_filters": 64,
                    "num_classes": 10,
                    "d_labels": "auxiliary",
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
                    "d_labels": "auxiliary",
                },
                "train": {"steps": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2},
            },
        },
    )
)
