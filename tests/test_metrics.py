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


def _kid_with_subsets_of(real, fake, subsets, size, seed=0):
    """KID as the subsets of ``size`` it is defined by, written out: the reference."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        kxx, kyy = (x @ x.T / 8 + 1) ** 3, (y @ y.T / 8 + 1) ** 3
        kxy = (x @ y.T / 8 + 1) ** 3
        same = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        values.append(same - 2 * kxy.mean())
    return np.mean(values), np.std(values)


def test_kid_spread_comes_from_subsets_of_at_most_half_the_samples():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8)) + 0.1
    # subsets of the whole set would all be the same set: a spread of exactly 0
    mean, std = metrics.kid(a, b, subsets=20)
    assert std > 0.05 * abs(mean)
    assert metrics.kid_subset_size(400, 400) == 200
    assert (mean, std) == pytest.approx(_kid_with_subsets_of(a, b, 20, 200), rel=1e-12)
    assert metrics.kid_subset_size(400, 3) == metrics.kid_subset_size(3, 3) == 2
    # with plenty of samples, subsets of 1,000 as before: the same value for the same seed
    big_a, big_b = rng.standard_normal((10000, 8)), rng.standard_normal((10000, 8)) + 0.1
    assert metrics.kid_subset_size(10000, 10000) == 1000
    assert metrics.kid(big_a, big_b, subsets=3, seed=4) == pytest.approx(
        _kid_with_subsets_of(big_a, big_b, 3, 1000, seed=4), rel=1e-12
    )
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.kid(a[:1], b)


def test_slerp_keeps_to_the_great_circle_at_a_constant_speed_and_lerp_to_the_chord():
    a, b = np.array([[3.0, 0.0]]), np.array([[0.0, 2.0]])  # a quarter circle apart
    assert metrics.slerp(a, b, 0.0) == pytest.approx(np.array([[1.0, 0.0]]))
    assert metrics.slerp(a, b, 1.0) == pytest.approx(np.array([[0.0, 1.0]]), abs=1e-12)
    # the middle of the arc, not the normalised middle of the chord (1.5, 1) / |(1.5, 1)|
    assert metrics.slerp(a, b, 0.5) == pytest.approx(np.full((1, 2), 0.5**0.5))
    assert metrics.lerp(a, b, 0.5) == pytest.approx(np.array([[1.5, 1.0]]))
    # equal steps of t are equal angles, one t per row, on the unit sphere in any dimension
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((5, 16)), rng.standard_normal((5, 16))
    t = rng.uniform(0, 1, 5)
    angle = np.arccos((x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1))
    p, q = metrics.slerp(x, y, t), metrics.slerp(x, y, t + 0.01)
    assert np.linalg.norm(p, axis=1) == pytest.approx(np.ones(5))
    assert np.arccos(np.clip((p * q).sum(1), -1, 1)) == pytest.approx(0.01 * angle, rel=1e-6)
    # lerp moves equal distances, not equal angles; rows of any rank
    assert metrics.lerp(x, y, t) == pytest.approx(x + t[:, None] * (y - x))
    ws = rng.standard_normal((5, 3, 16))
    assert metrics.lerp(ws, 2 * ws, t) == pytest.approx(ws * (1 + t)[:, None, None])


def test_path_distances_are_of_unit_features_over_epsilon_squared():
    f = np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    g = np.array([[0.0, 5.0], [2.0, 2.0], [0.0, 0.0]])  # a quarter turn, a rescaling, zeros
    assert metrics.path_distances(f, g, epsilon=0.5) == pytest.approx([2.0 / 0.25, 0.0, 0.0])


def test_trimmed_mean_drops_what_is_outside_the_1st_and_99th_percentiles():
    values = np.arange(1001.0)
    values[:10], values[-10:] = -1e12, 1e12  # ten outliers at each end
    result = metrics.trimmed_mean(np.random.default_rng(8).permutation(values))
    # the bounds are values that occur (the 11th and the 991st), and both are kept
    assert result["bounds"] == [10.0, 990.0] and result["kept"] == 981
    assert result["mean"] == 500.0
    assert result["sem"] == pytest.approx(values[10:991].std() / np.sqrt(981))
    # the authors' lines, written out
    lo = np.percentile(values, 1, method="lower")
    hi = np.percentile(values, 99, method="higher")
    assert result["mean"] == np.extract(np.logical_and(values >= lo, values <= hi), values).mean()
    # with 100 values the 1st percentile is the smallest: nothing is dropped
    assert metrics.trimmed_mean(np.arange(100.0))["kept"] == 100
