"""The images a patch detector (``training.detect``) sees, fakes and reals in one format.

**Fakes** (``load_fakes``): a run folder's generator (``generator.keras``) or an export folder
(ONNX Runtime), through ``training.generators``, on ``num`` latents of ``seed`` and, for a
conditional generator, labels cycling over the classes (balanced); a code input gets its
centre, zeros, as the latent tools give it. Or a folder (or ``.npz``) of images, read as
``training.evaluate`` reads them, whose images set the format (square, one size).

**Reals** (``load_reals``) are formatted as the fakes' run formats its data, or the detector
learns the preprocessing rather than the generator (the authors' README, "Data
Preprocessing"): a run's reals come from its own ``data`` config (dataset, source,
``data.fit``) at its ``model.image_size`` and channels, with the split asked for
(``test[8000:]``, or ``DATASET:SPLIT``), through the pipeline training uses
(``training.data.load_split``); a folder of images goes through the same pipeline. Fakes from
a folder or an export outside its run folder get MNIST's reals and the ``fit`` given.

Both pass through 8 bits (``eight_bit``), as the authors' reals and samples did on their way to
PNG files: a generator's continuous values against MNIST's 256 levels (or a resized dataset's
continuous ones against a PNG folder's) would be a cue that needs no patch.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from zoo.errors import GanzooError

_SPLIT = re.compile(r"(?:(\w+):)?(\w+(?:\[-?\d*:-?\d*\])?)")


class DetectError(GanzooError, ValueError):
    """An input the detector refuses: a source, a split, a size, an option."""


@dataclasses.dataclass(frozen=True)
class ImageFormat:
    """What a run feeds its networks: square images of ``size``, ``channels``, and how its
    data reached that size (``data.fit``: ``resize`` or ``pad``)."""

    size: int
    channels: int
    fit: str

    def __str__(self) -> str:
        return f"{self.size}x{self.size}x{self.channels}, fit={self.fit}"


@dataclasses.dataclass
class FakeSet:
    """A fake source's images, the format they set and where its reals come from."""

    name: str  # as given
    kind: str  # run, export, images
    images: np.ndarray  # [N, H, W, C] in [-1, 1], on the 8-bit grid
    format: ImageFormat
    data: object  # the DataConfig its reals come from (the run's, or MNIST's)
    family: str | None = None
    seed: int | None = None


def eight_bit(images: np.ndarray) -> np.ndarray:
    """[-1, 1] images on the 256 levels a PNG keeps (as ``training.grids`` writes them)."""
    return (np.clip(np.floor((images + 1.0) * 127.5 + 0.5), 0, 255) / 127.5 - 1.0).astype(
        np.float32
    )


def load_fakes(spec: str, num: int, seed: int, fit: str) -> FakeSet:
    """``--fake``: a run folder, an export folder, or a folder or ``.npz`` of images."""
    from training.sections import DataConfig

    path = Path(spec)
    if not path.exists():
        raise DetectError(f"--fake {spec}: no such folder or file")
    if (path / "config.yaml").is_file() or (path / "report.json").is_file():
        return _generated(spec, num, seed, fit)
    from training.evaluate import load_images

    images = load_images(path)[:num]
    height, width, channels = images.shape[1:]
    if height != width:
        raise DetectError(f"--fake {spec} holds {width}x{height} images; the detector's are square")
    fmt = ImageFormat(height, channels, fit)
    return FakeSet(spec, "images", eight_bit(images), fmt, DataConfig(fit=fit))


def _generated(spec: str, num: int, seed: int, fit: str) -> FakeSet:
    import zoo
    from training.config import load
    from training.generators import open_generator
    from training.sections import DataConfig

    path = Path(spec)
    if (path / "config.yaml").is_file():
        run = load(path / "config.yaml")
        if not (path / "generator.keras").is_file():
            from training.sample import load_generator

            load_generator(path, run.family)  # its one-line error, with how to write it
        if zoo.get_family(run.family).contract(run.model).data_keys:
            raise DetectError(
                f"--fake {spec}: {run.family}'s generator translates images from the data; the "
                "detector samples generators of noise"
            )
    gen = open_generator(path)
    config = load(gen.run_dir / "config.yaml") if gen.run_dir is not None else None
    data = config.data if config is not None else DataConfig(fit=fit)
    z = np.random.default_rng(seed).standard_normal((num, gen.latent_dim)).astype(np.float32)
    labels = np.arange(num, dtype=np.int32) % gen.num_classes if gen.num_classes else None
    images = eight_bit(gen.images(z, labels))
    fmt = ImageFormat(images.shape[1], images.shape[3], data.fit)
    kind = "run" if gen.backend == "keras" else "export"
    return FakeSet(spec, kind, images, fmt, data, gen.family, seed)


def load_reals(spec: str, fmt: ImageFormat, data, num: int) -> tuple[np.ndarray, str]:
    """``--real``: a split (``test[8000:]``, or ``DATASET:SPLIT``) of ``data`` (a run's data
    config, or MNIST's), or a folder of images; formatted as ``fmt`` through training's
    pipeline, the first ``num``; and what they are."""
    from training.data import load_split
    from training.sources import IMAGE_EXTENSIONS

    path = Path(spec)
    split = _SPLIT.fullmatch(spec)
    if split and not path.is_dir():
        dataset, name = split.groups()
        if dataset and (dataset != data.dataset or data.source == "folder"):
            data = dataclasses.replace(data, dataset=dataset, path=None, source="auto")
        elif data.source == "folder":
            raise DetectError(
                f"--real {spec} is a split, but the fakes' run trained on the image folder "
                f"{data.path}; give --real FOLDER (held-out images like those)"
            )
        what = f"{data.dataset}[{name}]"
    else:
        if not path.is_dir():
            raise DetectError(
                f"--real {spec}: no such folder, and not a split like test[8000:] or "
                "mnist:test[8000:]"
            )
        if not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.rglob("*")):
            raise DetectError(f"--real {spec} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        data = dataclasses.replace(data, source="folder", path=str(path))
        name, what = "train", f"folder {spec}"
    data = dataclasses.replace(data, split=name, fit=fmt.fit, labelled=None, pair=None)
    images, _ = load_split(data, name, fmt.size, fmt.channels)
    return eight_bit(images[:num]), what
