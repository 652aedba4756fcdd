"""SRGAN and ESRGAN: their objectives, the relativistic loss on known answers, the warm-up
phase (the generator alone, the discriminator and its optimizer untouched, an exact resume
across the switch), the content networks, the architectures and the bicubic baseline of the
held-out measure. Shapes, export in every format and two-replica parity are the registry-wide
tests' (tests/test_families.py, tests/test_trainer.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import tiny_config
from training.features import VGG19_FILE, content_network
from training.loop import build_session, open_run, train
from training.sections import ConfigError
from zoo import esrgan, srgan, terms
from zoo.losses import NON_SATURATING

SRGAN, ESRGAN = zoo.get_family("srgan"), zoo.get_family("esrgan")


def test_the_objectives_are_the_papers():
    objective = srgan.SRGANObjective()
    adversarial, content = SRGAN.terms(objective)
    assert type(adversarial) is terms.Adversarial and adversarial.pair is NON_SATURATING
    assert adversarial.g_weight == 1e-3 and adversarial.d_scale == 1.0
    assert (content.weight, content.distance, content.layer) == (0.006, "l2", "block5_conv4")
    assert content.network == "vgg19" and not content.before_activation
    assert [type(t) for t in SRGAN.terms(objective, warmup=True)] == [terms.MSEReconstruction]

    objective = esrgan.ESRGANObjective()
    relativistic, content, l1 = ESRGAN.terms(objective)
    assert type(relativistic) is terms.RelativisticAverage and relativistic.g_weight == 5e-3
    assert (content.weight, content.distance, content.before_activation) == (1.0, "l1", True)
    assert type(l1) is terms.L1Reconstruction and l1.weight == 1e-2
    (warmup,) = ESRGAN.terms(objective, warmup=True)
    assert type(warmup) is terms.L1Reconstruction and warmup.weight == 1.0
    with pytest.raises(ConfigError, match="content_network must be vgg19, digits or pixels"):
        tiny_config("esrgan", "objective.content_network=inception")


def _update(real_logits, fake_logits, discriminate=None):
    real = tf.constant(real_logits, tf.float32)[:, None]
    fake = tf.constant(fake_logits, tf.float32)[:, None]
    return terms.Update(
        global_batch=tf.constant(len(real_logits)),
        batch={"image": tf.zeros((len(real_logits), 2, 2, 1))},
        real_out={"logits": real},
        fake_in={},
        fake=tf.zeros((len(real_logits), 2, 2, 1)),
        fake_out={"logits": fake},
        critic=None,
        draw=None,
        discriminate=discriminate or (lambda images: {"logits": real}),
        logs={},
    )


def test_relativistic_average_losses_on_known_answers():
    """D_Ra(a, b) = sigmoid(C(a) - mean C(b)) (Wang et al. 2018, eq. 1-2), by hand."""
    real, fake = np.array([2.0, 0.0, 1.0]), np.array([-1.0, 1.5, -2.5])
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    d_rf, d_fr = sigmoid(real - fake.mean()), sigmoid(fake - real.mean())
    term = terms.RelativisticAverage(NON_SATURATING, g_weight=0.1)
    update = _update(real, fake)
    d_loss = float(term.discriminator_loss(update))
    assert d_loss == pytest.approx(np.mean(-np.log(d_rf)) + np.mean(-np.log(1 - d_fr)), rel=1e-6)
    assert float(update.logs["d_real_acc"]) == pytest.approx(1.0)  # all reals above -2/3
    assert float(update.logs["d_fake_acc"]) == pytest.approx(2 / 3)  # 1.5 is not below 1
    term.prepare_generator(update)
    g_loss = float(term.generator_loss(update))
    expected = np.mean(-np.log(1 - d_rf)) + np.mean(-np.log(d_fr))
    assert g_loss == pytest.approx(0.1 * expected, rel=1e-6)
    assert float(update.logs["g_loss"]) == pytest.approx(expected, rel=1e-6)


def test_feature_distance_and_mse_on_known_answers():
    update = _update([0.0, 0.0], [0.0, 0.0])
    update.batch["image"] = tf.ones((2, 2, 2, 1))
    update.fake = tf.constant(np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2)[..., :1])
    term = terms.FeatureDistance(2.0, "l1", features=lambda x: 3.0 * x)
    term.prepare_generator(update)
    expected = np.mean(np.abs(3 * update.fake.numpy() - 3.0))
    assert float(term.generator_loss(update)) == pytest.approx(2 * expected)
    assert float(update.logs["content"]) == pytest.approx(expected)
    mse = terms.MSEReconstruction(0.5)
    expected = np.mean((update.fake.numpy() - 1.0) ** 2)
    assert float(mse.generator_loss(update)) == pytest.approx(0.5 * expected)
    with pytest.raises(ValueError, match="l1 or l2"):
        terms.FeatureDistance(1.0, "l3")


@pytest.mark.parametrize("family", ["srgan", "esrgan"])
def test_warmup_trains_the_generator_alone_and_resumes_exactly_across_the_switch(tmp_path, family):
    """warmup_steps=2 of 4: after 2 steps the discriminator and its optimizer are as built;
    1 step, a stop, then 3 more (across the switch) give the weights of 4 in one go."""
    config = tiny_config(family, "objective.warmup_steps=2", "train.steps=2")
    d0 = build_session(config).trainer.discriminator.get_weights()  # seed 0: the same init
    train(config, tmp_path / "warm")
    warm = open_run(tmp_path / "warm")[0].trainer
    for a, b in zip(warm.discriminator.get_weights(), d0, strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(warm.optimizers["discriminator"].iterations) == 0
    assert int(warm.optimizers["generator"].iterations) == 2

    straight = tiny_config(family, "objective.warmup_steps=2", "train.steps=4")
    train(straight, tmp_path / "straight")
    train(tiny_config(family, "objective.warmup_steps=2", "train.steps=1"), tmp_path / "resumed")
    train(straight, tmp_path / "resumed", resume=True)
    a, b = open_run(tmp_path / "straight")[0].trainer, open_run(tmp_path / "resumed")[0].trainer
    assert int(b.optimizers["discriminator"].iterations) == 2
    for name in ("generator", "discriminator"):
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)


def test_the_step_function_never_crosses_the_phase_switch():
    from training.loop import _steps_to_next_event

    runtime = tiny_config("srgan", "runtime.steps_per_execution=50").runtime
    assert _steps_to_next_event(0, 100, [100], runtime, (30,)) == 30
    assert _steps_to_next_event(30, 100, [100], runtime, (30,)) == 50


def test_content_networks_before_and_after_the_activation(tmp_path):
    """The digit classifier's conv1b maps after the ReLU are relu(the maps before it)."""
    images = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    after = content_network("digits", "conv1b", False)(images).numpy()
    before = content_network("digits", "conv1b", True)(images).numpy()
    assert after.shape == (2, 14, 14, 64) and before.min() < 0
    np.testing.assert_allclose(after, np.maximum(before, 0), atol=1e-5)
    with pytest.raises(Exception, match="no convolution 'conv9'; its convolutions: conv0a"):
        content_network("digits", "conv9", False)


