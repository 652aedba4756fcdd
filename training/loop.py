"""The driver: one training loop for every ``tf.distribute`` strategy.

It runs ``trainer.train_step`` with ``strategy.run`` inside a ``tf.function`` over a distributed
dataset (not ``Model.fit``, which fails under MultiWorkerMirroredStrategy with Keras 3, see
keras-team/keras#20585), checkpoints with ``tf.train.CheckpointManager`` and hands the global
values of each step to the callbacks.

Run folder (``runs/<family>-<timestamp>/`` or ``--run-dir``)::

    config.yaml        the resolved config; --resume reads it back
    checkpoints/       ckpt-<step>.{index,data-*}: G, D, EMA G, both optimizers (with their
                       step counters, which are also the noise RNG state)
    logs/              TensorBoard events: d_loss, g_loss, d_real_acc, d_fake_acc, lr/*,
                       steps_per_sec, and "samples" image grids
    samples/           step_NNNNNN.png grids from a fixed latent batch
    generator.keras    the generator to ship (EMA weights when kept), rewritten atomically at
                       every checkpoint
    classifier.keras   semi-supervised families: the discriminator's classifier, likewise
    with eval.every:   checkpoints/best/, generator_best.keras (and classifier_best.keras) and
                       best.json (step, metric, value) of the best eval.metric so far
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from training import callbacks as cb
from training.config import ExperimentConfig, load, save
from training.data import make_dataset
from training.strategy import make_strategy
from training.trainer import GANTrainer
from zoo.losses import get_loss

log = logging.getLogger(__name__)


class RunError(RuntimeError):
    """A run folder that cannot be used as asked."""


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    step: int
    interrupted: bool
    logs: dict[str, float]


@dataclasses.dataclass
class Session:
    """Everything built for a run, in the strategy's scope."""

    config: ExperimentConfig
    strategy: tf.distribute.Strategy
    trainer: GANTrainer
    checkpoint: tf.train.Checkpoint


def build_session(config: ExperimentConfig) -> Session:
    """Strategy, networks, trainer, optimizers and checkpoint for ``config``."""
    strategy = make_strategy(config.runtime)
    if config.data.batch_size % strategy.num_replicas_in_sync:
        raise RunError(
            f"data.batch_size={config.data.batch_size} does not split evenly over "
            f"{strategy.num_replicas_in_sync} replicas"
        )
    family = zoo.get_family(config.family)
    train = config.train
    with strategy.scope():
        keras.utils.set_random_seed(config.runtime.seed)
        nets = family.build(config.model)
        trainer = GANTrainer(
            nets.generator,
            nets.discriminator,
            loss=get_loss(train.loss or family.loss),
            latent_dim=config.model.latent_dim,
            d_steps=train.d_steps,
            ema_decay=train.ema_decay,
            gp_weight=train.gp_weight,
            clip_value=train.clip_value,
            num_classes=getattr(config.model, "num_classes", None),
            info_weight=train.info_weight,
            continuous_weight=train.continuous_weight,
            seed=config.runtime.seed,
        )
        if trainer.semi_supervised != bool(config.data.labelled):
            raise RunError(
                f"{config.family} needs data.labelled (the number of labelled examples)"
                if trainer.semi_supervised
                else f"data.labelled is for semi-supervised families (sgan), not {config.family}"
            )
        trainer.compile(
            d_optimizer=_optimizer(train, train.d_lr), g_optimizer=_optimizer(train, train.g_lr)
        )
        parts = dict(
            generator=trainer.generator,
            discriminator=trainer.discriminator,
            d_optimizer=trainer.d_optimizer,
            g_optimizer=trainer.g_optimizer,
        )
        if trainer.generator_ema is not None:
            parts["generator_ema"] = trainer.generator_ema
        checkpoint = tf.train.Checkpoint(**parts)
    return Session(config, strategy, trainer, checkpoint)


def _optimizer(train, learning_rate: float) -> keras.Optimizer:
    if train.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    return keras.optimizers.Adam(learning_rate, train.beta_1, train.beta_2)


def restore_latest(session: Session, manager: tf.train.CheckpointManager) -> int:
    """Restores the newest readable checkpoint and returns its step (0 when there is none).

    An unreadable newest checkpoint (a crash while it was written) is reported and skipped in
    favour of the one before it, so a run folder can always resume.
    """
    for path in reversed(manager.checkpoints):
        try:
            session.checkpoint.read(path).assert_existing_objects_matched()
        except Exception as err:  # noqa: BLE001 (TF raises many types for a damaged file)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            log.warning("checkpoint %s is unreadable (%s); trying the one before", path, first)
            continue
        return int(session.trainer.step.numpy())
    if manager.checkpoints:
        raise RunError(f"no checkpoint in {manager.directory} can be read; the run cannot resume")
    return 0


