"""The generator's inference path: what ships, described by name.

Inputs are taken from the saved generator's own named inputs: ``z`` float32 [batch, latent_dim],
plus ``label`` int32 [batch] for class-conditional families (InfoGAN's categorical code) and
``code`` float32 [batch, num_codes] for InfoGAN's continuous codes; the batch dimension is always
dynamic. The single output is
``image``: float32 in [-1, 1], or with ``uint8=True`` uint8 in [0, 255], computed as
``round((x + 1) * 127.5)``.

A family with ``Family.exports`` (StyleGAN2) also ships **parts** of its generator, each
exported on its own (``Part``: a SavedModel signature, ``NAME.onnx``, ``NAME.tflite``), and
**variants** of it (``Family.variants``: StyleGAN2's truncation ``psi`` and noise inputs). Both
are built from the trained network (EMA weights when kept), which generator.keras (Keras' own
layers, weights baked in) no longer holds in that form: it is rebuilt from the run's
config.yaml and its newest checkpoint, and checked against generator.keras before use.

A generator with a class input has the ``class_weights`` variant whatever its family
(``Family.variants_for``): generator.keras itself with ``label`` as float32 class weights
[batch, num_classes] (``zoo.class_weights.soft_label_model``, sharing its weights), checked to
give generator.keras's images on one-hot rows before use.

A two-domain run ships a generator for each direction (``training.translation.DIRECTIONS``):
``generator.keras`` (A -> B) and ``generator_ba.keras`` (B -> A); ``load_sampler(direction=...)``
loads either. The way back reads domain B's images (``image_b``). A run folder's
``calibration.npz`` holds real examples of the inputs its A -> B generator reads (``image_a``),
so unless it also holds ``image_b``, the B -> A generator is checked and calibrated on the
A -> B generator's translations of those real A examples: domain-B images as the run's own
generator makes them, the very inputs the way back is trained on in the A -> B -> A cycle.
"""

from __future__ import annotations

import dataclasses
import functools
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from zoo import class_weights
from zoo.contract import CALIBRATION_FILE
from zoo.errors import GanzooError
from zoo.registry import variant_flag

if TYPE_CHECKING:  # imported where they are used, so that ``python -m export --help`` is instant
    import keras
    import tensorflow as tf


class ExportError(GanzooError, RuntimeError):
    """An export that cannot be done, with what to do about it."""


class DirectionError(ExportError):
    """A direction the run does not ship a generator for: a usage error like a bad option (the
    CLI exits 2), raised before anything is loaded."""


