"""The run folder: whether it may be used as asked, its lock, and its first files.

A new run refuses a folder that holds anything of the user's, ``--resume`` refuses a folder that
is not a run, and two processes never train into one folder (``training.runlock``). The folder
is written only after everything that can reject the config has run, so a refused run leaves
nothing behind.

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
from pathlib import Path

from training.config import ExperimentConfig, save
from training.runlock import LOCK_NAME, RunFolderLocked, run_folder_lock
from zoo.errors import GanzooError


class RunError(GanzooError, RuntimeError):
    """A run that cannot go on as asked: its folder, its batch split, or a diverged run."""


@contextlib.contextmanager
def locked_run_dir(run_dir: Path, resume: bool):
    """Checks that ``run_dir`` can be used as asked and holds its lock (training.runlock) for
    the run: a second process on the same folder stops in one line that names the first."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--run-dir {run_dir} is a file, not a folder; choose a folder")
    if not (run_dir / LOCK_NAME).exists():  # a user's folder: refused before anything is written
        check_run_dir(run_dir, resume)
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
        check_run_dir(run_dir, resume)  # again: it may have changed before the lock
        yield


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """A resumed folder must be a run; a new run's folder must be new or empty."""
    if resume:
        if not (run_dir / "config.yaml").is_file():
            raise RunError(f"{run_dir} is not a run folder (no config.yaml); cannot resume it")
    elif run_dir.exists() and any(p.name != LOCK_NAME for p in run_dir.iterdir()):
        raise RunError(
            f"run folder {run_dir} already exists; pass --resume to continue it or choose "
            "another --run-dir"
        )


def write_run_dir(out_dir: Path, config: ExperimentConfig) -> None:
    """The run folder's first files: ``config.yaml`` and the ``checkpoints`` folder."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        save(config, out_dir / "config.yaml")
        (out_dir / "checkpoints").mkdir(exist_ok=True)
    except OSError as err:
        raise RunError(
            f"run folder {out_dir} is not writable ({err.strerror or err}); nothing was changed"
            " in it"
        ) from None
