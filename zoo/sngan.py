"""SNGAN: spectral normalization with the hinge loss.

Reference:
    Miyato et al. "Spectral Normalization for Generative Adversarial Networks." ICLR 2018.
    https://arxiv.org/abs/1802.05957

The DCGAN generator with a discriminator whose every weight is spectrally normalized (Keras'
``SpectralNormalization``, one power iteration per step) instead of batch-normalized, trained
with the hinge loss and Adam(2e-4, 0.5, 0.999), n_dis = 1 (the paper's setting for its standard
CNN).
"""

import dataclasses

from zoo.contract import AdversarialObjective
from zoo.dcgan import UNCONDITIONAL, DCGANConfig, build, contract, mnist_presets
from zoo.registry import Family, register_family


@dataclasses.dataclass
class SNGANObjective(AdversarialObjective):
    loss: str = "hinge"


register_family(
    Family(
        name="sngan",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        objective_cls=SNGANObjective,
        fixed=UNCONDITIONAL | {"d_norm": "spectral"},
        paper="Miyato et al. 2018, arXiv:1802.05957",
        default_preset="sngan_mnist",
        presets=mnist_presets("sngan"),
    )
)
