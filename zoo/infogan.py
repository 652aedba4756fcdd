"""InfoGAN: interpretable latent codes by maximising their mutual information with the image.

Reference:
    Chen, Duan, Houthooft, Schulman, Sutskever, Abbeel. "InfoGAN: Interpretable Representation
    Learning by Information Maximizing Generative Adversarial Nets." NeurIPS 2016.
    https://arxiv.org/abs/1606.03657

The generator takes ``z``, a categorical code ``label`` (10 values on MNIST, which it learns to
use for the digit class without ever seeing a label) and continuous codes ``code`` (2 on MNIST:
width and slant). The discriminator shares its body with the Q network, whose heads predict the
codes of a fake; both networks minimise Q's negative log-likelihood of the codes (the
variational lower bound L_I, weighted by ``objective.info_weight``, and ``continuous_weight`` for
the continuous codes). Built on the DCGAN networks (``zoo.dcgan``). Which code value became
which digit is not known in advance: ``python -m training.sample RUN --vary label`` (or
``--vary code:0``) renders a grid varying one code at a time.
"""

import dataclasses

from zoo.contract import AdversarialObjective
from zoo.dcgan import DCGANConfig, build, contract, mnist_presets
from zoo.registry import Family, register_family


@dataclasses.dataclass
class InfoGANObjective(AdversarialObjective):
    """Args:
    info_weight: weight of L_I's categorical-code term (the paper's lambda = 1).
    continuous_weight: relative weight of its continuous codes' term (the paper uses 0.1 or less).
    """

    info_weight: float = 1.0
    continuous_weight: float = 0.1


def terms(objective: InfoGANObjective) -> list:
    from zoo import terms
    from zoo.losses import get_loss

    return [
        terms.Adversarial(get_loss(objective.loss)),
        terms.MutualInformation(objective.info_weight, objective.continuous_weight),
    ]


register_family(
    Family(
        name="infogan",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        objective_cls=InfoGANObjective,
        terms=terms,
        fixed={"d_labels": "info"},
        paper="Chen et al. 2016, arXiv:1606.03657",
        default_preset="infogan_mnist",
        presets=mnist_presets(
            "infogan",
            # The paper's MNIST setting: 62 noise variables, one 10-way code, two continuous.
            model={"latent_dim": 62, "num_classes": 10, "num_codes": 2},
        ),
    )
)
