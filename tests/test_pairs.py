"""Given pairs (A/ + B/ folders, side-by-side images, TFDS features), random crops, and the
photographs of scikit-image: what each pipeline gives, the one-line errors for bad pairs
(nothing written), and the held-out pairs and tiles that evaluation reads."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from tests.conftest import tiny_config
from training.data import DataError, load_split, make_dataset
from training.loop import train
from training.pairs import load_pairs, tiles
from training.sections import ConfigError, DataConfig
from training.sources import PHOTOS, photo_paths


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _ab_folder(root, n=4, size=16, b_size=None, seed=0):
    """A/k.png holds random grey values x, B/k.png 255 - x (at b_size, repeated pixels)."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        a = rng.integers(0, 256, (size, size))
        factor = (b_size or size) // size
        _png(root / "A" / f"{k}.png", a)
        _png(root / "B" / f"{k}.png", np.kron(255 - a, np.ones((factor, factor))))
    return root


def _batch(config, size, channels=1, source_size=None, skip=0):
    ds, description = make_dataset(
        config, size, channels, seed=0, skip=skip, source_size=source_size
    )
    return {k: v.numpy() for k, v in next(iter(ds)).items()}, description


def _folder_config(root, **kwargs):
    return DataConfig(source="folder", path=str(root), pair="given", batch_size=4, **kwargs)


@pytest.mark.parametrize("direction", ["AB", "BA"])
def test_a_and_b_folders_pair_by_name(tmp_path, direction):
    root = _ab_folder(tmp_path / "pairs")
    batch, description = _batch(_folder_config(root, pair_direction=direction), 16)
    assert f"4 A/ + B/ pairs, {direction[0]} -> {direction[1]}" in description
    assert batch["source"].shape == batch["image"].shape == (4, 16, 16, 1)
    np.testing.assert_allclose(batch["image"], -batch["source"], atol=1e-5)  # 255 - x
    a = np.stack([np.asarray(Image.open(root / "A" / f"{k}.png")) for k in range(4)])
    side = batch["source"] if direction == "AB" else batch["image"]
    found = {int(np.argmin(np.abs(a / 127.5 - 1 - s[..., 0]).sum(axis=(1, 2)))) for s in side}
    assert found == {0, 1, 2, 3}  # each A image is the source (AB) or the target (BA)


def test_side_by_side_images_split_into_left_and_right(tmp_path):
    rng = np.random.default_rng(1)
    for k in range(4):
        left = rng.integers(0, 256, (16, 16))
        _png(tmp_path / "ab" / f"{k}.png", np.hstack([left, 255 - left]))
    batch, description = _batch(_folder_config(tmp_path / "ab"), 16)
    assert "4 side-by-side pairs, left -> right" in description
    np.testing.assert_allclose(batch["image"], -batch["source"], atol=1e-5)


def test_super_resolution_pairs_keep_their_sizes_and_crop_in_step(tmp_path):
    """B is A enlarged 4x: the source comes at the generator's size, the target at the
    model's; random crops take the same place in both."""
    root = _ab_folder(tmp_path / "sr", size=16, b_size=64)
    batch, _ = _batch(_folder_config(root), 28, source_size=7)
    assert batch["source"].shape == (4, 7, 7, 1) and batch["image"].shape == (4, 28, 28, 1)
    cropped, _ = _batch(_folder_config(root, crops=True), 32, source_size=8)
    assert cropped["source"].shape == (4, 8, 8, 1)
    np.testing.assert_allclose(cropped["image"][:, ::4, ::4], -cropped["source"], atol=1e-5)
    sources, targets = load_pairs(_folder_config(root, crops=True), "train", 32, 1, 8)
    assert sources.shape == (4 * 4, 8, 8, 1) and targets.shape == (16, 32, 32, 1)  # 2x2 tiles
    np.testing.assert_allclose(targets[:, ::4, ::4], -sources, atol=1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda r: (_ab_folder(r), (r / "B" / "3.png").unlink()),
            r"1 image\(s\) in A/ have no match",
        ),
        (
            lambda r: (_ab_folder(r), (r / "A" / "0.png").unlink()),
            r"in B/ have no match .*e\.g\. 0",
        ),
        (
            lambda r: (_ab_folder(r), _png(r / "B" / "2.png", np.zeros((20, 20)))),
            r"the pair A/2.png \(16x16\) and B/2.png \(20x20\) is not in the size ratio",
        ),
        (lambda r: _png(r / "0.png", np.zeros((16, 15))), "15 pixels wide; a side-by-side"),
        (lambda r: r.mkdir(), "holds no images and no A/ \\+ B/ subfolders"),
        (lambda r: _png(r / "A" / "0.png", np.zeros((4, 4))), "has A/ but not the other"),
    ],
)
def test_bad_pairs_are_one_line_errors_and_nothing_is_written(tmp_path, make, message):
    make(tmp_path / "data")
    config = tiny_config(
        "pix2pix", "data.source=folder", f"data.path={tmp_path / 'data'}", "data.pair=given"
    )
    with pytest.raises(DataError, match=message) as info:
        train(config, tmp_path / "run")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_pair_settings_that_do_not_fit_are_config_errors():
    with pytest.raises(ConfigError, match="data.pair=given reads pairs from a folder"):
        DataConfig(pair="given").validate()
    with pytest.raises(ConfigError, match="data.pair_keys needs data.pair=given"):
        DataConfig(pair_keys=["lr", "hr"]).validate()


