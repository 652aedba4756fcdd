"""Experiment configuration: nested dataclasses resolved in a fixed order.

    family defaults -> preset -> --config FILE.yaml -> --set section.key=value -> validate

Every key has a type; a value of the wrong type, a value outside its choices and a key that
does not exist are one-line ``ConfigError``s. The ``model`` section is the family's own
architecture dataclass (``zoo.dcgan.DCGANConfig`` for ``dcgan``). The resolved config is written
to the run folder as ``config.yaml`` and read back by ``--resume``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

import zoo
from zoo.errors import GanzooError
from zoo.losses import list_losses


class ConfigError(GanzooError, ValueError):
    """A configuration key or value that is not accepted."""


def first_line(err: BaseException) -> str:
    """The first line of an error, without TensorFlow's ``{{function_node ...}}`` and
    ``[Op:...]`` wrapping."""
    text = str(err).strip()
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:\w+\]", "", text)
    return text.splitlines()[0] if text else type(err).__name__


@dataclasses.dataclass
class DataConfig:
    """Where the real images come from and how they are batched.

    Args:
        dataset: a tensorflow-datasets name (``mnist``, ``fashion_mnist``, ``cifar10``,
            ``celeb_a``, ...); ignored when ``source`` is ``folder``.
        source: ``auto`` uses the TFDS copy when it is prepared or can be downloaded, and for
            ``mnist`` falls back to the MNIST test set vendored in ganzoo when offline;
            ``tfds`` and ``vendored`` force one of those; ``folder`` reads images from ``path``.
        path: folder of images (searched recursively; subfolders become class labels).
        tfds_data_dir: TFDS data directory (default: TFDS' own, ``~/tensorflow_datasets``).
        split: split to train on, with TFDS' slicing (``train``, ``test[:8000]``); the
            vendored MNIST is the test set, so there ``train`` and ``test`` are all of it.
        labelled: semi-supervised training (sgan) with this many labelled examples, the first
            ``labelled / classes`` of each class in the split (``None``: all labels, or none).
        batch_size: global batch size, split evenly over the replicas.
        shuffle_buffer: examples in the shuffle buffer.
        download_timeout: seconds to wait for the TFDS download host before treating the
            machine as offline.
        cache: keep the decoded, resized images after the first epoch: ``memory``, or a file
            path prefix for datasets larger than memory (``None``: decode every epoch).
        mixed_sizes: image folders whose images differ in size: ``resize`` center-crops each
            to a square and resizes it to the model's size; ``reject`` stops with the sizes
            found (to catch a folder that mixes datasets).
    """

    dataset: str = "mnist"
    source: Literal["auto", "tfds", "vendored", "folder"] = "auto"
    path: str | None = None
    tfds_data_dir: str | None = None
    split: str = "train"
    labelled: int | None = None
    batch_size: int = 64
    shuffle_buffer: int = 10000
    download_timeout: float = 3.0
    cache: str | None = None
    mixed_sizes: Literal["resize", "reject"] = "resize"

    def validate(self) -> None:
        _positive(self, "data", "batch_size", "shuffle_buffer", "download_timeout")
        if self.labelled is not None and self.labelled < 1:
            raise ConfigError(f"data.labelled must be positive or none, got {self.labelled}")
        if self.source == "folder" and not self.path:
            raise ConfigError("data.source=folder needs data.path (a folder of images)")


@dataclasses.dataclass
class TrainConfig:
    """How the GAN learns.

    Args:
        steps: generator updates in total.
        optimizer: ``adam`` or ``rmsprop`` (WGAN), for every network.
        g_lr, d_lr: learning rates of the generator and the discriminator.
        beta_1, beta_2: Adam moment decays (DCGAN uses beta_1 = 0.5).
        ema_decay: keep an exponential moving average of the generator's weights with this
            decay and ship it (``None``: no EMA).
        log_every: steps between scalar summaries.
        sample_every: steps between sample grids (TensorBoard and PNG).
        checkpoint_every: steps between checkpoints (one is always written at the end).
        keep_checkpoints: checkpoints to keep (``None``: keep all).
        backup_every: steps between backups of the training state (``checkpoints/backup``,
            only the newest is kept), what a killed process resumes from: 1 loses no
            step, at the cost of a write per step.
        num_samples: images in a sample grid (a square number fills the grid).
        on_nonfinite: a NaN or Inf loss or weight: ``stop`` the run, or ``rollback`` to the
            newest good checkpoint and continue with the learning rates times
            ``rollback_lr_factor``, at most ``max_rollbacks`` times.
    """

    steps: int = 2000
    optimizer: Literal["adam", "rmsprop"] = "adam"
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    ema_decay: float | None = None
    log_every: int = 50
    sample_every: int = 250
    checkpoint_every: int = 500
    keep_checkpoints: int | None = 5
    backup_every: int | None = 100
    num_samples: int = 64
    on_nonfinite: Literal["stop", "rollback"] = "stop"
    rollback_lr_factor: float = 0.5
    max_rollbacks: int = 3

    def validate(self) -> None:
        _positive(
            self,
            "train",
            "steps",
            "g_lr",
            "d_lr",
            "log_every",
            "sample_every",
            "checkpoint_every",
            "num_samples",
        )
        for field in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, field) < 1.0:
                raise ConfigError(f"train.{field} must be in [0, 1), got {getattr(self, field)}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in (0, 1) or none, got {self.ema_decay}")
        if self.backup_every is not None and self.backup_every < 1:
            raise ConfigError(
                f"train.backup_every must be positive or none, got {self.backup_every}"
            )
        if not 0.0 < self.rollback_lr_factor < 1.0:
            raise ConfigError(
                f"train.rollback_lr_factor must be in (0, 1), got {self.rollback_lr_factor}"
            )
        if self.max_rollbacks < 0:
            raise ConfigError(f"train.max_rollbacks must be 0 or more, got {self.max_rollbacks}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise ConfigError(
                f"train.keep_checkpoints must be positive or none, got {self.keep_checkpoints}"
            )


@dataclasses.dataclass
class RuntimeConfig:
    """Where and how the training runs.

    Args:
        strategy: ``auto`` (MirroredStrategy over all GPUs when there are several, one device
            otherwise), ``one_device``, ``mirrored`` (all GPUs, or all CPU devices when there is
            no GPU), ``multi_worker`` (MultiWorkerMirroredStrategy configured by TF_CONFIG) or
            ``tpu`` (TPUStrategy on the TPU named by ``tpu``).
        seed: seeds weights, noise and data order; the same seed gives the same run.
        devices: devices for ``mirrored`` (e.g. ``/gpu:0,/gpu:1``); ``None`` for all.
        virtual_cpus: split the host CPU into this many logical devices, to try distributed
            training on a machine without GPUs.
        tpu: the TPU for ``strategy=tpu`` (a name or ``grpc://`` address; ``None``: the one
            the environment names, as on a Cloud TPU VM).
        mixed_precision: ``none`` (float32), ``mixed_float16`` (GPUs; with loss scaling),
            ``mixed_bfloat16`` (TPUs, recent CPUs), or ``auto``: mixed_float16 on GPUs,
            mixed_bfloat16 on TPUs and on CPUs with native bfloat16 (AVX512_BF16, AMX), none
            on other CPUs. Weights, losses and the networks' outputs
            stay float32.
        jit_compile: compile each replica's step with XLA; ``None`` (auto): on GPUs only (on
            this project's CPU XLA made the DCGAN step slower; TPUs always compile).
        steps_per_execution: training steps run in one ``tf.function`` call; more of them
            hide the Python overhead of small models. Logging, samples, checkpoints and
            evaluations still happen at their exact steps.
    """

    strategy: Literal["auto", "one_device", "mirrored", "multi_worker", "tpu"] = "auto"
    seed: int = 0
    devices: list[str] | None = None
    virtual_cpus: int | None = None
    tpu: str | None = None
    mixed_precision: Literal["none", "auto", "mixed_float16", "mixed_bfloat16"] = "none"
    jit_compile: bool | None = None
    steps_per_execution: int = 1

    def validate(self) -> None:
        if self.virtual_cpus is not None and self.virtual_cpus < 1:
            raise ConfigError(f"runtime.virtual_cpus must be positive, got {self.virtual_cpus}")
        _positive(self, "runtime", "steps_per_execution")


@dataclasses.dataclass
class EvalConfig:
    """Sample quality measured while training.

    Args:
        every: steps between evaluations (``None``: none). Each writes ``eval/*`` scalars to
            TensorBoard and keeps the best generator by ``metric`` in ``checkpoints/best/`` and
            ``generator_best.keras``.
        metric: ``kid`` or ``fid`` (lower is better) to choose the best checkpoint, or
            ``accuracy`` (higher is better): the held-out accuracy of a semi-supervised
            discriminator's classifier (sgan), measured on ``split``.
        num_samples: generated images (from a fixed latent batch) and real images compared.
        extractor: ``auto`` (``mnist_cnn`` for MNIST digits, never for an image folder;
            ``inception`` for other images when its weights are available; otherwise no
            evaluation, with a note), ``mnist_cnn`` or ``inception``.
        weights: the extractor's weights file (``None``: its default).
        split: held-out split of the dataset for ``accuracy``.
    """

    every: int | None = None
    metric: Literal["kid", "fid", "accuracy"] = "kid"
    num_samples: int = 1000
    extractor: Literal["auto", "mnist_cnn", "inception"] = "auto"
    weights: str | None = None
    split: str = "test"

    def validate(self) -> None:
        if self.every is not None and self.every < 1:
            raise ConfigError(f"eval.every must be positive or none, got {self.every}")
        if self.num_samples < 2:
            raise ConfigError(f"eval.num_samples must be at least 2, got {self.num_samples}")


SECTIONS = ("data", "model", "objective", "train", "eval", "runtime")
# Keys that lived in ``train`` before families had an ``objective`` section of their own: an
# older run's config.yaml is read with them moved, so that it still resumes.
_MOVED_TO_OBJECTIVE = ("loss", "d_steps", "gp_weight", "clip_value", "info_weight")
_MOVED_TO_OBJECTIVE += ("continuous_weight",)


@dataclasses.dataclass
class ExperimentConfig:
    """Everything a run needs, saved as the run folder's ``config.yaml``."""

    family: str
    preset: str
    model: Any  # the family's architecture dataclass
    objective: Any  # the family's objective dataclass
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> ExperimentConfig:
        for section in SECTIONS:
            try:
                validate = getattr(getattr(self, section), "validate", None)
                if validate is not None:  # a family's dataclass may have nothing to check
                    validate()
            except ConfigError:
                raise
            except ValueError as err:  # the family's own model validation
                raise ConfigError(str(err)) from None
        channels = getattr(self.model, "channels", None)
        if channels is not None and channels not in (1, 3):
            raise ConfigError(
                f"model.channels must be 1 (grayscale) or 3 (RGB), got {channels}; images are "
                "decoded and converted to one of those"
            )
        loss = getattr(self.objective, "loss", None)
        if loss is not None and loss not in list_losses():
            raise ConfigError(
                f"objective.loss={loss!r} is not a known loss; accepted: {', '.join(list_losses())}"
            )
        if self.eval.metric == "accuracy" and not self.data.labelled:
            raise ConfigError(
                "eval.metric=accuracy measures a semi-supervised classifier (sgan, with "
                "data.labelled); for other families use kid or fid"
            )
        return self


def resolve(
    family: str,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> ExperimentConfig:
    """The validated config of ``family``: defaults, then preset, file and ``key=value`` items."""
    fam = zoo.get_family(family)
    preset = preset or fam.default_preset
    config = _defaults(fam, preset)
    apply(config, fam.preset(preset), f"preset {preset!r}")
    if config_file is not None:
        apply(config, _read_yaml(config_file), str(config_file))
    for item in overrides:
        apply(config, parse_override(item), "--set")
    return config.validate()


def load(path: str | Path) -> ExperimentConfig:
    """Reads a ``config.yaml`` written by ``save``."""
    data = _read_yaml(path)
    if "family" not in data:
        raise ConfigError(f"{path}: no 'family' key; is this a ganzoo config.yaml?")
    fam = zoo.get_family(data["family"])
    config = _defaults(fam, data.get("preset", fam.default_preset))
    train = data.get("train")
    if "objective" not in data and isinstance(train, dict):  # written before `objective`
        known = {f.name for f in dataclasses.fields(fam.objective_cls)}
        moved = {k: train.pop(k) for k in _MOVED_TO_OBJECTIVE if k in train}
        data["objective"] = {k: v for k, v in moved.items() if k in known and v is not None}
    apply(config, data, str(path))
    return config.validate()


def _defaults(fam, preset: str) -> ExperimentConfig:
    """The family's defaults: its model config (with its fixed keys) and objective."""
    return ExperimentConfig(
        family=fam.name, preset=preset, model=fam.model_config(), objective=fam.objective_cls()
    )


def save(config: ExperimentConfig, path: str | Path) -> None:
    """Writes ``config`` as YAML, with ``overrides``: what differs from its preset (read back by
    nobody, it tells a reader that a run labelled ``preset: X`` did not use X as it is)."""
    data = config.to_dict()
    data = {
        "family": data.pop("family"),
        "preset": data.pop("preset"),
        "overrides": preset_overrides(config),
        **data,
    }
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


def preset_overrides(config: ExperimentConfig) -> dict[str, Any]:
    """``{"section.key": value}`` for every value of ``config`` that differs from its preset's
    (a config file, ``--set`` or a resume changed it); empty when the preset was used as is."""
    fam = zoo.get_family(config.family)
    if config.preset not in fam.presets:  # a preset renamed since the run was made
        return {}
    base = _defaults(fam, config.preset)
    apply(base, fam.preset(config.preset), f"preset {config.preset!r}")
    ours, theirs = config.to_dict(), base.to_dict()
    return {
        f"{section}.{key}": value
        for section in SECTIONS
        for key, value in ours[section].items()
        if theirs[section][key] != value
    }


def parse_override(item: str) -> dict[str, Any]:
    """``"train.steps=10"`` -> ``{"train": {"steps": "10"}}`` (typed later, by ``apply``)."""
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set expects section.key=value (e.g. train.steps=100), got {item!r}")
    return {parts[0]: {parts[1]: value.strip()}}


def apply(config: ExperimentConfig, data: Mapping[str, Any], origin: str) -> None:
    """Sets the values of nested mapping ``data`` on ``config``, checking keys and types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: expected a mapping of sections, got {type(data).__name__}")
    for section, values in data.items():
        if section in ("family", "preset", "overrides"):  # labels, not values to set
            if section == "family" and values != config.family:
                raise ConfigError(
                    f"{origin}: is a config of family {values!r}, not {config.family!r}"
                )
            continue
        if section not in SECTIONS:
            raise ConfigError(
                f"{origin}: unknown config section {section!r}{_did_you_mean(section, SECTIONS)}; "
                f"sections: {', '.join(SECTIONS)}"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"{origin}: section {section!r} must be a mapping of keys")
        target = getattr(config, section)
        hints = typing.get_type_hints(type(target))
        names = [f.name for f in dataclasses.fields(target)]
        fixed = zoo.get_family(config.family).fixed if section == "model" else {}
        for key, value in values.items():
            if key not in names:
                hint, shown = _elsewhere(config, section, key)
                keys = ", ".join(f.name for f in dataclasses.fields(getattr(config, shown)))
                raise ConfigError(
                    f"{origin}: unknown config key '{section}.{key}'"
                    f"{hint or _did_you_mean(key, names, section)}; {config.family}'s keys of "
                    f"'{shown}': {keys}"
                )
            typed = _coerce(value, hints[key], f"{section}.{key}", origin)
            if key in fixed and typed != fixed[key]:
                raise ConfigError(
                    f"{origin}: model.{key} is {fixed[key]!r} in {config.family} and cannot be "
                    f"changed{_family_with(section, key, typed)}"
                )
            setattr(target, key, typed)


def _elsewhere(config: ExperimentConfig, section: str, key: str) -> tuple[str, str]:
    """Where a key that ``config``'s family does not have lives (another section, other
    families), and the section whose keys the error should list."""
    if section == "train" and key in _MOVED_TO_OBJECTIVE:
        section = "objective"
        if key in {f.name for f in dataclasses.fields(config.objective)}:
            return f" (it is 'objective.{key}')", section
    if section != "objective":
        return "", section
    others = [
        name
        for name in zoo.list_families()
        if key in {f.name for f in dataclasses.fields(zoo.get_family(name).objective_cls)}
    ]
    if not others:
        return "", section
    return f" ('objective.{key}' is a key of {', '.join(others)}, not of {config.family})", section


def _family_with(section: str, key: str, value: Any) -> str:
    """`` (that is family X)`` when another family fixes ``key`` to ``value``."""
    others = [n for n in zoo.list_families() if zoo.get_family(n).fixed.get(key, object()) == value]
    return f" ({section}.{key}={value} is the family {', '.join(others)})" if others else ""


def _did_you_mean(word: str, options: Iterable[str], section: str | None = None) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    if not close:
        return ""
    return (
        f" (did you mean '{section}.{close[0]}'?)" if section else f" (did you mean {close[0]!r}?)"
    )


_NONE_WORDS = {"none", "null", "~", ""}
_TRUE_WORDS, _FALSE_WORDS = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def _coerce(value: Any, hint: Any, key: str, origin: str) -> Any:
    """``value`` as type ``hint`` (values from ``--set`` arrive as strings)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)

    def bad(accepted: str) -> ConfigError:
        return ConfigError(f"{origin}: {key}={value!r} is not accepted; expected {accepted}")

    if typing.get_origin(hint) is Literal:
        if value not in args:
            raise bad("one of " + ", ".join(map(str, args)))
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE_WORDS | _FALSE_WORDS:
            return word in _TRUE_WORDS
        raise bad("true or false")
    if hint is int:
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).replace("_", ""))
        except ValueError:
            raise bad("an integer") from None
    if hint is float:
        if isinstance(value, bool):
            raise bad("a finite number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad("a finite number") from None
        if not math.isfinite(number):  # nan compares false with every bound validate checks
            raise bad("a finite number")
        return number
    if hint is str:
        if isinstance(value, str) and value:
            return value
        raise bad("a non-empty string")
    if typing.get_origin(hint) is list:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise bad("a list")
        return [_coerce(item, args[0], key, origin) for item in items]
    raise TypeError(f"config key {key} has a type the config cannot parse: {hint}")


def _positive(section: Any, name: str, *fields: str) -> None:
    for field in fields:
        value = getattr(section, field)
        if value <= 0:
            raise ConfigError(f"{name}.{field} must be positive, got {value}")


def _read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)})")
    return data
