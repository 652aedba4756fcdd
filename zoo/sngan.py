"""SNGAN: spectral normalization with the hinge loss.

Reference:
    Miyato et al. "Spectral Normalization for Generative Adversarial Networks." ICLR 2018.
    https://arxiv.org/abs/1802.05957

The DCGAN generator with a discriminator whose every weight is spectrally normalized (Keras'
``SpectralNormalization``, one power iteration per step) instead of batch-normalized, trained
with the hinge loss and Adam(2e-4, 0.5, 0.999), n_dis = 1 (the paper's setting for its standard
CNN).
"""

from zoo.dcgan import DCGANConfig, build, mnist_presets
from zoo.registry import Family, register_family

register_family(
    Family(
        name="sngan",
        config_cls=DCGANConfig,
        build=build,
        paper="Miyato et al. 2018, arXiv:1802.05957",
        loss="hinge",
        default_preset="sngan_mnist",
        presets=mnist_presets("sngan", model={"d_norm": "spectral"}),
    )
)