def test_tfds_pairs_by_feature_name(reachable_host):
    """div2k's examples hold lr and hr images: data.pair_keys=lr,hr reads them as the source
    and the target (the TFDS path, through mock_data); a wrong key names the features."""
    config = DataConfig(
        dataset="div2k", source="tfds", pair="given", pair_keys=["lr", "hr"], batch_size=2
    )
    with tfds.testing.mock_data(num_examples=4):
        batch, description = _batch(config, 32, channels=3, source_size=8)
        assert "div2k[train] from TFDS, pairs lr -> hr" in description
        assert batch["source"].shape == (2, 8, 8, 3) and batch["image"].shape == (2, 32, 32, 3)
        assert batch["image"].std() > 0
        with pytest.raises(DataError, match="it has (hr, lr|lr, hr)\\), got low,hr"):
            config.pair_keys = ["low", "hr"]
            _batch(config, 32, channels=3, source_size=8)


def test_scikit_image_photographs_train_on_crops_and_tile_the_held_out_ones():
    assert [p.stem for p in photo_paths("test")] == list(PHOTOS["test"]) == ["chelsea", "coffee"]
    config = DataConfig(
        dataset="skimage_photos", split="train", crops=True, pair="low_res4", batch_size=4
    )
    batch, description = _batch(config, 32, channels=3)
    assert "6 photographs from scikit-image" in description and "random crops" in description
    assert batch["image"].shape == (4, 32, 32, 3) and batch["source"].shape == (4, 8, 8, 3)
    again, _ = _batch(config, 32, channels=3, skip=4)  # the second batch: crops resume exactly
    ds, _ = make_dataset(config, 32, 3, seed=0)
    second = list(ds.take(2))[1]["image"].numpy()
    np.testing.assert_array_equal(again["image"], second)
    images, _ = load_split(config, "test", 32, 3)
    chelsea = np.asarray(Image.open(photo_paths("test")[0]).convert("RGB"))
    expected = len(tiles(chelsea, 32)) + (400 // 32) * (600 // 32)
    assert images.shape == (expected, 32, 32, 3)
    np.testing.assert_allclose(images[0], chelsea[:32, :32] / 127.5 - 1.0, atol=1e-5)
    with pytest.raises(DataError, match="has the splits train .* and test"):
        photo_paths("validation")


@pytest.mark.parametrize(
    "family, preset, message",
    [
        ("pix2pix", "pix2pix_facades", "data.path datasets/facades/train is not a folder"),
        ("esrgan", "esrgan_div2k", "dataset 'div2k/bicubic_x4' is not prepared .*tfds build"),
    ],
)
def test_gpu_recipes_say_in_one_line_what_they_need(tmp_path, monkeypatch, family, preset, message):
    """The paper-size presets resolve, and offline their data is a one-line error at once."""
    from training import config as cfg
    from training.pairs import source_size

    monkeypatch.chdir(tmp_path)
    config = cfg.resolve(family, preset)
    with pytest.raises(DataError, match=message) as info:
        make_dataset(
            config.data, config.model.image_size, 3, 0, source_size=source_size(config.model)
        )
    assert "\n" not in str(info.value)
