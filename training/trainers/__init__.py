"""Trainer kinds: one ``keras.Model`` subclass per kind of GAN, each with its own
``train_step`` (see ``base.Trainer`` for what they share).

``KINDS`` maps the kind a family's contract names (``zoo.contract.Contract.kind``) to its class;
a plug-in or a test adds a new kind to it.
"""

from training.trainers.adversarial import AdversarialTrainer, batches_per_step
from training.trainers.base import Trainer
from training.trainers.cycle import CycleTrainer
from training.trainers.paired import PairedTrainer
from training.trainers.progressive import ProgressiveTrainer

KINDS: dict[str, type[Trainer]] = {
    "adversarial": AdversarialTrainer,
    "paired": PairedTrainer,
    "cycle": CycleTrainer,
    "progressive": ProgressiveTrainer,
}


def get_kind(name: str) -> type[Trainer]:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown trainer kind {name!r}; known: {', '.join(KINDS)}") from None


__all__ = [
    "KINDS",
    "AdversarialTrainer",
    "ProgressiveTrainer",
    "CycleTrainer",
    "PairedTrainer",
    "Trainer",
    "batches_per_step",
    "get_kind",
]
