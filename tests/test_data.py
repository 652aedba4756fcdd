import dataclasses
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from training import data, sources
from training.config import DataConfig


def _batch(config, size=28, channels=1, seed=0, skip=0):
    ds, description = data.make_dataset(config, size, channels, seed=seed, skip=skip)
    return next(iter(ds)), description


def test_vendored_mnist_is_the_real_test_set():
    images, labels = data.load_vendored_mnist()
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the published first test labels


def test_vendored_mnist_md5_is_checked(tmp_path, monkeypatch):
    shutil.copytree(sources.VENDORED_MNIST, tmp_path / "mnist")
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(labels.read_bytes())
    raw[-1] ^= 0xFF
    labels.write_bytes(bytes(raw))
    monkeypatch.setattr(sources, "VENDORED_MNIST", tmp_path / "mnist")
    with pytest.raises(data.DataError, match="is corrupt .md5 differs"):
        data.load_vendored_mnist()


def test_vendored_pipeline_scales_to_minus_one_one_exactly():
    batch, description = _batch(DataConfig(source="vendored", batch_size=16, shuffle_buffer=1))
    images, labels = data.load_vendored_mnist()
    assert "vendored" in description
    assert batch["image"].shape == (16, 28, 28, 1) and batch["image"].dtype == tf.float32
    np.testing.assert_allclose(batch["image"][..., 0], images[:16] / 127.5 - 1.0, atol=1e-6)
    assert batch["label"].numpy().tolist() == labels[:16].tolist()


def test_pad_puts_each_digit_unscaled_in_a_black_32x32_frame():
    config = DataConfig(source="vendored", batch_size=16, shuffle_buffer=1, fit="pad")
    batch, _ = _batch(config, size=32)
    images, _ = data.load_vendored_mnist()
    padded = batch["image"].numpy()[..., 0]
    np.testing.assert_allclose(padded[:, 2:30, 2:30], images[:16] / 127.5 - 1.0, atol=1e-6)
    frame = np.ones_like(padded, bool)
    frame[:, 2:30, 2:30] = False
    assert np.all(padded[frame] == -1.0)
    held_out, _ = data.load_split(config, "test[:16]", 32, 1)
    np.testing.assert_array_equal(held_out[..., 0], padded)
    # an image larger than the model's size is resized down, as with fit=resize
    big = tf.constant(np.full((40, 40, 1), 255, np.uint8))
    assert sources.to_model_format(big, 32, 1, "pad").shape == (32, 32, 1)


