"""Metrics against known answers."""

import numpy as np
import pytest

from training import metrics


def test_frechet_distance_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(4), rng.standard_normal(4)
    # commuting covariances (same eigenvectors): tr sqrt(S1 S2) = sum sqrt(l1 * l2)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    l1, l2 = np.array([4.0, 1.0, 0.25, 2.0]), np.array([1.0, 9.0, 1.0, 0.5])
    s1, s2 = (q * l1) @ q.T, (q * l2) @ q.T
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    assert metrics.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)


def test_frechet_distance_stays_real_on_singular_covariances():
    rng = np.random.default_rng(1)
    low_rank = rng.standard_normal((50, 3)) @ rng.standard_normal((3, 64))  # rank 3 in 64-d
    other = rng.standard_normal((50, 2)) @ rng.standard_normal((2, 64))
    value = metrics.fid(low_rank, other)
    assert np.isfinite(value) and value > 0
    assert metrics.fid(low_rank, low_rank) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    x = np.random.default_rng(2).standard_normal((2000, 16))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-8)
    assert metrics.fid(x, x + 1.0) == pytest.approx(16.0, rel=1e-6)  # ||shift||^2


def test_kid_is_unbiased_on_identical_distributions():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((1000, 8)), rng.standard_normal((1000, 8))
    mean, std = metrics.kid(a, b, subsets=50, subset_size=200)
    assert abs(mean) < 3 * std / np.sqrt(50) + 1e-4  # zero within its standard error
    shifted, _ = metrics.kid(a, b + 0.5, subsets=50, subset_size=200)
    assert shifted > 10 * std


def test_inception_score_of_confident_uniform_predictions_is_the_class_count():
    k = 7
    probabilities = np.eye(k)[np.arange(700) % k]  # each sample certain, classes balanced
    mean, std = metrics.inception_score(probabilities, splits=10)
    assert mean == pytest.approx(k, rel=1e-6) and std < 1e-6
    one_class = np.eye(k)[np.zeros(700, int)]
    assert metrics.inception_score(one_class)[0] == pytest.approx(1.0)


def test_precision_recall_of_a_set_with_itself_and_of_a_collapsed_set():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((500, 4))
    assert metrics.precision_recall(real, real) == (1.0, 1.0)
    collapsed = real[:1].repeat(500, axis=0) + 1e-3 * rng.standard_normal((500, 4))
    precision, recall = metrics.precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.05  # realistic, but covers almost nothing


def test_swd_is_zero_for_identical_sets_and_grows_with_noise():
    rng = np.random.default_rng(5)
    images = np.tanh(rng.standard_normal((200, 28, 28, 1)))
    same = metrics.swd(images, images)
    assert set(same) == {"swd_28px", "swd_14px", "swd_mean"}
    assert same["swd_mean"] == pytest.approx(0.0, abs=1e-9)
    blurred = images.reshape(200, 14, 2, 14, 2, 1).mean(axis=(2, 4)).repeat(2, 1).repeat(2, 2)
    assert metrics.swd(images, blurred)["swd_28px"] > 10
