"""Latent-space tools: grids (truncated), interpolation, style mixing and vector arithmetic,
for a run folder or an export folder.

    gen = open_generator("runs/stylegan2-XXXX")          # generator.keras (+ checkpoint)
    gen = open_generator("runs/stylegan2-XXXX/export")   # ONNX Runtime, no model code
    images, cols = grid(gen, 64, seed=0, psi=0.7)

``python -m training.sample`` is the command line (``--grid``, ``--interpolate``, ``--mix``,
``--arithmetic``, docs/latent.md); ``python -m training.project`` finds the latent of a real
image, whose ``.npy`` these tools read.

**Where a generator comes from**: ``training.generators`` (``open_generator``).

**Seeds.** Seed ``s`` stands for ``z = numpy.random.default_rng(s).standard_normal(latent_dim)``
(float32): the first ``z`` of ``python -m training.sample RUN --grid N --seed s``, whose ``z``
are ``default_rng(s).standard_normal((N, latent_dim))``, so a seed's image is the first image
of its grid (for a conditional family, the first image of class 0's row). With BigGAN's
truncation ``psi``, ``z`` is ``zoo.biggan.truncated_z(default_rng(s), (1, latent_dim), psi)[0]``
for a seed and ``truncated_z(default_rng(s), (N, latent_dim), psi)`` for a grid (a grid's rows
are then no longer the seeds' vectors, as every redrawn entry shifts the stream).

**Latent files.** A ``.npy`` holds ``z`` vectors, ``[latent_dim]`` or ``[n, latent_dim]``, or
StyleGAN2 ``ws`` (a ``w`` per synthesis layer), always ``[n, num_ws, w_dim]``; several vectors
are averaged, as the DCGAN paper averages three samples per concept before its arithmetic. The
dimension count says which (3: ``ws``), so ``z`` and ``w`` of the same size are never confused.
``training.project`` writes them in this form.

**Truncation** ``psi``: StyleGAN2 moves ``w`` towards its tracked mean,
``w_avg + psi (w - w_avg)`` (1: none, 0: the average image for every ``z``); BigGAN draws
``z`` from a normal truncated at +-psi (its paper's trick). Other families have neither: a
one-line ``LatentError``. An export folder gets StyleGAN2's truncation from its own mapping
when exported with ``--truncation``, else from a sibling ``export_truncation`` folder (checked
to give the same ``w``), else the error says how to export it.

**Interpolation** is spherical (``slerp``) between two ``z`` (Gaussian latents: a straight line
passes through the low-norm middle the prior almost never draws; White 2016) and linear between
``ws``; a ``z`` endpoint is mapped to ``ws`` when the other is a ``ws``. For a conditional family
``classes`` interpolates the class too: the generator gets a mixture ``(1 - t) e_p + t e_q`` of
the two classes' one-hot vectors where its label enters, which is the mixture of their
embeddings (a one-hot ``CategoryEncoding``, cgan and acgan, passes it on; an ``Embedding``,
BigGAN's shared one and SAGAN's per-class gains, becomes the mixture times its matrix:
``zoo.class_weights``). A run folder's generator.keras is cloned to take the weights
(``keras.models.clone_model``, the weights shared); an export folder runs the ``--class-weights``
export variant, its own or the ``export_class_weights`` folder beside it (checked to give the
same images for the same classes), else a one-line error says how to export it.

**Style mixing** (StyleGAN2; Karras et al. 2019, Fig. 3): cell (i, j) of the grid is row source
A_i's ``ws`` with the layers of ``mix_layers`` taken from column source B_j. The paper's coarse
(4x4-8x8), middle (16x16-32x32) and fine (64x64-1024x1024) styles are 2 / 2 / 5 of its 9
resolutions; here the same shares of the model's resolutions (``mix_layers``), so each range has
at least one resolution on a small model.

Every function returns images in [-1, 1] (NumPy); the generator runs at most ``BATCH_SIZE``
inputs at a time.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from training.generators import (  # noqa: F401  (the latent tools' API)
    BACKENDS,
    BATCH_SIZE,
    TRUNCATING,
    LatentError,
    LatentGenerator,
    open_generator,
)

SPACES = ("z", "ws")


# -- latent math --------------------------------------------------------------------------------


def seed_z(seed: int, latent_dim: int, psi: float | None = None) -> np.ndarray:
    """The ``z`` that seed ``seed`` stands for (see the module docstring), float32
    [latent_dim]; ``psi`` draws it truncated (BigGAN)."""
    rng = np.random.default_rng(seed)
    if psi is not None:
        from zoo.biggan import truncated_z

        return truncated_z(rng, (1, latent_dim), psi)[0]
    return rng.standard_normal((1, latent_dim)).astype(np.float32)[0]


def lerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """``a + t (b - a)`` for each ``t``: [len(t), *a.shape]."""
    t = np.asarray(t, np.float64).reshape(-1, *([1] * np.ndim(a)))
    return (np.asarray(a, np.float64) + t * (np.asarray(b) - np.asarray(a))).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents) between ``a`` and
    ``b`` for each ``t`` in [0, 1]: along the great circle through their directions, so two
    unit vectors stay unit vectors; ``a`` at 0 and ``b`` at 1. Linear when the two are (anti)
    parallel, where the circle is not defined. [len(t), *a.shape], float32."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    cos = np.clip(np.sum(a64 * b64) / max(na * nb, 1e-12), -1.0, 1.0)
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    t = np.asarray(t, np.float64).reshape(-1, *([1] * a64.ndim))
    out = (np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    return out.astype(np.float32)


def path(a: np.ndarray, b: np.ndarray, frames: int, spherical: bool) -> np.ndarray:
    """``frames`` points from ``a`` to ``b`` (both included), spherical or linear."""
    if frames < 2:
        raise LatentError(f"--frames must be at least 2, got {frames}")
    t = np.linspace(0.0, 1.0, frames)
    return slerp(a, b, t) if spherical else lerp(a, b, t)


_OPERATOR = re.compile(r"\s+([+-])\s+")


def parse_expression(expression: str) -> list[tuple[int, str]]:
    """``"a - b + c"`` -> ``[(1, "a"), (-1, "b"), (1, "c")]``: terms (a seed or a .npy file)
    joined by ``+`` and ``-`` with spaces around them (so that ``runs/dcgan-1/a.npy`` stays one
    term), optionally led by ``-``. Anything else is a one-line ``LatentError``."""
    text = expression.strip()
    sign = 1
    if text.startswith("- ") or text == "-":
        sign, text = -1, text[1:].strip()
    elif text.startswith("+ ") or text == "+":
        text = text[1:].strip()
    parts = _OPERATOR.split(f" {text} ") if text else [""]
    terms = [(sign, parts[0].strip())]
    terms += [
        (1 if op == "+" else -1, term.strip())
        for op, term in zip(parts[1::2], parts[2::2], strict=True)
    ]
    bad = [term for _, term in terms if not term or term in "+-" or " " in term]
    if bad or not text:
        raise LatentError(
            f"--arithmetic {expression!r} is not an expression of terms (seeds or .npy files) "
            "joined by ' + ' and ' - ', such as 'smile.npy - neutral.npy + 3'"
        )
    return terms


def combine(terms: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """The signed sum of latent vectors of one shape."""
    shapes = {v.shape for _, v in terms}
    if len(shapes) != 1:
        raise LatentError(f"the terms have different shapes {sorted(shapes)}")
    return np.sum([sign * np.asarray(v, np.float64) for sign, v in terms], axis=0).astype(
        np.float32
    )


def load_latent(file: str | Path, latent_dim: int, ws_shape: tuple | None = None):
    """(space, vector) of a ``.npy`` file: ``("z", [latent_dim])`` or, for a generator with
    styles (``ws_shape`` = (num_ws, w_dim)), ``("ws", [num_ws, w_dim])``; several vectors
    averaged (see the module docstring)."""
    file = Path(file)
    try:
        array = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as err:
        why = "not found" if not file.exists() else f"not a NumPy .npy file ({type(err).__name__})"
        raise LatentError(f"{file}: {why}") from None
    if array.dtype.kind not in "fiu" or array.size == 0:
        raise LatentError(f"{file} holds {array.dtype} {array.shape}, not latent vectors")
    if array.ndim in (1, 2) and array.shape[-1] == latent_dim:
        return "z", array.reshape(-1, latent_dim).mean(axis=0).astype(np.float32)
    if ws_shape is not None and array.ndim == 3 and tuple(array.shape[1:]) == tuple(ws_shape):
        return "ws", array.mean(axis=0).astype(np.float32)
    accepted = f"[{latent_dim}] or [n, {latent_dim}] (z)"
    if ws_shape is not None:
        accepted += f", or [n, {ws_shape[0]}, {ws_shape[1]}] (ws)"
    raise LatentError(f"{file} holds an array of shape {list(array.shape)}; accepted: {accepted}")


def save_latent(point: Point, file: str | Path) -> None:
    """Writes ``point`` as ``load_latent`` reads it: z [latent_dim], ws [1, num_ws, w_dim]."""
    value = point.value if point.space == "z" else point.value[None]
    np.save(file, value.astype(np.float32))


def mix_layers(spec: str, num_ws: int) -> list[int]:
    """The ``ws`` rows (synthesis layers) that ``spec`` names: ``coarse``, ``middle``, ``fine``,
    ``all``, or ``I:J`` (rows I to J-1). Row ``i`` styles resolution 4 * 2 ** (i // 2). The
    ranges split the model's resolutions as the paper splits its 9 (coarse 2, middle 2, fine
    the rest): coarse the first ``max(1, round(2 L / 9))`` of ``L``, middle up to
    ``max(coarse + 1, round(4 L / 9))``, fine the rest (on 16x16 and 32x32 models: 4x4 / 8x8
    / the rest)."""
    levels = num_ws // 2
    coarse = max(1, round(2 * levels / 9))
    middle = max(coarse + 1, round(4 * levels / 9))
    named = {
        "coarse": (0, coarse),
        "middle": (coarse, middle),
        "fine": (middle, levels),
        "all": (0, levels),
    }
    if spec in named:
        start, stop = named[spec]
        return list(range(2 * start, min(2 * stop, num_ws)))
    match = re.fullmatch(r"(\d+):(\d+)", spec)
    if match and int(match[1]) < int(match[2]) <= num_ws:
        return list(range(int(match[1]), int(match[2])))
    raise LatentError(
        f"--mix {spec!r}: accepted coarse, middle, fine, all, or I:J with 0 <= I < J <= {num_ws}"
    )


@dataclasses.dataclass(frozen=True)
class Point:
    """A latent point: ``z`` [latent_dim] or StyleGAN2's ``ws`` [num_ws, w_dim], and where it
    came from (``seed 3``, ``a.npy``)."""

    space: str
    value: np.ndarray
    name: str = ""


# -- the tools ----------------------------------------------------------------------------------


def sample_z(gen: LatentGenerator, num: int, seed: int, psi: float | None = None) -> np.ndarray:
    """``num`` latent vectors of seed ``seed``, as ``python -m training.sample`` draws them
    (BigGAN's truncated with ``psi``)."""
    rng = np.random.default_rng(seed)
    if psi is not None and gen.truncation == "truncated_normal":
        from zoo.biggan import truncated_z

        return truncated_z(rng, (num, gen.latent_dim), psi)
    return rng.standard_normal((num, gen.latent_dim)).astype(np.float32)


def grid(gen: LatentGenerator, num: int, seed: int = 0, psi: float | None = None):
    """(images, columns) of a sample grid: ``num`` samples, or for a conditional generator
    ``num // classes`` per class, one row per class (``training.sample.render``'s layout and
    draws); ``psi`` truncates."""
    from training.grids import grid_labels

    gen.check_psi(psi)
    if gen.num_classes:
        labels, cols = grid_labels(num, gen.num_classes)
    else:
        labels, cols = None, None
    z = sample_z(gen, num if labels is None else len(labels), seed, psi)
    return gen.images(z, labels, psi if gen.styles else None), cols


def point(gen: LatentGenerator, token: str, psi: float | None = None) -> Point:
    """The latent point ``token`` names: a seed (a non-negative integer) or a ``.npy`` file."""
    token = token.strip()
    if token.isdigit():
        truncated = psi if gen.truncation == "truncated_normal" else None
        return Point("z", seed_z(int(token), gen.latent_dim, truncated), f"seed {token}")
    if token.endswith(".npy"):
        space, value = load_latent(token, gen.latent_dim, gen.ws_shape)
        return Point(space, value, token)
    raise LatentError(
        f"{token!r} is neither a seed (a non-negative integer) nor a .npy file of latents"
    )


def points(gen: LatentGenerator, spec: str, psi=None, count: int | None = None) -> list[Point]:
    """The comma-separated latent points of ``spec`` (``3,7`` or ``a.npy,b.npy``)."""
    tokens = [t for t in spec.split(",")]
    if count is not None and len(tokens) != count:
        raise LatentError(f"{spec!r}: give {count} points separated by a comma, such as 3,7")
    return [point(gen, t, psi) for t in tokens]


def to_ws(gen: LatentGenerator, pts: list[Point], psi: float | None = None) -> np.ndarray:
    """StyleGAN2 ``ws`` [N, num_ws, w_dim] of points in either space, truncated by ``psi``."""
    out = []
    for p in pts:
        if p.space == "z":
            out.append(gen.mapping(p.value[None], psi)[0])
        else:
            out.append(gen.truncate_ws(p.value[None], psi)[0])
    return np.stack(out)


def render_points(gen: LatentGenerator, pts: list[Point], label: int = 0, psi=None):
    """The images of latent points (each ``ws`` through the synthesis network)."""
    if gen.styles:
        return gen.synthesis(to_ws(gen, pts, psi))
    labels = np.full(len(pts), label, np.int32)
    return gen.images(np.stack([p.value for p in pts]), labels)


def interpolate(
    gen: LatentGenerator,
    a: Point | None,
    b: Point | None,
    frames: int,
    spherical: bool | None = None,
    label: int = 0,
    classes: tuple[int, int] | None = None,
    psi: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """``frames`` images from ``a`` to ``b`` (see the module docstring); with ``classes``
    (p, q) the class goes from p to q at the same time, or alone (``a`` and ``b`` None: the
    ``z`` of ``seed`` throughout). ``spherical`` defaults to True between two ``z``."""
    gen.check_psi(psi)
    if classes is not None:
        if not gen.num_classes:
            raise LatentError(f"--classes needs a conditional generator, not {gen.family}")
        bad = [c for c in classes if not 0 <= c < gen.num_classes]
        if bad:
            raise LatentError(f"--classes {bad[0]} is not a class in [0, {gen.num_classes})")
    elif a is None or b is None:
        raise LatentError("give two latent points to interpolate between (--interpolate A,B)")
    if a is None:
        z = seed_z(seed, gen.latent_dim, psi if gen.truncation == "truncated_normal" else None)
        a = b = Point("z", z, f"seed {seed}")
    if label is not None and gen.num_classes and not 0 <= label < gen.num_classes:
        raise LatentError(f"--class {label} is not a class in [0, {gen.num_classes})")
    both_z = a.space == b.space == "z"
    spherical = both_z if spherical is None else spherical
    if both_z:
        zs = path(a.value, b.value, frames, spherical)
        if classes is not None:
            eye = np.eye(gen.num_classes, dtype=np.float32)
            return gen.class_images(zs, lerp(eye[classes[0]], eye[classes[1]], _t(frames)))
        labels = np.full(frames, label, np.int32)
        return gen.images(zs, labels, psi if gen.styles else None)
    if classes is not None:
        raise LatentError("--classes interpolates z; StyleGAN2's ws have no class")
    ws = to_ws(gen, [a, b], psi)
    return gen.synthesis(path(ws[0], ws[1], frames, spherical))


def _t(frames: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, frames)


def style_mix(
    gen: LatentGenerator,
    rows: list[Point],
    cols: list[Point],
    layers: list[int],
    psi: float | None = None,
):
    """(images, columns) of a style-mixing grid: a blank corner, the column sources B along
    the top, the row sources A down the left, and cell (i, j) A_i's ``ws`` with rows
    ``layers`` of B_j's."""
    gen.require_styles("--mix")
    ws_a, ws_b = to_ws(gen, rows, psi), to_ws(gen, cols, psi)
    mixed = np.repeat(ws_a, len(cols), axis=0).reshape(len(rows), len(cols), *gen.ws_shape)
    mixed = np.array(mixed)
    mixed[:, :, layers] = ws_b[None, :, layers]
    images = gen.synthesis(np.concatenate([ws_b, ws_a, mixed.reshape(-1, *gen.ws_shape)]))
    tops, lefts, cells = np.split(images, [len(cols), len(cols) + len(rows)])
    blank = np.ones((1, *images.shape[1:]), np.float32)
    grid_rows = [np.concatenate([blank, tops])]
    for i in range(len(rows)):
        grid_rows.append(
            np.concatenate([lefts[i : i + 1], cells[i * len(cols) : (i + 1) * len(cols)]])
        )
    return np.concatenate(grid_rows), len(cols) + 1


def arithmetic(gen: LatentGenerator, expression: str, label: int = 0, psi: float | None = None):
    """(images, result): one image per term (its vectors averaged) and the result's last,
    and the result as a ``Point``. Terms in ``z`` are mapped to ``ws`` when another is a
    ``ws`` (StyleGAN2)."""
    terms = [(sign, point(gen, token, psi)) for sign, token in parse_expression(expression)]
    if len({p.space for _, p in terms}) > 1:
        ws = to_ws(gen, [p for _, p in terms])
        terms = [(s, Point("ws", w, p.name)) for (s, p), w in zip(terms, ws, strict=True)]
    space = terms[0][1].space
    result = Point(space, combine([(s, p.value) for s, p in terms]), expression)
    images = render_points(gen, [p for _, p in terms] + [result], label, psi)
    return images, result


def write_gif(frames: np.ndarray, path: Path, duration_ms: int = 120, scale: int | None = None):
    """An animated GIF of ``frames`` [K, H, W, C] in [-1, 1] (Pillow's GIF writer), looping,
    enlarged by ``scale`` with nearest neighbours (default: to at least 128 pixels a side).
    Pillow merges identical consecutive frames into one shown for their summed time."""
    from PIL import Image

    pixels = np.clip((frames + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    scale = scale or max(1, -(-128 // pixels.shape[1]))
    images = []
    for frame in pixels:
        image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
        images.append(image.resize((image.width * scale, image.height * scale), Image.NEAREST))
    tmp = path.with_suffix(".tmp.gif")
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    tmp.replace(path)


def write_tensorboard(gen: LatentGenerator, tag: str, grid_uint8: np.ndarray) -> Path:
    """Writes a uint8 grid [H, W, C] as image ``tag`` at the run's step into ``gen.log_dir``."""
    import tensorflow as tf

    folder = gen.log_dir
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        tf.summary.image(tag, grid_uint8[None], step=gen.step or 0, max_outputs=1)
    writer.flush()
    writer.close()
    return folder
