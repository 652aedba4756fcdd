"""Perceptual path length (training.path_length) against known answers: toy generators whose
path lengths follow from geometry, the identity as the feature extractor, then the tiny
StyleGAN2 split at w and the command line."""

import math

import keras
import numpy as np
import pytest

from training import path_length
from training.path_length import Paths, images, perceptual_path_length
from zoo import stylegan2
from zoo.contract import Contract, from_data, normal, uniform_class

EPS = path_length.PPL_EPSILON
NOISE = Contract("adversarial", {"z": normal()})


class Identity:
    """The identity as the feature extractor: the generator's outputs are the features."""

    name = "identity"

    def __call__(self, images):
        return np.asarray(images, np.float64).reshape(len(images), -1), None


def _linear(matrix, bias=None, name="z"):
    """G(z) = z A (+ bias): a linear generator of one input ``name``."""
    matrix = np.asarray(matrix, np.float32)
    z = keras.Input((matrix.shape[0],), name=name)
    dense = keras.layers.Dense(matrix.shape[1], use_bias=bias is not None)
    model = keras.Model(z, dense(z))
    dense.set_weights([matrix] if bias is None else [matrix, np.asarray(bias, np.float32)])
    return model


def _rotation(angle, scale=1.0):
    c, s = math.cos(angle), math.sin(angle)
    return scale * np.array([[c, -s], [s, c]])


def _angle_step(x0, x1):
    """The exact per-path value for features that turn by the angle between x0 and x1."""
    u0 = x0 / np.linalg.norm(x0, axis=1, keepdims=True)
    u1 = x1 / np.linalg.norm(x1, axis=1, keepdims=True)
    return ((u0 - u1) ** 2).sum(1) / EPS**2


def test_constant_generator_has_path_length_zero():
    constant = _linear(np.zeros((8, 5)), bias=np.arange(1.0, 6.0))
    result = perceptual_path_length(constant, NOISE, Identity(), paths=300, batch_size=128)
    assert result["mean"] == 0.0 and result["kept"] == 300 and result["paths"] == 300


def test_rotation_of_a_plane_gives_the_squared_angle_between_the_ends():
    """In 2-d, the angle between two standard normal z is uniform in [0, pi]; slerp turns at that
    angle per unit of t, and a rotation (of any scale: the features are unit-normalised) turns
    the features with it. So each path's value is the squared angle, whatever t is, and PPL is
    the mean of theta^2 between its 1st and 99th percentiles: pi^2 (0.99^3 - 0.01^3) / (3 *
    0.98)."""
    expected = math.pi**2 * (0.99**3 - 0.01**3) / (3 * 0.98)
    for scale in (1.0, 7.0):
        rotation = _linear(_rotation(0.3, scale))
        result = perceptual_path_length(rotation, NOISE, Identity(), 20000, batch_size=2000)
        assert result["sem"] == pytest.approx(0.021, abs=0.002)  # sqrt(var(theta^2) / 20,000)
        assert abs(result["mean"] - expected) < 3 * result["sem"], (scale, result)
        assert result["bounds"][1] == pytest.approx((0.99 * math.pi) ** 2, rel=0.01)
    # every t gives the same value on a slerp; the ends alone give the same PPL in distribution
    end = perceptual_path_length(rotation, NOISE, Identity(), 20000, sampling="end", seed=1)
    assert abs(end["mean"] - expected) < 3 * end["sem"] and end["sampling"] == "end"


def test_z_paths_are_slerps_and_w_paths_are_lerps():
    """The same two ends through the same linear generator: in z the features turn at a constant
    speed (the angle between the ends, whatever t); in w they turn at the speed of a point
    moving along the chord, |det(w0, w1)| / |w(t)|^2, which depends on t."""
    w0, w1 = np.array([[3.0, 0.0]] * 2, np.float32), np.array([[0.0, 1.0]] * 2, np.float32)
    t = np.array([0.0, 0.5])
    paths = Paths({"z": w0}, {"z": w1}, t, {})
    rotation = _linear(_rotation(1.1, 2.0))
    x0, x1 = images(rotation, paths, "z")
    # float32 images 1e-4 apart: values within 1% (the authors' float32 has the same limit)
    assert _angle_step(x0, x1) == pytest.approx([(math.pi / 2) ** 2] * 2, rel=1e-2)
    # z on the sphere of radius sqrt(latent_dim): at t = 0, z0's direction times sqrt(2)
    assert x0[0] == pytest.approx(np.array([math.sqrt(2), 0.0]) @ _rotation(1.1, 2.0), rel=1e-6)
    parts = (_linear(np.eye(2)), rotation)  # w = z, then the rotation
    x0, x1 = images(rotation, paths, "w", parts)
    w_t = w0 + t[:, None] * (w1 - w0)
    speed = 3.0 / (w_t**2).sum(1)  # |det(w0, w1)| / |w(t)|^2: 1/3, then 3 / 3.25
    assert _angle_step(x0, x1) == pytest.approx(speed**2, rel=1e-2)
    assert x0 == pytest.approx(w_t @ _rotation(1.1, 2.0), rel=1e-6)


