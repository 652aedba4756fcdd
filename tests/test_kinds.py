"""The trainer kinds beyond one family: Keras' fit, the networks' own losses, named streams."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from training.config import RuntimeConfig
from training.data import make_dataset
from training.loop import build_session, make_step_function
from training.strategy import make_strategy
from training.trainers import AdversarialTrainer, Trainer, batches_per_step
from training.trainers.base import stream_key
from zoo import contract, terms
from zoo.losses import NON_SATURATING


def _weights(trainer):
    return [w.numpy() for name in ("generator", "discriminator") for w in trainer.net(name).weights]


# one discriminator batch per step on both strategies; two (grouped for fit) on two replicas
@pytest.mark.parametrize(
    "family, strategy",
    [("dcgan", "one_device"), ("dcgan", "mirrored"), ("wgan_gp", "mirrored")],
)
def test_fit_trains_the_same_steps_as_the_loop(family, strategy, tmp_path):
    """``trainer.fit`` with Keras' own TensorBoard and progress callbacks computes the steps the
    project's loop computes (the CLI keeps its loop: multi-worker needs it)."""
    # A shuffle buffer of 1 keeps the stream's order however often it is iterated: Keras'
    # fit starts its own iterator, and a seeded shuffle reshuffles at each new one.
    config = tiny_config(family, f"runtime.strategy={strategy}", "data.shuffle_buffer=1")
    ends = []
    for driver in ("loop", "fit"):
        session = build_session(config)
        dataset, _ = make_dataset(config.data, 16, 1, seed=0)
        if driver == "loop":
            run_steps = make_step_function(session, dataset)
            logs = [run_steps(tf.constant(1)) for _ in range(2)]
            assert all(np.isfinite(float(v)) for log in logs for v in log.values())
        else:
            d_steps = session.trainer.batches_per_step
            history = session.trainer.fit(
                batches_per_step(dataset, d_steps),
                steps_per_epoch=2,
                epochs=1,
                verbose=1,
                shuffle=False,
                callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "logs"))],
            )
            assert np.isfinite(history.history["d_loss"][0])
            assert np.isfinite(history.history["g_loss"][0])
            assert list((tmp_path / "logs").rglob("events.out.tfevents.*"))
        assert int(session.trainer.step.numpy()) == 2
        ends.append(_weights(session.trainer))
    for a, b in zip(*ends, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def _regularized_pair(l2: float):
    """A one-layer generator and a discriminator whose kernel has an L2 regularizer."""
    keras.utils.set_random_seed(4)
    z = keras.Input((3,), name="z")
    g = keras.Model(z, keras.layers.Dense(4, name="image")(z), name="generator")
    image = keras.Input((4,), name="image")
    dense = keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(l2), name="logits")
    d = keras.Model(image, dense(image), name="discriminator")
    spec = contract.Contract("adversarial", {"z": contract.normal()})
    return AdversarialTrainer(
        {"generator": g, "discriminator": d}, spec, [terms.Adversarial(NON_SATURATING)], seed=3
    )


def _one_sgd_step(strategy, l2, real):
    with strategy.scope():
        trainer = _regularized_pair(l2)
        trainer.compile(
            {"generator": keras.optimizers.SGD(0.0), "discriminator": keras.optimizers.SGD(0.5)}
        )
    kernel = trainer.discriminator.get_layer("logits").kernel
    before = kernel.numpy()
    ds = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors({"image": real}))
    batch = next(iter(ds))
    tf.function(lambda b: strategy.run(trainer.train_step, args=((b,),)))(batch)
    return before, kernel.numpy()


def test_regularization_losses_of_a_network_are_applied_once_per_global_batch():
    """A kernel regularizer adds lr * 2 * l2 * W to the step (Keras' ``model.losses``; the
    trainer before the kinds dropped them), on one device and on two replicas alike."""
    real = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    one = make_strategy(RuntimeConfig(strategy="one_device", devices=["/cpu:0"]))
    two = make_strategy(RuntimeConfig(strategy="mirrored"))
    before, plain = _one_sgd_step(one, 0.0, real)
    _, regularized = _one_sgd_step(one, 0.1, real)
    np.testing.assert_allclose(plain - regularized, 0.5 * 2 * 0.1 * before, rtol=1e-4, atol=1e-7)
    _, mirrored = _one_sgd_step(two, 0.1, real)
    np.testing.assert_allclose(mirrored, regularized, atol=1e-6)


def test_named_noise_streams_are_independent_of_each_other_and_of_the_seed():
    keys = {stream_key(seed, name) for seed in (0, 1) for name in ("z", "gp", "label", "code")}
    assert len(keys) == 8  # seed 1's z is not seed 0's gp, as salts added to the seed were
    assert stream_key(0, "z") == stream_key(0, "z") < 2**63


def test_networks_stepped_jointly_take_the_steps_they_take_one_by_one():
    """``apply_jointly`` (one gradient for CycleGAN's two generators) gives each network the
    step ``apply`` gives it alone, its own regularizer included, and scales nothing twice."""

    def nets():
        keras.utils.set_random_seed(3)
        out = {}
        for name, l2 in (("generator", 0.1), ("other", 0.0)):
            x = keras.Input((4,), name="z")
            reg = keras.regularizers.L2(l2) if l2 else None
            out[name] = keras.Model(x, keras.layers.Dense(3, kernel_regularizer=reg)(x), name=name)
        return out

    declared = contract.Contract(
        "test", {"z": contract.normal()}, updates={"generator": "g", "other": "g"}
    )
    z = tf.constant(np.random.default_rng(0).normal(size=(5, 4)).astype("float32"))
    results = []
    for joint in (False, True):
        trainer = Trainer(nets(), declared)
        trainer.compile(
            {"generator": keras.optimizers.SGD(0.1), "other": keras.optimizers.SGD(0.1)}
        )
        with tf.GradientTape(persistent=True) as tape:
            loss = tf.reduce_mean(trainer.generator(z) * trainer.other(z) + trainer.other(z))
        if joint:
            trainer.apply_jointly(("generator", "other"), tape, loss)
        else:
            with tape:
                objectives = {n: trainer.objective(n, loss) for n in ("generator", "other")}
            for name, objective in objectives.items():
                trainer.apply(name, tape, objective)
        results.append([w.numpy() for n in ("generator", "other") for w in trainer.net(n).weights])
    moved = max(
        float(np.abs(a - b).max())
        for a, b in zip(
            results[0],
            nets()["generator"].get_weights() + nets()["other"].get_weights(),
            strict=True,
        )
    )
    assert moved > 1e-3
    for separate, joint in zip(*results, strict=True):
        np.testing.assert_allclose(joint, separate, atol=1e-7)
