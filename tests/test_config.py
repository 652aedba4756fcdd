import pytest
import yaml

from training import config as cfg


def test_precedence_preset_then_file_then_set(tmp_path):
    base = cfg.resolve("dcgan")
    assert base.preset == "dcgan_mnist"
    assert base.train.steps == 7000 and base.data.batch_size == 64
    assert base.model.image_size == 28

    file = tmp_path / "c.yaml"
    file.write_text(
        yaml.safe_dump({"train": {"steps": 300, "g_lr": "1e-4"}, "data": {"batch_size": 32}})
    )
    config = cfg.resolve("dcgan", config_file=file, overrides=["train.steps=7", "runtime.seed=3"])
    assert config.train.steps == 7  # --set beats the file
    assert config.train.g_lr == 1e-4  # the file beats the preset
    assert config.data.batch_size == 32
    assert config.runtime.seed == 3
    assert config.train.d_lr == 4e-4  # untouched: the preset's


def test_preset_beats_defaults():
    tiny = cfg.resolve("dcgan", "tiny")
    assert tiny.model.image_size == 16 and tiny.data.batch_size == 8 and tiny.train.steps == 4


def test_every_preset_of_every_family_resolves_to_a_valid_config(tmp_path):
    from zoo.registry import get_family, list_families

    def resolve(name, preset):  # a folder preset is given the folder a user must pass
        folder = get_family(name).presets[preset].get("data", {}).get("source") == "folder"
        return cfg.resolve(name, preset, overrides=[f"data.path={tmp_path}"] if folder else [])

    resolved = [
        resolve(name, preset) for name in list_families() for preset in get_family(name).presets
    ]
    assert len(resolved) > 2 * len(list_families())
    stacked = [c for c in resolved if c.data.dataset == "stacked_mnist"]
    assert {c.family for c in stacked} >= {"dcgan", "wgan_gp", "stylegan2"}
    assert all(c.model.channels == 3 for c in stacked)


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.stpes=5", "unknown config key 'train.stpes' (did you mean 'train.steps'?)"),
        ("trian.steps=5", "unknown config section 'trian' (did you mean 'train'?)"),
        ("train.steps=many", "train.steps='many' is not accepted; expected an integer"),
        ("train.g_lr=fast", "train.g_lr='fast' is not accepted; expected a finite number"),
        (
            "runtime.strategy=horovod",
            "expected one of auto, one_device, mirrored, multi_worker, tpu",
        ),
        ("model.d_norm=layer", "expected one of batch, none, spectral"),
        ("train.steps=0", "train.steps must be positive, got 0"),
        ("train.beta_1=1.5", "train.beta_1 must be in [0, 1)"),
        ("train.ema_decay=2", "train.ema_decay must be in (0, 1) or none"),
        (
            "objective.loss=perceptual",
            "objective.loss='perceptual' is not a known loss; accepted: hinge",
        ),
        ("model.image_size=30", "model.image_size=30 cannot be reached by doubling"),
        ("data.source=folder", "data.source=folder needs data.path"),
        ("steps=5", "--set expects section.key=value"),
        ("train.g_lr=nan", "train.g_lr='nan' is not accepted; expected a finite number"),
        ("train.d_lr=inf", "train.d_lr='inf' is not accepted; expected a finite number"),
        ("model.channels=2", "model.channels must be 1 (grayscale) or 3 (RGB), got 2"),
        ("objective.augment=flip", "unknown DiffAugment policy flip; use a comma-separated"),
        ("objective.r1_weight=-1", "objective.r1_weight must be 0 or more, got -1.0"),
        ("objective.r1_every=0", "objective.r1_every must be positive, got 0"),
    ],
)
def test_bad_keys_and_values_are_one_line_errors(override, message):
    with pytest.raises(cfg.ConfigError) as info:
        cfg.resolve("dcgan", overrides=[override])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_optional_and_list_values():
    config = cfg.resolve(
        "dcgan",
        overrides=[
            "train.ema_decay=0.999",
            "train.keep_checkpoints=none",
            "runtime.devices=/cpu:0,/cpu:1",
        ],
    )
    assert config.train.ema_decay == 0.999
    assert config.train.keep_checkpoints is None
    assert config.runtime.devices == ["/cpu:0", "/cpu:1"]


