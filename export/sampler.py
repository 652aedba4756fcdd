"""The generator's inference path: what ships, described by name.

Inputs are taken from the saved generator's own named inputs: ``z`` float32 [batch, latent_dim],
plus ``label`` int32 [batch] for class-conditional families (InfoGAN's categorical code) and
``code`` float32 [batch, num_codes] for InfoGAN's continuous codes; the batch dimension is always
dynamic. The single output is
``image``: float32 in [-1, 1], or with ``uint8=True`` uint8 in [0, 255], computed as
``round((x + 1) * 127.5)``.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from zoo.errors import GanzooError

if TYPE_CHECKING:  # imported where they are used, so that ``python -m export --help`` is instant
    import keras
    import tensorflow as tf


class ExportError(GanzooError, RuntimeError):
    """An export that cannot be done, with what to do about it."""


class DestinationError(ExportError):
    """An export folder that export will not write: it would replace something of the user's.

    A usage error like a bad option (the CLI exits 2), raised before anything is loaded.
    """


@dataclasses.dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...]  # batch first, None
    dtype: str

    def tensor_spec(self) -> tf.TensorSpec:
        import tensorflow as tf

        return tf.TensorSpec(self.shape, self.dtype, name=self.name)

    def as_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclasses.dataclass
class Sampler:
    """A loaded generator, its run's config and the inference graph's description."""

    generator: keras.Model
    inputs: list[InputSpec]
    uint8: bool
    run_config: dict
    step: int | None

    @property
    def output(self) -> dict:
        shape = [None, *self.generator.output_shape[1:]]
        if self.uint8:
            return {"name": "image", "shape": shape, "dtype": "uint8", "range": [0, 255]}
        return {"name": "image", "shape": shape, "dtype": "float32", "range": [-1.0, 1.0]}

    def serve(self, *inputs):
        """The exported function: named inputs -> {"image": ...}.

        A ``label`` outside [0, num_classes) is clipped to the nearest class, so -1 gives class
        0's image and 15 the last class's. Left alone, the runtimes disagree (measured): the
        one-hot of an out-of-range label is all zeros in TensorFlow and TFLite, an image of no
        class, while ONNX's OneHot reads -1 as the last class. Clipping is a min/max that
        SavedModel, TFLite and ONNX all convert; an assertion would not survive conversion.
        """
        import tensorflow as tf

        inputs = [
            self._clip_label(x) if spec.name == "label" else x
            for spec, x in zip(self.inputs, inputs, strict=True)
        ]
        image = self.generator(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        if self.uint8:
            image = tf.cast(tf.round(tf.clip_by_value((image + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)
        return {"image": image}

    def _clip_label(self, label):
        if not self.num_classes:  # no class count to clip to: example_inputs refuses this run
            return label
        import tensorflow as tf

        return tf.clip_by_value(label, 0, self.num_classes - 1)

    def reference(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The Keras output for ``feeds``, post-processed like the export."""
        import tensorflow as tf

        args = [tf.constant(feeds[spec.name]) for spec in self.inputs]
        return np.asarray(self.serve(*args)["image"])

    def example_inputs(self, batch: int, seed: int) -> dict[str, np.ndarray]:
        """Inputs drawn as in training: ``z`` from a standard normal, ``label`` uniformly from
        the run's ``model.num_classes`` classes, ``code`` uniformly from [-1, 1]."""
        rng = np.random.default_rng(seed)
        feeds = {}
        for spec in self.inputs:
            if spec.name == "z":
                feeds["z"] = rng.standard_normal((batch, *spec.shape[1:])).astype(np.float32)
            elif spec.name == "label" and self.num_classes:
                feeds["label"] = rng.integers(0, self.num_classes, batch).astype(np.int32)
            elif spec.name == "code":
                feeds["code"] = rng.uniform(-1, 1, (batch, *spec.shape[1:])).astype(np.float32)
            else:
                raise ExportError(
                    f"the generator has an input {spec.name!r} that export cannot feed (it feeds "
                    "'z', 'code', and 'label' when the run's config.yaml gives model.num_classes)"
                )
        return feeds

    @property
    def num_classes(self) -> int | None:
        return self.run_config.get("model", {}).get("num_classes")


def load_sampler(run_dir: str | Path, uint8: bool = False) -> Sampler:
    """The generator of run folder ``run_dir`` (EMA weights when the run kept them)."""
    import keras

    import zoo.layers  # noqa: F401  (registers ganzoo's custom Keras layers for loading)

    run_dir = check_run_dir(run_dir)
    path = run_dir / "generator.keras"
    config = _read_config(run_dir)
    family = config.get("family", "FAMILY")
    resume = f"python -m training.run {family} --run-dir {run_dir} --resume"
    if not path.is_file():
        raise ExportError(
            f"{run_dir} has no generator.keras; train first, or write it from the run's "
            f"checkpoint with: {resume}"
        )
    try:
        generator = keras.saving.load_model(path, compile=False)
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ExportError(
            f"{path} cannot be loaded ({type(err).__name__}: {first[:120]}); write it again from "
            f"the run's checkpoint with: {resume}"
        ) from None
    inputs = [
        InputSpec(t.name.split(":")[0], (None, *t.shape[1:]), str(t.dtype).replace("tf.", ""))
        for t in generator.inputs
    ]
    return Sampler(generator, inputs, uint8, config, _checkpoint_step(run_dir))


def check_run_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"{run_dir} is not a folder; give a run folder such as runs/dcgan-...")
    return run_dir


def _read_config(run_dir: Path) -> dict:
    try:
        return yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _checkpoint_step(run_dir: Path) -> int | None:
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    if state is None or not state.model_checkpoint_path:
        return None
    return int(state.model_checkpoint_path.rsplit("-", 1)[1])
