"""CycleGAN and the two-domain trainer: the history pool, the objective's pieces, the schedule,
exact resume, replica parity and export, on the tiny preset."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from training.loop import build_session, open_run, train
from training.trainers.cycle import CycleTrainer, ImagePool, linear_decay
from zoo import cyclegan, terms
from zoo.losses import LEAST_SQUARES


def _pool_images(values):
    return tf.constant(np.asarray(values, np.float32).reshape(-1, 1, 1, 1))


def _flat(images):
    return np.asarray(images).reshape(-1).tolist()


def test_pool_fills_first_then_swaps_a_stored_image_with_probability_half():
    pool = ImagePool(3, [1, 1, 1], "pool")
    draws = tf.constant([[0.1, 0.9], [0.1, 0.9]])
    # Not full: every image is stored and returned, whatever the draws.
    assert _flat(pool.query(_pool_images([1, 2]), draws)) == [1, 2]
    assert int(pool.count.numpy()) == 2
    # 3 fills the last slot; 4 finds the pool full, its coin (0.1 < 0.5) returns the image in
    # slot floor(0.5 * 3) = 1 and stores 4 there.
    answer = pool.query(_pool_images([3, 4]), tf.constant([[0.9, 0.0], [0.1, 0.5]]))
    assert _flat(answer) == [3, 2]
    assert _flat(pool.images.numpy()) == [1, 4, 3] and int(pool.count.numpy()) == 3
    # A coin of 0.5 or more returns the new image and leaves the pool as it is; images of one
    # query are taken in order, so the second sees what the first stored.
    answer = pool.query(_pool_images([5, 6, 7]), tf.constant([[0.7, 0.0], [0.2, 0.0], [0.3, 0.0]]))
    assert _flat(answer) == [5, 1, 6]
    assert _flat(pool.images.numpy()) == [7, 4, 3]
    # Over many uniform draws about half the answers come from the pool.
    new = np.arange(100, 2100, dtype=np.float32)
    drawn = tf.random.stateless_uniform([2000, 2], [1, 2])
    answer = np.asarray(tf.function(pool.query)(_pool_images(new), drawn)).reshape(-1)
    assert 0.45 < np.mean(answer != new) < 0.55
    # Size 0: no pool, the images themselves.
    assert _flat(ImagePool(0, [1, 1, 1], "none").query(_pool_images([8, 9]), draws)) == [8, 9]


def test_the_objective_is_least_squares_both_ways_cycle_and_identity():
    """lambda = 10, identity 0.5 lambda, the generators' side of least squares doubled (the
    terms' known answers are in tests/test_terms.py)."""
    pieces = cyclegan.terms(cyclegan.CycleGANObjective())
    assert [type(p) for p in pieces] == [
        terms.DomainAdversarial,
        terms.CycleConsistency,
        terms.IdentityMapping,
    ]
    assert pieces[0].pair is LEAST_SQUARES
    assert (pieces[0].generator_scale, pieces[1].weight, pieces[2].weight) == (2.0, 10.0, 5.0)
    assert pieces[1].distance is terms.l1_per_example
    no_identity = cyclegan.terms(cyclegan.CycleGANObjective(identity_weight=0.0))
    assert len(no_identity) == 2 and not any(p.needs_identity for p in no_identity)


