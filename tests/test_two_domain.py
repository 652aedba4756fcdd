"""The two-domain families beside CycleGAN (DiscoGAN, DualGAN, GANILLA) and what they add to
the kind: critics updated several times a step, weights that follow a curriculum, feature
matching; on the tiny presets, sharing the session's trained runs."""

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import tiny_config
from training.loop import open_run, train
from training.trainers.cycle import CycleTrainer
from zoo import discogan, dualgan, ganilla, terms

NETWORKS = ("generator", "generator_ba", "discriminator", "discriminator_a")


@pytest.mark.parametrize("family", ["discogan", "dualgan", "ganilla"])
def test_resume_is_exact(family, trained_runs, tmp_path):
    """1 + 1 steps equal the shared run's 2 straight: across DiscoGAN's curriculum switch
    (tiny: after step 1), DualGAN's extra critic batches (the resumed stream skips them too)
    and GANILLA's pool filling and decaying rate."""
    train(tiny_config(family, "train.steps=1"), tmp_path / "resumed")
    train(tiny_config(family, "train.steps=2"), tmp_path / "resumed", resume=True)
    a = open_run(trained_runs(family))[0].trainer
    b = open_run(tmp_path / "resumed")[0].trainer
    assert int(a.step.numpy()) == int(b.step.numpy()) == 2
    for name in NETWORKS:
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
        for x, y in zip(a.optimizers[name].variables, b.optimizers[name].variables, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
    if family == "ganilla":  # the only one of the three with a history pool (CycleGAN's)
        for domain in ("a", "b"):
            assert int(b.pools[domain].count.numpy()) == 12
            np.testing.assert_allclose(
                a.pools[domain].images.numpy(), b.pools[domain].images.numpy(), atol=1e-6
            )


def test_dualgan_critics_update_d_steps_times_a_step_under_a_penalty_or_clipping(trained_runs):
    session, _ = open_run(trained_runs("dualgan"))
    trainer = session.trainer
    assert isinstance(trainer, CycleTrainer) and trainer.d_steps == 2
    assert trainer.schedule is None  # a constant rate
    iterations = {n: int(trainer.optimizers[n].iterations.numpy()) for n in NETWORKS}
    assert iterations == {
        "generator": 2,
        "generator_ba": 2,
        "discriminator": 4,
        "discriminator_a": 4,
    }
    assert isinstance(trainer.optimizers["generator"], keras.optimizers.RMSprop)
    # The paper's clipping by default: every critic weight ended within [-c, c].
    for name in ("discriminator", "discriminator_a"):
        for weight in trainer.networks[name].trainable_weights:
            assert np.abs(weight.numpy()).max() <= 0.01 + 1e-7, weight.path
    pieces = dualgan.terms(dualgan.DualGANObjective())
    assert [type(p) for p in pieces] == [
        terms.DomainAdversarial,
        terms.CriticClipping,
        terms.CycleConsistency,
    ]
    assert pieces[0].pair.name == "wasserstein" and pieces[1].clip_value == 0.01
    assert pieces[2].weight == 500.0 and pieces[2].distance is terms.l1_per_example
    code = dualgan.terms(dualgan.DualGANObjective(gp_weight=10.0, clip_value=0.0, d_steps=1))
    assert [type(p) for p in code][1] is terms.DomainGradientPenalty and code[1].weight == 10.0
    with pytest.raises(ValueError, match="need a Lipschitz constraint"):
        dualgan.DualGANObjective(clip_value=0.0).validate()


def test_discogan_networks_and_objective_follow_the_authors_code():
    config = discogan.DiscoGANConfig(image_size=64, filters=8, d_filters=8)
    nets = discogan.build(config)
    g, d = nets["generator"], nets["discriminator"]
    # 64 -> 32 -> 16 -> 8 -> 4, no skip: the bottleneck is the encoder's last 4x4 map
    assert g.get_layer("down3_lrelu").output.shape[1:] == (4, 4, 64)
    assert list(d.output_names) == ["logits", "f1", "f2", "f3"]
    outputs = d(np.zeros((2, 64, 64, 1), "float32"))
    assert [tuple(o.shape) for o in outputs] == [
        (2, 1),
        (2, 16, 16, 16),
        (2, 8, 8, 32),
        (2, 4, 4, 64),
    ]
    with pytest.raises(ValueError, match="power of 2"):
        discogan.DiscoGANConfig(image_size=28).validate()
    objective = discogan.DiscoGANObjective()
    adversarial, matching, reconstruction = discogan.terms(objective)
    # (0.1 GAN + 0.9 FM) (1 - rate) + rate x MSE, the rate 0.01 then 0.5 after 10,000 steps
    assert (adversarial.before, adversarial.after) == pytest.approx((0.1 * 0.99, 0.1 * 0.5))
    assert (matching.before, matching.after) == pytest.approx((0.9 * 0.99, 0.9 * 0.5))
    assert (reconstruction.before, reconstruction.after, reconstruction.steps) == (
        0.01,
        0.5,
        10_000,
    )
    assert adversarial.term.d_scale == 0.5 and adversarial.term.pair.name == "non_saturating"
    assert reconstruction.term.distance is terms.l2_per_example
    assert reconstruction.term.weight == 0.25  # the squared error at the authors' [0, 1] scale
    assert objective.pool_size == 0


def test_ganilla_generator_concatenates_in_its_blocks_and_sums_a_pyramid():
    config = ganilla.GanillaConfig(image_size=64, filters=8)
    g = ganilla.build_generator(config)
    assert g(np.zeros((1, 64, 64, 1), "float32")).shape == (1, 64, 64, 1)
    # stages at H/2, H/4, H/8, H/16 with 1, 2, 2, 4 x filters
    shapes = [g.get_layer(f"stage{s}_block1_relu").output.shape[1:] for s in range(4)]
    assert shapes == [(32, 32, 8), (16, 16, 16), (8, 8, 16), (4, 4, 32)]
    # a block's output and its (projected) input are concatenated, then fused
    assert g.get_layer("stage1_block0_cat").output.shape[-1] == 2 * 16
    # the pyramid adds each stage's 1x1 projection to the upsampled deeper sum
    assert isinstance(g.get_layer("merge0"), keras.layers.Add)
    assert g.get_layer("merge0").output.shape[1:] == (32, 32, 16)
    with pytest.raises(ValueError, match="multiple of 16"):
        ganilla.GanillaConfig(image_size=28).validate()
    # CycleGAN's objective and terms, CycleGAN's PatchGAN
    assert zoo.get_family("ganilla").terms is zoo.get_family("cyclegan").terms
