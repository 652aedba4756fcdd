"""zoo.layers: the weight-normalized dense layer and its data-dependent initialization, the
generator sgan ships, and ProGAN's layers (pixel norm, minibatch stddev, level of detail and
cross-fade) against their formulas and saved by their registered names."""

import json
import zipfile

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import tiny_config
from training.checkpoints import copy_weights, portable_copy
from zoo.layers import (
    CrossFade,
    LevelOfDetail,
    MinibatchStddev,
    PixelNorm,
    WeightNormDense,
    initialize_weight_norm,
)


def test_weight_norm_kernel_columns_have_norm_g():
    layer = WeightNormDense(5, train_scale=True)
    x = np.random.default_rng(0).normal(size=(7, 3)).astype("float32")
    layer(x)
    layer.g.assign(np.array([0.5, 1.0, 2.0, 3.0, 4.0], "float32"))
    # the layer is linear in x: its kernel is the output on the identity (bias 0)
    kernel = np.asarray(layer(np.eye(3, dtype="float32")))
    np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), [0.5, 1, 2, 3, 4], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(layer(x)), x @ kernel, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("train_scale", [True, False])
def test_train_scale_decides_whether_g_trains(train_scale):
    layer = WeightNormDense(4, train_scale=train_scale)
    layer(np.zeros((1, 3), "float32"))
    trainable = {w.name for w in layer.trainable_weights}
    assert trainable == ({"v", "g", "bias"} if train_scale else {"v", "bias"})
    assert "g" in {w.name for w in layer.weights}  # fixed, but saved


def test_data_dependent_init_standardizes_every_layers_pre_activations():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(256, 20)) * rng.uniform(0.1, 5, 20) + 3).astype("float32")
    inputs = keras.Input((20,))
    h = WeightNormDense(16, "relu", name="a")(inputs)
    h = keras.layers.Dropout(0.5)(h)  # inference mode: no dropout while initializing
    out = WeightNormDense(8, name="b")(h)
    model = keras.Model(inputs, out)
    before = np.asarray(model(x))
    assert np.abs(before.mean(0)).max() > 0.1  # not standardized to begin with
    initialize_weight_norm(model, x)
    hidden = keras.Model(inputs, model.get_layer("a").pre_activation(model.get_layer("a").input))
    for pre in (np.asarray(hidden(x)), np.asarray(model(x))):
        np.testing.assert_allclose(pre.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(pre.std(0), 1, rtol=1e-3)


def test_sgan_trains_an_unbounded_generator_and_ships_it_clipped():
    family = zoo.get_family("sgan")
    config = tiny_config("sgan").model
    generator = family.build(config)["generator"]
    shipped = family.ship("generator", generator)
    bias = generator.get_layer("to_pixels").bias
    bias.assign(np.linspace(-4, 4, bias.shape[0]).astype("float32"))
    z = np.random.default_rng(0).normal(size=(16, config.latent_dim)).astype("float32")
    trained, ship = np.asarray(generator(z)), np.asarray(shipped(z))
    assert trained.min() >= -1 and trained.max() > 1.5  # softplus: above the image range
    np.testing.assert_allclose(ship, np.clip(trained, -1, 1), atol=1e-5)
    assert shipped.count_params() == generator.count_params()  # the same weights


def test_portable_copy_folds_weight_norm_into_keras_dense():
    inputs = keras.Input((6,))
    h = WeightNormDense(5, "relu", train_scale=False, name="wn")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(h))
    model.get_layer("wn").g.assign(np.arange(1, 6, dtype="float32"))
    copy = portable_copy(model)
    assert [type(layer).__name__ for layer in copy.layers[1:]] == ["Dense", "Dense"]
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(model(x)), atol=1e-6)
    model.get_layer("wn").bias.assign(np.ones(5, "float32"))  # training goes on
    assert not np.allclose(np.asarray(copy(x)), np.asarray(model(x)), atol=1e-3)
    copy_weights(model, copy)
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(model(x)), atol=1e-6)


def _stddev_feature(x, group):
    """The minibatch stddev feature of x [N, H, W, C] over consecutive groups, in float64."""
    y = x.astype(np.float64).reshape(-1, group, *x.shape[1:])
    std = np.sqrt(((y - y.mean(axis=1, keepdims=True)) ** 2).mean(axis=1) + 1e-8)
    return np.repeat(std.mean(axis=(1, 2, 3)), group)


def test_pixel_norm_and_minibatch_stddev_known_answers():
    x = np.random.default_rng(0).normal(size=(4, 3, 3, 5)).astype("float32")
    expected = x / np.sqrt((x.astype(np.float64) ** 2).mean(axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(np.asarray(PixelNorm()(x)), expected, rtol=1e-5)
    for n, group in [(4, 2), (3, 3)]:  # 3 examples, groups of 2: one group of all 3
        out = np.asarray(MinibatchStddev(group_size=2)(x[:n]))
        np.testing.assert_array_equal(out[..., :5], x[:n])
        feature = np.broadcast_to(_stddev_feature(x[:n], group)[:, None, None], (n, 3, 3))
        np.testing.assert_allclose(out[..., 5], feature, rtol=1e-5)
    assert len(set(np.asarray(MinibatchStddev(2)(x))[:, 0, 0, 5].round(6))) == 2  # two groups


def test_progan_layers_load_from_a_saved_model_by_their_registered_names(tmp_path):
    """A network with the level of detail, a cross-fade, pixel norm and minibatch stddev saves
    them as ganzoo>ClassName and loads them back, the lod variable with it."""
    inputs = keras.Input((4, 4, 2))
    lod = LevelOfDetail(2, name="lod")(inputs)
    faded = CrossFade(0, name="fade")([PixelNorm(name="norm")(inputs), inputs, lod])
    model = keras.Model(inputs, MinibatchStddev(2, name="mbstd")(faded))
    model.get_layer("lod").lod.assign(0.25)  # a quarter of the way from new to old
    x = np.random.default_rng(1).normal(size=(4, 4, 4, 2)).astype("float32")
    new = np.asarray(PixelNorm()(x))
    np.testing.assert_allclose(np.asarray(model(x))[..., :2], 0.75 * new + 0.25 * x, atol=1e-6)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        layers = json.loads(archive.read("config.json"))["config"]["layers"]
    ours = {"LevelOfDetail", "CrossFade", "PixelNorm", "MinibatchStddev"}
    names = {layer["registered_name"] for layer in layers if layer["class_name"] in ours}
    assert names == {f"ganzoo>{name}" for name in ours}
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert float(loaded.get_layer("lod").lod.numpy()) == 0.25
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
