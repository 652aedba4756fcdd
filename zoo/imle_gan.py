"""IMLE-GAN: the adversarial loss plus implicit maximum likelihood estimation ("Inclusive GAN").

Reference:
    Yu, Li, Zhou, Malik, Davis, Fritz. "Inclusive GAN: Improving Data and Minority Coverage in
    Generative Models." ECCV 2020. https://arxiv.org/abs/2004.03355
    Authors' code: github.com/ningyu1991/InclusiveGAN (``training/loss.py``,
    ``training/training_loop.py``, ``run_training.py``), which this module follows.

A GAN covers the modes its discriminator notices; IMLE (Li & Malik 2018) makes every real
image pull the generated image nearest to it, so that no real image is left without one. The
generator's objective is the authors' ``G_logistic_ns_rec_interp_arb_pathreg``, made of terms
(``zoo.terms``):

* the non-saturating loss on images of fresh latents (``loss_G_arb``; the discriminator's
  loss is the logistic pair, ``D_logistic_r1``, with R1: ``objective.r1_weight``, off in
  the default preset, see below);
* **IMLE** (``loss_NN_rec_lpips``): each real image's nearest generated image, G(z_i), found
  among a pool of candidates, is pulled towards it with weight ``objective.imle_weight``
  (the authors' ``--NN-rec-lpips-weight``, 2.5);
* **interpolation** (``loss_NN_interp_lpips``): for two real images and their matched latents,
  the image generated at z_t = slerp(z_2, z_1, t), t uniform, is pulled towards x_1 with
  weight t and towards x_2 with weight 1 - t; ``objective.interp_weight``, the authors'
  0.4 x 2.5 = 1.0;
* the matched latents turned by ``objective.imle_perturb`` of their angle towards a fresh
  latent before both terms (``--knn-perturb-factor``, 0.05).

The search (``zoo.terms.IMLE``) runs in the graph at every generator update and is the same
on any number of replicas: a pool of ``objective.imle_candidates`` latents per real image of
the global batch (the authors' ``--num-samples-factor``, 10), each replica generating its rows;
the candidates' features are gathered from every replica, each real image finds its nearest
candidate in the whole pool (no gradient through the search), and the matched latents are
generated again, on the replica of their real image, with gradient.

**The features.** The authors search in pixel space: their ``--init-proj-dim`` is unset by
default and in their Stacked MNIST command, so the search compares the images' pixels (in
[-1, 1]); with it, a fixed Gaussian random projection of the pixels.
``objective.imle_projection`` is that option (``None``: pixels; D: a fixed [H W C, D]
projection with N(0, (1 / D)^2) entries, the same in every run as the authors' file of it).
Neither is the evaluation's digit classifier, whose reading of each channel is what
``--metrics modes`` counts. (The authors' discriminator, ``D_stylegan2_feature``, also returns
its maps as a feature vector, the image first, but no loss of theirs reads it.) The *loss*
compares the matched pair with LPIPS in the authors' code (VGG16 with Zhang et al.'s learned
weights, a TF1 pickle): see the departures.

**Minority sampling.** The authors choose which real images the two terms reconstruct: all of
them (their default, and their Stacked MNIST run); the images of a subgroup
(``--attr-interesting``: CelebA attributes, every one of them present), with which each IMLE
batch is filled; or the images whose nearest-candidate distance is at most a percentile of
all of them (``--dist-thres-percentile``, default 100: all). Here ``objective.imle_classes``
is the subgroup, by the data's labels (Stacked MNIST's modes 0-999, MNIST's digits; one
membership flag per image, computed in the graph from its label), and
``objective.imle_percentile`` the percentile, of the global batch's distances. As theirs, the
two are exclusive.

Networks: DCGAN's (``zoo.dcgan``, unconditional), 28x28x3 Stacked MNIST by default.

Where this differs from the authors' code, and why:

* **Networks and recipe.** The authors build on StyleGAN2 (config-e: a skip generator, a
  residual discriminator, lazy R1 with gamma 100, path-length regularization, Adam 0.002 with
  betas (0, 0.99), an EMA generator, batches of 12, 32x32 zero-padded digits, 240,000 images,
  on GPUs). The default preset trains in about ten minutes on two CPU cores (the budget of
  the Stacked MNIST presets of ``dcgan``, ``wgan_gp`` and ``stylegan2``), so it uses DCGAN's
  networks at 28x28 (no padding) with ``dcgan_stacked_mnist``'s recipe, the DCGAN paper's
  (Adam 2e-4 with beta_1 0.5, batch 64, float32, no R1): the two presets differ by the IMLE
  terms alone, so that their modes compare the terms and not two recipes. No path-length term
  (DCGAN has no W space), no EMA. ``--set objective.r1_weight=1 --set objective.r1_every=4``
  adds ``dcgan_mnist``'s measured R1 (the authors' gamma 100 every 16 steps is StyleGAN2's).
  The preset's 1,200 steps are 2.5 times fewer than DCGAN's 3,000, for as many minutes.
* **The loss's distance.** The authors measure the pull with LPIPS (VGG16 features with
  learned weights); those weights are not in Keras and the repository works offline, so the
  distance here is the mean squared pixel difference (the original IMLE's), on images in
  [-1, 1]. It is of the order of LPIPS distances, which lie mostly between 0 and 1 (0.76 for
  the default preset's matches over its first 50 steps, 0.41 at step 100), so the authors'
  weights are kept as they are; they are not tuned for it.
* **The pool.** The authors generate 10 candidates per image of the *dataset*, index them
  (DCI), give every dataset image its nearest latent, and keep those matches until they rebuild
  them at epochs 10, 20, 40, ... (``--init-staleness`` 10, doubling). Here the pool is fresh at
  every step, 10 candidates per image of the global batch, from the generator as it is: no
  stale matches and nothing to index, at the price of a smaller pool (640 candidates for a
  batch of 64, where a dataset's pool has millions), so a real image's nearest candidate is
  farther.
* **Which images, and how many.** The authors draw the IMLE images from the data on their own
  (twice the generator's batch, split into the two halves of the interpolation pairs) and
  the discriminator sees batches of its own (also twice the generator's batch, against as
  many fakes). Here the terms reuse the step's real batch (the
  one the discriminator saw last), its consecutive images (2k, 2k + 1) paired. A subgroup is
  selected inside that batch: the terms are averaged over its members (and over the pairs of
  which both images are members), so a subgroup of share p gives about p times the batch
  images a step, where the authors fill every IMLE batch with it; a step without a member
  adds nothing.
* **The candidates' generator.** The authors generate the pool with their generator in its
  validation mode; StyleGAN2 has no batch norm, so that is the training generator. DCGAN's
  generator has batch norm: the pool is generated in training mode (the statistics of the
  pool, as the fakes of the adversarial loss), so that a candidate is the image the training
  generator makes of its latent.
* **slerp.** The authors' slerp returns unit vectors, which StyleGAN2's mapping network
  normalizes anyway; DCGAN's generator reads z as it is, so the length is interpolated
  linearly between the two latents' (``zoo.terms.imle.slerp``).
* ``--exclusive-retrieved-code`` (off by default) is not ported: two real images may match
  the same candidate.
"""

