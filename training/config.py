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
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

import zoo
from training.sections import ConfigError, DataConfig, EvalConfig, RuntimeConfig, TrainConfig
from zoo.losses import list_losses

__all__ = [
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "RuntimeConfig",
    "TrainConfig",
    "apply",
    "load",
    "parse_override",
    "preset_overrides",
    "resolve",
    "save",
]


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
        if getattr(self.objective, "r1_weight", None):
            kind = zoo.get_family(self.family).contract(self.model).kind
            if kind != "adversarial":
                raise ConfigError(
                    "objective.r1_weight is applied by the adversarial kind's trainer "
                    f"(one generator against one discriminator); {self.family} trains with the "
                    f"{kind} kind"
                )
        if getattr(self.objective, "augment", None):
            self._check_augmenting_kind()
        if self.eval.metric == "accuracy" and not self.data.labelled:
            raise ConfigError(
                "eval.metric=accuracy measures a semi-supervised classifier (sgan, with "
                "data.labelled); for other families use kid or fid"
            )
        return self

    def _check_augmenting_kind(self) -> None:
        """objective.augment (and ADA) only for a family whose kind's trainer augments what its
        discriminators see (``Trainer.augments``)."""
        from training.trainers import KINDS  # TensorFlow: only when a policy is set

        kind = zoo.get_family(self.family).contract(self.model).kind
        if kind in KINDS and not KINDS[kind].augments:
            augmenting = [name for name, trainer in KINDS.items() if trainer.augments]
            raise ConfigError(
                f"objective.augment is applied by the trainers of the {', '.join(augmenting)} "
                f"kinds; {self.family} trains with the {kind} kind, which does not augment"
            )


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
