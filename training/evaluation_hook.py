"""The evaluation while training (``eval.every``), with the best kept on disk.

Set up in two stages, because everything that can refuse a run must come before its folder is
written: ``EvaluationHook(config, session)`` loads what ``eval.metric`` compares against (the
feature extractor and the real images' features, or the held-out split of a semi-supervised
classifier), which is where a missing extractor or split stops the run in one line;
``hook.callback(...)`` then makes the callback once the folder, its event writer and its
checkpoints exist.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from training import callbacks as cb
from training.data import load_split
from training.evaluate import real_images
from training.features import default_extractor, get_extractor, no_extractor_note
from training.grids import fixed_noise, sample_fn


class EvaluationHook:
    """What ``config.eval`` compares against, loaded once: the held-out accuracy of a
    semi-supervised classifier, or FID/KID against real features computed here (none, with a
    note, when ``eval.extractor=auto`` finds no extractor for the images)."""

    def __init__(self, config, session):
        self.config, self.trainer = config, session.trainer
        ev = config.eval
        self.higher_is_better = ev.metric == "accuracy"
        self.extractor = None
        if self.higher_is_better:
            self.name = ev.split
            self.images, self.labels = load_split(
                config.data, ev.split, config.model.image_size, config.model.channels
            )
            return
        name = (
            default_extractor(config.data, ev.weights) if ev.extractor == "auto" else ev.extractor
        )
        self.name = name
        if name is None:
            # No extractor fits these images: a digit classifier's FID of other images would
            # still pick generator_best.keras, by a number that measures nothing. Say so once,
            # up front.
            what = f"no FID/KID while training on {_data_name(config.data)}"
            print(
                f"note: {no_extractor_note(what, ev.weights, 'eval.weights=PATH')}; this run "
                f"trains without the evaluation every {ev.every} steps and without a best "
                "checkpoint (generator_best.keras)",
                flush=True,
            )
            return
        self.extractor = get_extractor(name, ev.weights, config.data.fit)
        seed = config.runtime.seed
        self.real_features, _ = self.extractor(real_images(config, ev.num_samples, seed + 1))
        self.z = fixed_noise(self.trainer, ev.num_samples, np.random.default_rng([seed, 2]))

    def callback(self, run_dir: Path, writer, store, shipper) -> cb.Callback:
        """The callback that evaluates every ``eval.every`` steps into ``writer`` and, at a new
        best, saves the ``best`` checkpoint in ``store``, ``*_best.keras`` with ``shipper``
        and ``run_dir/best.json`` (which a resumed run reads its best so far from)."""
        ev = self.config.eval
        best_file = run_dir / "best.json"
        best = -math.inf if self.higher_is_better else math.inf
        if best_file.is_file():
            best = json.loads(best_file.read_text())["value"]

        def on_best(step: int, value: float) -> None:
            store.save(step, kind="best")
            shipper.save(suffix="_best")
            record = {"step": step, "metric": ev.metric, "value": value}
            record["split" if self.higher_is_better else "extractor"] = self.name
            tmp = best_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(record) + "\n")
            os.replace(tmp, best_file)

        if self.higher_is_better:
            return cb.HeldOutAccuracy(
                self.trainer.shipped["classifier"],
                self.images,
                self.labels,
                ev.split,
                writer,
                ev.every,
                on_best,
                best,
            )
        if self.extractor is None:
            return cb.Callback()  # observes nothing
        return cb.Evaluation(
            sample_fn(self.trainer),
            self.z,
            self.real_features,
            self.extractor,
            writer,
            ev.every,
            ev.metric,
            on_best,
            best,
        )


def _data_name(data) -> str:
    return f"the image folder {data.path}" if data.source == "folder" else data.dataset
