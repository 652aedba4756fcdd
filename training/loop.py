"""The driver: one training loop for every ``tf.distribute`` strategy.

It runs ``trainer.train_step`` with ``strategy.run`` inside a ``tf.function`` over a distributed
dataset (not ``Model.fit``, which fails under MultiWorkerMirroredStrategy with Keras 3, see
keras-team/keras#20585), checkpoints with ``tf.train.CheckpointManager`` and hands the global
values of each step to the callbacks.

Run folder (``runs/<family>-<timestamp>/`` or ``--run-dir``)::

    config.yaml        the resolved config; --resume reads it back
    checkpoints/       ckpt-<step>.{index,data-*}: G, D, EMA G, both optimizers (with their
                       step counters, which are also the noise RNG state); backup/: the newest
                       state every train.backup_every steps (see training.checkpoints)
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
import shutil
import signal
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from training import callbacks as cb
from training.checkpoints import (
    CheckpointError,
    CheckpointStore,
    copy_weights,
    portable_copy,
    save_model,
)
from training.config import ExperimentConfig, load, save
from training.data import make_dataset
from training.runlock import LOCK_NAME, RunFolderLocked, run_folder_lock
from training.strategy import is_chief, make_strategy, mixed_precision_policy, use_jit
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
    train = config.train
    policy = mixed_precision_policy(config.runtime, strategy)
    with strategy.scope():
        keras.utils.set_random_seed(config.runtime.seed)
        with _dtype_policy(policy):
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
                ship=family.ship,
            )
        if trainer.semi_supervised != bool(config.data.labelled):
            raise RunError(
                f"{config.family} needs data.labelled (the number of labelled examples)"
                if trainer.semi_supervised
                else f"data.labelled is for semi-supervised families (sgan), not {config.family}"
            )
        trainer.compile(
            d_optimizer=_optimizer(train, train.d_lr, policy),
            g_optimizer=_optimizer(train, train.g_lr, policy),
        )
        parts = dict(
            generator=trainer.generator,
            discriminator=trainer.discriminator,
            d_optimizer=trainer.d_optimizer,
            g_optimizer=trainer.g_optimizer,
        )
        if trainer.generator_ema is not None:
            parts["generator_ema"] = trainer.generator_ema
        # Layers that draw (Gaussian noise, dropout) keep their RNG state in a variable that
        # Keras does not list among the weights: it resumes too.
        rng = [
            v
            for net in (trainer.generator, trainer.discriminator)
            for v in net.variables
            if "seed_generator_state" in v.path
        ]
        if rng:
            parts["rng"] = tf.Module(name="rng")
            parts["rng"].states = rng
        checkpoint = tf.train.Checkpoint(**parts)
    return Session(config, strategy, trainer, checkpoint, policy, use_jit(config.runtime, strategy))


@contextlib.contextmanager
def _dtype_policy(policy: str):
    """Layers built inside get ``policy`` (Keras' global policy is restored afterwards)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _optimizer(train, learning_rate: float, policy: str = "float32") -> keras.Optimizer:
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


class Diverged(RuntimeError):
    """A non-finite loss or weight."""


def train(config: ExperimentConfig, run_dir: str | Path, resume: bool = False) -> RunResult:
    """Trains ``config`` into ``run_dir`` (continuing its last checkpoint when ``resume``).

    In a multi-worker run every worker runs the same code (checkpoints and saved models read
    variables collectively); the chief writes ``run_dir`` and the others write to a temporary
    folder that is deleted at the end.
    """
    run_dir = Path(run_dir)
    # Everything that can reject the config (networks, data) comes before the run folder is
    # written: a bad config leaves nothing behind.
    session = build_session(config)
    chief = is_chief(session.strategy)
    with contextlib.ExitStack() as stack:
        if chief:
            stack.enter_context(_locked_run_dir(run_dir, resume))
            out_dir = run_dir
        else:
            out_dir = Path(tempfile.mkdtemp(prefix="ganzoo-worker-"))
            stack.callback(shutil.rmtree, out_dir, ignore_errors=True)
            if resume and (run_dir / "best.json").is_file():  # the same best as the chief's
                shutil.copy(run_dir / "best.json", out_dir / "best.json")
        try:
            return _train(session, run_dir, out_dir, resume)
        except CheckpointError as err:
            raise RunError(str(err)) from None


@contextlib.contextmanager
def _locked_run_dir(run_dir: Path, resume: bool):
    """Checks that ``run_dir`` can be used as asked and holds its lock (training.runlock) for
    the run: a second process on the same folder stops in one line that names the first."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--run-dir {run_dir} is a file, not a folder; choose a folder")
    if not (run_dir / LOCK_NAME).exists():  # a user's folder: refused before anything is written
        _check_run_dir(run_dir, resume)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(run_folder_lock(run_dir))
        except RunFolderLocked as err:
            raise RunError(str(err)) from None
        except OSError as err:
            raise RunError(
                f"run folder {run_dir} is not writable ({err.strerror or err}); nothing was "
                "changed in it"
            ) from None
        _check_run_dir(run_dir, resume)  # again: it may have changed before the lock
        yield


def _train(session: Session, run_dir: Path, out_dir: Path, resume: bool) -> RunResult:
    config = session.config
    trainer, train_cfg = session.trainer, config.train
    store = CheckpointStore(
        session.checkpoint,
        out_dir / "checkpoints",
        train_cfg.keep_checkpoints,
        read_directory=run_dir / "checkpoints",
    )
    start = store.restore_latest(trainer.step) if resume else 0
    if resume:
        print(f"resuming {run_dir} at step {start}/{train_cfg.steps}", flush=True)

    batches_per_step = train_cfg.d_steps
    dataset, description = make_dataset(
        config.data,
        image_size=config.model.image_size,
        channels=config.model.channels,
        seed=config.runtime.seed,
        skip=start * batches_per_step * config.data.batch_size,
        num_classes=trainer.num_classes if trainer.learns_from_labels else None,
    )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        save(config, out_dir / "config.yaml")
        (out_dir / "checkpoints").mkdir(exist_ok=True)
    except OSError as err:
        raise RunError(
            f"run folder {out_dir} is not writable ({err.strerror or err}); nothing was changed"
            " in it"
        ) from None
    print(f"data: {description}", flush=True)
    if session.policy != "float32" or session.jit or config.runtime.steps_per_execution > 1:
        print(
            f"runtime: {session.policy}, XLA {'on' if session.jit else 'off'}, "
            f"{config.runtime.steps_per_execution} step(s) per execution",
            flush=True,
        )
    run_steps = make_step_function(session, dataset)

    writer = tf.summary.create_file_writer(str(out_dir / "logs"))
    num, labels, cols = train_cfg.num_samples, None, None
    if trainer.conditional:  # one row per class
        labels, cols = grid_labels(num, trainer.num_classes)
        num = len(labels)
    z_fixed = (
        np.random.default_rng(config.runtime.seed)
        .standard_normal((num, config.model.latent_dim))
        .astype(np.float32)
    )
    optimizers = {"generator": trainer.g_optimizer, "discriminator": trainer.d_optimizer}
    callbacks = [
        cb.ScalarLogger(
            writer,
            train_cfg.log_every,
            {name: opt.learning_rate for name, opt in optimizers.items()},
        ),
        cb.SampleGrid(
            _sample_fn(trainer, labels),
            z_fixed,
            out_dir / "samples",
            writer,
            train_cfg.sample_every,
            cols,
        ),
        cb.ProgressBar(train_cfg.steps, train_cfg.log_every),
    ]
    shipper = Shipper(session, out_dir)
    if config.eval.every:
        callbacks.insert(2, _evaluation(config, session, out_dir, writer, store, shipper))

    def checkpoint(step: int) -> None:
        store.save(step)
        shipper.save()

    events = [train_cfg.log_every, train_cfg.sample_every, train_cfg.checkpoint_every]
    events += [config.eval.every] if config.eval.every else []

    step, logs, rollbacks = start, {}, 0
    if not resume or store.latest_step() is None:
        _initialize(session)
        store.save(step, kind="backup")  # a run can be resumed (or rolled back) from its start
    for c in callbacks:
        c.on_train_begin(step)
    started = time.perf_counter()
    with _stop_on_signal() as stop:
        while step < train_cfg.steps and not stop.requested:
            n = _steps_to_next_event(step, train_cfg.steps, events, config.runtime)
            try:
                logs = {k: float(v) for k, v in run_steps(tf.constant(n)).items()}
                done = int(trainer.step.numpy())  # the variable is the truth, not a counter
                finite = logs.pop("weights_finite") == 1.0
                bad = [k for k, v in logs.items() if not math.isfinite(v)]
                if bad or not finite:
                    values = ", ".join(f"{k}={logs[k]}" for k in bad) or "non-finite weights"
                    raise Diverged(f"non-finite values at step {done} ({values})")
            except Diverged as err:
                if train_cfg.on_nonfinite == "stop" or rollbacks >= train_cfg.max_rollbacks:
                    extra = (
                        f" after {rollbacks} rollback(s)"
                        if train_cfg.on_nonfinite == "rollback"
                        else "; train.on_nonfinite=rollback retries with lower learning rates"
                    )
                    raise RunError(
                        f"{err}; the last good checkpoint (step {store.latest_step()}) is kept "
                        f"in {run_dir / 'checkpoints'}{extra}"
                    ) from None
                rollbacks += 1
                step = store.restore_latest(trainer.step)
                for opt in optimizers.values():
                    opt.learning_rate.assign(opt.learning_rate * train_cfg.rollback_lr_factor)
                print(
                    f"{err}: rolled back to step {step} with learning rates x"
                    f"{train_cfg.rollback_lr_factor} (rollback {rollbacks} of "
                    f"{train_cfg.max_rollbacks})",
                    flush=True,
                )
                continue
            previous, step = step, done
            every = train_cfg.backup_every
            if every and previous // every < step // every:  # crossed a multiple of it
                store.save(step, kind="backup")
            try:
                for c in callbacks:
                    c.on_step_end(step, logs)
            except OSError as err:  # a sample grid, best.json, ...: the disk, not the run
                raise RunError(
                    f"cannot write to {out_dir} at step {step} ({err.strerror or err}); the "
                    f"checkpoint of step {store.latest_step()} is intact. Free disk space or "
                    "make the folder writable, then resume the run with --resume"
                ) from None
            if step % train_cfg.checkpoint_every == 0 or step == train_cfg.steps:
                checkpoint(step)
    interrupted = stop.requested and step < train_cfg.steps
    if interrupted:
        if step > start and store.regular.latest_checkpoint != _ckpt_path(store, step):
            checkpoint(step)
        print(
            f"interrupted at step {step}; continue with: python -m training.run "
            f"{config.family} --run-dir {run_dir} --resume",
            flush=True,
        )
    for c in callbacks:
        c.on_train_end(step)
    if not interrupted:
        shipper.save()  # also after a no-op resume
        elapsed = time.perf_counter() - started
        print(
            f"done: {step} steps in {elapsed:.0f}s; generator: {run_dir / 'generator.keras'}",
            flush=True,
        )
    return RunResult(run_dir, step, interrupted, logs)


def _initialize(session: Session, num: int = 500) -> None:
    """A new run's data-dependent initialization (``Family.initialize``), on the first ``num``
    real images of a stream of its own: iterating the training dataset would move the shuffle
    of the training stream, which a resumed run (not initialized again) would not see."""
    config = session.config
    family = zoo.get_family(config.family)
    if family.initialize is None:
        return
    dataset, _ = make_dataset(
        config.data, config.model.image_size, config.model.channels, config.runtime.seed
    )
    images, count = [], 0
    for batch in dataset:
        images.append(batch["image"] if isinstance(batch, dict) else batch)
        count += int(images[-1].shape[0])
        if count >= num:
            break
    trainer = session.trainer
    with session.strategy.scope():
        family.initialize(
            zoo.Networks(trainer.generator, trainer.discriminator), tf.concat(images, 0)[:num]
        )


def make_step_function(session: Session, dataset: tf.data.Dataset):
    """``run_steps(n)``: ``n`` training steps in one ``tf.function`` call; returns the mean of
    each log over them (global values) and ``weights_finite`` (1.0 when every weight is finite
    afterwards). Each replica's step is XLA-compiled when ``session.jit``."""
    strategy, trainer = session.strategy, session.trainer
    options = tf.data.Options()
    # Every worker reads the same stream and keeps its share of each global batch, so a run
    # sees the same batches whatever the number of workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    iterator = iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))
    replica_step = trainer.train_step
    if session.jit:
        replica_step = tf.function(trainer.train_step, jit_compile=True)
    batches_per_step = trainer.d_steps
    several = session.config.runtime.steps_per_execution > 1
    watched = trainer.generator.weights + trainer.discriminator.weights
    if trainer.generator_ema is not None:
        watched += trainer.generator_ema.weights

    def one_step():
        batches = tuple(next(iterator) for _ in range(batches_per_step))
        logs = strategy.run(replica_step, args=(batches,))
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in logs.items()
        }

    @tf.function
    def run_steps(n):
        totals = one_step()
        if several:  # decided when traced: without the option, no loop in the graph
            for _ in tf.range(n - 1):
                logs = one_step()
                totals = {k: totals[k] + logs[k] for k in totals}
        means = {k: v / tf.cast(n, v.dtype) for k, v in totals.items()}
        finite = [
            tf.reduce_all(tf.math.is_finite(w.value)) for w in watched if "float" in str(w.dtype)
        ]
        means["weights_finite"] = tf.cast(tf.reduce_all(tf.stack(finite)), tf.float32)
        return means

    return run_steps


