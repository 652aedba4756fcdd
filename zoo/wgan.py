"""WGAN: Wasserstein GAN with weight clipping.

Reference:
    Arjovsky, Chintala, Bottou. "Wasserstein GAN." ICML 2017. https://arxiv.org/abs/1701.07875

The DCGAN networks (``zoo.dcgan``) with the discriminator as a critic: its output is a score,
not a probability; it is updated ``n_critic`` = 5 times per generator update with RMSprop
(lr 5e-5) and its weights are clipped to [-0.01, 0.01] after every update (alg. 1).
"""

import dataclasses

from zoo.contract import AdversarialObjective
from zoo.dcgan import UNCONDITIONAL, DCGANConfig, build, contract, mnist_presets
from zoo.registry import Family, register_family


@dataclasses.dataclass
class WGANObjective(AdversarialObjective):
    """Args: clip_value: the critic's weights are clipped to [-c, c] after each update."""

    loss: str = "wasserstein"
    d_steps: int = 5
    clip_value: float = 0.01

    def validate(self) -> None:
        super().validate()
        if self.clip_value <= 0:
            raise ValueError(f"objective.clip_value must be positive, got {self.clip_value}")


def terms(objective: WGANObjective) -> list:
    from zoo import terms
    from zoo.losses import get_loss

    return [terms.Adversarial(get_loss(objective.loss)), terms.WeightClipping(objective.clip_value)]


register_family(
    Family(
        name="wgan",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        objective_cls=WGANObjective,
        terms=terms,
        fixed=UNCONDITIONAL,
        paper="Arjovsky et al. 2017, arXiv:1701.07875",
        default_preset="wgan_mnist",
        presets=mnist_presets(
            "wgan",
            train={
                "steps": 2000,
                "optimizer": "rmsprop",
                "g_lr": 5e-5,
                "d_lr": 5e-5,
                "sample_every": 250,
                "checkpoint_every": 500,
            },
            tiny_objective={"d_steps": 2},
        ),
    )
)