def test_labels_are_held_along_each_path():
    """A generator that draws only its class: PPL 0 when the class is the same at both ends of
    each path (and far from 0 if it changed between them)."""
    z = keras.Input((4,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    embedded = keras.layers.Embedding(10, 6, embeddings_initializer="normal")(label)
    ignored = keras.layers.Dense(6, kernel_initializer="zeros", use_bias=False)(z)
    generator = keras.Model([z, label], keras.layers.Add()([embedded, ignored]))
    conditional = Contract("adversarial", {"z": normal(), "label": uniform_class(10)})
    result = perceptual_path_length(generator, conditional, Identity(), paths=500)
    assert result["mean"] == 0.0
    other = Paths({"z": np.eye(4, dtype=np.float32)[:2]}, {"z": np.ones((2, 4), np.float32)},
                  np.zeros(2), {"label": np.array([1, 2], np.int32)})  # fmt: skip
    x0, x1 = images(generator, other, "z")
    assert not np.allclose(x0[0], x0[1]) and np.array_equal(x0, x1)


def test_options_and_generators_without_latents_are_one_line_errors():
    translation = Contract("paired", {"source": from_data()})
    g = _linear(np.eye(2))
    for kwargs, fragment in [
        ({"space": "q"}, "unknown path space 'q'; accepted: z, w"),
        ({"sampling": "mid"}, "unknown sampling 'mid'; accepted: full, end"),
        ({"space": "w"}, "ppl in w needs the generator's mapping network"),
    ]:
        with pytest.raises(path_length.PathLengthError, match=fragment.replace("'", ".")):
            perceptual_path_length(g, NOISE, Identity(), paths=4, **kwargs)
    with pytest.raises(path_length.PathLengthError, match="reads image from the data"):
        perceptual_path_length(g, translation, Identity(), paths=4)


def test_paths_draw_t_uniform_or_at_the_start_and_independent_ends():
    conditional = Contract("adversarial", {"z": normal(), "label": uniform_class(10)})
    shapes = {"z": (3,), "label": ()}
    full = path_length.draw(conditional, shapes, 4000, np.random.default_rng(0), "full")
    assert 0 <= full.t.min() and full.t.max() < 1 and full.t.mean() == pytest.approx(0.5, abs=0.02)
    assert set(full.held) == {"label"} and set(np.unique(full.held["label"])) == set(range(10))
    z0, z1 = full.starts["z"], full.ends["z"]
    assert z0.std() == pytest.approx(1, abs=0.03) and z1.std() == pytest.approx(1, abs=0.03)
    assert abs(np.corrcoef(z0.ravel(), z1.ravel())[0, 1]) < 0.03
    end = path_length.draw(conditional, shapes, 10, np.random.default_rng(0), "end")
    assert np.array_equal(end.t, np.zeros(10))


@pytest.fixture(scope="module")
def stylegan2_run(trained_runs):
    return trained_runs("stylegan2")


def test_w_space_splits_the_shipped_stylegan2_at_w(stylegan2_run):
    from training.sample import load_generator

    generator = load_generator(stylegan2_run, "stylegan2")  # its layers load as nested models
    to_w, from_w = stylegan2.w_space(generator)
    z = np.random.default_rng(0).standard_normal((3, generator.inputs[0].shape[-1]))
    w = np.asarray(to_w(z.astype(np.float32)))
    assert w.shape == (3, from_w.inputs[0].shape[-1])
    assert np.asarray(from_w(w)) == pytest.approx(np.asarray(generator(z)), abs=1e-6)
    assert from_w.get_layer("const") is generator.get_layer("const")  # the weights are shared
