"""WGAN-GP: Wasserstein GAN with gradient penalty.

Reference:
    Gulrajani et al. "Improved Training of Wasserstein GANs." NeurIPS 2017.
    https://arxiv.org/abs/1704.00028

The DCGAN generator with a critic without batch normalization (the penalty is per example, and
batch norm would mix examples), the gradient penalty lambda = 10 on interpolates with uniform
per-example weights (``zoo.losses.gradient_penalty``), n_critic = 5 and Adam(1e-4, 0.0, 0.9)
(alg. 1).
"""

import dataclasses

from zoo.contract import AdversarialObjective
from zoo.dcgan import UNCONDITIONAL, DCGANConfig, build, contract, mnist_presets, stacked_preset
from zoo.registry import Family, register_family


@dataclasses.dataclass
class WGANGPObjective(AdversarialObjective):
    """Args: gp_weight: weight of the gradient penalty (the paper's lambda = 10)."""

    loss: str = "wasserstein"
    d_steps: int = 5
    gp_weight: float = 10.0


def terms(objective: WGANGPObjective) -> list:
    from zoo import terms
    from zoo.losses import get_loss

    return [terms.Adversarial(get_loss(objective.loss)), terms.GradientPenalty(objective.gp_weight)]


PRESETS = mnist_presets(
    "wgan_gp",
    model={"d_norm": "none"},
    train={
        "steps": 2000,
        "g_lr": 1e-4,
        "d_lr": 1e-4,
        "beta_1": 0.0,
        "beta_2": 0.9,
        "sample_every": 250,
        "checkpoint_every": 500,
    },
    tiny_objective={"d_steps": 2},
)
# Stacked MNIST for the mode-coverage table (docs/modes.md): five critic steps per generator
# step make a step about five of DCGAN's here (1,000 steps took 925 s, DCGAN's 3,000 553 s), so
# the table's ten minutes hold 600.
PRESETS["wgan_gp_stacked_mnist"] = stacked_preset(PRESETS["wgan_gp_mnist"], steps=600)


register_family(
    Family(
        name="wgan_gp",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        objective_cls=WGANGPObjective,
        terms=terms,
        fixed=UNCONDITIONAL,
        paper="Gulrajani et al. 2017, arXiv:1704.00028",
        default_preset="wgan_gp_mnist",
        presets=PRESETS,
    )
)
