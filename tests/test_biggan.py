"""BigGAN and SAGAN beyond the registry-wide checks: hierarchical latents, the shared class
embedding, the projection discriminator, orthogonal regularization in the generator's
objective, the truncation trick, and SAGAN's flat latent with per-block class embeddings."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import tiny_config
from training.config import ConfigError, resolve
from training.loop import build_session
from zoo.biggan import BigGANConfig, truncated_z
from zoo.layers import ConditionalBatchNorm, OrthogonalRegularizer


@functools.cache
def _networks(family):
    """16x16 networks of ``family`` (two generator blocks, three discriminator blocks,
    attention in both; the tiny preset has one block), orthogonally initialized (weights of
    unit spectral norm: untrained outputs far from 0), built once and never trained."""
    model = tiny_config(
        family,
        "model.init=ortho",
        "model.image_size=16",
        "model.latent_dim=12",
        "model.g_channels=16,16,8",
        "model.d_channels=8,16,16",
        "model.d_downsample=2",
        "model.d_attention=8",
    ).model
    keras.utils.set_random_seed(0)
    return model, zoo.get_family(family).build(model)


def _inputs(config, n=4, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, config.latent_dim)).astype("float32")
    return z, rng.integers(0, config.num_classes, n).astype("int32")


def _generate(generator, z, label):
    return np.asarray(generator([z, label], training=False))


def test_each_block_reads_its_own_chunk_of_z():
    """Hierarchical latents: z splits into blocks + 1 chunks; the first feeds the 4x4 linear
    map, chunk k the batch norms of block k (with the shared embedding): changing only chunk
    k changes the image and nothing before block k."""
    config, nets = _networks("biggan")
    g = nets["generator"]
    slots, chunk = config.blocks + 1, config.latent_dim // (config.blocks + 1)
    z, label = _inputs(config)
    base = _generate(g, z, label)
    for k in range(slots):
        changed = z.copy()
        changed[:, k * chunk : (k + 1) * chunk] += 1.0
        moved = np.abs(_generate(g, changed, label) - base).reshape(len(z), -1).max(axis=1)
        assert (moved > 1e-4).all(), f"chunk {k} does not reach the image"
        if k:  # what comes before block k (the 4x4 maps, block k - 1) does not see chunk k
            before = "linear_maps" if k == 1 else f"g{4 * 2 ** (k - 1)}_out"
            upstream = keras.Model(g.inputs, g.get_layer(before).output)
            np.testing.assert_array_equal(upstream([changed, label]), upstream([z, label]))
    # the 4x4 map reads chunk 0 only; block k's conditions concatenate [shared, chunk k]
    linear_input = keras.Model(g.inputs, g.get_layer("linear").input)
    np.testing.assert_array_equal(linear_input([z, label]), z[:, :chunk])
    shared = np.asarray(g.get_layer("shared")(label))
    for k in range(1, slots):
        condition = keras.Model(g.inputs, g.get_layer(f"condition{k}").output)([z, label])
        expected = np.concatenate([shared, z[:, k * chunk : (k + 1) * chunk]], axis=1)
        np.testing.assert_array_equal(condition, expected)


def test_one_shared_class_embedding_conditions_every_batch_norm():
    config, nets = _networks("biggan")
    g = nets["generator"]
    embeddings = [layer for layer in g.layers if isinstance(layer, keras.layers.Embedding)]
    assert [layer.name for layer in embeddings] == ["shared"]
    norms = [layer for layer in g.layers if isinstance(layer, ConditionalBatchNorm)]
    assert len(norms) == 2 * config.blocks
    # every gain and bias is a linear map of its block's condition, [shared embedding, chunk]
    shared = g.get_layer("shared").output
    for k in range(1, config.blocks + 1):
        condition = g.get_layer(f"condition{k}")
        assert condition.input[0] is shared
        for norm in ("bn1", "bn2"):
            for part in ("gain", "bias"):
                assert g.get_layer(f"g{4 * 2**k}_{norm}_{part}").input is condition.output


def test_sagan_has_a_flat_z_and_a_class_embedding_per_batch_norm():
    config, nets = _networks("sagan")
    g = nets["generator"]
    assert not config.hierarchical and config.shared_dim is None
    names = {layer.name for layer in g.layers}
    assert "shared" not in names and "z_chunks" not in names
    z, label = _inputs(config)
    linear_input = keras.Model(g.inputs, g.get_layer("linear").input)
    np.testing.assert_array_equal(linear_input([z, label]), z)  # all of z, flat
    embeddings = [layer for layer in g.layers if isinstance(layer, keras.layers.Embedding)]
    assert len(embeddings) == 2 * 2 * config.blocks  # a gain and a bias per batch norm
    assert all(np.ptp(e.embeddings.numpy(), axis=0).min() > 0 for e in embeddings)  # by class
    assert g.losses == []  # no orthogonal regularization
    assert zoo.get_family("sagan").fixed["ortho_reg"] == 0.0


def test_the_projection_term_reads_the_label():
    """logits = linear(h) + <embed(y), h>, h the sum-pooled features: for a fixed image the
    logit changes with the label by exactly the embedding's difference."""
    config, nets = _networks("biggan")
    d = nets["discriminator"]
    image = np.random.default_rng(1).uniform(-1, 1, (3, 16, 16, 1)).astype("float32")
    features = np.asarray(
        keras.Model(d.inputs, d.get_layer("d_sum").output)([image, np.zeros(3, "int32")])
    )
    embed = d.get_layer("d_embed").layer.kernel.numpy()  # [features, classes]
    linear = d.get_layer("d_linear").layer
    unconditional = features @ linear.kernel.numpy() + linear.bias.numpy()
    logits = []
    for y in range(config.num_classes):
        label = np.full(3, y, "int32")
        out = np.asarray(d([image, label], training=False))
        np.testing.assert_allclose(
            out, unconditional + features @ embed[:, y : y + 1], rtol=1e-4, atol=1e-4
        )
        logits.append(out)
    assert np.ptp(np.stack(logits), axis=0).min() > 1e-3  # labels move every image's logit


