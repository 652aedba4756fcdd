import pytest

import zoo
from zoo import registry
from zoo.dcgan import DCGANConfig, build, contract


def _family(name, **kwargs):
    presets = kwargs.pop("presets", {"tiny": {}})
    return registry.Family(
        name=name,
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        presets=presets,
        default_preset=kwargs.pop("default_preset", "tiny"),
        paper="test",
        **kwargs,
    )


def test_dcgan_is_registered_with_its_presets():
    assert "dcgan" in zoo.list_families()
    family = zoo.get_family("dcgan")
    assert family.default_preset == "dcgan_mnist"
    assert {"dcgan_mnist", "tiny", "dcgan_celeba"} <= set(family.presets)
    assert family.preset(None) is family.presets["dcgan_mnist"]


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(registry.RegistryError) as info:
        zoo.get_family("dcgn")
    message = str(info.value)
    assert "unknown family 'dcgn'" in message
    assert "did you mean 'dcgan'" in message
    assert "known families: " + ", ".join(zoo.list_families()) in message
    assert "\n" not in message


def test_unknown_preset_lists_the_known_ones():
    known = "known presets: dcgan_celeba, dcgan_mnist, dcgan_mnist_paper, dcgan_stacked_mnist, tiny"
    with pytest.raises(registry.RegistryError, match=known):
        zoo.get_family("dcgan").preset("dcgan_mnist64")


def test_duplicate_name_raises(monkeypatch):
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    registry.register_family(_family("extra"))
    assert "extra" in registry.list_families()
    with pytest.raises(registry.RegistryError, match="'extra' is already registered"):
        registry.register_family(_family("extra"))
    with pytest.raises(registry.RegistryError, match="already registered"):
        registry.register_family(_family("dcgan"))


def test_family_needs_a_tiny_preset_and_a_known_default():
    with pytest.raises(registry.RegistryError, match="needs a 'tiny' preset"):
        _family("x", presets={"big": {}}, default_preset="big")
    with pytest.raises(registry.RegistryError, match="default preset 'nope'"):
        _family("x", default_preset="nope")
