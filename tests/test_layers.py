"""zoo.layers: the weight-normalized dense layer and its data-dependent initialization, the
generator sgan ships, ProGAN's layers (pixel norm, minibatch stddev, level of detail and
cross-fade) against their formulas and saved by their registered names, and BigGAN's and
SAGAN's (self-attention, conditional batch norm over the global batch, orthogonal
regularization) against theirs."""

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import tiny_config
from training.checkpoints import copy_weights, portable_copy
from zoo.layers import (
    ChannelBiasDense,
    ConditionalBatchNorm,
    CrossFade,
    LevelOfDetail,
    MinibatchStddev,
    OrthogonalRegularizer,
    PixelNorm,
    SelfAttention,
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


def test_channel_bias_dense_shares_a_bias_per_channel_and_ships_as_a_keras_dense():
    """ProGAN's first layer: x @ kernel plus one bias per channel at every position (outputs
    laid out position by position, channels fastest, as a reshape to [4, 4, C] reads them)."""
    inputs = keras.Input((5,))
    model = keras.Model(inputs, ChannelBiasDense(12, positions=4, name="dense")(inputs))
    layer = model.get_layer("dense")
    layer.bias.assign(np.array([1.0, 2.0, 3.0], "float32"))
    x = np.random.default_rng(2).normal(size=(2, 5)).astype("float32")
    expected = x @ layer.kernel.numpy() + np.tile([1.0, 2.0, 3.0], 4)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-6)
    copy = portable_copy(model)
    assert type(copy.get_layer("dense")).__name__ == "Dense"
    np.testing.assert_allclose(np.asarray(copy(x)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="positions=5"):
        ChannelBiasDense(12, positions=5)


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


# -- BigGAN and SAGAN: self-attention, conditional batch norm, orthogonal regularization -------


def _attention_numpy(x, wt, wp, wg, wo, gamma):
    """x + gamma * o(softmax(theta phi^T) g), phi and g max-pooled 2x2 (BigGAN-PyTorch's
    ``Attention``), in float64."""
    n, h, w, c = x.shape
    pool = lambda m: m.reshape(n, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4))  # noqa: E731
    theta = (x @ wt).reshape(n, h * w, -1)
    phi = pool(x @ wp).reshape(n, h * w // 4, -1)
    g = pool(x @ wg).reshape(n, h * w // 4, -1)
    logits = theta @ phi.transpose(0, 2, 1)
    beta = np.exp(logits - logits.max(axis=-1, keepdims=True))
    beta /= beta.sum(axis=-1, keepdims=True)
    o = (beta @ g).reshape(n, h, w, -1) @ wo
    return x + gamma * o


def test_self_attention_starts_as_the_identity_and_matches_its_formula():
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 16)).astype("float32")
    layer = SelfAttention(spectral_norm=False)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # gamma starts at 0
    rng = np.random.default_rng(1)
    kernels = [rng.normal(size=shape) for shape in ((16, 2), (16, 2), (16, 8), (8, 16))]
    for conv, kernel in zip((layer.theta, layer.phi, layer.g, layer.o), kernels, strict=True):
        conv.kernel.assign(kernel[None, None].astype("float32"))
    layer.gamma.kernel.assign([[0.5]])
    expected = _attention_numpy(x.astype(np.float64), *kernels, 0.5)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-4)
    # what ships: Keras' own layers sharing the weights, the same numbers
    inputs = keras.Input((4, 6, 16))
    shipped = keras.Model(inputs, layer.as_keras_layers(inputs))
    assert {type(lay).__module__.split(".")[0] for lay in shipped.layers} == {"keras"}
    np.testing.assert_allclose(np.asarray(shipped(x)), np.asarray(layer(x)), atol=1e-6)


def _cbn_model():
    x, gain, bias = keras.Input((3, 3, 4)), keras.Input((4,)), keras.Input((4,))
    cbn = ConditionalBatchNorm(momentum=0.5, epsilon=1e-5, name="cbn")
    return cbn, keras.Model([x, gain, bias], cbn([x, gain, bias]))


