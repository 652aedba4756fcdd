"""LSGAN: least-squares GAN.

Reference:
    Mao et al. "Least Squares Generative Adversarial Networks." ICCV 2017.
    https://arxiv.org/abs/1611.04076

The DCGAN networks (``zoo.dcgan``) trained with least-squares losses, targets 1 for real and 0
for fake (the paper's a=0, b=c=1 coding), which penalise fakes by their distance from the
decision boundary instead of saturating.
"""

import dataclasses

from zoo.contract import AdversarialObjective
from zoo.dcgan import UNCONDITIONAL, DCGANConfig, build, contract, mnist_presets
from zoo.registry import Family, register_family


@dataclasses.dataclass
class LSGANObjective(AdversarialObjective):
    loss: str = "least_squares"


register_family(
    Family(
        name="lsgan",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        objective_cls=LSGANObjective,
        fixed=UNCONDITIONAL,
        paper="Mao et al. 2017, arXiv:1611.04076",
        default_preset="lsgan_mnist",
        presets=mnist_presets("lsgan"),
    )
)