def _batch(seed=0, n=8, size=16):
    rng = np.random.default_rng(seed)
    return {
        "image_a": rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"),
        "image_b": rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"),
    }


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    # The authors' lambda_rule in steps: 2 constant, then 2 decaying, never below 0.
    factors = [float(linear_decay(s, 2, 2)) for s in range(6)]
    assert factors == pytest.approx([1.0, 1.0, 2 / 3, 1 / 3, 0.0, 0.0])
    session = build_session(
        tiny_config(
            "cyclegan",
            "train.steps=4",
            "train.g_lr=0.3",
            "objective.lr_constant_steps=none",  # the default: halves of train.steps
            "objective.lr_decay_steps=none",
        )
    )
    trainer = session.trainer
    assert trainer.schedule == (2, 2)  # halves of train.steps
    rates = []
    for step in range(4):  # what train_step does first, at each step
        if step == 3:
            trainer.scale_learning_rates(0.5)  # a rollback: the schedule keeps multiplying
        trainer.set_learning_rates(tf.constant(step, tf.int64))
        rates.append(float(trainer.learning_rates()["generator_ba"].numpy()))
    assert rates == pytest.approx([0.3, 0.3, 0.2, 0.05])
    assert float(trainer.base_rates["generator_ba"].numpy()) == pytest.approx(0.15)
    assert float(trainer.optimizers["discriminator"].learning_rate.numpy()) == pytest.approx(
        2e-4 / 3 / 2
    )


def test_resume_is_exact_across_the_step_that_fills_the_pool(trained_runs, tmp_path):
    """The tiny pool (12) takes the 8 fakes of step 1 and fills in step 2, whose last 4 fakes
    already swap; 1 + 1 steps equal the shared run's 2 straight, weights, optimizer state,
    pools and the decaying learning rate (tiny: 1 step constant, then decay) alike."""
    train(tiny_config("cyclegan", "train.steps=1"), tmp_path / "resumed")
    middle, _ = open_run(tmp_path / "resumed")
    assert [int(p.count.numpy()) for p in middle.trainer.pools.values()] == [8, 8]
    train(tiny_config("cyclegan", "train.steps=2"), tmp_path / "resumed", resume=True)
    a = open_run(trained_runs("cyclegan"))[0].trainer
    b = open_run(tmp_path / "resumed")[0].trainer
    assert int(a.step.numpy()) == int(b.step.numpy()) == 2
    for name in ("generator", "generator_ba", "discriminator", "discriminator_a"):
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
        for x, y in zip(a.optimizers[name].variables, b.optimizers[name].variables, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
    assert float(b.learning_rates()["generator"]) < float(b.base_rates["generator"].numpy())
    for domain in ("a", "b"):
        pa, pb = a.pools[domain].images.numpy(), b.pools[domain].images.numpy()
        np.testing.assert_allclose(pa, pb, atol=1e-6)
        assert int(b.pools[domain].count.numpy()) == 12 and np.abs(pa).max() > 0.0
    # Step 2 stored 4 more images and swapped others in: the pool is not the one of step 1.
    assert np.abs(middle.trainer.pools["b"].images.numpy() - b.pools["b"].images.numpy()).max()


def test_networks_follow_the_paper_and_ship_both_directions(trained_runs):
    config = tiny_config("cyclegan").model
    assert cyclegan.receptive_field(3) == 70  # the paper's PatchGAN
    nets = cyclegan.build(config)
    g, d = nets["generator"], nets["discriminator"]
    assert [t.name.split(":")[0] for t in g.inputs] == ["source"]
    assert d.output_names == ["logits"]
    size = cyclegan.patch_map_size(16, config.d_layers)
    assert d.output_shape == (None, size, size, 1)
    # Reflection padding from Keras' layers equals TensorFlow's REFLECT mode.
    x = keras.Input((5, 6, 2))
    padded = keras.Model(x, cyclegan.reflect_pad(x, 3, "p"))
    image = np.random.default_rng(0).standard_normal((2, 5, 6, 2)).astype("float32")
    expected = tf.pad(image, [[0, 0], [3, 3], [3, 3], [0, 0]], mode="REFLECT")
    np.testing.assert_array_equal(np.asarray(padded(image)), expected.numpy())
    # The run ships the B -> A generator beside the A -> B one.
    run_dir = trained_runs("cyclegan")
    session, _ = open_run(run_dir)
    assert isinstance(session.trainer, CycleTrainer)
    loaded = keras.saving.load_model(run_dir / "generator_ba.keras")
    batch = _batch(3)["image_b"][:2]
    np.testing.assert_allclose(
        np.asarray(loaded(batch)), np.asarray(session.trainer.generator_ba(batch)), atol=1e-6
    )
