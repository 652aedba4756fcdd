"""Stacked MNIST and the mode-coverage metric (issue: mode coverage and fakes)."""

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
