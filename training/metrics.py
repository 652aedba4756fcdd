"""Sample-quality metrics over features and images, in float64 NumPy.

FID   Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).
KID   Kernel Inception Distance: unbiased MMD^2 with the kernel (x.y / d + 1)^3, mean and
      standard deviation over random subsets of at most 1,000 samples and at most half of
      each set (Bińkowski et al. 2018).
IS    Inception Score: exp(E_x KL(p(y|x) || p(y))), mean and std over splits (Salimans et al.
      2016).
PR    improved precision and recall from k-NN manifolds (Kynkäänniemi et al. 2019).
SWD   sliced Wasserstein distance between 7x7 patches of Laplacian pyramid levels (Karras et al.
      2018), reported x1e3 per level as in ProGAN.
PPL   perceptual path length (Karras et al. 2019, sec. 3): the squared feature distance of two
      images epsilon apart on a latent path, over epsilon^2, averaged between the 1st and 99th
      percentiles. Here the interpolations and the average; the sampling of paths through a
      generator is ``training.path_length``.

The matrix square root of FID: tr sqrt(S1 S2) equals the sum of the square roots of the
eigenvalues of the symmetric positive semi-definite matrix sqrt(S1) S2 sqrt(S1). Both square
roots are taken with ``eigh`` on symmetric matrices, with the tiny negative eigenvalues that
round-off gives a near-singular covariance clipped to 0, so the result is real and finite
however singular the covariances are (scipy's ``sqrtm`` of the non-symmetric S1 S2 can go
complex there).
"""

from __future__ import annotations

import math

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2), clipped at 0."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = (
        np.atleast_2d(sigma1).astype(np.float64),
        np.atleast_2d(sigma2).astype(np.float64),
    )
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    value = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    return float(max(value, 0.0))