def _steps_to_next_event(step: int, total: int, events: list[int], runtime) -> int:
    """How many steps the next execution runs: ``runtime.steps_per_execution``, cut short so
    that it ends exactly at the next step where something is logged, drawn, saved or
    evaluated."""
    upcoming = min([total] + [(step // every + 1) * every for every in events])
    return max(1, min(runtime.steps_per_execution, upcoming - step))


class Shipper:
    """Writes what the run ships: ``generator{suffix}.keras`` and, for a semi-supervised
    family, ``classifier{suffix}.keras``: float32 models of Keras' own layers (the networks are
    copied once into such twins, ``portable_copy``, whose weights are refreshed at each save)."""

    def __init__(self, session: Session, out_dir: Path):
        trainer = session.trainer
        self.out_dir = out_dir
        self.models = {"generator": trainer.sampler}
        if trainer.semi_supervised:
            self.models["classifier"] = trainer.classifier
        self.copies = {name: portable_copy(m) for name, m in self.models.items()}

    def save(self, suffix: str = "") -> None:
        for name, model in self.models.items():
            copy_weights(model, self.copies[name])
            save_model(self.copies[name], self.out_dir / f"{name}{suffix}.keras")


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


def _evaluation(config: ExperimentConfig, session: Session, run_dir: Path, writer, store, shipper):
    """The evaluation callback of ``eval.metric``, with the best kept on disk: the held-out
    accuracy of a semi-supervised classifier, or FID/KID with real features computed once
    (none, with a note, when ``eval.extractor=auto`` finds no extractor for the images)."""
    from training.evaluate import real_images
    from training.features import default_extractor, get_extractor, no_extractor_note

    def _data_name(data) -> str:
        return f"the image folder {data.path}" if data.source == "folder" else data.dataset

    ev, trainer = config.eval, session.trainer
    higher_is_better = ev.metric == "accuracy"
    best_file = run_dir / "best.json"
    best = -math.inf if higher_is_better else math.inf
    if best_file.is_file():
        best = json.loads(best_file.read_text())["value"]
    name = ev.split if higher_is_better else None

    def on_best(step: int, value: float) -> None:
        store.save(step, kind="best")
        shipper.save(suffix="_best")
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

    name = default_extractor(config.data, ev.weights) if ev.extractor == "auto" else ev.extractor
    if name is None:
        # No extractor fits these images: a digit classifier's FID of other images would still
        # pick generator_best.keras, by a number that measures nothing. Say so once, up front.
        what = f"no FID/KID while training on {_data_name(config.data)}"
        print(
            f"note: {no_extractor_note(what, ev.weights, 'eval.weights=PATH')}; this run "
            f"trains without the evaluation every {ev.every} steps and without a best "
            "checkpoint (generator_best.keras)",
            flush=True,
        )
        return cb.Callback()  # observes nothing
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


def _ckpt_path(store: CheckpointStore, step: int) -> str:
    return os.path.join(store.regular.directory, f"ckpt-{step}")


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        if not (run_dir / "config.yaml").is_file():
            raise RunError(f"{run_dir} is not a run folder (no config.yaml); cannot resume it")
    elif run_dir.exists() and any(p.name != LOCK_NAME for p in run_dir.iterdir()):
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