def test_config_file_errors(tmp_path):
    with pytest.raises(cfg.ConfigError, match="cannot read config file"):
        cfg.resolve("dcgan", config_file=tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [steps\n")
    with pytest.raises(cfg.ConfigError, match="is not valid YAML"):
        cfg.resolve("dcgan", config_file=bad)
    other = tmp_path / "other.yaml"
    other.write_text("family: wgan\ntrain: {steps: 3}\n")
    with pytest.raises(cfg.ConfigError, match="is a config of family 'wgan', not 'dcgan'"):
        cfg.resolve("dcgan", config_file=other)


def test_saved_config_round_trips(tmp_path):
    config = cfg.resolve("dcgan", "tiny", overrides=["train.ema_decay=0.9", "runtime.seed=5"])
    cfg.save(config, tmp_path / "config.yaml")
    assert cfg.load(tmp_path / "config.yaml") == config
    # a saved config is also a valid --config file
    again = cfg.resolve("dcgan", "tiny", config_file=tmp_path / "config.yaml")
    assert again == config


def test_saved_config_records_what_differs_from_the_preset(tmp_path):
    """A run labelled ``preset: cgan_mnist`` whose values were overridden says so."""
    config = cfg.resolve("cgan", overrides=["model.base_filters=4", "train.steps=3"])
    cfg.save(config, tmp_path / "config.yaml")
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["preset"] == "cgan_mnist"
    assert saved["overrides"] == {"model.base_filters": 4, "train.steps": 3}
    assert cfg.load(tmp_path / "config.yaml").model.base_filters == 4  # read back as values
    cfg.save(cfg.resolve("cgan"), tmp_path / "plain.yaml")
    assert yaml.safe_load((tmp_path / "plain.yaml").read_text())["overrides"] == {}


def test_r1_is_refused_for_kinds_that_do_not_apply_it():
    assert cfg.resolve("dcgan", overrides=["objective.r1_weight=1"])
    with pytest.raises(cfg.ConfigError) as info:
        cfg.resolve("pix2pix", overrides=["objective.r1_weight=1"])
    assert "objective.r1_weight is applied by the adversarial kind's trainer" in str(info.value)
    assert "pix2pix trains with the paired kind" in str(info.value)


def test_augmentation_is_accepted_by_every_kind_that_augments(monkeypatch):
    from training.trainers import PairedTrainer

    ada = ["objective.augment=translation", "objective.ada_target=0.6"]
    for family in ("dcgan", "pix2pix", "cyclegan", "progan"):
        overrides = ada if family != "progan" else ada + ["objective.loss=hinge"]
        objective = cfg.resolve(family, overrides=overrides).objective
        assert (objective.augment, objective.ada_target) == ("translation", 0.6)
        assert (objective.ada_interval, objective.ada_kimg) == (4, 500)  # the authors'
    monkeypatch.setattr(PairedTrainer, "augments", False)  # a kind that does not augment
    with pytest.raises(cfg.ConfigError) as info:
        cfg.resolve("pix2pix", overrides=["objective.augment=translation"])
    assert str(info.value) == (
        "objective.augment is applied by the trainers of the adversarial, cycle, progressive "
        "kinds; pix2pix trains with the paired kind, which does not augment"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["objective.ada_target=0.6"],
            "objective.ada_target adapts the probability of objective.augment's policy; set "
            "objective.augment too",
        ),
        (["objective.augment=cutout", "objective.ada_target=1.5"], "must be in [0, 1] or none"),
        (["objective.ada_interval=0"], "objective.ada_interval must be positive, got 0"),
        (["objective.ada_kimg=0"], "objective.ada_kimg must be positive, got 0"),
        (["objective.ada_kimg=100"], "tune ADA, which is off; set objective.ada_target"),
        (
            ["objective.augment=cutout", "objective.ada_target=0.6", "objective.loss=wasserstein"],
            "a wasserstein critic's outputs have no threshold for; use objective.loss=hinge or",
        ),
    ],
)
def test_bad_ada_settings_are_one_line_errors(overrides, message):
    with pytest.raises(cfg.ConfigError) as info:
        cfg.resolve("dcgan", overrides=overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