def test_vgg19_reads_keras_cache_and_is_a_one_line_error_without_it(tmp_path):
    with pytest.raises(Exception, match=f"VGG19 weights not found at .*{VGG19_FILE}") as info:
        content_network("vgg19", "block5_conv4", False, weights=tmp_path / "none.h5")
    assert "\n" not in str(info.value)
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    net = keras.applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / VGG19_FILE  # Keras' cache holds the legacy HDF5 format: write that
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, net)
    features = content_network("vgg19", "block2_conv2", True, weights=path)
    grey = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    maps = features(grey).numpy()
    # by hand: grey -> RGB -> BGR, 0-255 minus the ImageNet mean, through VGG to block2_conv2
    x = (np.repeat(grey, 3, -1)[..., ::-1] + 1) * 127.5 - np.array([103.939, 116.779, 123.68])
    probe = keras.Model(net.input, net.get_layer("block2_conv1").output)
    conv = net.get_layer("block2_conv2")
    kernel, bias = conv.get_weights()
    expected = tf.nn.conv2d(probe(x.astype(np.float32)), kernel, 1, "SAME") + bias
    np.testing.assert_allclose(maps, expected.numpy(), rtol=1e-4, atol=1e-3)
    assert maps.min() < 0  # before the activation


def test_a_missing_content_network_stops_the_run_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no Keras cache: no VGG19 weights
    config = tiny_config("srgan", "objective.content_network=vgg19")
    with pytest.raises(ConfigError, match="objective.content_network: VGG19 weights not found"):
        build_session(config)


def test_architectures():
    g = srgan.build_generator(srgan.SRGANConfig(filters=8, blocks=2))
    assert g.input.shape[1:] == (7, 7, 1) and g.output.shape[1:] == (28, 28, 1)
    prelus = [x for x in g.layers if isinstance(x, keras.layers.PReLU)]
    assert len(prelus) == 1 + 2 + 2 and all(p.alpha.shape == (1, 1, 8) for p in prelus[:3])
    d = srgan.build_discriminator(srgan.SRGANConfig(d_filters=4))
    convs = [x for x in d.layers if isinstance(x, keras.layers.Conv2D)]
    assert [c.strides[0] for c in convs] == [1, 2] * 4 and convs[-1].filters == 32
    assert d.output.shape[1:] == (1,)

    config = esrgan.ESRGANConfig(filters=8, blocks=2, growth=4)
    g = esrgan.build_generator(config)
    assert not [x for x in g.layers if isinstance(x, keras.layers.BatchNormalization)]
    assert len([x for x in g.layers if x.name.endswith("_conv5")]) == 2 * 3
    assert g.output.shape[1:] == (28, 28, 1)
    shipped = ESRGAN.ship("generator", g)
    x = np.random.default_rng(2).normal(0, 30, (2, 7, 7, 1)).astype(np.float32)
    np.testing.assert_allclose(shipped(x), np.clip(g(x), -1, 1), atol=1e-6)
    with pytest.raises(ConfigError, match="model.scale must be a power of 2"):
        tiny_config("srgan", "model.scale=3")


def test_held_out_super_resolution_is_measured_against_bicubic(trained_runs):
    """training.evaluate adds the bicubic baseline (PSNR, SSIM, digit reading) next to the
    run's own numbers on the held-out digits."""
    import json

    from training.evaluate import evaluate_run
    from training.translation import bicubic, held_out_translations, translation_metrics

    run_dir = trained_runs("srgan")
    result = evaluate_run(run_dir, which=("swd",), num_samples=200)["translation"]
    assert {"psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "bicubic_digit_accuracy"} <= set(result)
    session, _ = open_run(run_dir)
    held_out = held_out_translations(session.config, session.trainer.contract)
    sources, truth = held_out["sources"]["source"][:200], held_out["truth"][:200]
    assert sources.shape[1:] == (7, 7, 1) and truth.shape[1:] == (28, 28, 1)
    expected = translation_metrics(bicubic(sources, 28), truth, None, None)
    assert result["bicubic_psnr"] == pytest.approx(expected["psnr"])
    assert result["bicubic_ssim"] == pytest.approx(expected["ssim"])
    assert 10 < result["bicubic_psnr"] < 25 and 0 < result["bicubic_ssim"] < 1
    assert json.loads((run_dir / "metrics.json").read_text())["translation"] == result
