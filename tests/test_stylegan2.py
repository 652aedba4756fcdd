"""StyleGAN2 (zoo.stylegan2): what trains and what ships, the truncation trick, the noise and
mixing inputs, path-length regularisation and the EMA's ramp-up. (Every family's tests, in
tests/test_families.py and tests/test_trainer.py, cover parity, resume and export.)"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import stylegan2
from zoo.terms import PathLength, Update

CONFIG = dict(image_size=16, latent_dim=8, w_dim=8, mapping_layers=2, filters=[16, 8, 8])


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)
    network = stylegan2.build_generator(stylegan2.StyleGAN2Config(**CONFIG, style_mixing=1.0))
    for layer in network.get_layer("synthesis").layers:  # noise that reaches the image
        if layer.name.endswith("_noise"):
            layer.strength.assign(0.5)
    network.get_layer("w_avg").w_avg.assign(np.linspace(-1, 1, 8).astype("float32"))
    return network


def _feeds(network, n=4, seed=0, **given):
    rng = np.random.default_rng(seed)
    feeds = {}
    for t in network.inputs:
        name = t.name.split(":")[0]
        shape = (n, *t.shape[1:])
        feeds[name] = given.get(name, rng.uniform(-1, 1, shape) if name == "mix"
                                else rng.standard_normal(shape)).astype("float32")  # fmt: skip
    return feeds


def _run(network, feeds):
    return np.asarray(network([feeds[t.name.split(":")[0]] for t in network.inputs]))


def test_training_draws_noise_and_a_mixing_latent_that_what_ships_does_not_take(generator):
    config = stylegan2.StyleGAN2Config(**CONFIG)
    contract = stylegan2.contract(config)
    names = [t.name.split(":")[0] for t in generator.inputs]
    assert names[:3] == ["z", "z_mix", "mix"] and len(names) == 3 + 5  # 1 + 2 + 2 noise maps
    assert list(contract.inputs) == ["z"] and set(contract.drawn) == set(names[1:])
    assert [t.name.split(":")[0] for t in stylegan2.ship("generator", generator).inputs] == ["z"]
    base = _feeds(generator)
    for name in names[1:]:  # each reaches the image (mixing always, noise at strength 0.5)
        changed = dict(base, **{name: _feeds(generator, seed=1)[name]})
        assert np.abs(_run(generator, changed) - _run(generator, base)).max() > 1e-4, name


def test_the_architecture_is_read_back_from_a_network_for_what_ships():
    for output in ("linear", "tanh"):
        config = stylegan2.StyleGAN2Config(**CONFIG, output=output, style_mixing=0.5)
        assert stylegan2.config_of(stylegan2.build_generator(config)) == config


def test_truncation_to_zero_gives_the_image_of_w_avg_for_every_z(generator):
    truncated = stylegan2.generator(generator, truncation=True)
    assert truncated.inputs[1].shape == ()  # psi is rank 0
    z = np.random.default_rng(2).standard_normal((5, 8)).astype("float32")
    images = np.asarray(truncated([z, np.float32(0.0)]))
    np.testing.assert_allclose(images, np.broadcast_to(images[:1], images.shape), atol=1e-6)
    # the image of w_avg itself, through the synthesis network with its constant noise
    w_avg = np.asarray(generator.get_layer("w_avg").w_avg)
    synthesis_only = _synthesis_of(generator)
    np.testing.assert_allclose(images[0], np.asarray(synthesis_only(w_avg[None]))[0], atol=1e-5)
    shipped = stylegan2.ship("generator", generator)
    np.testing.assert_allclose(np.asarray(truncated([z, np.float32(1.0)])),
                               np.asarray(shipped(z)), atol=1e-5)  # fmt: skip


def _synthesis_of(network):
    """w -> the shipped image, w broadcast to every layer (the shipped graph after mapping)."""
    from zoo.style_layers import BroadcastStyles

    config = stylegan2.config_of(network)
    w = keras.Input((config.w_dim,))
    ws = BroadcastStyles(config.num_ws)(w)
    make = stylegan2._Make(network.get_layer("synthesis"))
    image = stylegan2._synthesis(config, make, ws, None)
    return keras.Model(w, keras.ops.clip(image, -1.0, 1.0))


def test_noise_inputs_fed_the_constant_buffers_give_what_ships(generator):
    with_noise = stylegan2.generator(generator, noise=True)
    z = np.random.default_rng(3).standard_normal((2, 8)).astype("float32")
    synthesis = generator.get_layer("synthesis")
    feeds = [z]
    for t in with_noise.inputs[1:]:
        name = t.name.split(":")[0]  # noise{res}_{i} -> the layer b{res}_conv{...}_noise
        res, index = name[len("noise") :].split("_")
        conv = f"b{res}_conv1" if res == "4" else f"b{res}_conv{index}"
        const = np.asarray(synthesis.get_layer(f"{conv}_noise").const)
        feeds.append(np.repeat(const, 2, axis=0))
    shipped = np.asarray(stylegan2.ship("generator", generator)(z))
    np.testing.assert_allclose(np.asarray(with_noise(feeds)), shipped, atol=1e-6)
    other = [feeds[0]] + [f + 1.0 for f in feeds[1:]]
    assert np.abs(np.asarray(with_noise(other)) - np.asarray(with_noise(feeds))).max() > 1e-3


def _update(network, step, state, rows=4):
    rng = np.random.default_rng(4)
    fake_in = {k: tf.constant(v) for k, v in _feeds(network, rows, seed=5).items()}
    uniform = tf.constant(rng.uniform(0.01, 0.99, (rows, 16, 16, 1)).astype("float32"))
    return Update(
        global_batch=rows, batch={}, real_out={}, fake_in=fake_in, fake=None, fake_out={},
        critic=None, draw=lambda stream, shape: uniform, discriminate=None, logs={},
        step=tf.constant(step, tf.int64), generator=network, state=state,
    ), uniform  # fmt: skip


def test_path_length_is_the_jacobian_norm_pulled_to_its_running_mean(generator):
    """On a step it runs: the length of J_w^T y for y ~ N(0, I) / sqrt(H W), computed here
    with a tape over ws, for every second example; a <- a + 0.01 (mean length - a);
    penalty (length - a)^2 times its weight and interval. On other steps: nothing."""
    term = PathLength(weight=2.0, every=4, batch_shrink=2, decay=0.01)
    state = {"pl_mean": tf.Variable(0.5)}
    update, uniform = _update(generator, step=8, state=state)
    loss = float(term.generator_loss(update))
    rows = {k: v[::2] for k, v in update.fake_in.items()}
    mapping, synthesis = generator.get_layer("mapping"), generator.get_layer("synthesis")
    ws = generator.get_layer("style_mix")([mapping(rows["z"]), mapping(rows["z_mix"]),
                                           rows["mix"]])  # fmt: skip
    noise = [rows[t.name.split(":")[0]] for t in generator.inputs[3:]]
    y = tf.math.ndtri(uniform[::2]) / math.sqrt(16 * 16)
    with tf.GradientTape() as tape:
        tape.watch(ws)
        out = tf.reduce_sum(synthesis([ws, *noise]) * y)
    grads = tape.gradient(out, ws).numpy()
    lengths = np.sqrt((grads**2).sum(axis=2).mean(axis=1))
    mean = 0.5 + 0.01 * (lengths.mean() - 0.5)
    assert float(state["pl_mean"]) == pytest.approx(mean, rel=1e-5)
    assert loss == pytest.approx(2.0 * 4 * ((lengths - mean) ** 2).mean(), rel=1e-4)
    assert float(update.logs["pl"]) == pytest.approx(4 * ((lengths - mean) ** 2).mean(), rel=1e-4)
    skipped, _ = _update(generator, step=9, state=state)
    assert float(term.generator_loss(skipped)) == 0.0
    assert float(state["pl_mean"]) == pytest.approx(mean, rel=1e-6)


def test_zero_rgb_kernels_start_a_tanh_generator_at_the_middle_of_its_range():
    """With rgb_init=zero (the digit preset's) the untrained image is 0 for every z, where
    tanh passes gradients (N(0, 1) kernels saturated most pixels); the default keeps the
    authors' N(0, 1)."""
    keras.utils.set_random_seed(0)
    config = stylegan2.StyleGAN2Config(**CONFIG, output="tanh", rgb_init="zero")
    squashed = stylegan2.build_generator(config)
    np.testing.assert_array_equal(_run(squashed, _feeds(squashed)), 0.0)
    linear = stylegan2.build_generator(stylegan2.StyleGAN2Config(**CONFIG))
    assert float(np.std(_run(linear, _feeds(linear)))) > 0.01


def test_ema_ramps_its_half_life_up_with_the_steps():
    """StyleGAN2-ADA's ema_beta = 0.5 ** (1 / min(h, r * steps done)): 0 on the first step,
    then the half-life grows until the decay's own."""
    from training.trainers.adversarial import AdversarialTrainer
    from zoo.losses import get_loss
    from zoo.terms import Adversarial

    config = stylegan2.StyleGAN2Config(**CONFIG)
    trainer = AdversarialTrainer(
        stylegan2.build(config), stylegan2.contract(config),
        terms=[Adversarial(get_loss("non_saturating"))], ema_decay=0.99, ema_rampup=0.1,
    )  # fmt: skip
    trainer.compile({n: keras.optimizers.SGD(0.1) for n in ("generator", "discriminator")})
    half_life = math.log(0.5) / math.log(0.99)  # 69 steps
    for done, expected in [(1, 0.0), (11, 0.5), (101, 0.5 ** (1 / 10)), (10_001, 0.99)]:
        trainer.step.assign(done)
        assert float(trainer.ema_decay_now()) == pytest.approx(expected, abs=1e-6)
    assert half_life < 0.1 * 10_000


@pytest.mark.parametrize(
    ("family", "preset"),
    [
        ("stylegan2", "stylegan2_cifar10"),
        ("stylegan2", "stylegan2_celeba64"),
        ("stylegan2", "stylegan2_ffhq256"),
        ("stylegan2", "stylegan2_photos64"),
        ("progan", "progan_celeba64"),
        ("progan", "progan_celeba128"),
        ("biggan", "biggan_cifar10"),
        ("sagan", "sagan_cifar10"),
    ],
)
def test_paper_presets_resolve_and_read_their_data(family, preset, reachable_host, tmp_path):
    """The real-data presets validate and their data arrives at the model's size and
    channels: TFDS datasets through ``tfds.testing.mock_data``, FFHQ from a folder of PNGs,
    the photographs inside scikit-image as random 64x64 crops."""
    import tensorflow_datasets as tfds
    from PIL import Image

    from training import data
    from training.config import resolve

    overrides = ["data.batch_size=4"]
    if preset.endswith("ffhq256"):
        for i in range(4):
            pixels = np.random.default_rng(i).integers(0, 255, (256, 256, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / f"{i:05d}.png")
        overrides.append(f"data.path={tmp_path}")
    config = resolve(family, preset, overrides=overrides)
    model = config.model
    with tfds.testing.mock_data(num_examples=8):
        dataset, _ = data.make_dataset(config.data, model.image_size, model.channels, seed=0)
        images = next(iter(dataset))["image"]
    size = model.image_size
    assert images.shape == (config.data.batch_size, size, size, model.channels)
    assert float(tf.reduce_min(images)) >= -1.0 and float(tf.reduce_max(images)) <= 1.0
