"""What a run wrote to TensorBoard, read back from its event files."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf


def summaries(logdir: Path, prefix: str = "") -> dict[str, dict[int, float | None]]:
    """``{tag: {step: value}}`` of the summaries whose tag starts with ``prefix``: the value of
    a scalar, ``None`` for an image or text."""
    found: dict[str, dict[int, float | None]] = {}
    for events in sorted(Path(logdir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for v in event.summary.value:
                if not v.tag.startswith(prefix):
                    continue
                scalar = v.metadata.plugin_data.plugin_name == "scalars"
                value = float(tf.make_ndarray(v.tensor)) if scalar else None
                found.setdefault(v.tag, {})[event.step] = value
    return found