def test_the_digit_classifier_crops_a_padded_run_back_to_the_digits():
    from training.features import get_extractor

    images, _ = data.load_vendored_mnist()
    digits = images[:50, ..., None].astype(np.float32) / 127.5 - 1.0
    padded = np.pad(digits, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    features, probabilities = get_extractor("mnist_cnn", fit="pad")(padded)
    expected, _ = get_extractor("mnist_cnn")(digits)
    np.testing.assert_allclose(features, expected, atol=1e-5)
    resized, _ = get_extractor("mnist_cnn")(padded)  # resizing the frame moves the features
    assert np.abs(resized - expected).max() > 1e-2


def test_order_is_fixed_by_the_seed_and_skip_resumes_it():
    config = DataConfig(source="vendored", batch_size=8)
    stream = data.make_dataset(config, 16, 1, seed=1)[0]
    first = [b["label"].numpy() for b in stream.take(3)]
    again = [b["label"].numpy() for b in data.make_dataset(config, 16, 1, seed=1)[0].take(3)]
    other = next(iter(data.make_dataset(config, 16, 1, seed=2)[0]))["label"].numpy()
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    assert not (first[0] == other).all()
    resumed = next(iter(data.make_dataset(config, 16, 1, seed=1, skip=16)[0]))["label"].numpy()
    np.testing.assert_array_equal(resumed, first[2])


def test_offline_auto_falls_back_to_vendored_mnist_fast(tmp_path):
    start = time.perf_counter()
    config = DataConfig(source="auto", tfds_data_dir=str(tmp_path), batch_size=4)
    batch, description = _batch(config)
    assert time.perf_counter() - start < 10  # no multi-minute TFDS hang
    assert "vendored" in description and "unreachable" in description
    assert batch["image"].shape == (4, 28, 28, 1)


@pytest.mark.parametrize("source", ["auto", "tfds"])
def test_offline_other_dataset_says_how_to_prepare_it(tmp_path, source):
    config = DataConfig(dataset="cifar10", source=source, tfds_data_dir=str(tmp_path))
    with pytest.raises(data.DataError) as info:
        data.make_dataset(config, 32, 3, seed=0)
    message = str(info.value)
    assert "'cifar10' is not prepared" in message and "tfds build cifar10" in message
    assert "data.source=folder" in message and "\n" not in message


def test_unknown_tfds_name_and_vendored_other_dataset():
    with pytest.raises(data.DataError, match="unknown TFDS dataset 'mnistt'"):
        data.make_dataset(DataConfig(dataset="mnistt"), 28, 1, seed=0)
    with pytest.raises(data.DataError, match="vendored has only mnist"):
        data.make_dataset(DataConfig(dataset="cifar10", source="vendored"), 28, 1, seed=0)


@pytest.mark.parametrize("dataset, channels", [("mnist", 1), ("cifar10", 3), ("celeb_a", 3)])
def test_tfds_through_mock_data(reachable_host, dataset, channels):
    with tfds.testing.mock_data(num_examples=12):
        batch, description = _batch(
            DataConfig(dataset=dataset, source="tfds", batch_size=4), 16, channels
        )
    assert "from TFDS" in description
    assert batch["image"].shape == (4, 16, 16, channels)
    values = batch["image"].numpy()
    assert values.min() >= -1.0 and values.max() <= 1.0 and values.std() > 0


def test_prepared_tfds_cache_is_used_without_network(tmp_path):
    from tensorflow_datasets.testing import DummyMnist

    DummyMnist(data_dir=str(tmp_path)).download_and_prepare()  # generated locally, no download
    config = DataConfig(
        dataset="dummy_mnist", source="auto", tfds_data_dir=str(tmp_path), batch_size=4
    )
    batch, description = _batch(config, 28, 1)
    assert description == "dummy_mnist[train] from TFDS, 20 images (prepared TFDS copy)"
    assert batch["image"].shape == (4, 28, 28, 1)
    assert batch["image"].numpy().min() >= -1.0 and batch["image"].numpy().max() <= 1.0


def _write(path, size, mode="RGB", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size[1], size[0], 3 if mode == "RGB" else 1), value, np.uint8).squeeze()
    Image.fromarray(pixels, mode if mode != "RGB" else None).save(path)


def test_image_folder_with_classes_sizes_and_formats(tmp_path):
    _write(tmp_path / "cats" / "a.png", (40, 30), value=255)  # non-square: center-cropped
    _write(tmp_path / "cats" / "deep" / "b.jpg", (64, 64), value=255)
    _write(tmp_path / "dogs" / "c.png", (20, 20), mode="L", value=0)  # grayscale -> RGB
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    config = DataConfig(source="folder", path=str(tmp_path), batch_size=3, shuffle_buffer=1)
    batch, description = _batch(config, 16, 3)
    assert "3 images in 2 classes" in description
    assert batch["image"].shape == (3, 16, 16, 3)
    assert batch["label"].numpy().tolist() == [0, 0, 1]  # sorted paths; cats=0, dogs=1
    np.testing.assert_allclose(batch["image"][0], 1.0, atol=1e-5)
    np.testing.assert_allclose(batch["image"][2], -1.0, atol=1e-5)


