"""What a run trains: the strategy, the networks, the trainer, its optimizers and checkpoint.

``build_session`` is the one place where a config becomes these objects; the training loop
(``training.loop``), ``open_run`` (a run folder's latest state, for tests and tools) and the
speed benchmarks all start from it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from training.checkpoints import CheckpointStore
from training.config import ExperimentConfig, load
from training.data import make_dataset
from training.pairs import source_size
from training.rundir import RunError
from training.strategy import make_strategy, mixed_precision_policy, use_jit
from training.trainers import Trainer, get_kind
from zoo.contract import CALIBRATION_FILE


@dataclasses.dataclass
class Session:
    """Everything built for a run, in the strategy's scope."""

    config: ExperimentConfig
    strategy: tf.distribute.Strategy
    trainer: Trainer
    checkpoint: tf.train.Checkpoint
    policy: str = "float32"  # the Keras dtype policy the networks compute in
    jit: bool = False  # each replica's step is XLA-compiled


def build_session(config: ExperimentConfig) -> Session:
    """Strategy, networks, trainer, optimizers and checkpoint for ``config``."""
    strategy = make_strategy(config.runtime)
    if config.data.batch_size % strategy.num_replicas_in_sync:
        raise RunError(
            f"data.batch_size={config.data.batch_size} does not split evenly over "
            f"{strategy.num_replicas_in_sync} replicas"
        )
    family = zoo.get_family(config.family)
    contract = family.contract(config.model)
    if contract.labelled != bool(config.data.labelled):
        raise RunError(
            f"{config.family} needs data.labelled (the number of labelled examples)"
            if contract.labelled
            else f"data.labelled is for semi-supervised families (sgan), not {config.family}"
        )
    train = config.train
    policy = mixed_precision_policy(config.runtime, strategy)
    with strategy.scope():
        keras.utils.set_random_seed(config.runtime.seed)
        with dtype_policy(policy):
            trainer = get_kind(contract.kind).from_config(
                family,
                _networks(family, config, contract, strategy.num_replicas_in_sync),
                contract,
                config,
                seed=config.runtime.seed,
                ema_decay=train.ema_decay,
                ema_rampup=train.ema_rampup,
                ship=family.ship,
            )
        rates = {"generator": train.g_lr, "discriminator": train.d_lr}
        trainer.compile(
            {
                name: make_optimizer(train, rates[group], policy)
                for name, group in contract.updates.items()
            }
        )
        checkpoint = tf.train.Checkpoint(**trainer.checkpoint_parts())
    return Session(config, strategy, trainer, checkpoint, policy, use_jit(config.runtime, strategy))


PACKABLE_KINDS = ("adversarial", "progressive")


def _networks(family, config: ExperimentConfig, contract, replicas: int) -> dict:
    """The family's networks for ``config``; with PacGAN packing (``objective.pack`` = m > 1)
    the discriminator is built for m times the images' channels (``Trainer.pack_images``),
    for a family whose discriminator reads an image alone and gives one logit."""
    networks = family.build(config.model)
    pack = getattr(config.objective, "pack", 1)
    if pack == 1:
        return networks
    what = (
        "objective.pack packs images into one input of a discriminator that reads an image "
        "alone and gives one logit (gan, dcgan, wgan, wgan_gp, lsgan, sngan, stylegan2, progan)"
    )
    if contract.kind not in PACKABLE_KINDS:
        raise RunError(f"{what}; {config.family} is a {contract.kind} family")
    d = networks["discriminator"]
    inputs, outputs = [x.name for x in d.inputs], list(d.output_names)
    if inputs != ["image"] or len(outputs) != 1:
        raise RunError(
            f"{what}; {config.family}'s discriminator reads {', '.join(inputs)} and gives "
            f"{', '.join(outputs)}, one per image"
        )
    per_replica = config.data.batch_size // replicas
    if per_replica % pack:
        raise RunError(
            f"objective.pack={pack} must divide each replica's batch ({per_replica} images: "
            f"data.batch_size={config.data.batch_size} over {replicas} replica(s))"
        )
    model = dataclasses.replace(config.model, channels=config.model.channels * pack)
    networks["discriminator"] = family.build(model)["discriminator"]
    return networks


