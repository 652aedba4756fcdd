"""Trainer kinds: one ``keras.Model`` subclass per kind of GAN, each with its own
``train_step`` (see ``base.Trainer`` for what they share).

``KINDS`` maps the kind a family's contract names (``zoo.contract.Contract.kind``) to its class;
a plug-in or a test registers a new kind with ``register_kind``.
"""

from training.trainers.adversarial import AdversarialTrainer, batches_per_step
from training.trainers.base import Trainer

KINDS: dict[str, type[Trainer]] = {"adversarial": AdversarialTrainer}


def register_kind(name: str, cls: type[Trainer]) -> type[Trainer]:
    """Adds a trainer kind; a name that is taken raises."""
    if name in KINDS:
        raise ValueError(f"trainer kind {name!r} is already registered")
    KINDS[name] = cls
    return cls


def get_kind(name: str) -> type[Trainer]:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown trainer kind {name!r}; known: {', '.join(KINDS)}") from None


__all__ = [
    "KINDS",
    "AdversarialTrainer",
    "Trainer",
    "batches_per_step",
    "get_kind",
    "register_kind",
]
