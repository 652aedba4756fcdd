"""Registry of GAN families and their named presets.

A *family* says what a GAN is: a dataclass of architecture arguments, a function that builds its
networks from them, and named *presets*. A preset is a recipe of overrides for the experiment
config (sections ``data``, ``model``, ``train``, ``runtime``), kept here as plain dicts so that
the zoo never imports training code.

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

from zoo.errors import GanzooError

if TYPE_CHECKING:  # Keras is imported where networks are built, so that listing stays fast
    import keras


class RegistryError(GanzooError, KeyError):
    """An unknown or duplicate family or preset name (a ``KeyError`` too, as it always was)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want a plain sentence.
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Networks:
    """The networks a family builds. ``generator`` is what ships; the rest trains it."""

    generator: keras.Model
    discriminator: keras.Model


@dataclasses.dataclass(frozen=True)
class Family:
    """A registered GAN family.

    Args:
        name: registry name, used on the command line (``python -m training.run NAME``).
        config_cls: dataclass of architecture arguments; its defaults are a working model.
        build: ``build(config) -> Networks``.
        presets: preset name -> nested dict of config overrides.
        default_preset: preset used when none is named.
        paper: the reference the family follows.
        loss: name of the adversarial loss pair in ``zoo.losses`` the family trains with.
        initialize: ``initialize(networks, images)``, run once on a new run's first real
            images before the first step (data-dependent initialization), or ``None``.
        ship: ``ship(generator) -> model`` wraps the trained generator into what is sampled
            from, evaluated and shipped (made of Keras' own layers, sharing its weights), or
            ``None`` to ship it as it is.
    """

    name: str
    config_cls: type
    build: Callable[[Any], Networks]
    presets: Mapping[str, Mapping[str, Any]]
    default_preset: str
    paper: str
    loss: str = "non_saturating"
    initialize: Callable[[Networks, Any], None] | None = None
    ship: Callable[[keras.Model], keras.Model] | None = None

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
