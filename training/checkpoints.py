"""The run's training state on disk: regular checkpoints, the backup, and what ships.

    checkpoints/ckpt-<step>.*          every ``train.checkpoint_every`` steps, the newest
                                       ``train.keep_checkpoints`` kept
    checkpoints/backup/ckpt-<step>.*   every ``train.backup_every`` steps, only the newest kept:
                                       what a killed process resumes from
    checkpoints/best/ckpt-<step>.*     the best ``eval.metric`` so far

TensorFlow writes a checkpoint's files under a temporary name and merges them into place, and
then rewrites the folder's ``checkpoint`` state file atomically, so a crash or a full disk in the
middle of a write leaves the previous checkpoint listed and readable. A write that fails is a
one-line ``CheckpointError`` that names the step, the folder and the checkpoint that is still
intact. Restoring takes the newest readable checkpoint among the regular ones and the backup.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from training.sections import first_line
from zoo.errors import GanzooError

log = logging.getLogger(__name__)


class CheckpointError(GanzooError, RuntimeError):
    """A checkpoint that cannot be written or read."""


class CheckpointStore:
    """Regular checkpoints and the backup of one run.

    Args:
        checkpoint: the ``tf.train.Checkpoint`` of the training state.
        directory: where this process writes (a non-chief worker of a multi-worker run writes
            to a temporary folder, as TensorFlow requires, and reads the chief's).
        keep: regular checkpoints kept (``None``: all).
        read_directory: where to restore from (default: ``directory``).
    """

    def __init__(
        self,
        checkpoint: tf.train.Checkpoint,
        directory: Path,
        keep: int | None,
        read_directory: Path | None = None,
    ):
        self.checkpoint = checkpoint
        self.directory = Path(directory)
        self.read_directory = Path(read_directory or directory)
        self.regular = tf.train.CheckpointManager(
            checkpoint, self.directory, max_to_keep=keep, checkpoint_name="ckpt"
        )
        self.backup = tf.train.CheckpointManager(
            checkpoint, self.directory / "backup", max_to_keep=1, checkpoint_name="ckpt"
        )
        self.best = tf.train.CheckpointManager(
            checkpoint, self.directory / "best", max_to_keep=1, checkpoint_name="ckpt"
        )

    def candidates(self) -> list[str]:
        """Checkpoint paths to restore from, newest step first."""
        paths = []
        for folder in (self.read_directory, self.read_directory / "backup"):
            state = tf.train.get_checkpoint_state(str(folder))
            if state is not None:  # its paths already start with ``folder``
                paths += list(state.all_model_checkpoint_paths)
        return sorted(set(paths), key=checkpoint_step, reverse=True)

    def latest_step(self) -> int | None:
        paths = self.candidates()
        return checkpoint_step(paths[0]) if paths else None

    def latest_regular_step(self) -> int | None:
        """The step of the newest regular checkpoint in ``directory`` (``None``: none)."""
        path = self.regular.latest_checkpoint
        return checkpoint_step(path) if path else None

    def restore_latest(self, step_variable: tf.Variable) -> int:
        """Restores the newest readable checkpoint and returns its step (0 when there is none).

        An unreadable one (a crash while it was written) is reported and skipped in favour of
        the one before it, so a run folder can always resume.
        """
        paths = self.candidates()
        for path in paths:
            try:
                # (expect_partial: the bookkeeping save_counter is not restored, and says so)
                self.checkpoint.read(path).assert_existing_objects_matched().expect_partial()
            except Exception as err:  # noqa: BLE001 (TF raises many types for a damaged file)
                log.warning(
                    "checkpoint %s is unreadable (%s); trying the one before", path, first_line(err)
                )
                continue
            return int(step_variable.numpy())
        if paths:
            raise CheckpointError(
                f"no checkpoint in {self.read_directory} can be read; the run cannot resume"
            )
        return 0

    def save(self, step: int, kind: str = "checkpoint") -> str:
        """Writes the state of ``step`` as a regular ``checkpoint``, the ``backup`` or the
        ``best`` one."""
        manager = {"checkpoint": self.regular, "backup": self.backup, "best": self.best}[kind]
        previous = self.latest_step()
        try:
            return manager.save(checkpoint_number=step)
        except Exception as err:
            if not isinstance(err, OSError | tf.errors.OpError):  # not a failed write
                raise
            _remove_partial(Path(manager.directory), step)
            kept = (
                f"the checkpoint of step {previous} is intact"
                if previous is not None
                else "no earlier checkpoint exists"
            )
            raise CheckpointError(
                f"cannot write the {kind} of step {step} in "
                f"{manager.directory} ({first_line(err)}); {kept}. Free disk space or make the "
                "folder writable, then resume the run with --resume"
            ) from None


def checkpoint_step(path: str) -> int:
    match = re.search(r"-(\d+)$", path)
    return int(match.group(1)) if match else -1


def _remove_partial(folder: Path, step: int) -> None:
    """Best-effort removal of what a failed write of ``ckpt-<step>`` left behind."""
    for leftover in folder.glob(f"ckpt-{step}*"):
        with_temp = leftover.is_dir() and "temp" in leftover.name
        try:
            shutil.rmtree(leftover) if with_temp else leftover.unlink()
        except OSError:
            pass


def save_model(model: keras.Model, path: Path) -> None:
    """Writes ``model`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(
            f"cannot write {path} ({err.strerror or first_line(err)}); the previous file is "
            "intact. Free disk space or make the folder writable, then resume with --resume"
        ) from None


def portable_copy(model: keras.Model) -> keras.Model:
    """``model`` rebuilt from Keras' own layers, computing in float32: what a run ships, a file
    that loads in any Keras 3 process without ganzoo. A mixed-precision layer becomes float32,
    a layer with ``dense_weights()`` (``WeightNormDense``, ProGAN's ``ChannelBiasDense``) the
    ``Dense`` that computes the same, a layer with a ``portable()``
    method (StyleGAN2's blocks, ``zoo.style_layers``) the model of Keras layers and operations
    it returns, with its current weights baked in, and a nested model its own portable copy.
    Weights come from (and, unless ``bakes(model)``, are refreshed with) ``copy_weights``."""

    def clone(layer):
        if hasattr(layer, "portable"):
            return layer.portable()
        if isinstance(layer, keras.Model) and bakes(layer):
            return portable_copy(layer)
        if hasattr(layer, "dense_weights"):
            return keras.layers.Dense(
                layer.units, activation=layer.activation, name=layer.name, dtype="float32"
            )
        config = layer.get_config()
        if "dtype" in config:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    if not bakes(model):
        copy_weights(model, copy)
    return copy


def bakes(model: keras.Model) -> bool:
    """Whether ``portable_copy(model)`` bakes weights into its graph (a layer with
    ``portable()``, at any depth), so that it is rebuilt, not refreshed, to follow them."""
    return any(
        hasattr(layer, "portable") or (isinstance(layer, keras.Model) and bakes(layer))
        for layer in model.layers
    )


def copy_weights(model: keras.Model, copy: keras.Model) -> None:
    """Sets the weights of ``portable_copy(model)`` to those of ``model`` now."""
    for source, target in zip(model.layers, copy.layers, strict=True):
        if hasattr(source, "dense_weights"):
            target.set_weights(source.dense_weights())
        else:
            target.set_weights(source.get_weights())


class Shipper:
    """Writes what a run ships: ``generator{suffix}.keras`` and, for a semi-supervised family,
    ``classifier{suffix}.keras``: float32 models of Keras' own layers (the networks of
    ``session.trainer``, a ``training.session.Session``, are copied once into such twins,
    ``portable_copy``, whose weights are refreshed at each save)."""

    def __init__(self, session, out_dir: Path):
        self.out_dir = out_dir
        self.models = session.trainer.shipped  # as the family's contract names them
        self.copies = {name: portable_copy(m) for name, m in self.models.items()}

    def save(self, suffix: str = "") -> None:
        for name, model in self.models.items():
            if bakes(model):
                self.copies[name] = portable_copy(model)
            else:
                copy_weights(model, self.copies[name])
            save_model(self.copies[name], self.out_dir / f"{name}{suffix}.keras")