class VariantError(ExportError):
    """An export variant the run's family does not offer: a usage error like a bad option (the
    CLI exits 2), raised before anything is loaded."""


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
class Part:
    """A part of the generator exported on its own (StyleGAN2's ``mapping`` and
    ``synthesis``): named inputs -> one named output (``ws``, ``image``), a SavedModel
    signature named after it, and its own ``NAME.onnx`` and ``NAME.tflite``."""

    name: str
    model: keras.Model
    inputs: list[InputSpec]
    output_name: str
    uint8: bool = False  # an ``image`` output as uint8, like the generator's

    @property
    def output(self) -> dict:
        shape = [None, *self.model.output_shape[1:]]
        if self.uint8:
            return {"name": self.output_name, "shape": shape, "dtype": "uint8", "range": [0, 255]}
        return {"name": self.output_name, "shape": shape, "dtype": "float32"}

    def serve(self, *inputs):
        """The exported function: named inputs -> {output_name: ...}."""
        import tensorflow as tf

        out = self.model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        if self.uint8:
            out = tf.cast(tf.round(tf.clip_by_value((out + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)
        return {self.output_name: out}

    def reference(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The Keras output for ``feeds`` (by input name; others are ignored)."""
        import tensorflow as tf

        args = [tf.constant(feeds[spec.name]) for spec in self.inputs]
        return np.asarray(self.serve(*args)[self.output_name])


@dataclasses.dataclass
class Sampler:
    """A loaded generator, its run's config and the inference graph's description."""

    generator: keras.Model
    inputs: list[InputSpec]
    uint8: bool
    run_config: dict
    step: int | None
    calibration: dict[str, np.ndarray] | None = None  # real examples of the data inputs
    artifact: str = "generator"  # the run folder's ARTIFACT.keras this is
    direction: str = "AB"  # the direction it translates, for a two-domain run (DIRECTIONS)
    parity_inputs: str | None = None  # what the data inputs' examples are, if not real ones
    variants: tuple[str, ...] = ()  # the family's export variants this generator has
    parts: list[Part] = dataclasses.field(default_factory=list)  # in the order they compose
    skipped_parts: dict[str, str] = dataclasses.field(default_factory=dict)  # part -> why not

    @property
    def two_way(self) -> bool:
        """Whether the run ships a generator for each direction (then the report and model
        card say which one this is)."""
        from training.translation import directions

        declared = self._family_contract()
        return declared is not None and "BA" in directions(declared)

    def _family_contract(self):
        import zoo

        name = self.run_config.get("family")
        if name not in zoo.list_families():
            return None
        family = zoo.get_family(name)
        return family.contract(family.model_config(self.run_config.get("model", {})))

    @property
    def output(self) -> dict:
        shape = [None, *self.generator.output_shape[1:]]
        if self.uint8:
            return {"name": "image", "shape": shape, "dtype": "uint8", "range": [0, 255]}
        return {"name": "image", "shape": shape, "dtype": "float32", "range": [-1.0, 1.0]}

    @functools.cached_property
    def contract(self):
        """The family's declaration of the generator's inputs (``zoo.contract``). A bare
        generator.keras, without its run's config.yaml, is read by its input names: ``z``
        standard normal, ``code`` uniform in [-1, 1]."""
        from training.translation import direction_contract
        from zoo import contract

        if (declared := self._family_contract()) is not None:
            declared = direction_contract(declared, self.direction)
            if class_weights.VARIANT in self.variants:
                declared = declared.with_class_weights()
            names = [s.name for s in self.inputs]
            if any(name not in declared.inputs for name in names):  # a variant's inputs
                declared = declared.taking(names)
            return declared
        known = {"z": contract.normal(), "code": contract.uniform_code()}
        if unknown := [s.name for s in self.inputs if s.name not in known]:
            raise ExportError(
                f"the generator has inputs {unknown} that export cannot feed without the run's "
                "config.yaml (it feeds 'z' and 'code' by name)"
            )
        return contract.Contract("unknown", {s.name: known[s.name] for s in self.inputs})

    def serve(self, *inputs):
        """The exported function: named inputs -> {"image": ...}.

        A class input (``label``) outside [0, classes) is clipped to the nearest class, so -1
        gives class 0's image and 15 the last class's. Left alone, the runtimes disagree
        (measured): the one-hot of an out-of-range label is all zeros in TensorFlow and
        TFLite, an image of no class, while ONNX's OneHot reads -1 as the last class.
        Clipping is a min/max that SavedModel, TFLite and ONNX all convert; an assertion would
        not survive conversion.
        """
        import tensorflow as tf

        declared = self.contract.inputs
        inputs = [
            tf.clip_by_value(x, 0, declared[spec.name].classes - 1)
            if declared[spec.name].kind == "class"
            else x
            for spec, x in zip(self.inputs, inputs, strict=True)
        ]
        image = self.generator(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        if self.uint8:
            image = tf.cast(tf.round(tf.clip_by_value((image + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)
        return {"image": image}

    def reference(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The Keras output for ``feeds``, post-processed like the export."""
        import tensorflow as tf

        args = [tf.constant(feeds[spec.name]) for spec in self.inputs]
        return np.asarray(self.serve(*args)["image"])

    def part_inputs(
        self, feeds: dict[str, np.ndarray], mixed: bool = False
    ) -> dict[str, dict[str, np.ndarray]]:
        """Each part's inputs for the generator's ``feeds``: the generator's inputs, and the
        Keras outputs of the parts before it (``synthesis`` takes ``mapping``'s ``ws``). With
        ``mixed``, an earlier part's output with a row per layer ([N, layers, ...]: StyleGAN2's
        ``ws``, every row the same ``w``) has every other row taken from the next example, so
        that a part that read one layer's row for another's would not pass its parity check."""
        pool, out = dict(feeds), {}
        for part in self.parts:
            out[part.name] = {s.name: pool[s.name] for s in part.inputs}
            output = part.reference(out[part.name])
            if mixed and output.ndim >= 3 and len(output) > 1:
                output = np.array(output)
                output[:, 1::2] = np.roll(output, 1, axis=0)[:, 1::2]
            pool[part.output_name] = output
        return out

    def example_inputs(self, batch: int, seed: int) -> dict[str, np.ndarray]:
        """Inputs drawn as in training, as the family's contract declares them (noise, classes,
        codes), and real examples for inputs read from the data (the run's calibration.npz)."""
        contract = self.contract
        if missing := [s.name for s in self.inputs if s.name not in contract.inputs]:
            raise ExportError(f"the generator's inputs {missing} are not in its family's contract")
        shapes = {s.name: s.shape[1:] for s in self.inputs}
        try:
            return contract.example_inputs(
                shapes, batch, np.random.default_rng(seed), self.calibration
            )
        except ValueError as err:
            raise ExportError(
                f"{err}: the run folder has no calibration.npz of real inputs (training writes "
                "it); resume the run to write it"
            ) from None

    @property
    def num_classes(self) -> int | None:
        return self.contract.num_classes


def load_sampler(
    run_dir: str | Path, uint8: bool = False, direction: str = "AB", variants=()
) -> Sampler:
    """The generator of run folder ``run_dir`` (EMA weights when the run kept them) that
    translates in ``direction`` (``AB``: generator.keras, what every run ships; ``BA``: a
    two-domain run's generator_ba.keras), with the family's export ``variants``
    (``check_variants``) and its parts (``Family.exports``)."""
    import zoo

    run_dir = check_run_dir(run_dir)
    config = read_config(run_dir)
    artifact = direction_artifact(config, direction)
    variants = check_variants(config, variants)
    direction = direction.upper()
    generator = _load(run_dir, config, artifact)
    calibration = None
    if (run_dir / CALIBRATION_FILE).is_file():
        with np.load(run_dir / CALIBRATION_FILE) as arrays:
            calibration = {key: arrays[key] for key in arrays.files}
    step = _checkpoint_step(run_dir)
    sampler = Sampler(
        generator, _input_specs(generator), uint8, config, step, calibration, artifact, direction
    )
    if direction == "AB":
        own = zoo.get_family(config["family"]).variants if variants else {}
        _with_exports(sampler, run_dir, tuple(v for v in variants if v in own))
    if class_weights.VARIANT in variants:
        _with_class_weights(sampler)
    sampler.variants = variants
    if direction != "AB" and calibration is not None:
        (key,) = sampler.contract.data_keys
        if key not in calibration:  # the A -> B generator's translations of real A examples
            ab = _load(run_dir, config, "generator")
            forward = Sampler(ab, _input_specs(ab), False, config, step, calibration)
            feeds = forward.example_inputs(len(next(iter(calibration.values()))), seed=0)
            args = [feeds[spec.name] for spec in forward.inputs]
            fakes = forward.generator(args[0] if len(args) == 1 else args, training=False)
            sampler.calibration = {key: np.asarray(fakes, np.float32)}
            sampler.parity_inputs = (
                f"generator.keras's translations of the run's real "
                f"{', '.join(forward.contract.data_keys)} examples ({CALIBRATION_FILE} holds no "
                f"{key})"
            )
    return sampler


def check_variants(config: dict, variants) -> tuple[str, ...]:
    """``variants`` if the family of a run with config ``config`` offers each of them
    (``Family.variants_for`` the run's model), else a one-line ``VariantError`` naming the
    families that do."""
    import zoo

    variants = tuple(variants)
    if not variants:
        return variants
    name = config.get("family")
    offered = {}
    if name in zoo.list_families():
        family = zoo.get_family(name)
        offered = family.variants_for(family.model_config(config.get("model") or {}))
    for variant in variants:
        if variant not in offered:
            offering = zoo.export_variants().get(variant, {})
            families = ", ".join(offering) or "no family"
            run = f"a {name} run" if name else "a run without a config.yaml naming its family"
            if name in offering:  # the family can have it, this run's model has not
                run = f"this {name} run (its generator has no class input)"
            flags = ", ".join(variant_flag(v) for v in offered)
            raise VariantError(
                f"{variant_flag(variant)} applies to runs of {families}, not to {run}"
                + (f" (its variants: {flags})" if offered else "")
            )
    return variants


def _with_class_weights(sampler: Sampler) -> None:
    """Gives ``sampler`` the ``class_weights`` variant of its generator
    (``zoo.class_weights``), once it has given the generator's images on one-hot rows (within
    1e-5): class c's row must be the int32 label c."""
    flag, label = variant_flag(class_weights.VARIANT), class_weights.INPUT
    classes = sampler.contract.num_classes
    if not classes or label not in sampler.contract.inputs:
        raise VariantError(
            f"{flag} needs a generator with a class input {label!r}; "
            f"{sampler.artifact}.keras has none"
        )
    try:
        soft = class_weights.soft_label_model(sampler.generator, classes)
    except class_weights.ClassWeightsError as err:
        raise ExportError(f"{flag}: {err}") from None
    feeds = sampler.example_inputs(8, seed=0)
    labels = np.arange(8) % classes
    feeds[label] = labels.astype(np.int32)
    plain = [feeds[s.name] for s in sampler.inputs]
    feeds[label] = np.eye(classes, dtype=np.float32)[labels]
    weighted = [feeds[s.name] for s in sampler.inputs]
    expected = np.asarray(sampler.generator(plain, training=False))
    diff = float(np.abs(np.asarray(soft(weighted, training=False)) - expected).max())
    if diff > 1e-5:
        raise ExportError(
            f"the {flag} generator gives other images than {sampler.artifact}.keras on one-hot "
            f"class weights (max difference {diff:.3g})"
        )
    sampler.generator, sampler.inputs = soft, _input_specs(soft)
    sampler.__dict__.pop("contract", None)  # recomputed for the variant's inputs


def _with_exports(sampler: Sampler, run_dir: Path, variants: tuple[str, ...]) -> None:
    """Gives ``sampler`` the family's variant generator and parts (``Family.exports``), built
    from the trained network of the run's newest checkpoint. That network must give
    generator.keras's images (within 1e-5) before anything is built from it. A run folder
    without a checkpoint exports generator.keras alone (the parts skipped, with why); its
    variants cannot be exported."""
    import zoo

    name = sampler.run_config.get("family")
    if name not in zoo.list_families() or zoo.get_family(name).exports is None:
        return  # a bare generator.keras, or a family that ships the generator alone
    family = zoo.get_family(name)
    network = _trained_network(run_dir, sampler.run_config, family, required=bool(variants))
    if network is None:
        why = "the run folder has no checkpoint to build it from (resume the run to write one)"
        sampler.skipped_parts = {"parts": why}
        return
    models = family.exports(network, ())
    feeds = sampler.example_inputs(4, seed=0)
    args = [feeds[s.name] for s in sampler.inputs]
    shipped = np.asarray(sampler.generator(args[0] if len(args) == 1 else args, training=False))
    rebuilt = np.asarray(models["generator"](args[0] if len(args) == 1 else args, training=False))
    if (diff := float(np.abs(shipped - rebuilt).max())) > 1e-5:
        raise ExportError(
            f"the newest checkpoint of {run_dir} (step {sampler.step}) does not give "
            f"generator.keras's images (max difference {diff:.3g}); write both again with: "
            f"python -m training.run {family.name} --run-dir {run_dir} --resume"
        )
    if variants:
        models = family.exports(network, variants)
        sampler.generator, sampler.variants = models["generator"], variants
        sampler.inputs = _input_specs(sampler.generator)
        sampler.__dict__.pop("contract", None)  # the variant's inputs (a cached property)
    for name, model in models.items():
        if name != "generator":
            output = model.output_names[0] if hasattr(model, "output_names") else model.name
            sampler.parts.append(
                Part(name, model, _input_specs(model), output, sampler.uint8 and output == "image")
            )


def _trained_network(run_dir: Path, config: dict, family, required: bool):
    """The network the run ships as ``generator`` (its EMA twin's weights when the run keeps
    one), built from config.yaml and read from the newest checkpoint; ``None`` when there is
    no checkpoint and it is not ``required``.

    Only that network is read (``expect_partial``), by the name training checkpoints it under
    (``training.trainers.base.Trainer.checkpoint_parts``: ``NAME_ema`` for the EMA twin), and
    every one of its variables must be found (``assert_existing_objects_matched``).
    """
    import keras
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    resume = f"python -m training.run {family.name} --run-dir {run_dir} --resume"
    if state is None or not state.model_checkpoint_path:
        if not required:
            return None
        raise ExportError(
            f"{run_dir} has no checkpoint to build the variant from (generator.keras has its "
            f"weights baked in); write one with: {resume}"
        )
    model_config = family.model_config(config.get("model", {}))
    contract = family.contract(model_config)
    name = contract.ships["generator"]
    keras.utils.set_random_seed(0)  # the initial weights are all overwritten; no draw matters
    network = family.build(model_config)[name]
    ema = config.get("train", {}).get("ema_decay") is not None and name in contract.ema
    checkpoint = tf.train.Checkpoint(**{f"{name}_ema" if ema else name: network})
    try:
        status = checkpoint.read(state.model_checkpoint_path)
        status.assert_existing_objects_matched().expect_partial()
    except Exception as err:  # noqa: BLE001 (TF raises many types for a damaged file)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(
            f"the trained network cannot be read from {state.model_checkpoint_path} "
            f"({first[:160]}); write the checkpoint again with: {resume}"
        ) from None
    return network


def check_direction(run_dir: Path, direction: str) -> str:
    """The artifact of run folder ``run_dir`` that translates in ``direction`` (reading only its
    config.yaml), or a one-line ``DirectionError``."""
    return direction_artifact(read_config(run_dir), direction)


def direction_artifact(config: dict, direction: str) -> str:
    """The artifact (``generator``, ``generator_ba``) of a run with config ``config`` that
    translates in ``direction``, or a one-line ``DirectionError`` saying what is accepted."""
    import zoo
    from training.translation import DIRECTIONS, direction_problem

    word = direction.upper()
    if word == "AB":
        return DIRECTIONS["AB"][0]
    name = config.get("family")
    if name not in zoo.list_families():
        if word not in DIRECTIONS:
            raise DirectionError(direction_problem(None, name, word))
        raise DirectionError(
            f"direction {word} needs the run's config.yaml naming its family (it finds the "
            "family's reverse generator by it); accepted without it: AB"
        )
    family = zoo.get_family(name)
    contract = family.contract(family.model_config(config.get("model", {})))
    if problem := direction_problem(contract, name, word):
        raise DirectionError(problem)
    return DIRECTIONS[word][0]


def _load(run_dir: Path, config: dict, artifact: str) -> keras.Model:
    """The run folder's ``ARTIFACT.keras``, or a one-line ``ExportError`` saying how to write it
    again from the run's checkpoint."""
    import keras

    import zoo.layers  # noqa: F401  (registers ganzoo's custom Keras layers for loading)

    path = run_dir / f"{artifact}.keras"
    family = config.get("family", "FAMILY")
    resume = f"python -m training.run {family} --run-dir {run_dir} --resume"
    if not path.is_file():
        raise ExportError(
            f"{run_dir} has no {path.name}; train first, or write it from the run's "
            f"checkpoint with: {resume}"
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ExportError(
            f"{path} cannot be loaded ({type(err).__name__}: {first[:120]}); write it again from "
            f"the run's checkpoint with: {resume}"
        ) from None


def _input_specs(generator) -> list[InputSpec]:
    """The named inputs, batch first and dynamic; a rank-0 input (a truncation ``psi``) is one
    value for the whole batch."""
    return [
        InputSpec(
            t.name.split(":")[0],
            (None, *t.shape[1:]) if len(t.shape) else (),
            str(t.dtype).replace("tf.", ""),
        )
        for t in generator.inputs
    ]


def check_run_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"{run_dir} is not a folder; give a run folder such as runs/dcgan-...")
    return run_dir


def read_config(run_dir: Path) -> dict:
    """The run's config.yaml ({} when it has none or it cannot be read)."""
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