def open_run(run_dir: str | Path) -> tuple[Session, int]:
    """Rebuilds a run from its folder and restores its latest checkpoint: (session, step)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise RunError(f"{run_dir} is not a run folder (no config.yaml)")
    session = build_session(load(run_dir / "config.yaml"))
    manager = tf.train.CheckpointManager(session.checkpoint, run_dir / "checkpoints", None)
    return session, restore_latest(session, manager)


def train(config: ExperimentConfig, run_dir: str | Path, resume: bool = False) -> RunResult:
    """Trains ``config`` into ``run_dir`` (continuing its last checkpoint when ``resume``)."""
    run_dir = Path(run_dir)
    # Everything that can reject the config (networks, data) comes before the run folder is
    # written: a bad config leaves nothing behind.
    session = build_session(config)
    _check_run_dir(run_dir, resume)
    strategy, trainer, train_cfg = session.strategy, session.trainer, config.train

    manager = tf.train.CheckpointManager(
        session.checkpoint,
        run_dir / "checkpoints",
        max_to_keep=train_cfg.keep_checkpoints,
        checkpoint_name="ckpt",
    )
    start = restore_latest(session, manager) if resume else 0
    if resume:
        print(f"resuming {run_dir} at step {start}/{train_cfg.steps}", flush=True)

    batches_per_step = train_cfg.d_steps
    dataset, description = make_dataset(
        config.data,
        image_size=config.model.image_size,
        channels=config.model.channels,
        seed=config.runtime.seed,
        skip=start * batches_per_step * config.data.batch_size,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    save(config, run_dir / "config.yaml")
    print(f"data: {description}", flush=True)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    @tf.function
    def step_fn():
        batches = tuple(next(iterator) for _ in range(batches_per_step))
        logs = strategy.run(trainer.train_step, args=(batches,))
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in logs.items()
        }

    writer = tf.summary.create_file_writer(str(run_dir / "logs"))
    num, labels, cols = train_cfg.num_samples, None, None
    if trainer.conditional:  # one row per class
        labels, cols = grid_labels(num, trainer.num_classes)
        num = len(labels)
    z_fixed = (
        np.random.default_rng(config.runtime.seed)
        .standard_normal((num, config.model.latent_dim))
        .astype(np.float32)
    )
    callbacks = [
        cb.ScalarLogger(
            writer,
            train_cfg.log_every,
            {"generator": train_cfg.g_lr, "discriminator": train_cfg.d_lr},
        ),
        cb.SampleGrid(
            _sample_fn(trainer, labels),
            z_fixed,
            run_dir / "samples",
            writer,
            train_cfg.sample_every,
            cols,
        ),
        cb.ProgressBar(train_cfg.steps, train_cfg.log_every),
    ]
    if config.eval.every:
        callbacks.insert(2, _evaluation(config, session, run_dir, writer))

    def checkpoint(step: int) -> None:
        manager.save(checkpoint_number=step)
        save_models(trainer, run_dir)

    step, logs = start, {}
    for c in callbacks:
        c.on_train_begin(step)
    started = time.perf_counter()
    with _stop_on_signal() as stop:
        while step < train_cfg.steps and not stop.requested:
            logs = {k: float(v) for k, v in step_fn().items()}
            step = int(trainer.step.numpy())  # the variable is the truth, not a Python counter
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                raise RunError(
                    f"non-finite values at step {step} "
                    f"({', '.join(f'{k}={logs[k]}' for k in bad)}); the last good "
                    f"checkpoint is kept in {run_dir / 'checkpoints'} "
                    "(try lower learning rates)"
                )
            for c in callbacks:
                c.on_step_end(step, logs)
            if step % train_cfg.checkpoint_every == 0 or step == train_cfg.steps:
                checkpoint(step)
    interrupted = stop.requested and step < train_cfg.steps
    if interrupted:
        if step > start and manager.latest_checkpoint != _ckpt_path(manager, step):
            checkpoint(step)
        print(
            f"interrupted at step {step}; continue with: python -m training.run "
            f"{config.family} --run-dir {run_dir} --resume",
            flush=True,
        )
    for c in callbacks:
        c.on_train_end(step)
    if not interrupted:
        save_models(trainer, run_dir)  # also after a no-op resume
        elapsed = time.perf_counter() - started
        print(
            f"done: {step} steps in {elapsed:.0f}s; generator: {run_dir / 'generator.keras'}",
            flush=True,
        )
    return RunResult(run_dir, step, interrupted, logs)


def grid_labels(num: int, num_classes: int) -> tuple[np.ndarray, int]:
    """(labels, columns) of a grid with one row per class: 0,0,..,1,1,.. row-major."""
    per_class = max(1, num // num_classes)
    return np.repeat(np.arange(num_classes, dtype=np.int32), per_class), per_class


def _sample_fn(trainer: GANTrainer, labels: np.ndarray | None = None):
    """z -> images. A conditional generator gets ``labels``, or, when none are given, labels
    cycling over the classes (balanced in any batch)."""
    if not trainer.conditional:
        return lambda z: trainer.generate(z)
    if labels is not None:
        return lambda z: trainer.generate(z, labels[: len(z)])
    return lambda z: trainer.generate(z, np.arange(len(z), dtype=np.int32) % trainer.num_classes)


def _evaluation(config: ExperimentConfig, session: Session, run_dir: Path, writer):
    """The evaluation callback of ``eval.metric``, with the best kept on disk: the held-out
    accuracy of a semi-supervised classifier, or FID/KID with real features computed once."""
    from training.evaluate import real_images
    from training.features import default_extractor, get_extractor

    ev, trainer = config.eval, session.trainer
    higher_is_better = ev.metric == "accuracy"
    best_manager = tf.train.CheckpointManager(
        session.checkpoint, run_dir / "checkpoints" / "best", max_to_keep=1, checkpoint_name="ckpt"
    )
    best_file = run_dir / "best.json"
    best = -math.inf if higher_is_better else math.inf
    if best_file.is_file():
        best = json.loads(best_file.read_text())["value"]
    name = ev.split if higher_is_better else None

    def on_best(step: int, value: float) -> None:
        best_manager.save(checkpoint_number=step)
        save_models(trainer, run_dir, suffix="_best")
        record = {"step": step, "metric": ev.metric, "value": value}
        record["split" if higher_is_better else "extractor"] = name
        tmp = best_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record) + "\n")
        os.replace(tmp, best_file)

    if higher_is_better:
        from training.data import load_split

        images, labels = load_split(
            config.data, ev.split, config.model.image_size, config.model.channels
        )
        return cb.HeldOutAccuracy(
            trainer.classifier, images, labels, ev.split, writer, ev.every, on_best, best
        )

    name = default_extractor(config.data.dataset) if ev.extractor == "auto" else ev.extractor
    extractor = get_extractor(name, ev.weights)
    real_features, _ = extractor(real_images(config, ev.num_samples, config.runtime.seed + 1))
    z = (
        np.random.default_rng([config.runtime.seed, 2])
        .standard_normal((ev.num_samples, config.model.latent_dim))
        .astype(np.float32)
    )
    return cb.Evaluation(
        _sample_fn(trainer),
        z,
        real_features,
        extractor,
        writer,
        ev.every,
        ev.metric,
        on_best,
        best,
    )


def save_models(trainer: GANTrainer, run_dir: Path, suffix: str = "") -> None:
    """Writes what the run ships: ``generator{suffix}.keras`` and, for a semi-supervised
    family, ``classifier{suffix}.keras``."""
    save_model(trainer.sampler, run_dir / f"generator{suffix}.keras")
    if trainer.semi_supervised:
        save_model(trainer.classifier, run_dir / f"classifier{suffix}.keras")


def save_model(model: keras.Model, path: Path) -> None:
    """Writes ``model`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _ckpt_path(manager: tf.train.CheckpointManager, step: int) -> str:
    return os.path.join(manager.directory, f"ckpt-{step}")


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        if not (run_dir / "config.yaml").is_file():
            raise RunError(f"{run_dir} is not a run folder (no config.yaml); cannot resume it")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(
            f"run folder {run_dir} already exists; pass --resume to continue it or choose "
            "another --run-dir"
        )


class _StopRequest:
    """Set by the first SIGINT (Ctrl-C) or SIGTERM (a preempted job): the loop stops after the
    step it is in and checkpoints it. A second signal aborts at once (the last checkpoint stays)."""

    requested = False

    def __call__(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            f"\n{signal.Signals(signum).name}: stopping after this step (again to abort now)",
            flush=True,
        )


@contextlib.contextmanager
def _stop_on_signal():
    stop = _StopRequest()
    try:
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals stay with the caller
        yield stop
        return
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
