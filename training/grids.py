"""Sample grids: their layout, the PNG they are written to, and what draws them.

Shared by the training callbacks (``training.callbacks``), the evaluation while training
(``training.evaluation_hook``) and ``python -m training.sample``. It needs NumPy and Pillow
only, so the sampling command and the callbacks can use it without importing the training loop
or each other.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def image_grid(images: np.ndarray, cols: int | None = None) -> np.ndarray:
    """[N, H, W, C] floats in [-1, 1] -> one uint8 [rows*(H+1)+1, cols*(W+1)+1, C] grid
    (``cols`` defaults to a square)."""
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pixels = np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    grid = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 255, np.uint8)
    for i, image in enumerate(pixels):
        r, q = divmod(i, cols)
        grid[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + q * (w + 1) : 1 + q * (w + 1) + w] = image
    return grid


def save_png(grid: np.ndarray, path: Path) -> None:
    """Writes ``grid`` to ``path`` atomically (a temporary file, then a rename)."""
    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    tmp = path.with_suffix(".tmp.png")
    image.save(tmp)
    tmp.replace(path)


def grid_labels(num: int, num_classes: int) -> tuple[np.ndarray, int]:
    """(labels, columns) of a grid with one row per class: 0,0,..,1,1,.. row-major."""
    per_class = max(1, num // num_classes)
    return np.repeat(np.arange(num_classes, dtype=np.int32), per_class), per_class


def fixed_noise(trainer, num: int, rng: np.random.Generator) -> np.ndarray:
    """A fixed batch of ``num`` rows of the generator's normal input (what ``sample_fn`` takes
    as ``z``), or rows of nothing for a generator without one (its grid is set by its other
    inputs)."""
    shapes = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in trainer.sampler.inputs}
    normal = [name for name, spec in trainer.contract.inputs.items() if spec.kind == "normal"]
    return rng.standard_normal((num, *shapes[normal[0]]) if normal else (num, 0)).astype(np.float32)


def sample_fn(trainer, labels: np.ndarray | None = None, real: dict | None = None):
    """z -> images of ``trainer``'s shipped generator (``trainer.generate``), its other inputs
    as its contract declares them: a class input gets ``labels`` or, when none are given,
    labels cycling over the classes (balanced in any batch); a code input its centre, zeros;
    an input read from the data the first rows of ``real[key]``, fixed real examples."""
    inputs = trainer.contract.inputs
    shapes = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in trainer.sampler.inputs}

    def sample(z):
        feeds = {}
        for name, spec in inputs.items():
            if spec.kind == "normal":
                feeds[name] = z
            elif spec.kind == "class":
                cycle = np.arange(len(z), dtype=np.int32) % spec.classes
                feeds[name] = labels[: len(z)] if labels is not None else cycle
            elif spec.kind == "code":
                feeds[name] = np.zeros((len(z), *shapes[name]), np.float32)
            else:
                if real is None:
                    raise ValueError(f"a grid of z alone cannot feed the data input {name!r}")
                feeds[name] = real[spec.key][np.arange(len(z)) % len(real[spec.key])]
        return trainer.generate(feeds)

    return sample


def pairs_fn(trainer, real: dict) -> tuple:
    """(z -> a translation generator's [input, output] pairs, or [input, output, target]
    triplets when ``real`` holds the targets (``image``, a paired run), interleaved, for as
    many fixed real inputs as fit in ``z``'s rows; the grid's columns, which keep each group
    on one row). An input smaller than the output (super-resolution) is enlarged by repeating
    pixels; a grayscale input beside a colour output is repeated over the channels."""
    ((name, spec),) = [(n, s) for n, s in trainer.contract.inputs.items() if s.kind == "data"]
    translate = sample_fn(trainer, None, real)
    targets = real.get("image") if spec.key != "image" else None
    group = 2 if targets is None else 3

    def sample(z):
        num = max(1, len(z) // group)
        out = np.asarray(translate(z[:num]))
        rows = np.arange(num) % len(real[spec.key])
        source = real[spec.key][rows]
        scale = out.shape[1] // source.shape[1]
        source = np.repeat(np.repeat(source, scale, axis=1), scale, axis=2)
        if source.shape[-1] != out.shape[-1]:
            source = np.repeat(source[..., :1], out.shape[-1], axis=-1)
        parts = [source, out] if targets is None else [source, out, targets[rows]]
        return np.stack(parts, axis=1).reshape(-1, *out.shape[1:])

    return sample, 4 * group
