"""Registry of GAN families and their named presets.

A *family* says what a GAN is: a dataclass of architecture arguments, a function that builds its
named networks from them, its contract (``zoo.contract``: what each network input is, what
trains and what ships), its objective, and named *presets*. A preset is a recipe of overrides
for the experiment config (sections ``data``, ``model``, ``objective``, ``train``, ``eval``,
``runtime``), kept here as plain dicts so that the zoo never imports training code.

Families register themselves when ``zoo`` is imported (see ``zoo/__init__.py``)::

    import zoo
    zoo.list_families()               # ['dcgan', ...]
    family = zoo.get_family("dcgan")
    family.presets["tiny"]            # overrides for a tiny test preset
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from zoo import class_weights
from zoo.contract import AdversarialObjective, Contract
from zoo.errors import GanzooError

if TYPE_CHECKING:  # Keras is imported where networks are built, so that listing stays fast
    import keras


class RegistryError(GanzooError, KeyError):
    """An unknown or duplicate family or preset name (a ``KeyError`` too, as it always was)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want a plain sentence.
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Family:
    """A registered GAN family.

    Args:
        name: registry name, used on the command line (``python -m training.run NAME``).
        config_cls: dataclass of architecture arguments (the ``model`` section); its defaults
            are a working model.
        build: ``build(model_config) -> {name: keras.Model}``, the networks the contract names.
        contract: ``contract(model_config) -> zoo.contract.Contract``: the trainer kind, what
            each generator input is, which networks train and what ships (read by the trainer,
            sampling, evaluation and export alike).
        presets: preset name -> nested dict of config overrides.
        default_preset: preset used when none is named.
        paper: the reference the family follows.
        objective_cls: dataclass of the family's objective (the ``objective`` section: its
            loss and their weights); keys it does not declare are errors for this family.
        terms: ``terms(objective) -> [zoo.terms.Term]`` for the adversarial kind (``None``:
            the loss pair alone).
        fixed: model keys whose values make this family what it is (dcgan's discriminator has
            no class head: ``d_labels="none"``); setting another value is a one-line error
            that names the family that has it.
        initialize: ``initialize(networks, images)``, run once on a new run's first real
            images before the first step (data-dependent initialization), or ``None``.
        ship: ``ship(artifact, model) -> model`` wraps what ships (``generator``,
            ``classifier``, ... as the contract names them) into what is sampled from,
            evaluated and shipped (made of Keras' own layers, sharing the weights), or ``None``
            to ship the networks as they are.
        no_int8: why full-integer TFLite is not offered for this family's generator (export
            skips the variant and says why in its report), or ``None`` when it is.
        no_dynamic: the same for dynamic-range TFLite (int8 weights, float activations).
        variants: export options of the generator (``python -m export RUN --NAME``) -> what
            each changes, in words (StyleGAN2's ``truncation`` and ``noise``). Their extra
            inputs are declared in the contract (``drawn`` or ``options``). Variants every
            family gets from its contract are not listed here (``variants_for``: the
            ``class_weights`` of a generator with a class input).
        exports: ``exports(network, variants) -> {name: model}``: from the trained network
            that ships as ``generator`` (EMA weights when kept), the generator with the chosen
            ``variants`` under ``"generator"``, then the parts exported on their own, in the
            order they compose (StyleGAN2's ``mapping`` and ``synthesis``): each part's inputs
            are named after the generator's inputs or an earlier part's output, and the last
            part's output is the generator's image. ``None``: the generator alone, no variants.
        w_space: ``w_space(generator) -> (to_w, from_w)``: the shipped generator (as
            ``generator.keras`` loads) split at an intermediate latent space W, z -> w and
            w -> images, sharing its weights (StyleGAN2's mapping network's output), for what is
            measured in W (the perceptual path length in w, ``training.path_length``).
            ``None``: the family has no such space.
    """

    name: str
    config_cls: type
    build: Callable[[Any], Mapping[str, keras.Model]]
    contract: Callable[[Any], Contract]
    presets: Mapping[str, Mapping[str, Any]]
    default_preset: str
    paper: str
    objective_cls: type = AdversarialObjective
    terms: Callable[[Any], list] | None = None
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    initialize: Callable[[Mapping[str, keras.Model], Any], None] | None = None
    ship: Callable[[str, keras.Model], keras.Model] | None = None
    no_int8: str | None = None
    no_dynamic: str | None = None
    variants: Mapping[str, str] = dataclasses.field(default_factory=dict)
    exports: Callable[[keras.Model, tuple[str, ...]], Mapping[str, keras.Model]] | None = None
    w_space: Callable[[keras.Model], tuple[keras.Model, keras.Model]] | None = None

    def skipped_variants(self) -> dict[str, str]:
        """TFLite variants the family does not offer, by name, with why."""
        reasons = {"int8": self.no_int8, "dynamic": self.no_dynamic}
        return {variant: reason for variant, reason in reasons.items() if reason}

    def __post_init__(self):
        if not dataclasses.is_dataclass(self.config_cls):
            raise TypeError(f"family {self.name!r}: config_cls must be a dataclass")
        if self.default_preset not in self.presets:
            raise RegistryError(
                f"family {self.name!r}: default preset {self.default_preset!r} is not one of "
                f"its presets ({', '.join(self.presets)})"
            )
        if "tiny" not in self.presets:
            raise RegistryError(f"family {self.name!r} needs a 'tiny' preset for the tests")
        if self.variants and self.exports is None:
            raise RegistryError(f"family {self.name!r}: variants need an exports function")
        if class_weights.VARIANT in self.variants:
            raise RegistryError(
                f"family {self.name!r}: {class_weights.VARIANT!r} is every conditional family's "
                "variant (variants_for), not one to declare"
            )
        fields = {f.name for f in dataclasses.fields(self.config_cls)}
        if unknown := set(self.fixed) - fields:
            raise RegistryError(
                f"family {self.name!r}: fixed keys {sorted(unknown)} are not model keys"
            )

    def model_config(self, values: Mapping[str, Any] | None = None):
        """The family's model config: defaults, its fixed keys, then ``values``."""
        config = self.config_cls()
        for key, value in {**self.fixed, **(values or {})}.items():
            setattr(config, key, value)
        return config

    def variants_for(self, model_config=None) -> dict[str, str]:
        """The export variants of a run of this family with ``model_config`` (default: its
        default preset's) -> what each changes: the family's own (``variants``), then those
        its contract gives it: ``class_weights`` (``zoo.class_weights``) when the generator
        has a class input, whichever family it is."""
        if model_config is None:
            model_config = self.model_config(self.preset(None).get("model", {}))
        offered = dict(self.variants)
        contract = self.contract(model_config)
        if contract.num_classes and class_weights.INPUT in contract.inputs:
            offered[class_weights.VARIANT] = class_weights.TEXT
        return offered

    def preset(self, name: str | None) -> Mapping[str, Any]:
        """The overrides of preset ``name`` (the default preset when ``None``)."""
        name = self.default_preset if name is None else name
        if name not in self.presets:
            raise RegistryError(
                f"unknown preset {name!r} for family {self.name!r}; "
                f"known presets: {', '.join(sorted(self.presets))}"
            )
        return self.presets[name]


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Adds ``family`` to the registry; a name that is already taken raises."""
    if family.name in _FAMILIES:
        raise RegistryError(f"family {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The family called ``name``; an unknown name raises with the list of known ones."""
    try:
        return _FAMILIES[name]
    except KeyError:
        close = difflib.get_close_matches(name, _FAMILIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RegistryError(
            f"unknown family {name!r}{hint}; known families: {', '.join(list_families())}"
        ) from None


def list_families() -> list[str]:
    """Names of all registered families, sorted."""
    return sorted(_FAMILIES)


def export_variants() -> dict[str, dict[str, str]]:
    """Every export variant a registered family offers (``Family.variants_for`` its default
    preset) -> {family: what it changes}."""
    offered: dict[str, dict[str, str]] = {}
    for name in list_families():
        for variant, text in _FAMILIES[name].variants_for().items():
            offered.setdefault(variant, {})[name] = text
    return offered


def variant_flag(variant: str) -> str:
    """The command-line flag of export variant ``variant``: ``--class-weights``."""
    return "--" + variant.replace("_", "-")
