"""DualGAN: unsupervised dual learning for image-to-image translation.

Reference:
    Yi, Zhang, Tan, Gong. "DualGAN: Unsupervised Dual Learning for Image-to-Image
    Translation." ICCV 2017. https://arxiv.org/abs/1704.02510 ; the authors' code:
    github.com/duxingren14/DualGAN (``model.py``, ``ops.py``).

The family (trained by the two-domain kind, ``training.trainers.cycle``, as CycleGAN):

* Two **U-Net generators** (sec. 3.2: "the same U-shaped net as pix2pix", with skip
  connections between mirrored layers): ``zoo.pix2pix``'s generator with instance norm (the
  authors' ``ops.batch_norm`` normalizes each image over its own pixels) and, as in the
  authors' code, no dropout. ``generator`` maps A to B, ``generator_ba`` B to A.
* Two **critics**: a PatchGAN (sec. 3.2: the Markovian PatchGAN of pix2pix, "which
  discriminates patches"), CycleGAN's ``NLayerDiscriminator`` with instance norm and no
  sigmoid; each gives a map of ``logits``.
* **Objective** (sec. 3.1): the Wasserstein GAN loss in each direction, ``d_steps`` critic
  updates per generator update (n_critic, each on its own batch: the paper's 2 to 4 with
  clipping, the code's 1 with its penalty), and the
  L1 reconstruction of both domains weighed by lambda (``cycle_weight``; the paper's
  lambda_U = lambda_V, 100 to 1000; the code's 500); RMSProp at 5e-5
  (``train.optimizer=rmsprop``). The critics are kept Lipschitz as in the paper, by clipping
  their weights to [-c, c] after every update (``clip_value`` 0.01,
  ``zoo.terms.CriticClipping``), with n_critic 2; or by the authors' current code's gradient
  penalty (``gp_weight=10 clip_value=0 d_steps=1``, ``zoo.terms.DomainGradientPenalty``).

Where we differ, and why:

* **The paper's clipping, not the code's penalty.** The repository's code changed after the
  paper: its 2018 version trains a sigmoid cross-entropy GAN (and updates the generators twice
  per discriminator update), its current one WGAN-GP (gamma 10, n_critic 1) with a critic
  giving one scalar per image. We follow the paper (clipping, c = 0.01, n_critic 2, its
  PatchGAN critic). Measured on the digits preset (3,000 steps, ``docs/results.md``): held-out
  L1 0.0235 to the true bold digits (the input's 0.1119), 96.1% read as their digit, as many
  as the true ones; the code's penalty (4,000 steps) reached L1 0.0612 and 98.8%.
* **No dropout** by default: the authors' code's ``--dropout_rate 0.0``, where pix2pix's U-Net
  (the paper's) has 0.5 in its first three decoder layers. With 0.5 the digits preset's
  translations were grey and blotchy: with the clipping, L1 0.1265 and 77.5% read after 3,000
  steps; with the penalty, 0.2155 and 24.0% after 1,000 (0.0951 and 98.2% without dropout). The
  paper's noise is ``model.dropout=0.5``.
* **RMSProp** is Keras' (rho 0.9, as the authors' ``decay=0.9``).
* **Sizes.** The paper's 256 px U-Net has 8 levels and a 70x70 PatchGAN; ``levels`` and
  ``d_layers`` are arguments (the digits preset: 5 levels at 32 px, 2 critic layers).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from zoo.contract import TwoDomainObjective
from zoo.cyclegan import STROKES_DATA, contract
from zoo.registry import Family, register_family

if TYPE_CHECKING:  # imported where networks are built: registering the family stays light
    import keras

    from zoo.terms import TwoDomainTerm


@dataclasses.dataclass
class DualGANConfig:
    """Architecture arguments of DualGAN (both generators and both critics alike).

    Args:
        image_size: height and width of both domains' square images, divisible by
            2**levels.
        channels: channels of both domains' images (1 or 3).
        base_filters: filters of the U-Net's first layer (64), doubled per level up to 8 x.
        levels: the U-Net's stride-2 levels (the paper's 8 at 256 px).
        dropout: dropout rate of the U-Net decoder's first ``dropout_layers`` layers (the
            authors' code: 0; pix2pix's U-Net: 0.5).
        dropout_layers: how many decoder layers have dropout (3).
        g_norm: ``instance`` (the authors') or ``none``.
        d_filters: filters of the critic's first layer (64), doubled per layer up to 8 x.
        d_layers: the critic's stride-2 layers (the paper's 70x70 PatchGAN: 3).
    """

    image_size: int = 32
    channels: int = 1
    base_filters: int = 64
    levels: int = 5
    dropout: float = 0.0
    dropout_layers: int = 3
    g_norm: Literal["instance", "none"] = "instance"
    d_filters: int = 64
    d_layers: int = 3

    def validate(self) -> None:
        if self.g_norm not in ("instance", "none"):
            raise ValueError(f"model.g_norm must be instance or none, got {self.g_norm}")
        self.unet().validate()
        self.patchgan().validate()

    def unet(self):
        """The generators' arguments, as ``zoo.pix2pix`` builds them."""
        from zoo.pix2pix import Pix2PixConfig

        return Pix2PixConfig(
            image_size=self.image_size,
            channels=self.channels,
            base_filters=self.base_filters,
            levels=self.levels,
            dropout=self.dropout,
            dropout_layers=self.dropout_layers,
            g_norm=self.g_norm,
        )

    def patchgan(self):
        """The critics' arguments, as ``zoo.cyclegan`` builds its PatchGAN."""
        from zoo.cyclegan import CycleGANConfig

        return CycleGANConfig(
            image_size=self.image_size,
            channels=self.channels,
            d_filters=self.d_filters,
            d_layers=self.d_layers,
            downsamplings=0,
        )