def test_image_folder_errors(tmp_path):
    with pytest.raises(data.DataError, match="is not a folder"):
        data.make_dataset(DataConfig(source="folder", path=str(tmp_path / "x")), 16, 3, seed=0)
    with pytest.raises(data.DataError, match="holds no images"):
        data.make_dataset(DataConfig(source="folder", path=str(tmp_path)), 16, 3, seed=0)
    _write(tmp_path / "one.png", (8, 8))
    with pytest.raises(data.DataError, match="has 1 images, fewer than data.batch_size=4"):
        data.make_dataset(
            DataConfig(source="folder", path=str(tmp_path), batch_size=4), 16, 3, seed=0
        )


def test_corrupt_images_are_skipped_with_a_warning_and_counted(tmp_path, caplog):
    for i in range(4):
        _write(tmp_path / "good" / f"{i}.png", (16, 16), value=255)
    _write(tmp_path / "good" / "cut.png", (16, 16))
    whole = (tmp_path / "good" / "cut.png").read_bytes()
    (tmp_path / "good" / "cut.png").write_bytes(whole[: len(whole) // 2])  # truncated file
    (tmp_path / "good" / "text.jpg").write_text("not a jpeg")  # garbage with an image name
    config = DataConfig(source="folder", path=str(tmp_path), batch_size=4, shuffle_buffer=1)
    with caplog.at_level("WARNING", logger="training.sources"):
        ds, description = data.make_dataset(config, 16, 3, seed=0)
        batches = list(ds.take(3))  # more than one epoch: the stream never hits a bad file
    assert "4 images in 1 classes (2 undecodable skipped)" in description
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped 2 of 6 images" in warning
    assert "cut.png" in warning and "text.jpg" in warning
    for batch in batches:
        np.testing.assert_allclose(batch["image"], 1.0, atol=1e-5)  # only the good ones


def test_folder_of_only_corrupt_images_is_an_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(data.DataError, match="none of its 1 images can be decoded"):
        data.make_dataset(DataConfig(source="folder", path=str(tmp_path)), 16, 3, seed=0)


def test_mixed_sizes_are_resized_or_rejected_by_config(tmp_path):
    for i in range(3):
        _write(tmp_path / f"{i}.png", (32, 32), value=255)
    _write(tmp_path / "big.png", (64, 48), value=255)
    resize = DataConfig(source="folder", path=str(tmp_path), batch_size=4, shuffle_buffer=1)
    batch, description = _batch(resize, 16, 3)
    assert "2 sizes resized" in description and batch["image"].shape == (4, 16, 16, 3)
    reject = DataConfig(source="folder", path=str(tmp_path), batch_size=4, mixed_sizes="reject")
    with pytest.raises(data.DataError) as err:
        data.make_dataset(reject, 16, 3, seed=0)
    message = str(err.value)
    assert "mixes image sizes (32x32, 64x48" in message and "big.png is 64x48" in message
    assert "data.mixed_sizes=resize" in message and "\n" not in message


@pytest.mark.parametrize("cache", ["memory", "file"])
def test_cache_gives_the_same_batches(tmp_path, cache):
    """Decoding once (before the shuffle) keeps the order: it depends on the seed only."""
    for i in range(12):
        _write(tmp_path / "img" / f"{i:02d}.png", (20, 20), value=20 * i)
    plain = DataConfig(source="folder", path=str(tmp_path / "img"), batch_size=4, shuffle_buffer=5)
    where = "memory" if cache == "memory" else str(tmp_path / "cache" / "decoded")
    (tmp_path / "cache").mkdir()
    cached = dataclasses.replace(plain, cache=where)
    for skip in (0, 7):  # a resumed run skips into the stream
        a, _ = data.make_dataset(plain, 8, 1, seed=3, skip=skip)
        b, _ = data.make_dataset(cached, 8, 1, seed=3, skip=skip)
        for x, y in zip(a.take(9), b.take(9), strict=True):  # 3 epochs
            np.testing.assert_array_equal(x["image"], y["image"])
            np.testing.assert_array_equal(x["label"], y["label"])
    if cache == "file":
        assert list((tmp_path / "cache").glob("decoded*.index"))


def test_vendored_splits_slice_like_tfds():
    images, labels = data.load_vendored_mnist()
    x, y = data.load_split(DataConfig(source="vendored"), "test[9990:]", 28, 1)
    assert x.shape == (10, 28, 28, 1) and y.tolist() == labels[9990:].tolist()
    np.testing.assert_allclose(x[..., 0], images[9990:] / 127.5 - 1.0, atol=1e-6)
    assert len(data.load_split(DataConfig(source="vendored"), "test[:30]", 16, 1)[1]) == 30
    assert sources.split_slice("train") == ("train", slice(None, None))
    for bad, fragment in [
        ("test[a:b]", "is not a split name or a slice"),
        ("validation", "has the split 'test' only"),
        ("test[20000:]", "selects no image"),
    ]:
        with pytest.raises(data.DataError, match=fragment):
            data.load_split(DataConfig(source="vendored"), bad, 28, 1)


def test_labelled_batches_hold_the_first_examples_of_each_class_and_no_other_label():
    config = DataConfig(source="vendored", split="test[:500]", labelled=30, batch_size=10)
    ds, description = data.make_dataset(config, 28, 1, seed=0)
    assert "30 of them labelled (3/class)" in description
    images, labels = data.load_vendored_mnist()
    first = np.concatenate([np.flatnonzero(labels == c)[:3] for c in range(10)])
    expected = {images[i].tobytes(): int(labels[i]) for i in first}
    seen = {}
    for batch in ds.take(6):  # 60 labelled examples: two passes over the 30
        assert set(batch) == {"image", "labelled_image", "labelled_label"}
        pixels = np.round((batch["labelled_image"].numpy()[..., 0] + 1) * 127.5).astype(np.uint8)
        for image, label in zip(pixels, batch["labelled_label"].numpy(), strict=True):
            seen[image.tobytes()] = int(label)
    assert seen == expected


def test_labelled_must_split_evenly_over_the_classes():
    config = DataConfig(source="vendored", split="test[:500]", labelled=25, batch_size=10)
    with pytest.raises(data.DataError, match="multiple of the 10 classes"):
        data.make_dataset(config, 28, 1, seed=0)


def test_gif_and_bmp_train_a_grayscale_model(tmp_path):
    """TensorFlow decodes GIF and BMP only to RGB: a 1-channel model must still read them (a
    GIF passed the up-front check, then failed at step 57 of a run)."""
    _write(tmp_path / "a.gif", (16, 16), mode="L", value=255)
    _write(tmp_path / "b.bmp", (16, 16), value=255)
    _write(tmp_path / "c.png", (16, 16), mode="L", value=255)
    config = DataConfig(source="folder", path=str(tmp_path), batch_size=3, shuffle_buffer=1)
    ds, description = data.make_dataset(config, 16, 1, seed=0)
    assert "3 images" in description and "skipped" not in description
    for batch in ds.take(3):
        assert batch["image"].shape == (3, 16, 16, 1)
        np.testing.assert_allclose(batch["image"], 1.0, atol=1e-2)


def test_more_class_folders_than_model_classes_is_an_error(tmp_path):
    for name in ("a", "b", "c"):
        _write(tmp_path / name / "0.png", (16, 16))
    config = DataConfig(source="folder", path=str(tmp_path), batch_size=3)
    with pytest.raises(data.DataError) as err:
        data.make_dataset(config, 16, 1, seed=0, num_classes=2)
    assert "has 3 classes (a, b, c) but model.num_classes=2" in str(err.value)
    assert "\n" not in str(err.value)
    data.make_dataset(config, 16, 1, seed=0, num_classes=3)  # enough classes
    data.make_dataset(config, 16, 1, seed=0)  # a family that ignores labels


def test_file_cache_in_a_missing_folder_is_an_error_up_front(tmp_path):
    _write(tmp_path / "img" / "0.png", (16, 16))
    config = DataConfig(
        source="folder", path=str(tmp_path / "img"), batch_size=1, cache=str(tmp_path / "no" / "c")
    )
    with pytest.raises(data.DataError, match="the folder .*no does not exist; create it"):
        data.make_dataset(config, 16, 1, seed=0)


def test_views_of_a_known_image():
    """One bright pixel on a dark background: bold grows it to 3x3, thin (2x2 erosion) removes
    it, edges outline the 3x3 around it, low_res4 averages 4x4 blocks."""
    from training import views

    image = np.full((8, 8, 1), -1.0, np.float32)
    image[3, 3] = 1.0
    bold = views.view("bold", image).numpy()[..., 0]
    assert (bold[2:5, 2:5] == 1.0).all() and (bold == 1.0).sum() == 9
    assert (views.view("thin", image).numpy() == -1.0).all()
    edges = views.view("edges", image).numpy()[..., 0]
    np.testing.assert_array_equal(edges == 1.0, bold == 1.0)  # 3x3 max - 3x3 min, minus 1
    low = views.view("low_res4", image[None]).numpy()
    assert low.shape == (1, 2, 2, 1) and low[0, 0, 0, 0] == pytest.approx((15 * -1 + 1) / 16)
    np.testing.assert_array_equal(views.view("none", image), image)


def test_paired_batches_carry_the_view_of_each_image():
    config = DataConfig(source="vendored", batch_size=4, pair="edges")
    batch, _ = _batch(config)
    from training import views

    np.testing.assert_allclose(batch["source"], views.view("edges", batch["image"]), atol=1e-6)
    assert batch["source"].shape == batch["image"].shape and set(batch) == {
        "image",
        "label",
        "source",
    }


def test_two_domains_come_from_their_own_splits_and_resume_with_skip():
    config = DataConfig(
        source="vendored",
        batch_size=8,
        domains=["test[:100]", "test[100:200]"],
        domain_views=["none", "bold"],
    )
    stream, description = data.make_dataset(config, 28, 1, seed=1)
    first = list(stream.take(3))
    assert set(first[0]) == {"image_a", "image_b"} and "B: " in description
    digits, _ = data.load_split(config, "test[:200]", 28, 1)
    from training import views

    bold = views.view("bold", digits[100:]).numpy()
    for images, pool in (("image_a", digits[:100]), ("image_b", bold)):
        for image in first[0][images].numpy():  # each image is one of its own domain's
            assert np.abs(pool - image).reshape(len(pool), -1).max(axis=1).min() < 1e-5
    resumed = next(iter(data.make_dataset(config, 28, 1, seed=1, skip=16)[0]))
    for key in ("image_a", "image_b"):
        np.testing.assert_array_equal(resumed[key], first[2][key])


def test_domain_folders_and_their_errors(tmp_path):
    for domain, value in (("A", 0), ("B", 255)):
        for i in range(3):
            _write(tmp_path / domain / f"{i}.png", (8, 8), mode="L", value=value)
    config = DataConfig(source="folder", path=str(tmp_path), batch_size=2, domains=["A", "B"])
    batch, _ = _batch(config, 8, 1)
    assert (batch["image_a"].numpy() == -1).all() and (batch["image_b"].numpy() == 1).all()
    with pytest.raises(data.DataError, match="is not a folder"):
        data.make_dataset(dataclasses.replace(config, domains=["A", "C"]), 8, 1, seed=0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.pair=sketch"], "data view 'sketch' is not one of none, edges"),
        (["data.domains=trainA"], "needs two domains or more"),
        (["data.domains=a,b", "data.domain_views=bold"], "has 1 views for 2 data.domains"),
        (["data.domains=a,b", "data.pair=edges"], "cannot be combined with data.pair"),
    ],
)
def test_bad_pair_and_domain_settings_are_one_line(overrides, message):
    from training import config as cfg

    with pytest.raises(cfg.ConfigError, match=message):
        cfg.resolve("dcgan", "tiny", overrides=overrides)
