"""Perceptual path length (PPL) of a generator, as Karras et al. 2019 (sec. 3) define it and
their code computes it (``metrics/perceptual_path_length.py`` in stylegan and
stylegan2-ada-pytorch), on ganzoo's own feature extractor.

Each path draws two latents z0, z1 ~ N(0, I) and a position t ~ U(0, 1) (``sampling="full"``)
or t = 0 (``"end"``: the paper's t in {0, 1}; the authors' code takes t = 0, the same by
symmetry, since z0 and z1 are drawn alike and t = 1 + epsilon would leave the path). The two
images of the path are made at t and t + epsilon (epsilon = 1e-4):

* ``space="z"``: at slerp(z0, z1, t) and slerp(z0, z1, t + epsilon), through the generator;
* ``space="w"`` (a family with a mapping network, ``Family.w_space``: StyleGAN2): at
  lerp(w0, w1, t) and lerp(w0, w1, t + epsilon) in W, w0 and w1 the mapping of z0 and z1,
  through the rest of the generator.

A path's value is || f(x0) - f(x1) ||^2 / epsilon^2 with f the extractor's features divided
by their norm; PPL is the mean of the values between their 1st and 99th percentiles
(``training.metrics.trimmed_mean``).

Departures from the paper, each on purpose:

* Features: the run's extractor (``mnist_cnn``'s 128-d features for digits, InceptionV3's 2048-d
  pool features otherwise), each feature vector divided by its norm, instead of LPIPS (VGG16
  maps, each unit-normalised across channels, then weighted by learnt weights). The unit
  normalisation is LPIPS's own step, kept so that the value measures a change in what the
  features say rather than in how loud they are; the numbers are not on the papers' scale and
  are compared only between runs measured here with the same extractor.
* Latents in ``z`` lie on the sphere of radius sqrt(latent_dim), where standard normal ``z``
  concentrate: the authors' slerp returns unit vectors, which StyleGAN's mapping normalises
  anyway (so StyleGAN2's numbers are the authors' slerp exactly) but which a DCGAN generator
  never saw in training.
* The generator keeps its shipped constant noise (StyleGAN2's constant buffers) for every path;
  the authors redraw the buffers for each batch (the same at both ends of a path).
* Other inputs (a class, InfoGAN's codes) are drawn uniformly once per path and held at both
  ends; the authors draw labels from the dataset's. Generators that read data (translation
  families) have no latent path.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from training.metrics import PPL_EPSILON, lerp, path_distances, slerp, trimmed_mean
from zoo.errors import GanzooError

SPACES = ("z", "w")
SAMPLINGS = ("full", "end")
PATHS = 10000  # the paper's 100,000; see docs/evaluation.md for the time on this machine


class PathLengthError(GanzooError, ValueError):
    """A path length that cannot be measured, with what to do about it."""


@dataclasses.dataclass
class Paths:
    """``n`` paths: each latent input's two ends (``starts``, ``ends``: name -> [n, ...]), the
    positions ``t`` [n], and the other inputs, held along each path (``held``: name -> [n, ...])."""

    starts: dict[str, np.ndarray]
    ends: dict[str, np.ndarray]
    t: np.ndarray
    held: dict[str, np.ndarray]


def latent_inputs(contract, family: str = "this family") -> list[str]:
    """The generator inputs a path runs through (the ``normal`` noise), or a one-line
    ``PathLengthError`` for a generator without them or that reads data."""
    latents = [name for name, spec in contract.inputs.items() if spec.kind == "normal"]
    if contract.data_keys:
        raise PathLengthError(
            f"ppl measures paths between latents and {family}'s generator reads "
            f"{', '.join(contract.data_keys)} from the data; leave ppl out of --metrics"
        )
    if not latents:
        raise PathLengthError(f"ppl needs a noise input and {family}'s generator has none")
    return latents


def draw(contract, shapes: dict, n: int, rng: np.random.Generator, sampling: str) -> Paths:
    """``n`` random paths for a generator of inputs ``shapes`` (name -> shape without the
    batch) declared by ``contract``."""
    latents = latent_inputs(contract)
    held = contract.example_inputs(shapes, n, rng)
    starts = {name: held.pop(name) for name in latents}
    ends = {name: rng.standard_normal(starts[name].shape).astype(np.float32) for name in latents}
    t = rng.uniform(0.0, 1.0, n) if sampling == "full" else np.zeros(n)
    return Paths(starts, ends, t, held)


def _call(model, feeds: dict[str, np.ndarray]) -> np.ndarray:
    args = [feeds[t.name.split(":")[0]] for t in model.inputs]
    return np.asarray(model(args if len(args) > 1 else args[0], training=False))


def _twice(held: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([v, v]) for name, v in held.items()}


def images(
    generator, paths: Paths, space: str = "z", parts=None, epsilon: float = PPL_EPSILON
) -> tuple[np.ndarray, np.ndarray]:
    """The two images of each path, at t and t + ``epsilon`` (see the module docstring);
    ``parts`` is ``(to_w, from_w)`` for ``space="w"``."""
    n = len(paths.t)
    feeds = _twice(paths.held)
    if space == "z":
        for name, z0 in paths.starts.items():
            z1, radius = paths.ends[name], math.sqrt(z0.shape[-1])
            at = [slerp(z0, z1, paths.t), slerp(z0, z1, paths.t + epsilon)]
            feeds[name] = (np.concatenate(at) * radius).astype(np.float32)
        out = _call(generator, feeds)
    else:
        to_w, from_w = parts
        for name, z0 in paths.starts.items():
            feeds[name] = np.concatenate([z0, paths.ends[name]])
        w = np.asarray(_call(to_w, feeds), np.float64)
        w0, w1 = w[:n], w[n:]
        at = np.concatenate([lerp(w0, w1, paths.t), lerp(w0, w1, paths.t + epsilon)])
        out = np.asarray(from_w(at.astype(np.float32), training=False))
    return out[:n], out[n:]


def perceptual_path_length(
    generator,
    contract,
    extractor,
    paths: int = PATHS,
    space: str = "z",
    sampling: str = "full",
    seed: int = 0,
    parts=None,
    batch_size: int = 250,
    epsilon: float = PPL_EPSILON,
) -> dict:
    """PPL of ``generator`` (inputs as ``contract`` declares them) over ``paths`` random paths,
    ``batch_size`` paths (twice as many images) at a time; ``extractor(images)`` gives
    (features, ...). ``parts`` is the family's ``(to_w, from_w)`` for ``space="w"``."""
    from training.sample import input_names

    if space not in SPACES:
        raise PathLengthError(f"unknown path space {space!r}; accepted: {', '.join(SPACES)}")
    if sampling not in SAMPLINGS:
        raise PathLengthError(f"unknown sampling {sampling!r}; accepted: {', '.join(SAMPLINGS)}")
    if space == "w" and parts is None:
        raise PathLengthError("ppl in w needs the generator's mapping network (to_w, from_w)")
    shapes = input_names(generator)
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, paths, batch_size):
        batch = draw(contract, shapes, min(batch_size, paths - start), rng, sampling)
        x0, x1 = images(generator, batch, space, parts, epsilon)
        both, _ = extractor(np.concatenate([x0, x1]))
        values.append(path_distances(both[: len(x0)], both[len(x0) :], epsilon))
    return {
        **trimmed_mean(np.concatenate(values)),
        "paths": paths,
        "space": space,
        "sampling": sampling,
        "epsilon": epsilon,
        "features": "unit-normalised",
    }
