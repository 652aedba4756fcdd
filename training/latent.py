"""Latent-space tools: grids (truncated), interpolation, style mixing and vector arithmetic,
for a run folder or an export folder.

    gen = open_generator("runs/stylegan2-XXXX")          # generator.keras (+ checkpoint)
    gen = open_generator("runs/stylegan2-XXXX/export")   # ONNX Runtime, no model code
    images, cols = grid(gen, 64, seed=0, psi=0.7)

``python -m training.sample`` is the command line (``--grid``, ``--interpolate``, ``--mix``,
``--arithmetic``, docs/latent.md); ``python -m training.project`` finds the latent of a real
image, whose ``.npy`` these tools read.

**Where a generator comes from** (``open_generator``). A run folder (config.yaml and
generator.keras) is read with Keras; for StyleGAN2 the mapping and synthesis halves and the
truncation are rebuilt from the newest checkpoint (``export.sampler.load_sampler`` with the
``truncation`` variant, checked there against generator.keras within 1e-5), since
generator.keras bakes ``w`` into one graph. An export folder (``python -m export RUN``: a
report.json and model_card.json) is read with ONNX Runtime by default (``backend="onnx"``:
``generator.onnx``, or ``mapping.onnx`` then ``synthesis.onnx``), or with TensorFlow's
SavedModel loader (``backend="savedmodel"``: the signatures of ``saved_model/``; TensorFlow,
but none of ganzoo's model code), which ``training.project`` uses for its gradients. An export
of ``--uint8`` images is read back to [-1, 1] as x / 127.5 - 1.

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
BigGAN's shared one and SAGAN's per-class gains, becomes the mixture times its matrix). That
needs the generator's graph (``keras.models.clone_model``, the weights shared), so it is
offered for run folders only: an exported graph takes the label as an int32, and a one-line
error says so.

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
import json
import re
from pathlib import Path

import numpy as np

from zoo.errors import GanzooError

BATCH_SIZE = 500
SPACES = ("z", "ws")
TRUNCATING = "stylegan2 (towards w_avg) and biggan (a truncated normal z)"


class LatentError(GanzooError, ValueError):
    """A latent point, expression, option or generator the latent tools refuse."""


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


# -- generators ---------------------------------------------------------------------------------


class LatentGenerator:
    """A generator with a latent input, from a run folder or an export folder
    (``open_generator``), behind one interface: ``images(z, labels, psi)``, and for StyleGAN2
    ``mapping(z, psi)`` -> ``ws`` and ``synthesis(ws)``. Subclasses run it (``_generate``,
    ``_mapping``, ``_synthesis``); those with gradients (Keras, SavedModel) also give
    ``tf_functions``."""

    backend = ""

    def __init__(self, source: Path, meta: dict):
        self.source = source
        self.family: str | None = meta["family"]
        self.latent_dim: int = meta["latent_dim"]
        self.num_classes: int | None = meta.get("num_classes")
        self.code_dim: int = meta.get("code_dim", 0)
        self.ws_shape: tuple[int, int] | None = meta.get("ws_shape")
        self.image_shape: tuple = tuple(meta["image_shape"])
        self.digits: bool = meta.get("digits", False)
        self.step: int | None = meta.get("step")
        self.run_dir: Path | None = meta.get("run_dir")
        self._w_avg = None

    # -- what the generator is
    @property
    def styles(self) -> bool:
        """Whether it has StyleGAN2's mapping and synthesis halves."""
        return self.ws_shape is not None

    @property
    def truncation(self) -> str | None:
        """``w_avg`` (StyleGAN2), ``truncated_normal`` (BigGAN) or ``None``."""
        if self.styles:
            return "w_avg"
        return "truncated_normal" if self.family == "biggan" else None

    def check_psi(self, psi: float | None) -> None:
        if psi is None:
            return
        if self.truncation is None:
            raise LatentError(
                f"--truncation applies to {TRUNCATING}, not to a {self.family or 'this'} generator"
            )
        if self.truncation == "truncated_normal" and not psi > 0:
            raise LatentError(f"--truncation for biggan must be positive (got {psi})")
        self._check_truncation_available()

    def _check_truncation_available(self) -> None:
        """Raises when this StyleGAN2 cannot truncate (an export without the variant)."""

    # -- running it
    def images(self, z: np.ndarray, labels: np.ndarray | None = None, psi=None) -> np.ndarray:
        """Images of ``z`` [N, latent_dim] (and ``labels`` [N] for a conditional generator,
        class 0 when not given); ``psi`` truncates StyleGAN2's ``w`` (BigGAN's truncation is in
        how ``z`` is drawn: ``sample_z``)."""
        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        if self.styles:
            return self.synthesis(self.mapping(z, psi))
        feeds = {"z": z}
        if self.num_classes:
            given = np.zeros(len(z), np.int32) if labels is None else labels
            feeds["label"] = np.asarray(given, np.int32).reshape(-1)
        if self.code_dim:
            feeds["code"] = np.zeros((len(z), self.code_dim), np.float32)
        return _batched(self._generate, feeds)

    def mapping(self, z: np.ndarray, psi: float | None = None) -> np.ndarray:
        """StyleGAN2: ``ws`` [N, num_ws, w_dim] of ``z``, truncated by ``psi``."""
        self.require_styles("the mapping network")
        if psi is not None:
            self.check_psi(psi)
        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        return _batched(lambda f: self._mapping(f["z"], psi), {"z": z})

    def synthesis(self, ws: np.ndarray) -> np.ndarray:
        """StyleGAN2: images of ``ws`` [N, num_ws, w_dim]."""
        self.require_styles("the synthesis network")
        ws = np.asarray(ws, np.float32).reshape(-1, *self.ws_shape)
        return _batched(lambda f: self._synthesis(f["ws"]), {"ws": ws})

    @property
    def w_avg(self) -> np.ndarray:
        """StyleGAN2's tracked mean ``w`` [w_dim]: the mapping truncated with psi 0."""
        if self._w_avg is None:
            self._w_avg = self.mapping(np.zeros((1, self.latent_dim), np.float32), 0.0)[0, 0]
        return self._w_avg

    def truncate_ws(self, ws: np.ndarray, psi: float | None) -> np.ndarray:
        if psi is None:
            return ws
        self.check_psi(psi)
        return (self.w_avg + psi * (ws - self.w_avg)).astype(np.float32)

    def class_images(self, z: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Images of ``z`` with class mixtures ``weights`` [N, num_classes] (see the module
        docstring); run folders only."""
        raise LatentError(
            f"interpolating between classes needs the run folder's generator.keras: the "
            f"exported {self.backend} graph in {self.source} takes the class as an int32 label"
        )

    def tf_functions(self):
        """(generate(z, labels), mapping(z), synthesis(ws)) as differentiable TensorFlow
        functions, or None (ONNX Runtime has no gradients)."""
        return None

    def require_styles(self, what: str) -> None:
        if not self.styles:
            raise LatentError(
                f"{what} is StyleGAN2's; a {self.family or 'this'} generator maps z to images "
                "in one graph"
            )

    def _generate(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _mapping(self, z: np.ndarray, psi: float | None) -> np.ndarray:
        raise NotImplementedError

    def _synthesis(self, ws: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- where its logs go
    @property
    def log_dir(self) -> Path:
        """Where ``--tensorboard`` writes: the run's ``logs/latent`` (beside training's own
        event files, a run of its own in TensorBoard)."""
        return self.out_base / "logs" / "latent"

    @property
    def out_base(self) -> Path:
        """The folder that outputs go into by default: the run folder, or for an export
        folder outside one, the folder that holds it (never the export folder itself, which
        ``python -m export`` replaces only while it holds nothing but its own files)."""
        if self.run_dir is not None:
            return self.run_dir
        return self.source if self.backend == "keras" else self.source.parent


def _batched(fn, feeds: dict[str, np.ndarray], batch_size: int = BATCH_SIZE) -> np.ndarray:
    num = len(next(iter(feeds.values())))
    out = [
        np.asarray(fn({k: v[start : start + batch_size] for k, v in feeds.items()}))
        for start in range(0, num, batch_size)
    ]
    images = np.concatenate(out) if out else np.zeros((0,))
    if images.dtype == np.uint8:  # an export with --uint8 images
        return (images.astype(np.float32) / 127.5 - 1.0).astype(np.float32)
    return images.astype(np.float32)


class KerasGenerator(LatentGenerator):
    """A run folder's generator.keras, loaded as export loads it (``export.sampler.
    load_sampler``); for StyleGAN2 its mapping and synthesis halves rebuilt from the newest
    checkpoint with the truncation variant (``self.generator`` is then the variant, taking
    ``z`` and ``psi``; images go through the parts)."""

    backend = "keras"

    def __init__(self, run_dir: Path):
        import zoo
        from export.sampler import load_sampler
        from training.config import load
        from training.features import is_digits

        config = load(run_dir / "config.yaml")
        family = zoo.get_family(config.family)
        declared = family.contract(config.model)
        if declared.data_keys:
            raise LatentError(
                f"{config.family}'s generator reads {', '.join(declared.data_keys)} from the "
                "data; the latent tools are for generators of noise"
            )
        styles = family.exports is not None and "truncation" in family.variants
        # generator.keras, with export's one-line errors for a missing or damaged file; for
        # StyleGAN2 also the parts with the truncation variant, from the newest checkpoint
        sampler = load_sampler(run_dir, variants=("truncation",) if styles else ())
        self.generator = sampler.generator
        names = {spec.name: spec.shape[1:] for spec in sampler.inputs}
        if "z" not in names:
            raise LatentError(f"{config.family}'s generator has no latent input 'z'")
        self.parts = {part.name: part.model for part in sampler.parts}
        meta = {
            "family": config.family,
            "latent_dim": int(names["z"][0]),
            "num_classes": declared.num_classes if "label" in names else None,
            "code_dim": int(names["code"][0]) if "code" in names else 0,
            "image_shape": tuple(self.generator.output.shape[1:]),
            "digits": is_digits(config.data),
            "run_dir": run_dir,
            "step": sampler.step,
        }
        if styles:
            meta["ws_shape"] = tuple(self.parts["mapping"].output.shape[1:])
        super().__init__(run_dir, meta)
        self._soft = None

    def _generate(self, feeds):
        args = [feeds[t.name.split(":")[0]] for t in self.generator.inputs]
        return self.generator(args if len(args) > 1 else args[0], training=False)

    def _mapping(self, z, psi):
        import tensorflow as tf

        psi = tf.constant(1.0 if psi is None else psi, tf.float32)
        return self.parts["mapping"]([tf.constant(z), psi], training=False)

    def _synthesis(self, ws):
        return self.parts["synthesis"](ws, training=False)

    def class_images(self, z, weights):
        if not self.num_classes:
            raise LatentError(f"a {self.family} generator has no class input to interpolate")
        if self._soft is None:
            self._soft = _soft_label_model(self.generator, self.num_classes)
        z = np.asarray(z, np.float32)
        feeds = {"z": z, "label": np.asarray(weights, np.float32)}
        if self.code_dim:
            feeds["code"] = np.zeros((len(z), self.code_dim), np.float32)
        return _batched(lambda f: self._soft_call(f), feeds)

    def _soft_call(self, feeds):
        args = [feeds[t.name.split(":")[0]] for t in self.generator.inputs]
        return self._soft(args, training=False)

    def tf_functions(self):
        import tensorflow as tf

        def generate(z, labels=None):
            args = {"z": z, "label": labels}
            if self.code_dim:
                args["code"] = tf.zeros((tf.shape(z)[0], self.code_dim))
            inputs = [args[t.name.split(":")[0]] for t in self.generator.inputs]
            return self.generator(inputs if len(inputs) > 1 else inputs[0], training=False)

        if not self.styles:
            return generate, None, None
        mapping, synthesis = self.parts["mapping"], self.parts["synthesis"]
        return (
            generate,
            lambda z: mapping([z, tf.constant(1.0)], training=False),
            lambda ws: synthesis(ws, training=False),
        )


def _soft_label_model(generator, num_classes: int):
    """``generator`` (sharing its layers) with its int32 ``label`` input replaced by class
    weights [N, num_classes]: a one-hot ``CategoryEncoding`` of the label passes the weights
    on, an ``Embedding`` of it gives weights @ its matrix (the mixture of the classes'
    embeddings)."""
    import keras

    inputs = []
    for tensor in generator.inputs:
        name = tensor.name.split(":")[0]
        if name == "label":
            inputs.append(keras.Input((num_classes,), name="label"))
        else:
            inputs.append(keras.Input(tuple(tensor.shape[1:]), dtype=tensor.dtype, name=name))
    (weights,) = [t for t in inputs if t.name.split(":")[0] == "label"]

    def call(layer, *args, **kwargs):
        if args and args[0] is weights:
            if isinstance(layer, keras.layers.CategoryEncoding):
                return weights
            if isinstance(layer, keras.layers.Embedding):
                return keras.ops.matmul(weights, layer.embeddings)
            raise LatentError(
                f"the label enters this generator through {type(layer).__name__} "
                f"{layer.name!r}, not an embedding; classes cannot be interpolated"
            )
        return layer(*args, **kwargs)

    return keras.models.clone_model(
        generator, input_tensors=inputs, clone_function=lambda layer: layer, call_function=call
    )


class _ExportGenerator(LatentGenerator):
    """An export folder: what its report.json and model_card.json say it holds."""

    def __init__(self, folder: Path):
        report, card = _read_export(folder)
        inputs = {spec["name"]: spec for spec in report["inputs"]}
        extra = [n for n in inputs if n not in ("z", "label", "code", "psi")]
        parts = report.get("parts", {})
        if extra and not parts:
            raise LatentError(
                f"the generator in {folder} reads {', '.join(extra)}; the latent tools are for "
                "generators of noise ('z', with 'label' or 'code')"
            )
        if "z" not in inputs:
            raise LatentError(f"the generator in {folder} has no latent input 'z'")
        model = card.get("model", {})
        run_dir = folder.parent if (folder.parent / "config.yaml").is_file() else None
        self.files = {
            r.get("part") or "generator": folder / Path(r["file"]).name
            for r in report["results"]
            if r["format"].split(":")[0] == self.backend
        }
        meta = {
            "family": card.get("family"),
            "latent_dim": int(inputs["z"]["shape"][-1]),
            "num_classes": model.get("num_classes") if "label" in inputs else None,
            "code_dim": int(inputs["code"]["shape"][-1]) if "code" in inputs else 0,
            "image_shape": tuple(report["output"]["shape"][1:]),
            "digits": card.get("dataset", {}).get("name") == "mnist"
            and card.get("dataset", {}).get("source") != "folder",
            "step": card.get("training_steps"),
            "run_dir": run_dir,
        }
        self.truncating = "truncation" in report.get("variants", [])
        if parts.get("order") == ["mapping", "synthesis"]:
            meta["ws_shape"] = tuple(parts["mapping"]["output"]["shape"][1:])
        super().__init__(folder, meta)
        needed = ["mapping", "synthesis"] if self.styles else ["generator"]
        if missing := [n for n in needed if n not in self.files]:
            raise LatentError(
                f"{folder} has no {self.backend} file of {', '.join(missing)}; export it with: "
                f"python -m export RUN_DIR --format {self.backend}"
            )
        self._sibling = None

    def _check_truncation_available(self):
        if self.styles and not self.truncating:
            self._truncation_sibling()

    def _truncation_sibling(self):
        """The run's ``export_truncation`` (or ``export_truncation_noise``) folder opened with
        this backend, checked to map ``z`` as this folder does."""
        if self._sibling is not None:
            return self._sibling
        how = (
            f"{self.source} was exported without --truncation; export it with: python -m "
            "export RUN_DIR --truncation"
        )
        for name in ("export_truncation", "export_truncation_noise"):
            folder = self.source.parent / name
            if folder.resolve() != self.source.resolve() and (folder / "report.json").is_file():
                sibling = type(self)(folder)
                if not (sibling.styles and sibling.truncating):
                    continue
                z = np.stack([seed_z(s, self.latent_dim) for s in range(4)])
                diff = float(np.abs(sibling._mapping(z, 1.0) - self._mapping(z, None)).max())
                if diff > 1e-4:
                    raise LatentError(
                        f"{folder} maps z differently from {self.source} (max {diff:.3g}): not "
                        "the same checkpoint; export both again"
                    )
                self._sibling = sibling
                return sibling
        raise LatentError(how)

    def _mapping(self, z, psi):
        if psi is not None and not self.truncating:
            return self._truncation_sibling()._mapping(z, psi)
        return self._run_mapping(z, psi)

    def _noise(self, names: list[str], shapes: dict, batch: int) -> dict:
        """A noise variant's per-layer noise: one fixed standard-normal draw (seed 0), the same
        for every image and call, so that a ``ws`` always gives the same image."""
        rng = np.random.default_rng(0)
        out = {}
        for name in names:
            one = rng.standard_normal((1, *shapes[name])).astype(np.float32)
            out[name] = np.repeat(one, batch, axis=0)
        return out


class OnnxGenerator(_ExportGenerator):
    """An export folder run in ONNX Runtime: ``generator.onnx``, or for StyleGAN2
    ``mapping.onnx`` and ``synthesis.onnx``."""

    backend = "onnx"

    def __init__(self, folder: Path):
        super().__init__(folder)
        self._sessions = {}

    def _session(self, name: str):
        if name not in self._sessions:
            import onnxruntime as ort

            self._sessions[name] = ort.InferenceSession(
                str(self.files[name]), providers=["CPUExecutionProvider"]
            )
        return self._sessions[name]

    def _run(self, name: str, feeds: dict) -> np.ndarray:
        session = self._session(name)
        wanted = {i.name: i for i in session.get_inputs()}
        feeds = {k: v for k, v in feeds.items() if k in wanted}
        if missing := [n for n in wanted if n not in feeds]:
            batch = len(next(iter(feeds.values())))
            shapes = {n: tuple(wanted[n].shape[1:]) for n in missing}
            feeds.update(self._noise(missing, shapes, batch))
        return session.run(None, feeds)[0]

    def _generate(self, feeds):
        return self._run("generator", feeds)

    def _run_mapping(self, z, psi):
        feeds = {"z": z}
        if self.truncating:
            feeds["psi"] = np.asarray(1.0 if psi is None else psi, np.float32)
        return self._run("mapping", feeds)

    def _synthesis(self, ws):
        return self._run("synthesis", {"ws": ws})


class SavedModelGenerator(_ExportGenerator):
    """An export folder's ``saved_model/`` in TensorFlow: the ``serving_default``, ``mapping``
    and ``synthesis`` signatures, differentiable (``tf_functions``) unless exported with
    ``--uint8``."""

    backend = "savedmodel"

    def __init__(self, folder: Path):
        super().__init__(folder)
        import tensorflow as tf

        self.uint8 = _read_export(folder)[0]["output"].get("dtype") == "uint8"
        self.model = tf.saved_model.load(str(self.files["generator"]))
        self.signatures = {
            "generator": self.model.signatures["serving_default"],
            **{n: self.model.signatures[n] for n in ("mapping", "synthesis") if self.styles},
        }

    def _call(self, name: str, feeds: dict):
        import tensorflow as tf

        signature = self.signatures[name]
        specs = signature.structured_input_signature[1]
        args = {k: tf.convert_to_tensor(v) for k, v in feeds.items() if k in specs}
        if missing := [n for n in specs if n not in args]:
            batch = int(next(iter(args.values())).shape[0])
            shapes = {n: tuple(specs[n].shape[1:]) for n in missing}
            args.update({k: tf.constant(v) for k, v in self._noise(missing, shapes, batch).items()})
        return next(iter(signature(**args).values()))

    def _generate(self, feeds):
        return self._call("generator", feeds)

    def _run_mapping(self, z, psi):
        feeds = {"z": z}
        if self.truncating:
            feeds["psi"] = np.asarray(1.0 if psi is None else psi, np.float32)
        return self._call("mapping", feeds)

    def _synthesis(self, ws):
        return self._call("synthesis", {"ws": ws})

    def tf_functions(self):
        if self.uint8:
            return None
        import tensorflow as tf

        def generate(z, labels=None):
            feeds = {"z": z, "label": labels}
            if self.code_dim:
                feeds["code"] = tf.zeros((tf.shape(z)[0], self.code_dim))
            return self._call("generator", {k: v for k, v in feeds.items() if v is not None})

        if not self.styles:
            return generate, None, None
        one = tf.constant(1.0)

        def mapping(z):
            return self._call("mapping", {"z": z, **({"psi": one} if self.truncating else {})})

        return generate, mapping, lambda ws: self._call("synthesis", {"ws": ws})


BACKENDS = ("auto", "keras", "savedmodel", "onnx")


def open_generator(source: str | Path, backend: str = "auto") -> LatentGenerator:
    """The generator of a run folder (Keras) or an export folder (``onnx`` by default, or
    ``savedmodel``), or a one-line ``LatentError`` (see the module docstring)."""
    source = Path(source)
    if backend not in BACKENDS:
        raise LatentError(f"unknown backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    if (source / "config.yaml").is_file() and (source / "generator.keras").is_file():
        if backend not in ("auto", "keras"):
            raise LatentError(
                f"{source} is a run folder, read with Keras; --backend {backend} reads an "
                f"export folder (python -m export {source} writes {source}/export)"
            )
        return KerasGenerator(source)
    if (source / "report.json").is_file():
        if backend == "keras":
            raise LatentError(
                f"{source} is an export folder; --backend keras reads a run folder's "
                "generator.keras (accepted here: onnx, savedmodel)"
            )
        return SavedModelGenerator(source) if backend == "savedmodel" else OnnxGenerator(source)
    raise LatentError(
        f"{source} is neither a trained run folder (config.yaml and generator.keras) nor an "
        "export folder (report.json from python -m export)"
    )


def _read_export(folder: Path) -> tuple[dict, dict]:
    try:
        report = json.loads((folder / "report.json").read_text())
        card = json.loads((folder / "model_card.json").read_text())
        report["inputs"], report["results"], report["output"]  # noqa: B018
    except (OSError, ValueError, KeyError, TypeError):
        raise LatentError(
            f"{folder} is not a readable export (report.json and model_card.json from python -m "
            "export); export the run again"
        ) from None
    return report, card


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