def fid(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    return frechet_distance(*gaussian_stats(real_features), *gaussian_stats(fake_features))


def kid_subset_size(num_real: int, num_fake: int, subset_size: int = 1000) -> int:
    """The size of KID's random subsets: ``subset_size``, but at most half the smaller set (and
    at least 2), so that subsets differ from each other and their spread estimates how much
    the value would change with other samples. Subsets of the whole set would all give the
    same value and a standard deviation of exactly 0."""
    n = min(num_real, num_fake)
    if n < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    return max(2, min(subset_size, n // 2))


def kid(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial-kernel MMD^2 over ``subsets`` random subsets of
    ``kid_subset_size`` samples (``subset_size``, at most half of the smaller set)."""
    real = np.asarray(real_features, np.float64)
    fake = np.asarray(fake_features, np.float64)
    m = kid_subset_size(len(real), len(fake), subset_size)
    rng = np.random.default_rng(seed)
    dim = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        kxx = (x @ x.T / dim + 1) ** 3
        kyy = (y @ y.T / dim + 1) ** 3
        kxy = (x @ y.T / dim + 1) ** 3
        off_diagonal = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(off_diagonal - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def inception_score(probabilities: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over ``splits`` of exp(mean KL(p(y|x) || p(y)))."""
    p = np.asarray(probabilities, np.float64)
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0.0)


def _knn_radii(features: np.ndarray, k: int, block: int) -> np.ndarray:
    radii = np.empty(len(features))
    for start in range(0, len(features), block):
        d = _squared_distances(features[start : start + block], features)
        radii[start : start + block] = np.partition(d, k, axis=1)[:, k]  # index 0 is itself
    return radii


def _coverage(points: np.ndarray, manifold: np.ndarray, radii: np.ndarray, block: int) -> float:
    inside = np.zeros(len(points), bool)
    for start in range(0, len(points), block):
        d = _squared_distances(points[start : start + block], manifold)
        inside[start : start + block] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(
    real_features: np.ndarray, fake_features: np.ndarray, k: int = 3, block: int = 1000
) -> tuple[float, float]:
    """Share of fakes inside the real k-NN manifold, and of reals inside the fake one."""
    real = np.asarray(real_features, np.float64)
    fake = np.asarray(fake_features, np.float64)
    precision = _coverage(fake, real, _knn_radii(real, k, block), block)
    recall = _coverage(real, fake, _knn_radii(fake, k, block), block)
    return precision, recall


def _laplacian_pyramid(images: np.ndarray, min_size: int) -> list[np.ndarray]:
    """Levels from fine to coarse; each coarse level is a 2x2 average, the finer ones keep the
    difference from the upsampled coarser level."""
    levels, current = [], images
    while current.shape[1] // 2 >= min_size and current.shape[1] % 2 == 0:
        h, w, c = current.shape[1:]
        coarse = current.reshape(-1, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
        levels.append(current - coarse.repeat(2, axis=1).repeat(2, axis=2))
        current = coarse
    levels.append(current)
    return levels


def _patches(level: np.ndarray, per_image: int, rng, size: int = 7) -> np.ndarray:
    n, h, w, c = level.shape
    ys = rng.integers(0, h - size + 1, (n, per_image))
    xs = rng.integers(0, w - size + 1, (n, per_image))
    offsets = np.arange(size)
    rows = (ys[..., None] + offsets)[..., :, None]
    cols = (xs[..., None] + offsets)[..., None, :]
    patches = level[np.arange(n)[:, None, None, None], rows, cols]  # [n, per, 7, 7, c]
    patches = patches.reshape(-1, size, size, c)
    patches = patches - patches.mean(axis=(0, 1, 2))
    patches = patches / (patches.std(axis=(0, 1, 2)) + 1e-8)
    return patches.reshape(len(patches), -1)


def _sliced_wasserstein(a: np.ndarray, b: np.ndarray, directions: int, repeats: int, rng) -> float:
    results = []
    for _ in range(repeats):
        dirs = rng.standard_normal((a.shape[1], directions))
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        results.append(np.abs(pa - pb).mean())
    return float(np.mean(results))


def swd(
    real_images: np.ndarray,
    fake_images: np.ndarray,
    patches_per_image: int = 64,
    max_descriptors: int = 2**17,
    directions: int = 128,
    repeats: int = 4,
    min_size: int = 14,
    seed: int = 0,
) -> dict[str, float]:
    """SWD x1e3 per pyramid level (named by resolution) and their mean, on images in [-1, 1].

    ProGAN uses 128 patches per image, 512 directions and levels down to 16 px; fewer patches
    and directions (defaults here) keep a CPU evaluation of 10k images within a minute. Unlike
    ProGAN, both sets are cut at the same patch positions.
    """
    real = np.asarray(real_images, np.float64)
    fake = np.asarray(fake_images, np.float64)
    n = min(len(real), len(fake))
    rng = np.random.default_rng(seed)
    result = {}
    for level, (a, b) in enumerate(
        zip(
            _laplacian_pyramid(real[:n], min_size),
            _laplacian_pyramid(fake[:n], min_size),
            strict=True,
        )
    ):
        per = max(1, min(patches_per_image, max_descriptors // n))
        # Both sets are cut at the same patch positions: identical sets score exactly 0 and
        # the estimate varies less than with independent positions.
        da = _patches(a, per, np.random.default_rng([seed, level]))
        db = _patches(b, per, np.random.default_rng([seed, level]))
        result[f"swd_{a.shape[1]}px"] = _sliced_wasserstein(da, db, directions, repeats, rng) * 1e3
    result["swd_mean"] = float(np.mean(list(result.values())))
    return result


def code_accuracy(codes: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    """Accuracy of the best one-to-one matching of code values to predicted classes: 1.0 when
    each code value makes its own class (InfoGAN's categorical code), about 1/classes when the
    code is ignored or the generator collapses to one class, since two code values can never
    be credited with the same class. Which value became which class is learnt, not given, so
    the matching is the one that scores best (the Hungarian assignment, as in clustering
    accuracy)."""
    codes, predicted = np.asarray(codes, np.int64), np.asarray(predicted, np.int64)
    counts = np.zeros((max(int(codes.max()) + 1, 1), classes), np.int64)
    np.add.at(counts, (codes, predicted), 1)
    return best_assignment(counts) / len(codes)


def best_assignment(weights: np.ndarray) -> int | float:
    """The largest sum of entries of ``weights`` with at most one entry taken from each row and
    each column: the Hungarian algorithm (Kuhn-Munkres with potentials, O(rows^2 cols)), exact.
    With integer weights every step stays an integer, so the sum is exact too."""
    w = np.asarray(weights)
    if w.shape[0] > w.shape[1]:
        w = w.T
    rows, cols = w.shape
    cost = (-w).tolist()  # the algorithm minimises
    inf = math.inf
    u, v = [0] * (rows + 1), [0] * (cols + 1)
    owner = [0] * (cols + 1)  # owner[j]: the row (1-based) matched to column j; 0: none
    way = [0] * (cols + 1)
    for i in range(1, rows + 1):
        owner[0], j0 = i, 0
        min_v, used = [inf] * (cols + 1), [False] * (cols + 1)
        while True:  # grow an alternating tree from row i until it reaches a free column
            used[j0] = True
            i0, delta, j1 = owner[j0], inf, 0
            for j in range(1, cols + 1):
                if not used[j]:
                    reduced = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if reduced < min_v[j]:
                        min_v[j], way[j] = reduced, j0
                    if min_v[j] < delta:
                        delta, j1 = min_v[j], j
            for j in range(cols + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    min_v[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # flip the path: every column on it takes the row before it
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    return sum(w[owner[j] - 1, j - 1].item() for j in range(1, cols + 1) if owner[j])


def mode_coverage(modes: np.ndarray, num_modes: int = 1000) -> dict[str, float]:
    """How a set of samples covers ``num_modes`` equally likely modes (Stacked MNIST's 1,000:
    VEEGAN, PacGAN), from each sample's mode index: ``modes`` covered (with at least one
    sample) and ``kl``, KL(generated || uniform) in nats, the sum over modes of p log(p * num_modes)
    with p the share of the samples in the mode (0 for uniform coverage, log(num_modes) when
    every sample is in one mode)."""
    modes = np.asarray(modes, np.int64)
    if modes.size == 0 or modes.min() < 0 or modes.max() >= num_modes:
        raise ValueError(f"mode indices must be in [0, {num_modes}), got {modes.size} samples")
    p = np.bincount(modes, minlength=num_modes) / modes.size
    seen = p > 0
    return {
        "modes": int(seen.sum()),
        "kl": float(np.sum(p[seen] * np.log(p[seen] * num_modes))),
    }


PPL_EPSILON = 1e-4  # the step along a path (the authors' epsilon)


def slerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Spherical interpolation of the rows of ``a`` and ``b`` at ``t`` (a scalar or one per
    row): the point a fraction ``t`` of the angle from ``a`` towards ``b`` on the great circle
    through their directions, as a unit vector (the authors' ``slerp``: inputs normalised first,
    output normalised last). ``t`` outside [0, 1] continues along the same circle."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    t = np.asarray(t, np.float64).reshape(-1, 1) if np.ndim(t) else np.float64(t)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    d = np.clip((a * b).sum(axis=-1, keepdims=True), -1.0, 1.0)
    p = t * np.arccos(d)
    c = b - d * a
    c = c / np.linalg.norm(c, axis=-1, keepdims=True)
    out = a * np.cos(p) + c * np.sin(p)
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def lerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Linear interpolation a + t (b - a) of the rows of ``a`` and ``b`` (``t`` a scalar or one
    per row, broadcast over the remaining axes)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)
    if t.ndim:
        t = t.reshape((-1,) + (1,) * (a.ndim - 1))
    return a + t * (b - a)


def unit_features(features: np.ndarray) -> np.ndarray:
    """Each row divided by its Euclidean norm (a zero row stays zero): PPL's stand-in for
    LPIPS's normalisation of each feature vector to unit length, so that the distance measures
    a change of what the features say, not of how strongly they say it."""
    features = np.asarray(features, np.float64)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def path_distances(features_t0, features_t1, epsilon: float = PPL_EPSILON) -> np.ndarray:
    """PPL's per-path values: the squared distance between the unit-normalised features of the
    two images of each path (``unit_features``), over ``epsilon`` squared."""
    diff = unit_features(features_t0) - unit_features(features_t1)
    return (diff * diff).sum(axis=-1) / epsilon**2


def trimmed_mean(values: np.ndarray, lower: float = 1.0, upper: float = 99.0) -> dict:
    """PPL from its per-path values as the authors compute it: the mean of the values between
    the ``lower`` and ``upper`` percentiles, both ends kept (NumPy's ``lower`` and ``higher``
    percentile methods, so both bounds are values that occur). Returns the mean, the standard
    error of that mean (the kept values' std over sqrt(kept)), how many were kept, and the
    bounds."""
    values = np.asarray(values, np.float64)
    lo = float(np.percentile(values, lower, method="lower"))
    hi = float(np.percentile(values, upper, method="higher"))
    kept = values[(values >= lo) & (values <= hi)]
    return {
        "mean": float(kept.mean()),
        "sem": float(kept.std() / math.sqrt(len(kept))),
        "kept": int(len(kept)),
        "bounds": [lo, hi],
    }
