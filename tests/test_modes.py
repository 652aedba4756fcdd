"""Stacked MNIST and the mode-coverage metric (issue: mode coverage and fakes)."""

import json
import math

import numpy as np
import pytest

from training import data, sources
from training.config import DataConfig
from training.metrics import mode_coverage


def test_stacked_mnist_images_are_three_digits_of_the_pool_and_labelled_by_them():
    images, labels = data.load_vendored_mnist()
    source = sources.stacked_mnist_source("train", size=2000)
    picks, modes = next(iter(source.examples.batch(2000)))
    picks, modes = picks.numpy(), modes.numpy()
    assert picks.min() >= 0 and picks.max() < 8000  # the training pool only
    np.testing.assert_array_equal(modes, labels[picks] @ np.array([100, 10, 1]))
    image = source.decode(picks[7]).numpy()
    assert image.shape == (28, 28, 3)
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], images[picks[7, channel]])
    held_out, _ = next(iter(sources.stacked_mnist_source("test", size=500).examples.batch(500)))
    assert held_out.numpy().max() < 2000  # indices into digits 8000-9999
    # the draws are the dataset's own: the same on every machine and for every run seed
    again, _ = next(iter(sources.stacked_mnist_source("train", size=2000).examples.batch(2000)))
    np.testing.assert_array_equal(again.numpy(), picks)


def test_stacked_mnist_covers_every_mode_and_trains_through_the_pipeline():
    source = sources.stacked_mnist_source()
    _, modes = next(iter(source.examples.batch(sources.STACKED_SIZE)))
    assert mode_coverage(modes.numpy())["modes"] == 1000
    config = DataConfig(dataset="stacked_mnist", batch_size=8, fit="pad")
    ds, description = data.make_dataset(config, 32, 3, seed=0)
    batch = next(iter(ds))
    assert "stacked_mnist" in description and batch["image"].shape == (8, 32, 32, 3)
    assert float(batch["image"][:, :2].numpy().max()) == -1.0  # the padded frame


def test_mode_coverage_known_answers():
    uniform = mode_coverage(np.arange(1000))
    assert uniform == {"modes": 1000, "kl": pytest.approx(0.0, abs=1e-12)}
    assert mode_coverage(np.full(26, 123)) == {"modes": 1, "kl": pytest.approx(math.log(1000))}
    two = mode_coverage(np.array([4, 4, 9, 9]))
    assert two["modes"] == 2 and two["kl"] == pytest.approx(math.log(500))
    with pytest.raises(ValueError, match=r"mode indices must be in \[0, 1000\)"):
        mode_coverage(np.array([1000]))


def _stacked(split, size):
    """Stacked images of the source's draws, gathered with NumPy (decoding them one by one in
    TensorFlow takes a minute for 10,000)."""
    digits, _ = data.load_vendored_mnist()
    pool = digits[8000:] if split == "test" else digits[:8000]
    picks, modes = next(iter(sources.stacked_mnist_source(split, size=size).examples.batch(size)))
    images = np.moveaxis(pool[picks.numpy()], 1, -1)  # [N, 3, 28, 28] -> [N, 28, 28, 3]
    return images.astype(np.float32) / 127.5 - 1.0, modes.numpy()


def test_real_stacked_mnist_covers_nearly_every_mode_and_a_collapsed_set_few():
    from training.modes import stacked_digits, stacked_modes

    images, modes = _stacked("test", 5000)  # held-out digits: 5 samples per mode
    digits = stacked_digits(images)
    assert np.mean(digits @ np.array([100, 10, 1]) == modes) > 0.93  # 98.5% per digit
    real = mode_coverage(digits @ np.array([100, 10, 1]))
    # 5,000 draws of 1,000 equally likely modes leave about 1000 e^-5 = 7 empty and give an
    # empirical KL of about 999 / (2 * 5,000) = 0.1
    assert real["modes"] >= 980 and real["kl"] < 0.2
    collapsed = stacked_modes(np.repeat(images[:4], 50, axis=0))  # four images, 50 each
    assert collapsed["modes"] <= 4 and collapsed["kl"] >= math.log(1000 / 4) - 1e-6
    assert collapsed["samples"] == 200
    padded = np.pad(images[:200], ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    np.testing.assert_array_equal(stacked_digits(padded, "pad"), stacked_digits(images[:200]))


def test_modes_of_grey_images_is_a_one_line_error(capsys):
    from training import evaluate

    grey = np.zeros((4, 28, 28, 1), np.float32)
    with pytest.raises(evaluate.GanzooError, match="a digit in each of 3 channels; these images"):
        evaluate.compute(grey, grey, None, ("modes",))


def test_evaluate_counts_the_modes_of_a_stacked_run(tmp_path, monkeypatch, capsys):
    """A Stacked MNIST run of the tiny dcgan: ``--metrics modes`` generates at least the papers'
    sample count (here patched down to 600) and the summary and metrics.json give the modes."""
    import json

    from tests.conftest import tiny_config
    from training import evaluate
    from training.loop import train

    config = tiny_config("dcgan", "data.dataset=stacked_mnist", "model.channels=3", "train.steps=2")
    train(config, tmp_path / "run")
    monkeypatch.setattr(evaluate, "MODES_SAMPLES", 600)
    code = evaluate.main([str(tmp_path / "run"), "--metrics", "swd,modes", "--num-samples", "50"])
    out = capsys.readouterr().out
    assert code == 0 and "Stacked MNIST modes" in out and "600 samples" in out
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 1 <= result["modes"]["modes"] <= 600 and result["modes"]["samples"] == 600
    assert result["num_fake"] == 50 and "swd" in result


def test_real_stacked_mnist_reference_command(capsys):
    """``python -m training.modes``: real held-out stacked digits, as many as drawn, cover
    about the modes that sampling alone leaves (1000 (1 - e^-2) = 865 for 2,000 draws)."""
    from training import modes

    assert modes.main(["--split", "test", "--num", "2000"]) == 0
    line, result = capsys.readouterr().out.splitlines()[:2]
    assert line.startswith("real Stacked MNIST (test): modes ")
    assert 830 <= json.loads(result)["modes"] <= 900
    assert modes.main(["--split", "validation", "--num", "10"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not 'validation'" in error