def test_orthogonal_regularization_reaches_the_generators_objective():
    """Every kernel of G with more than one output carries the regularizer (not the
    embedding, not the attention's scalar gain); ``generator.losses`` is the paper's formula
    summed over them, and the trainer adds it to the generator's objective."""
    session = build_session(tiny_config("biggan"))
    g = session.trainer.generator
    regularized = [v for v in g.trainable_weights if v.regularizer is not None]
    assert regularized and all(
        isinstance(v.regularizer, OrthogonalRegularizer) for v in regularized
    )
    assert {v.name for v in regularized} == {"kernel"}
    kernels = {id(v) for v in g.trainable_weights if v.name == "kernel" and v.shape[-1] > 1}
    assert {id(v) for v in regularized} == kernels
    expected = 0.0
    for v in regularized:
        w = v.numpy().reshape(-1, v.shape[-1]).astype(np.float64)
        gram = w.T @ w
        expected += 1e-4 * np.sum((gram * (1 - np.eye(len(gram)))) ** 2)
    assert len(g.losses) == len(regularized)
    np.testing.assert_allclose(float(tf.add_n(g.losses)), expected, rtol=1e-4)
    assert expected > 0
    objective = session.trainer.objective("generator", tf.constant(1.0))
    np.testing.assert_allclose(float(objective), 1.0 + expected, rtol=1e-5)
    assert session.trainer.discriminator.losses == []  # G only
    assert session.trainer.generator_ema.losses == []  # the EMA copy is not trained


def test_what_ships_follows_the_trained_statistics_and_names_only_keras_layers():
    config, nets = _networks.__wrapped__("biggan")  # its own: a training call moves them
    g = nets["generator"]
    shipped = zoo.get_family("biggan").ship("generator", g)
    assert {type(layer).__module__.split(".")[0] for layer in shipped.layers} == {"keras"}
    z, label = _inputs(config, n=8, seed=2)
    g([z, label], training=True)  # moves the moving statistics (and the spectral norms)
    np.testing.assert_array_equal(_generate(shipped, z, label), _generate(g, z, label))


def test_truncated_z_stays_within_the_threshold_by_redrawing():
    z = truncated_z(np.random.default_rng(0), (64, 120), 0.5)
    assert z.shape == (64, 120) and z.dtype == np.float32
    assert np.abs(z).max() <= 0.5
    assert np.isclose(np.abs(z), 0.5, atol=1e-4).mean() < 0.01  # redrawn, not clipped
    assert np.abs(z).mean() > 0.2  # roughly uniform on [-0.5, 0.5], not collapsed to 0
    wide = truncated_z(np.random.default_rng(0), (4, 8), 100.0)  # nothing to redraw
    np.testing.assert_array_equal(
        wide, np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    )
    with pytest.raises(ValueError, match="truncation must be positive"):
        truncated_z(np.random.default_rng(0), (2, 2), 0.0)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"latent_dim": 13}, "does not split into 3 equal chunks"),
        ({"shared_dim": None}, "model.hierarchical needs model.shared_dim"),
        ({"g_attention": 32}, "not a generator block's resolution"),
        ({"g_channels": [16, 16]}, "model.g_channels needs 3 positive numbers"),
    ],
)
def test_config_errors_are_one_line(values, message):
    base = dict(image_size=16, latent_dim=12, g_channels=[16, 16, 8], d_channels=[8, 16, 16])
    config = BigGANConfig(**{**base, "g_attention": 8, "d_attention": 8, **values})
    with pytest.raises(ValueError, match=message) as info:
        config.validate()
    assert "\n" not in str(info.value)


def test_sagan_cannot_be_made_hierarchical():
    with pytest.raises(ConfigError, match="model.hierarchical is False in sagan"):
        tiny_config("sagan", "model.hierarchical=true")


def test_the_default_recipes():
    """BigGAN: hinge loss, two D steps per G step (one in the digit preset, as the authors'
    ImageNet script), Adam(1e-4 / 4e-4, betas 0 and 0.999), an EMA generator, orthogonal
    regularization 1e-4, hierarchical latents; SAGAN: hinge, one D step, Adam(1e-4 / 4e-4,
    betas 0 and 0.9), neither EMA nor orthogonal regularization."""
    big = resolve("biggan")
    assert (big.objective.loss, big.objective.d_steps) == ("hinge", 1)
    assert resolve("biggan", "biggan_cifar10").objective.d_steps == 2
    assert (big.train.g_lr, big.train.d_lr, big.train.beta_1, big.train.beta_2) == (
        1e-4,
        4e-4,
        0.0,
        0.999,
    )
    assert big.train.ema_decay and big.model.ortho_reg == 1e-4 and big.model.hierarchical
    small = resolve("sagan")
    assert (small.objective.loss, small.objective.d_steps) == ("hinge", 1)
    assert (small.train.g_lr, small.train.d_lr, small.train.beta_1, small.train.beta_2) == (
        1e-4,
        4e-4,
        0.0,
        0.9,
    )
    assert small.train.ema_decay is None and small.model.ortho_reg == 0.0
    assert not small.model.hierarchical and small.model.shared_dim is None
