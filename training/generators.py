"""A generator with a latent input, from a run folder or an export folder, behind one
interface (``LatentGenerator``), for the latent-space tools (``training.latent``) and
``training.project``.

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

**Between classes** (``class_images``): a conditional generator is fed class weights [N,
num_classes] where its label enters (``zoo.class_weights``). A run folder's generator.keras is
cloned to take them; an export folder runs its ``class_weights`` variant (``python -m export
RUN --class-weights``): its own graph when it is that variant (whose ``label`` then takes the
one-hot rows of int32 classes everywhere else), or the ``export_class_weights`` folder beside
it, checked to give its images for the same classes (as StyleGAN2's truncation is found in
``export_truncation``).

The generator runs at most ``BATCH_SIZE`` inputs at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from zoo import class_weights
from zoo.errors import GanzooError

BATCH_SIZE = 500
TRUNCATING = "stylegan2 (towards w_avg) and biggan (a truncated normal z)"


class LatentError(GanzooError, ValueError):
    """A latent point, expression, option or generator the latent tools refuse."""


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
            feeds["label"] = self._label_feed(np.asarray(given, np.int32).reshape(-1))
        if self.code_dim:
            feeds["code"] = np.zeros((len(z), self.code_dim), np.float32)
        return _batched(self._generate, feeds)

    def _label_feed(self, labels: np.ndarray) -> np.ndarray:
        """What the generator's ``label`` input takes for int32 class indices ``labels``."""
        return labels

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
        docstring)."""
        raise NotImplementedError

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
            try:
                self._soft = class_weights.soft_label_model(self.generator, self.num_classes)
            except class_weights.ClassWeightsError as err:
                raise LatentError(f"{err}; classes cannot be interpolated") from None
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
        # the class_weights variant: label is float32 class weights [N, num_classes]
        self.class_weighted = class_weights.VARIANT in report.get("variants", [])
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
        self._weights_sibling = None

    def _beside(self, names: tuple[str, ...]):
        """The export folders called ``names`` beside this one (where ``python -m export RUN
        --VARIANT`` writes them), each opened with this backend."""
        for name in names:
            folder = self.source.parent / name
            if folder.resolve() != self.source.resolve() and (folder / "report.json").is_file():
                yield type(self)(folder)

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
        for sibling in self._beside(("export_truncation", "export_truncation_noise")):
            if not (sibling.styles and sibling.truncating):
                continue
            rng = np.random.default_rng(0)  # four z: the mappings must agree on them
            z = rng.standard_normal((4, self.latent_dim)).astype(np.float32)
            diff = float(np.abs(sibling._mapping(z, 1.0) - self._mapping(z, None)).max())
            if diff > 1e-4:
                raise LatentError(
                    f"{sibling.source} maps z differently from {self.source} (max {diff:.3g}): "
                    "not the same checkpoint; export both again"
                )
            self._sibling = sibling
            return sibling
        raise LatentError(how)

    def _label_feed(self, labels):
        if self.class_weighted:  # class c is the one-hot row e_c
            return np.eye(self.num_classes, dtype=np.float32)[labels]
        return labels

    def class_images(self, z, weights):
        if not self.num_classes:
            raise LatentError(f"a {self.family} generator has no class input to interpolate")
        gen = self if self.class_weighted else self._class_weights_sibling()
        z = np.asarray(z, np.float32)
        feeds = {"z": z, "label": np.asarray(weights, np.float32)}
        if self.code_dim:
            feeds["code"] = np.zeros((len(z), self.code_dim), np.float32)
        return _batched(gen._generate, feeds)

    def _class_weights_sibling(self):
        """The run's ``export_class_weights`` folder (``python -m export RUN --class-weights``)
        opened with this backend, checked to give this folder's images for the same ``z`` and
        classes (its one-hot rows against this folder's int32 labels)."""
        if self._weights_sibling is not None:
            return self._weights_sibling
        run = self.run_dir or "RUN_DIR"
        how = (
            f"interpolating between classes needs the class-weights export: {self.source} takes "
            f"the class as an int32 label and has no export_{class_weights.VARIANT} folder beside "
            f"it; export it with: python -m export {run} --class-weights"
        )
        for sibling in self._beside((f"export_{class_weights.VARIANT}",)):
            if not sibling.class_weighted or sibling.num_classes != self.num_classes:
                continue
            rng = np.random.default_rng(0)  # four z and classes: the images must agree on them
            z = rng.standard_normal((4, self.latent_dim)).astype(np.float32)
            labels = np.arange(4) % self.num_classes
            diff = float(np.abs(sibling.images(z, labels) - self.images(z, labels)).max())
            if diff > 1e-4:
                raise LatentError(
                    f"{sibling.source} gives other images than {self.source} (max {diff:.3g}): "
                    "not the same generator; export both again"
                )
            self._weights_sibling = sibling
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

    def _run(self, name: str, feeds: dict):
        """Export part ``name`` (generator, mapping, synthesis) on ``feeds`` by input name."""
        raise NotImplementedError

    def _generate(self, feeds):
        return self._run("generator", feeds)

    def _run_mapping(self, z, psi):
        feeds = {"z": z}
        if self.truncating:
            feeds["psi"] = np.asarray(1.0 if psi is None else psi, np.float32)
        return self._run("mapping", feeds)

    def _synthesis(self, ws):
        return self._run("synthesis", {"ws": ws})


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

    def _run(self, name: str, feeds: dict):
        import tensorflow as tf

        signature = self.signatures[name]
        specs = signature.structured_input_signature[1]
        args = {k: tf.convert_to_tensor(v) for k, v in feeds.items() if k in specs}
        if missing := [n for n in specs if n not in args]:
            batch = int(next(iter(args.values())).shape[0])
            shapes = {n: tuple(specs[n].shape[1:]) for n in missing}
            args.update({k: tf.constant(v) for k, v in self._noise(missing, shapes, batch).items()})
        return next(iter(signature(**args).values()))

    def tf_functions(self):
        if self.uint8:
            return None
        import tensorflow as tf

        def generate(z, labels=None):
            if labels is not None and self.class_weighted:
                labels = tf.one_hot(labels, self.num_classes)
            feeds = {"z": z, "label": labels}
            if self.code_dim:
                feeds["code"] = tf.zeros((tf.shape(z)[0], self.code_dim))
            return self._run("generator", {k: v for k, v in feeds.items() if v is not None})

        if not self.styles:
            return generate, None, None
        one = tf.constant(1.0)

        def mapping(z):
            return self._run("mapping", {"z": z, **({"psi": one} if self.truncating else {})})

        return generate, mapping, lambda ws: self._run("synthesis", {"ws": ws})


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