from __future__ import annotations

import dataclasses

from zoo.contract import AdversarialObjective
from zoo.dcgan import UNCONDITIONAL, DCGANConfig, build, contract, mnist_presets, stacked_preset
from zoo.registry import Family, register_family


@dataclasses.dataclass
class IMLEGANObjective(AdversarialObjective):
    """The objective of an IMLE-GAN: the adversarial pair and the IMLE terms (R1 as every
    adversarial family: ``r1_weight``, ``r1_every``).

    Args:
        imle_weight: weight of the IMLE term, the mean distance of each real image to its
            matched generated image (the authors' ``--NN-rec-lpips-weight``, 2.5; 0 and
            ``interp_weight`` 0: a plain GAN).
        interp_weight: weight of the interpolation term (the authors' 0.4 x 2.5 = 1.0).
        imle_candidates: candidate latents per real image of the global batch, generated at
            every step (the authors' ``--num-samples-factor``, 10, per dataset image).
        imle_perturb: the share of its angle by which a matched latent turns towards a fresh
            latent (``--knn-perturb-factor``, 0.05; 0: none).
        imle_projection: ``None``: search in pixel space (the authors' default); D: a fixed
            Gaussian random projection of the pixels to D numbers (``--init-proj-dim``).
        imle_classes: reconstruct only the real images whose label is one of these (a
            subgroup to include: ``--attr-interesting``); ``None``: every image.
        imle_percentile: reconstruct only the real images whose nearest-candidate distance is
            at most this percentile of the global batch's (``--dist-thres-percentile``; 100:
            every image). Not with ``imle_classes``.
    """

    loss: str = "non_saturating"
    imle_weight: float = 2.5
    interp_weight: float = 1.0
    imle_candidates: int = 10
    imle_perturb: float = 0.05
    imle_projection: int | None = None
    imle_classes: list[int] | None = None
    imle_percentile: float = 100.0

    def validate(self) -> None:
        super().validate()
        if self.imle_candidates < 1:
            raise ValueError(
                f"objective.imle_candidates must be positive, got {self.imle_candidates}"
            )
        if not 0.0 <= self.imle_perturb <= 1.0:
            raise ValueError(f"objective.imle_perturb must be in [0, 1], got {self.imle_perturb}")
        if self.imle_projection is not None and self.imle_projection < 1:
            raise ValueError(
                "objective.imle_projection must be positive (the projection's width) or none "
                f"(pixels), got {self.imle_projection}"
            )
        if not 0.0 < self.imle_percentile <= 100.0:
            raise ValueError(
                f"objective.imle_percentile must be in (0, 100], got {self.imle_percentile}"
            )
        if self.imle_classes is not None:
            if not self.imle_classes or min(self.imle_classes) < 0:
                raise ValueError(
                    "objective.imle_classes must list labels of 0 or more (e.g. 7 or 0,1,2), or "
                    f"be none for every image, got {self.imle_classes}"
                )
            if self.imle_percentile < 100.0:
                raise ValueError(
                    "objective.imle_classes and objective.imle_percentile < 100 both choose the "
                    "images IMLE reconstructs; set one (as the authors' --attr-interesting and "
                    "--dist-thres-percentile)"
                )


