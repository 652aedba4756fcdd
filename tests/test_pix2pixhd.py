"""pix2pixHD: the objective, its two new terms on known answers, the coarse-to-fine generator
and the multi-scale discriminators. Shapes, parity on two replicas, export and exact resume are
the registry-wide tests'."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import tiny_config
from zoo import pix2pixhd, terms
from zoo.losses import LEAST_SQUARES

FAMILY = zoo.get_family("pix2pixhd")


def test_the_objective_is_least_squares_over_the_scales_plus_10_feature_matching():
    adversarial, matching = FAMILY.terms(pix2pixhd.Pix2PixHDObjective())
    assert type(adversarial) is terms.MultiScaleAdversarial and adversarial.pair is LEAST_SQUARES
    assert (adversarial.d_scale, adversarial.g_weight) == (1.0, 2.0)  # the pair halves both
    assert type(matching) is terms.DiscriminatorFeatureMatching and matching.weight == 10.0


def _update(real_out, fake_out, discriminate=None):
    batch = len(next(iter({**real_out, **fake_out}.values())))
    return terms.Update(
        global_batch=tf.constant(batch),
        batch={"image": tf.zeros((batch, 2, 2, 1))},
        real_out=real_out,
        fake_in={},
        fake=tf.zeros((batch, 2, 2, 1)),
        fake_out=fake_out,
        critic=None,
        draw=None,
        discriminate=discriminate,
        logs={},
    )


def test_multi_scale_adversarial_and_feature_matching_on_known_answers():
    rng = np.random.default_rng(0)
    maps = {
        name: rng.normal(size=(2, size, size, 1)).astype(np.float32)
        for name, size in (("logits", 4), ("logits_s1", 2))
    }
    fake = {name: np.float32(0.5) * m for name, m in maps.items()}
    real = {name: tf.constant(m) for name, m in maps.items()}
    update = _update(real, {k: tf.constant(v) for k, v in fake.items()})
    # the authors' loss_D = 0.5 (MSE(real, 1) + MSE(fake, 0)) and loss_G_GAN = MSE(fake, 1),
    # summed over the scales (zoo.losses' least squares pair halves both sides)
    term = FAMILY.terms(pix2pixhd.Pix2PixHDObjective())[0]
    expected = sum(np.mean((maps[k] - 1) ** 2) + np.mean(fake[k] ** 2) for k in maps)
    assert float(term.discriminator_loss(update)) == pytest.approx(0.5 * expected, rel=1e-5)
    expected = sum(np.mean((fake[k] - 1) ** 2) for k in maps)
    assert float(term.generator_loss(update)) == pytest.approx(expected, rel=1e-5)
    right = np.mean([np.mean(maps[k] > 0.5) for k in maps])  # averaged over the two scales
    assert float(update.logs["d_real_acc"]) == pytest.approx(right, rel=1e-5)

    # feature matching: 2 scales of 2 maps each: each map's L1 times 4 / 2 / 2, times 10
    features = {
        f"s{k}_f{j}": rng.normal(size=(2, 3, 3, 2)).astype(np.float32)
        for k in (0, 1)
        for j in (0, 1)
    }
    shifted = {name: f + np.float32(j + 1) for name, f in features.items() for j in [int(name[-1])]}
    update = _update(
        {},
        {k: tf.constant(v) for k, v in shifted.items()},
        discriminate=lambda images: {k: tf.constant(v) for k, v in features.items()},
    )
    matching = terms.DiscriminatorFeatureMatching(10.0)
    matching.prepare_generator(update)
    expected = sum(4 / 2 / 2 * (int(name[-1]) + 1) for name in features)  # |shift| = j + 1
    assert float(matching.generator_loss(update)) == pytest.approx(10 * expected, rel=1e-5)
    assert float(update.logs["feature_matching"]) == pytest.approx(expected, rel=1e-5)
    assert terms.feature_maps(features) == [["s0_f0", "s0_f1"], ["s1_f0", "s1_f1"]]


def test_generator_is_global_plus_local_and_discriminators_see_every_scale():
    config = tiny_config("pix2pixhd").model
    g = FAMILY.build(config)["generator"]
    names = {layer.name for layer in g.layers}
    assert {"half", "g1_plus_g2", "g2_down_conv", "to_image"} <= names
    assert g.get_layer("g1_stem_conv").filters == 2 * g.get_layer("g2_stem_conv").filters
    # the global path matters: cutting it (its last convolution zeroed) changes the output
    x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 1)).astype(np.float32)
    both = g(x).numpy()
    last = g.get_layer(f"g1_up{config.global_downsamplings - 1}_conv")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    assert np.abs(g(x).numpy() - both).max() > 1e-4
    d = FAMILY.build(config)["discriminator"]
    assert d.output_names[: config.d_scales] == ["logits", "logits_s1"]
    full, half = d.get_layer("logits").output.shape, d.get_layer("logits_s1").output.shape
    assert full[1] > half[1] > 1
    assert pix2pixhd.feature_names(config) == (("s0_f0", "s0_f1"), ("s1_f0", "s1_f1"))
    with pytest.raises(Exception, match="multiple of 2\\*\\*"):
        tiny_config("pix2pixhd", "model.image_size=18")


def test_resume_is_exact(trained_runs, tmp_path):
    """2 + 2 steps give the weights of 4 (the first 2 are the shared run's, resumed in a copy)."""
    from training.loop import open_run, train

    config = tiny_config("pix2pixhd", "train.steps=4")
    train(config, tmp_path / "straight")
    train(config, trained_runs.copy("pix2pixhd", tmp_path / "resumed"), resume=True)
    a, b = open_run(tmp_path / "straight")[0].trainer, open_run(tmp_path / "resumed")[0].trainer
    for name in ("generator", "discriminator"):
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
