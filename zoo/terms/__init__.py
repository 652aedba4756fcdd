"""Composable terms of an adversarial objective.

A family's objective is a list of terms (``Family.terms(objective)``). In each discriminator
update the trainer sums every term's ``discriminator_loss``; in the generator update, every
term's ``generator_loss``; so WGAN-GP is ``[Adversarial(WASSERSTEIN), GradientPenalty(10)]``
and ACGAN ``[Adversarial(NON_SATURATING), AuxiliaryClassifier(1)]``. A term reads what the
update computed from an ``Update`` (the images, the discriminator's named outputs, the drawn
generator inputs), returns its weighted loss, reduced over the *global* batch
(``zoo.losses.reduce_loss``), and logs what it wants to show.

The kinds that translate images read other updates, with pieces of the same shape:

* the ``paired`` kind (``paired.py``) sums ``Term``s too, on an ``Update`` whose ``batch``
  holds the ``source`` and the real ``image``: ``ConditionalAdversarial`` (a loss pair on a
  PatchGAN's map, the discriminator's side scaled) and ``L1Reconstruction`` (pix2pix);
  ``MultiScaleAdversarial`` and ``DiscriminatorFeatureMatching`` (pix2pixHD);
  ``MSEReconstruction`` and ``FeatureDistance`` (SRGAN's content loss); ``RelativisticAverage``
  (ESRGAN); ``EdgePromotingAdversarial`` (CartoonGAN, with ``edge_smooth``);
* the ``cycle`` kind (``two_domain.py``: CycleGAN, DiscoGAN, DualGAN, Ganilla) sums
  ``TwoDomainTerm``s, each reading a ``Translation`` (every domain's real, translated,
  round-tripped and identity-mapped images): ``DomainAdversarial``, ``CycleConsistency`` and
  ``IdentityMapping`` (CycleGAN), ``DomainFeatureMatching`` and ``Curriculum`` (DiscoGAN's
  feature matching and weights that change at a step), ``CriticClipping`` and
  ``DomainGradientPenalty`` (DualGAN's critics), with
  the per-example distances ``l1_per_example`` and ``l2_per_example``.

``core.py`` holds ``Update``, ``Term``, the distances and the adversarial kind's pieces. The
families import them in their ``terms(objective)`` only: this package imports TensorFlow, and
registering a family (``import zoo``) must not.

Two pieces serve the kinds that run things on their own intervals (``progressive``;
``schedules.py``):

* ``Lazy(term, every=N)`` adds ``term`` only on the steps where ``step % N == 0``, with its
  loss multiplied by N, decided in the graph (StyleGAN2's lazy regularization, Karras et al.
  2020, sec. 3.1: R1 every 16 steps, path length every 4);
* a ``Schedule`` is a value computed from the step in the graph at the start of every step
  (ProGAN's level of detail), so that a resumed run recomputes it exactly from the step.

``imle.py`` holds IMLE-GAN's generator terms (``IMLE``: each real image pulls its nearest
generated image, searched in the graph among every replica's candidates, and images generated
between two matched latents are pulled towards both real images).

``PathLength`` (StyleGAN2's path-length regularisation) keeps a running mean across steps: a
term's ``state`` is scalar variables the trainer creates, checkpoints and hands it in
``Update.state``.

Every term is tested on its own (``tests/test_terms.py``), with known answers.
"""

from zoo.terms.core import (
    R1,
    Adversarial,
    AuxiliaryClassifier,
    DomainReconstruction,
    Drift,
    GradientPenalty,
    MutualInformation,
    PathLength,
    SemiSupervised,
    Term,
    Update,
    WeightClipping,
    accuracy,
    cross_entropy,
    l1_per_example,
    l2_per_example,
    mean_signs,
)
from zoo.terms.imle import IMLE
from zoo.terms.paired import (
    ConditionalAdversarial,
    DiscriminatorFeatureMatching,
    EdgePromotingAdversarial,
    FeatureDistance,
    L1Reconstruction,
    MSEReconstruction,
    MultiScaleAdversarial,
    RelativisticAverage,
    edge_smooth,
    feature_maps,
    logit_maps,
)
from zoo.terms.schedules import (
    Lazy,
    Schedule,
)
from zoo.terms.two_domain import (
    CriticClipping,
    Curriculum,
    CycleConsistency,
    DomainAdversarial,
    DomainFeatureMatching,
    DomainGradientPenalty,
    IdentityMapping,
    Translation,
    TwoDomainTerm,
)

__all__ = [
    "Adversarial",
    "AuxiliaryClassifier",
    "ConditionalAdversarial",
    "CriticClipping",
    "Curriculum",
    "CycleConsistency",
    "DiscriminatorFeatureMatching",
    "DomainAdversarial",
    "DomainFeatureMatching",
    "DomainGradientPenalty",
    "DomainReconstruction",
    "EdgePromotingAdversarial",
    "Drift",
    "FeatureDistance",
    "GradientPenalty",
    "IMLE",
    "IdentityMapping",
    "L1Reconstruction",
    "Lazy",
    "MSEReconstruction",
    "MultiScaleAdversarial",
    "MutualInformation",
    "PathLength",
    "R1",
    "RelativisticAverage",
    "Schedule",
    "SemiSupervised",
    "Term",
    "Translation",
    "TwoDomainTerm",
    "Update",
    "WeightClipping",
    "accuracy",
    "cross_entropy",
    "edge_smooth",
    "feature_maps",
    "l1_per_example",
    "l2_per_example",
    "logit_maps",
    "mean_signs",
]
