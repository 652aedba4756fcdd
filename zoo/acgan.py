"""ACGAN: auxiliary classifier GAN.

Reference:
    Odena, Olah, Shlens. "Conditional Image Synthesis with Auxiliary Classifier GANs."
    ICML 2017. https://arxiv.org/abs/1610.09585

The generator gets the class label (an embedding concatenated with ``z``); the discriminator
sees only the image and has a second head of class logits. Both networks add the
cross-entropy of that head on the labels of real and generated images (the paper's L_C) to
their adversarial losses. Built on the DCGAN networks (``zoo.dcgan``).
"""

import dataclasses

from zoo.contract import AdversarialObjective
from zoo.dcgan import DCGANConfig, build, contract, mnist_presets
from zoo.registry import Family, register_family


@dataclasses.dataclass
class ACGANObjective(AdversarialObjective):
    """Args: aux_weight: weight of the class cross-entropy L_C in both networks' losses."""

    aux_weight: float = 1.0


def terms(objective: ACGANObjective) -> list:
    from zoo import terms
    from zoo.losses import get_loss

    return [
        terms.Adversarial(get_loss(objective.loss)),
        terms.AuxiliaryClassifier(objective.aux_weight),
    ]


register_family(
    Family(
        name="acgan",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        objective_cls=ACGANObjective,
        terms=terms,
        fixed={"d_labels": "auxiliary", "num_codes": 0},
        paper="Odena et al. 2017, arXiv:1610.09585",
        default_preset="acgan_mnist",
        presets=mnist_presets("acgan", model={"num_classes": 10}),
    )
)