def test_conditional_batch_norm_standardizes_the_batch_and_applies_each_examples_gain():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(6, 3, 3, 4)) * [1, 2, 3, 4] + [0, 1, -2, 5]).astype("float32")
    zeros = np.zeros((6, 4), "float32")
    cbn, model = _cbn_model()
    out = np.asarray(model([x, zeros, zeros], training=True))
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 1, 2)), 1, rtol=1e-4)
    gain, bias = rng.normal(size=(2, 6, 4)).astype("float32")
    expected = out * (1 + gain[:, None, None]) + bias[:, None, None]
    np.testing.assert_allclose(model([x, gain, bias], training=True), expected, atol=1e-5)
    # two training calls moved the statistics halfway to the batch's twice (momentum 0.5)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(cbn.norm.moving_mean.numpy(), 0.75 * mean, rtol=1e-5)
    np.testing.assert_allclose(cbn.norm.moving_variance.numpy(), 0.25 + 0.75 * var, rtol=1e-5)
    # inference uses them; what ships (Keras' own layers sharing them) computes the same
    moving = (x - 0.75 * mean) / np.sqrt(0.25 + 0.75 * var + 1e-5)
    expected = moving * (1 + gain[:, None, None]) + bias[:, None, None]
    np.testing.assert_allclose(model([x, gain, bias]), expected, rtol=1e-5, atol=1e-5)
    inputs = model.inputs
    shipped = keras.Model(inputs, cbn.as_keras_layers(inputs))
    assert {type(layer).__module__.split(".")[0] for layer in shipped.layers} == {"keras"}
    np.testing.assert_array_equal(shipped([x, gain, bias]), model([x, gain, bias]))


def _cbn_step(strategy, x, gain, bias, target):
    """(output, gradient of sum(output * target) / batch by the input's scale summed over the
    replicas, each replica's copy of the moving mean) of one training call under
    ``strategy``."""
    with strategy.scope():
        cbn, model = _cbn_model()
        scale = tf.Variable(np.linspace(0.5, 2.0, 4).astype("float32"))
    ds = tf.data.Dataset.from_tensors((x, gain, bias, target))
    batch = next(iter(strategy.experimental_distribute_dataset(ds)))

    def step(x, gain, bias, target):
        with tf.GradientTape() as tape:
            out = model([x * scale, gain, bias], training=True)
            loss = tf.reduce_sum(out * target) / 8.0  # this replica's share of the batch of 8
        return out, tape.gradient(loss, scale)

    out, grad = tf.function(lambda batch: strategy.run(step, args=batch))(batch)
    out = np.concatenate([np.asarray(o) for o in strategy.experimental_local_results(out)])
    grad = strategy.reduce(tf.distribute.ReduceOp.SUM, grad, axis=None)
    copies = [v.numpy() for v in strategy.experimental_local_results(cbn.norm.moving_mean.value)]
    return out, np.asarray(grad), copies


def test_conditional_batch_norm_on_two_replicas_equals_one_device():
    """Under MirroredStrategy each replica normalizes its half with the whole batch's
    statistics (all-reduced), writes the same moving statistics, and the gradient through
    the all-reduce, summed over the replicas as the optimizer sums them, is one device's."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(8, 3, 3, 4)) * 2 + 1).astype("float32")
    x[4:] += 3.0  # halves with other statistics: per-replica BN would differ
    gain, bias, target = (rng.normal(size=s).astype("float32") for s in ((8, 4), (8, 4), x.shape))
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    # as training.strategy builds it over CPUs: collective all-reduce would make this
    # strategy's collective keys collide with the next test's strategy's
    two = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    out1, grad1, (mean1,) = _cbn_step(one, x, gain, bias, target)
    out2, grad2, means2 = _cbn_step(two, x, gain, bias, target)
    np.testing.assert_allclose(out2, out1, atol=1e-5)
    np.testing.assert_allclose(grad2, grad1, rtol=1e-4, atol=1e-5)
    assert len(means2) == 2
    for copy in means2:  # each replica's copy holds the global statistics
        np.testing.assert_allclose(copy, mean1, rtol=1e-5, atol=1e-6)
    # and the halves' own statistics would have given other outputs
    _, per_half = _cbn_model()
    scaled = (x * np.linspace(0.5, 2.0, 4)).astype("float32")
    rows = [slice(0, 4), slice(4, 8)]
    halves = [np.asarray(per_half([scaled[r], gain[r], bias[r]], training=True)) for r in rows]
    assert np.abs(np.concatenate(halves) - out1).max() > 0.1


def test_orthogonal_regularizer_is_zero_for_orthogonal_columns_and_its_formula_otherwise():
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.normal(size=(27, 5)))  # orthonormal columns
    regularizer = OrthogonalRegularizer(1e-4)
    kernel = q.reshape(3, 3, 3, 5).astype("float32")
    assert abs(float(regularizer(kernel))) < 1e-15
    kernel = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    w = kernel.reshape(-1, 4).astype(np.float64)
    gram = w.T @ w
    expected = 1e-4 * np.sum((gram * (1 - np.eye(4))) ** 2)
    np.testing.assert_allclose(float(regularizer(kernel)), expected, rtol=1e-5)
    # serializable by its registered name, with its weight
    config = keras.regularizers.serialize(regularizer)
    assert config["registered_name"] == "ganzoo>OrthogonalRegularizer"
    assert keras.regularizers.deserialize(config).beta == 1e-4