@contextlib.contextmanager
def dtype_policy(policy: str):
    """Layers built inside get ``policy`` (Keras' global policy is restored afterwards)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_optimizer(train, learning_rate: float, policy: str = "float32") -> keras.Optimizer:
    """``train.optimizer`` at ``learning_rate``, with loss scaling under mixed float16."""
    if train.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(learning_rate)
    else:
        optimizer = keras.optimizers.Adam(learning_rate, train.beta_1, train.beta_2)
    if policy == "mixed_float16":  # float16 gradients underflow without loss scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def open_run(run_dir: str | Path) -> tuple[Session, int]:
    """Rebuilds a run from its folder and restores its latest checkpoint: (session, step)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise RunError(f"{run_dir} is not a run folder (no config.yaml)")
    session = build_session(load(run_dir / "config.yaml"))
    store = CheckpointStore(session.checkpoint, run_dir / "checkpoints", None)
    return session, store.restore_latest(session.trainer.step)


def initialize_networks(session: Session, num: int = 500) -> None:
    """A new run's data-dependent initialization (``Family.initialize``), on the first ``num``
    real images of a stream of its own: iterating the training dataset would move the shuffle
    of the training stream, which a resumed run (not initialized again) would not see."""
    config = session.config
    family = zoo.get_family(config.family)
    if family.initialize is None:
        return
    images = first_examples(config, ("image",), num, config.runtime.seed)["image"]
    with session.strategy.scope():
        family.initialize(session.trainer.networks, tf.constant(images))


def first_examples(config: ExperimentConfig, keys, num: int, seed: int) -> dict[str, np.ndarray]:
    """The first ``num`` examples of each batch key in ``keys``, from a stream of the run's data
    of its own (shuffled with ``seed``): iterating the training stream would move its shuffle,
    which a resumed run would not see."""
    dataset, _ = make_dataset(
        config.data,
        config.model.image_size,
        config.model.channels,
        seed,
        source_size=source_size(config.model),
    )
    parts: dict[str, list] = {key: [] for key in keys}
    for batch in dataset:
        for key in keys:
            parts[key].append(batch[key].numpy())
        if sum(len(p) for p in parts[keys[0]]) >= num:
            break
    return {key: np.concatenate(chunks)[:num] for key, chunks in parts.items()}


def write_calibration(session: Session, out_dir: Path, num: int = 256) -> dict | None:
    """For a family whose generator reads the data (an image to translate), ``num`` real
    examples of each such batch key, from a stream of their own (the training stream is not
    moved), written to ``out_dir/calibration.npz``: sample grids show them and export checks
    parity and calibrates int8 on them, without the training code. Returns them, or ``None``
    for a family that reads nothing from the data. A run that ships the way back too
    (``generator_ba``) keeps examples of domain B as well, for its export's parity check; a
    paired run keeps each example's target (``image``) for the input | output | target grids
    (an unpaired one, CartoonGAN's, has none)."""
    from training.translation import DIRECTIONS, directions

    contract = session.trainer.contract
    keys = contract.data_keys
    if not keys:
        return None
    if "BA" in directions(contract):
        keys = (*keys, DIRECTIONS["BA"][1])
    if contract.kind == "paired" and contract.target == "image":
        keys = (*keys, "image")
    path = out_dir / CALIBRATION_FILE
    if path.is_file():
        with np.load(path) as arrays:
            return {key: arrays[key] for key in arrays.files}
    examples = first_examples(session.config, keys, num, session.config.runtime.seed + 3)
    partial = path.with_suffix(".tmp.npz")
    np.savez(partial, **examples)
    os.replace(partial, path)
    return examples
