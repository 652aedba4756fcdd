"""The driver: one training loop for every ``tf.distribute`` strategy.

It runs ``trainer.train_step`` with ``strategy.run`` inside a ``tf.function`` over a distributed
dataset (not ``Model.fit``, which fails under MultiWorkerMirroredStrategy with Keras 3, see
keras-team/keras#20585), checkpoints with ``tf.train.CheckpointManager`` and hands the global
values of each step to the callbacks.

Around it: ``training.session`` builds what is trained, ``training.rundir`` checks, locks and
lays out the run folder, ``training.evaluation_hook`` prepares the evaluation, and
``training.checkpoints`` writes the checkpoints and what ships (``Shipper``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from training import callbacks as cb
from training.checkpoints import CheckpointError, CheckpointStore, Shipper
from training.config import ExperimentConfig
from training.data import make_dataset
from training.evaluation_hook import EvaluationHook
from training.grids import fixed_noise, grid_labels, pairs_fn, sample_fn
from training.pairs import source_size
from training.rundir import RunError, locked_run_dir, write_run_dir
from training.session import (
    Session,
    build_session,
    initialize_networks,
    open_run,
    write_calibration,
)
from training.strategy import is_chief

# Where these lived before the loop was split; importing them from here keeps working.
__all__ = [
    "RunError",
    "RunResult",
    "Session",
    "Shipper",
    "build_session",
    "make_step_function",
    "open_run",
    "train",
]


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    step: int
    interrupted: bool
    logs: dict[str, float]


class Diverged(RuntimeError):
    """A non-finite loss or weight; the loop stops or rolls back (``_Rollback``)."""


def train(config: ExperimentConfig, run_dir: str | Path, resume: bool = False) -> RunResult:
    """Trains ``config`` into ``run_dir`` (continuing its last checkpoint when ``resume``).

    In a multi-worker run every worker runs the same code (checkpoints and saved models read
    variables collectively); the chief writes ``run_dir`` and the others write to a temporary
    folder that is deleted at the end.
    """
    run_dir = Path(run_dir)
    # Everything that can reject the config (networks, data, the evaluation's extractor) comes
    # before the run folder is written: a bad config leaves nothing behind.
    session = build_session(config)
    chief = is_chief(session.strategy)
    with contextlib.ExitStack() as stack:
        if chief:
            stack.enter_context(locked_run_dir(run_dir, resume))
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


def _train(session: Session, run_dir: Path, out_dir: Path, resume: bool) -> RunResult:
    """Restores, prepares and writes the run, then steps it to ``train.steps``: each execution
    ends at the next event (``_steps_to_next_event``), is checked for divergence, backed up,
    shown to the callbacks and checkpointed when due; a signal stops it after a step."""
    config, trainer = session.config, session.trainer
    steps = config.train.steps
    store = CheckpointStore(
        session.checkpoint,
        out_dir / "checkpoints",
        config.train.keep_checkpoints,
        read_directory=run_dir / "checkpoints",
    )
    start = store.restore_latest(trainer.step) if resume else 0
    if resume:
        print(f"resuming {run_dir} at step {start}/{steps}", flush=True)
    # What can still refuse the run (the data, the evaluation's extractor and real images)
    # comes before the folder is written.
    run_steps = make_step_function(session, _dataset(session, start))
    shipper = Shipper(session, out_dir)
    evaluation = EvaluationHook(config, session) if config.eval.every else None
    write_run_dir(out_dir, config)
    real_inputs = write_calibration(session, out_dir)
    callbacks = _callbacks(session, out_dir, store, shipper, evaluation, real_inputs)

    def checkpoint(step: int) -> None:
        store.save(step)
        shipper.save()

    step, logs, rollback = start, {}, _Rollback(session, store, run_dir)
    if not resume or store.latest_step() is None:
        initialize_networks(session)
        store.save(step, kind="backup")  # a run can be resumed (or rolled back) from its start
    for c in callbacks:
        c.on_train_begin(step)
    started = time.perf_counter()
    with _stop_on_signal() as stop:
        while step < steps and not stop.requested:
            n = _steps_to_next_event(
                step, steps, _events(config), config.runtime, trainer.phase_boundaries()
            )
            try:
                logs, done = _run_checked(run_steps, n, trainer, trainer.phase_at(step))
            except Diverged as err:
                step = rollback(err)
                continue
            previous, step = step, done
            every = config.train.backup_every
            if every and previous // every < step // every:  # crossed a multiple of it
                store.save(step, kind="backup")
            _step_end(callbacks, step, logs, step - previous, out_dir, store)
            if step % config.train.checkpoint_every == 0 or step == steps:
                checkpoint(step)
    interrupted = stop.requested and step < steps
    if interrupted:
        if step > start and store.latest_regular_step() != step:
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


def _dataset(session: Session, start: int) -> tf.data.Dataset:
    """The training stream from step ``start`` on (a resumed run sees the batches it would
    have seen), and the lines that say what the run trains on and how."""
    config, trainer = session.config, session.trainer
    dataset, description = make_dataset(
        config.data,
        image_size=config.model.image_size,
        channels=config.model.channels,
        seed=config.runtime.seed,
        skip=start * trainer.batches_per_step * config.data.batch_size,
        num_classes=getattr(config.model, "num_classes", None) if trainer.contract.labels else None,
        source_size=source_size(config.model),
    )
    print(f"data: {description}", flush=True)
    if session.policy != "float32" or session.jit or config.runtime.steps_per_execution > 1:
        print(
            f"runtime: {session.policy}, XLA {'on' if session.jit else 'off'}, "
            f"{config.runtime.steps_per_execution} step(s) per execution",
            flush=True,
        )
    return dataset


def _callbacks(
    session: Session, out_dir: Path, store, shipper, evaluation: EvaluationHook | None, real=None
) -> list[cb.Callback]:
    """What observes the run, in the order each sees a step: TensorBoard scalars, the sample
    grid of a fixed latent batch (one row per class for a conditional generator; for a
    translation, fixed ``real`` inputs each beside its output and target), the evaluation and
    the progress line."""
    config, trainer = session.config, session.trainer
    train_cfg = config.train
    writer = tf.summary.create_file_writer(str(out_dir / "logs"))
    num, labels, cols = train_cfg.num_samples, None, None
    if trainer.contract.num_classes:  # a class input: one row per class
        labels, cols = grid_labels(num, trainer.contract.num_classes)
        num = len(labels)
    z_fixed = fixed_noise(trainer, num, np.random.default_rng(config.runtime.seed))
    sample = sample_fn(trainer, labels, real)
    if len(trainer.contract.data_keys) == 1:  # a translation: input | output (| target)
        sample, cols = pairs_fn(trainer, real)
    callbacks = [
        cb.ScalarLogger(writer, train_cfg.log_every, trainer.learning_rates),
        cb.SampleGrid(
            sample,
            z_fixed,
            out_dir / "samples",
            writer,
            train_cfg.sample_every,
            cols,
        ),
    ]
    if evaluation is not None:
        callbacks.append(evaluation.callback(out_dir, writer, store, shipper))
    return callbacks + [cb.ProgressBar(train_cfg.steps, train_cfg.log_every)]


def _events(config: ExperimentConfig) -> list[int]:
    """The intervals at which something is logged, drawn, saved or evaluated."""
    train = config.train
    every = [train.log_every, train.sample_every, train.checkpoint_every]
    return every + ([config.eval.every] if config.eval.every else [])


def _run_checked(run_steps, n: int, trainer, phase=None) -> tuple[dict[str, float], int]:
    """Runs ``n`` steps of ``phase``: (the mean of each log over them, the step reached).
    ``Diverged`` when a log or a weight is not finite."""
    logs = {k: float(v) for k, v in run_steps(tf.constant(n), phase).items()}
    done = int(trainer.step.numpy())  # the variable is the truth, not a counter
    finite = logs.pop("weights_finite") == 1.0
    bad = [k for k, v in logs.items() if not math.isfinite(v)]
    if bad or not finite:
        values = ", ".join(f"{k}={logs[k]}" for k in bad) or "non-finite weights"
        raise Diverged(f"non-finite values at step {done} ({values})")
    return logs, done


class _Rollback:
    """``train.on_nonfinite``: a diverged run stops (``stop``), or goes back to the newest good
    checkpoint with its learning rates times ``train.rollback_lr_factor`` (``rollback``), at
    most ``train.max_rollbacks`` times."""

    def __init__(self, session: Session, store: CheckpointStore, run_dir: Path):
        self.train, self.trainer = session.config.train, session.trainer
        self.store, self.run_dir = store, run_dir
        self.count = 0

    def __call__(self, err: Diverged) -> int:
        """The step the run continues from, or a ``RunError`` that ends it."""
        train = self.train
        if train.on_nonfinite == "stop" or self.count >= train.max_rollbacks:
            extra = (
                f" after {self.count} rollback(s)"
                if train.on_nonfinite == "rollback"
                else "; train.on_nonfinite=rollback retries with lower learning rates"
            )
            raise RunError(
                f"{err}; the last good checkpoint (step {self.store.latest_step()}) is kept "
                f"in {self.run_dir / 'checkpoints'}{extra}"
            ) from None
        self.count += 1
        step = self.store.restore_latest(self.trainer.step)
        self.trainer.scale_learning_rates(train.rollback_lr_factor)
        print(
            f"{err}: rolled back to step {step} with learning rates x"
            f"{train.rollback_lr_factor} (rollback {self.count} of {train.max_rollbacks})",
            flush=True,
        )
        return step


def _step_end(callbacks, step: int, logs: dict[str, float], steps: int, out_dir: Path, store):
    """Hands ``step`` and the ``logs`` of the ``steps`` before it to the callbacks; a write they
    cannot do is a one-line ``RunError``."""
    try:
        for c in callbacks:
            c.on_step_end(step, logs, steps)
    except OSError as err:  # a sample grid, best.json, ...: the disk, not the run
        raise RunError(
            f"cannot write to {out_dir} at step {step} ({err.strerror or err}); the "
            f"checkpoint of step {store.latest_step()} is intact. Free disk space or "
            "make the folder writable, then resume the run with --resume"
        ) from None


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
    batches_per_step = trainer.batches_per_step
    several = session.config.runtime.steps_per_execution > 1
    watched = trainer.watched_weights()

    def one_step(phase):
        # One batch, or a tuple of them for a kind that reads several per step (Trainer).
        batches = tuple(next(iterator) for _ in range(batches_per_step))
        data = batches if batches_per_step > 1 else batches[0]
        kwargs = {} if phase is None else {"phase": phase}  # a Python value: one trace each
        logs = strategy.run(replica_step, args=(data,), kwargs=kwargs)
        # train_step returns global values on every replica (Trainer.global_logs)
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()
        }

    @tf.function
    def run_steps(n, phase=None):
        totals = one_step(phase)
        if several:  # decided when traced: without the option, no loop in the graph
            for _ in tf.range(n - 1):
                logs = one_step(phase)
                totals = {k: totals[k] + logs[k] for k in totals}
        means = {k: v / tf.cast(n, v.dtype) for k, v in totals.items()}
        finite = [
            tf.reduce_all(tf.math.is_finite(w.value)) for w in watched if "float" in str(w.dtype)
        ]
        means["weights_finite"] = tf.cast(tf.reduce_all(tf.stack(finite)), tf.float32)
        return means

    return run_steps


def _steps_to_next_event(step: int, total: int, events: list[int], runtime, boundaries=()) -> int:
    """How many steps the next execution runs: ``runtime.steps_per_execution``, cut short so
    that it ends exactly at the next step where something is logged, drawn, saved or
    evaluated, or where the trainer's phase changes (``boundaries``)."""
    upcoming = min(
        [total]
        + [(step // every + 1) * every for every in events]
        + [b for b in boundaries if b > step]
    )
    return max(1, min(runtime.steps_per_execution, upcoming - step))


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
