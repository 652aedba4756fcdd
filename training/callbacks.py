"""Callbacks observe a run; they hold no training logic.

The driver calls ``on_train_begin(step)``, ``on_step_end(step, logs, steps)`` after every call
of the step function with the global values averaged over the ``steps`` generator updates it
ran (``runtime.steps_per_execution``, cut short at events) and ``step`` the one reached, and
``on_train_end(step)``. Averages over several calls weight each by its ``steps``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training import metrics
from training.evaluate import class_balance
from training.grids import image_grid, save_png


class Callback:
    def on_train_begin(self, step: int) -> None: ...

    def on_step_end(self, step: int, logs: dict[str, float], steps: int = 1) -> None: ...

    def on_train_end(self, step: int) -> None: ...


class ScalarLogger(Callback):
    """Writes the mean of each log value over ``every`` steps, the learning rates in use (a
    dict of numbers, or a function that returns them now: a schedule or a rollback changes
    them) and steps/s."""

    def __init__(self, writer, every: int, learning_rates):
        self.writer, self.every, self.learning_rates = writer, every, learning_rates
        self._sums: dict[str, float] = {}
        self._count = 0  # steps in the sums
        self._since = time.perf_counter()
        self._since_step = 0

    def on_train_begin(self, step):
        self._since = time.perf_counter()
        self._since_step = step

    def on_step_end(self, step, logs, steps=1):
        for key, value in logs.items():
            self._sums[key] = self._sums.get(key, 0.0) + value * steps
        self._count += steps
        if step % self.every == 0:
            self.flush(step)

    def on_train_end(self, step):
        if self._count:
            self.flush(step)
        self.writer.flush()

    def flush(self, step):
        elapsed = time.perf_counter() - self._since
        with self.writer.as_default(step=step):
            for key, total in self._sums.items():
                tf.summary.scalar(key, total / self._count)
            rates = self.learning_rates
            for key, lr in (rates() if callable(rates) else rates).items():
                tf.summary.scalar(f"lr/{key}", float(keras.ops.convert_to_numpy(lr)))
            tf.summary.scalar("steps_per_sec", (step - self._since_step) / max(elapsed, 1e-9))
        self._sums, self._count, self._since = {}, 0, time.perf_counter()
        self._since_step = step


class SampleGrid(Callback):
    """Every ``every`` steps, renders the generator on a fixed latent batch as one grid image,
    written to TensorBoard (``samples``) and to ``folder/step_NNNNNN.png``."""

    def __init__(
        self, sample_fn, z: np.ndarray, folder: Path, writer, every: int, cols: int | None = None
    ):
        self.sample_fn, self.z, self.folder = sample_fn, z, Path(folder)
        self.writer, self.every, self.cols = writer, every, cols
        self.folder.mkdir(parents=True, exist_ok=True)

    def on_train_begin(self, step):
        if step == 0:
            self.render(0)

    def on_step_end(self, step, logs, steps=1):
        if step % self.every == 0:
            self.render(step)

    def on_train_end(self, step):
        if not (self.folder / f"step_{step:06d}.png").exists():
            self.render(step)

    def render(self, step: int) -> Path:
        grid = image_grid(np.asarray(self.sample_fn(self.z)), self.cols)
        path = self.folder / f"step_{step:06d}.png"
        save_png(grid, path)
        with self.writer.as_default(step=step):
            tf.summary.image("samples", grid[None], max_outputs=1)
        return path


class Evaluation(Callback):
    """Every ``every`` steps: FID and KID of samples from a fixed latent batch against fixed real
    features, and the samples' class balance (the mode-collapse signal), to TensorBoard under
    ``eval/``. Calls ``on_best(step, value)`` when ``metric`` reaches a new low."""

    def __init__(
        self, sample_fn, z, real_features, extractor, writer, every, metric, on_best, best=math.inf
    ):
        self.sample_fn, self.z, self.real_features = sample_fn, z, real_features
        self.extractor, self.writer, self.every = extractor, writer, every
        self.metric, self.on_best, self.best = metric, on_best, best

    def on_step_end(self, step, logs, steps=1):
        if step % self.every == 0:
            self.evaluate(step)

    def evaluate(self, step: int) -> dict:
        fake = np.concatenate(
            [np.asarray(self.sample_fn(self.z[i : i + 500])) for i in range(0, len(self.z), 500)]
        )
        features, probabilities = self.extractor(fake)
        kid, _ = metrics.kid(self.real_features, features, subsets=10)
        values = {"fid": metrics.fid(self.real_features, features), "kid": kid}
        balance = class_balance(probabilities)
        name = self.extractor.name
        with self.writer.as_default(step=step):
            tf.summary.scalar(f"eval/fid_{name}", values["fid"])
            tf.summary.scalar(f"eval/kid_{name}", values["kid"])
            tf.summary.scalar("eval/class_entropy", balance["class_entropy"])
            tf.summary.scalar("eval/confident", balance["confident"])
            if len(balance["class_shares"]) <= 20:
                for k, share in enumerate(balance["class_shares"]):
                    tf.summary.scalar(f"eval/class_share/{k}", share)
        # A non-finite value is never the best (NaN compares false, but say so).
        improved = math.isfinite(values[self.metric]) and values[self.metric] < self.best
        if improved:
            self.best = values[self.metric]
            self.on_best(step, self.best)
        print(
            f"eval at step {step}: FID ({name}) {values['fid']:.2f}, KID {values['kid']:.4f}, "
            f"class entropy {balance['class_entropy']:.3f}, confident {balance['confident']:.3f}"
            + (f" (best {self.metric} so far)" if improved else ""),
            flush=True,
        )
        return values


class HeldOutAccuracy(Callback):
    """Every ``every`` steps: the accuracy of ``classifier`` (images -> class logits) on a
    held-out set, to TensorBoard as ``eval/accuracy``. Calls ``on_best(step, value)`` when it
    reaches a new high."""

    def __init__(self, classifier, images, labels, split, writer, every, on_best, best=-math.inf):
        self.classifier, self.images, self.labels = classifier, images, labels
        self.split, self.writer, self.every = split, writer, every
        self.on_best, self.best = on_best, best

    def on_step_end(self, step, logs, steps=1):
        if step % self.every == 0:
            self.evaluate(step)

    def evaluate(self, step: int) -> float:
        logits = np.concatenate(
            [
                np.asarray(self.classifier(self.images[i : i + 1000], training=False))
                for i in range(0, len(self.images), 1000)
            ]
        )
        accuracy = float(np.mean(np.argmax(logits, axis=1) == self.labels))
        if not np.all(np.isfinite(logits)):
            accuracy = math.nan  # never the best
        with self.writer.as_default(step=step):
            tf.summary.scalar("eval/accuracy", accuracy)
        improved = accuracy > self.best
        if improved:
            self.best = accuracy
            self.on_best(step, accuracy)
        print(
            f"eval at step {step}: accuracy on {self.split} ({len(self.labels)} images) "
            f"{accuracy:.4f}" + (" (best so far)" if improved else ""),
            flush=True,
        )
        return accuracy


class ProgressBar(Callback):
    """A Keras progress bar with the losses' means since the start on a terminal; elsewhere (CI,
    a log file) one plain line every ``every`` steps with their means over those steps, as
    TensorBoard has them (one step's values would show a lazy term, run every N steps, as 0 on
    most lines)."""

    def __init__(self, total: int, every: int):
        self.total, self.every = total, every
        self.interactive = sys.stdout.isatty()
        self.bar = None
        self._since = time.perf_counter()
        self._last_step = 0
        self._sums: dict[str, float] = {}
        self._count = 0  # steps in the sums

    def on_train_begin(self, step):
        self._since, self._last_step = time.perf_counter(), step
        if self.interactive:
            self.bar = keras.utils.Progbar(self.total, unit_name="step", interval=0.5)
            if step:
                self.bar.update(step)

    def on_step_end(self, step, logs, steps=1):
        if self.interactive:  # Progbar weights each update by the steps since the last
            self.bar.update(step, values=list(logs.items()))
            return
        for key, value in logs.items():
            self._sums[key] = self._sums.get(key, 0.0) + value * steps
        self._count += steps
        if step % self.every == 0 or step == self.total:
            rate = (step - self._last_step) / max(time.perf_counter() - self._since, 1e-9)
            values = " ".join(f"{k}={v / self._count:.4f}" for k, v in self._sums.items())
            print(f"step {step}/{self.total} {values} ({rate:.1f} steps/s)", flush=True)
            self._since, self._last_step, self._sums = time.perf_counter(), step, {}
            self._count = 0