def build(config: DualGANConfig) -> dict[str, keras.Model]:
    """The four networks, named as CycleGAN's: ``generator`` (A -> B), ``discriminator``
    (the critic of B), ``generator_ba`` (B -> A), ``discriminator_a`` (the critic of A)."""
    from zoo import cyclegan, pix2pix

    config.validate()
    unet, patchgan = config.unet(), config.patchgan()
    return {
        "generator": pix2pix.build_generator(unet, "generator"),
        "generator_ba": pix2pix.build_generator(unet, "generator_ba"),
        "discriminator": cyclegan.build_discriminator(patchgan, "discriminator"),
        "discriminator_a": cyclegan.build_discriminator(patchgan, "discriminator_a"),
    }


@dataclasses.dataclass
class DualGANObjective(TwoDomainObjective):
    """DualGAN's objective (sec. 3.1-3.3; no history pool, a constant rate).

    Args:
        loss: the critics' loss pair (``wasserstein``).
        d_steps: critic updates per generator update (n_critic: the paper's 2 to 4 with
            clipping; the code's 1 with its penalty).
        cycle_weight: lambda, the weight of each domain's L1 reconstruction (100 to 1000; the
            code's 500).
        gp_weight: the critics' gradient penalty (0: none, the paper; the authors' code: 10).
        clip_value: c, the bound of every critic weight (the paper: 0.01; 0: no clipping).
    """

    loss: str = "wasserstein"
    d_steps: int = 2
    pool_size: int = 0
    lr_decay_steps: int | None = 0
    cycle_weight: float = 500.0
    gp_weight: float = 0.0
    clip_value: float = 0.01

    def validate(self) -> None:
        super().validate()
        if self.clip_value < 0:
            raise ValueError(f"objective.clip_value must be 0 or more, got {self.clip_value}")
        if self.loss == "wasserstein" and not (self.gp_weight or self.clip_value):
            raise ValueError(
                "DualGAN's critics need a Lipschitz constraint: objective.gp_weight > 0 (the "
                "authors' code) or objective.clip_value > 0 (the paper: 0.01)"
            )


def terms(objective: DualGANObjective) -> list[TwoDomainTerm]:
    """The Wasserstein loss both ways, the critics' gradient penalty (or their weights
    clipped), lambda x the L1 reconstruction."""
    from zoo.losses import get_loss
    from zoo.terms import CriticClipping, CycleConsistency, DomainAdversarial, DomainGradientPenalty

    pieces = [DomainAdversarial(get_loss(objective.loss))]
    if objective.gp_weight:
        pieces.append(DomainGradientPenalty(objective.gp_weight))
    if objective.clip_value:
        pieces.append(CriticClipping(objective.clip_value))
    pieces.append(CycleConsistency(objective.cycle_weight))
    return pieces


PRESETS = {
    # CycleGAN's digits -> bold strokes (zoo.cyclegan.STROKES_DATA) at 32 px.
    "dualgan_strokes": {
        "data": {**STROKES_DATA, "batch_size": 8},
        "model": {
            "image_size": 32,
            "channels": 1,
            "base_filters": 16,
            "levels": 5,
            "d_filters": 32,
            "d_layers": 2,
        },
        "train": {
            "steps": 3000,
            "optimizer": "rmsprop",
            "g_lr": 5e-5,
            "d_lr": 5e-5,
            "log_every": 100,
            "sample_every": 500,
            "checkpoint_every": 500,
        },
        "eval": {"split": "test[8000:]"},
    },
    # The paper's 256 px networks on an image folder with trainA/ and trainB/, batch 1.
    "dualgan_256": {
        "data": {"source": "folder", "domains": ["trainA", "trainB"], "batch_size": 1},
        "model": {"image_size": 256, "channels": 3, "levels": 8, "d_layers": 3},
        "train": {"steps": 100_000, "optimizer": "rmsprop", "g_lr": 5e-5, "d_lr": 5e-5},
    },
    # For tests: seconds on a CPU; two critic updates a step, to test them.
    "tiny": {
        "data": {**STROKES_DATA, "batch_size": 8},
        "model": {
            "image_size": 16,
            "channels": 1,
            "base_filters": 4,
            "levels": 3,
            "d_filters": 4,
            "d_layers": 1,
        },
        "train": {
            "steps": 4,
            "optimizer": "rmsprop",
            "log_every": 1,
            "sample_every": 2,
            "checkpoint_every": 2,
        },
    },
}

register_family(
    Family(
        name="dualgan",
        config_cls=DualGANConfig,
        build=build,
        contract=contract,
        presets=PRESETS,
        default_preset="dualgan_strokes",
        paper="Yi et al. 2017, arXiv:1704.02510",
        objective_cls=DualGANObjective,
        terms=terms,
    )
)