def terms(objective: IMLEGANObjective) -> list:
    from zoo import terms
    from zoo.losses import get_loss

    chosen = [terms.Adversarial(get_loss(objective.loss))]
    if objective.imle_weight or objective.interp_weight:
        classes = objective.imle_classes
        chosen.append(
            terms.IMLE(
                weight=objective.imle_weight,
                interpolation_weight=objective.interp_weight,
                candidates=objective.imle_candidates,
                perturbation=objective.imle_perturb,
                projection=objective.imle_projection,
                classes=tuple(classes) if classes is not None else None,
                percentile=objective.imle_percentile,
            )
        )
    return chosen


# The DCGAN paper's recipe on Stacked MNIST, as dcgan_stacked_mnist (PacGAN's DCGAN baseline),
# so that the two rows of the mode-coverage table differ by the IMLE terms alone. A step costs
# about 2.5 of DCGAN's (the pool of 640 candidates is most of it: 0.87 against 0.35
# CPU-seconds a step, measured on the 2-core EPYC while another run shared it), so the table's
# minutes (dcgan_stacked_mnist's 3,000 steps, about 10 minutes there) hold 1,200 steps.
PRESETS = mnist_presets("imle_gan")
PRESETS = {
    "imle_gan_stacked_mnist": stacked_preset(PRESETS["imle_gan_mnist"], steps=1200),
    # For tests: seconds on a CPU; 16x16x3 stacked digits, 2 candidates per image.
    "tiny": stacked_preset(PRESETS["tiny"], steps=4) | {"objective": {"imle_candidates": 2}},
}


register_family(
    Family(
        name="imle_gan",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        objective_cls=IMLEGANObjective,
        terms=terms,
        fixed=UNCONDITIONAL,
        paper="Yu et al. 2020, arXiv:2004.03355",
        default_preset="imle_gan_stacked_mnist",
        presets=PRESETS,
    )
)
