"""The trainer under tf.distribute: one step on two replicas equals one step on one device."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import tiny_config
from training.config import RuntimeConfig
from training.data import make_dataset
from training.loop import build_session, open_run, train
from training.strategy import make_strategy
from training.trainers import AdversarialTrainer
from zoo import terms
from zoo.losses import NON_SATURATING

# Measured here (TF 2.21, 2 logical CPUs, SGD): weights after two steps differ by about 1e-8, the
# order in which the two replicas' gradients are summed. Plain SGD, because Adam's first steps are
# nearly invariant to the gradient's scale: they would hide the doubled gradients of a wrong loss
# reduction, and turn summation noise on near-zero gradients into visible differences.
PARITY_ATOL = 1e-6
ONE = "/cpu:0"


def _one():
    return make_strategy(RuntimeConfig(strategy="one_device", devices=[ONE]))


def _two():
    strategy = make_strategy(RuntimeConfig(strategy="mirrored"))
    assert strategy.num_replicas_in_sync == 2
    return strategy


def _sgd(lr_d, lr_g=None):
    lr_g = lr_d if lr_g is None else lr_g
    return {"discriminator": keras.optimizers.SGD(lr_d), "generator": keras.optimizers.SGD(lr_g)}


def _adversarial(family, config, objective=(), weights=None, **kwargs):
    """The family's networks (with ``weights``, before an EMA copies them) in an
    AdversarialTrainer with the non-saturating pair (or ``objective``)."""
    fam = zoo.get_family(family)
    nets = fam.build(config)
    if weights is not None:
        nets["generator"].set_weights(weights[0])
        nets["discriminator"].set_weights(weights[1])
    return AdversarialTrainer(
        nets, fam.contract(config), list(objective) or [terms.Adversarial(NON_SATURATING)], **kwargs
    )


def _trainer(strategy, config, weights, ema_decay=None):
    with strategy.scope():
        trainer = _adversarial("dcgan", config, weights=weights, ema_decay=ema_decay, seed=7)
        trainer.compile(_sgd(0.5))
    return trainer


def _steps(strategy, trainer, real, n, batch=None):
    if batch is None:
        labels = np.arange(len(real), dtype=np.int32) % 10  # used by conditional families
        batch = {"image": real, "label": labels}
        # and by semi-supervised ones
        batch |= {"labelled_image": real[::-1].copy(), "labelled_label": labels[::-1].copy()}
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(ds))

    @tf.function
    def step():
        # as the loop passes them: one batch, or a tuple when a step reads several
        batches = tuple(next(iterator) for _ in range(trainer.batches_per_step))
        batches = batches if len(batches) > 1 else batches[0]
        logs = strategy.run(trainer.train_step, args=(batches,))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    return [{k: float(v) for k, v in step().items()} for _ in range(n)]


def _reference(norm):
    model = tiny_config("dcgan", f"model.g_norm={norm}", f"model.d_norm={norm}").model
    keras.utils.set_random_seed(1)
    nets = zoo.get_family("dcgan").build(model)
    weights = (nets["generator"].get_weights(), nets["discriminator"].get_weights())
    real = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    return model, weights, real


def _max_diff(a, b):
    return max(
        float(np.max(np.abs(x - y))) for x, y in zip(a.get_weights(), b.get_weights(), strict=True)
    )


@pytest.mark.parametrize("ema_decay", [None, 0.9])
def test_two_replicas_match_one_device(ema_decay):
    model, weights, real = _reference("none")  # batch norm is per replica: tested below
    one, two = _one(), _two()
    a = _trainer(one, model, weights, ema_decay)
    b = _trainer(two, model, weights, ema_decay)
    logs_a, logs_b = _steps(one, a, real, 2), _steps(two, b, real, 2)
    assert a.step.numpy() == b.step.numpy() == 2
    for la, lb in zip(logs_a, logs_b, strict=True):
        assert la == pytest.approx(lb, abs=PARITY_ATOL)
    assert _max_diff(a.generator, b.generator) <= PARITY_ATOL
    assert _max_diff(a.discriminator, b.discriminator) <= PARITY_ATOL
    if ema_decay:
        assert _max_diff(a.generator_ema, b.generator_ema) <= PARITY_ATOL
    # and the step did move the weights, far beyond the tolerance
    untouched = _trainer(one, model, weights)
    assert _max_diff(a.generator, untouched.generator) > 1e-3


def _same_on_every_replica(family):
    """Overrides that switch off what is per replica by design: batch norm's statistics and
    the discriminator's Gaussian noise layers (each replica draws its own)."""
    fields = {f.name for f in dataclasses.fields(zoo.get_family(family).config_cls)}
    fixed = zoo.get_family(family).fixed
    overrides = ["model.g_norm=none"] if "g_norm" in fields else []
    if "d_norm" in fields and "d_norm" not in fixed:  # sngan's spectral norm is the family
        overrides.append("model.d_norm=none")
    if "dropout" in fields:  # Keras' dropout draws each replica's mask from one seed state
        overrides.append("model.dropout=0")
    if "input_noise" in fields:
        overrides += ["model.input_noise=0", "model.hidden_noise=0"]
    return overrides


@pytest.mark.parametrize("family", zoo.list_families())
def test_every_family_steps_identically_on_two_replicas(family):
    """Each family's own trainer (its kind, loss, d_steps, penalty, clipping, spectral norm,
    every network it trains), built by build_session, on one device and on two, on a batch of
    its own data. The weights may differ by the summation order's round-off, which the second
    step amplifies where a normalization divides by a tiny variance (instance norm over a
    digit's flat background: after two cyclegan steps that move the generator's weights by 0.3,
    measured 2e-3 on an AVX-512 Xeon and 5.3e-3 (1.8% of the move) on an AVX2 EPYC; after one
    step, 2.6e-7 and 2.4e-7), so the bound grows with how far the steps moved the weights, up to
    3% of it; a wrong loss reduction (gradients doubled or halved) is off by half the move or
    more."""
    _steps_identically_on_two_replicas(family)


def test_diffaugment_and_lazy_r1_step_identically_on_two_replicas():
    """Each image's augmentation is drawn for the global batch, whatever replica it is on; the
    R1 penalty is computed on each replica's rows and reduced like the loss."""
    logs = _steps_identically_on_two_replicas(
        "dcgan",
        "objective.augment=color,translation,cutout",
        "objective.r1_weight=1.0",
        "objective.r1_every=2",
    )
    assert logs[0]["r1"] > 0 and logs[1]["r1"] == 0  # steps 0 and 1: every 2 from step 0


# StarGAN's critic (no normalization, a gradient penalty near 4 at initialization) diverges
# under SGD(0.05) in the second step on one device and two alike (measured: penalty 8e23, a NaN
# generator loss), which compares nothing, and so do DualGAN's penalized critics (NaN); 0.01
# keeps both steps finite.
PARITY_RATES = {"stargan": 0.01, "dualgan": 0.01}


def _steps_identically_on_two_replicas(family, *overrides):
    trainers, logs, before = [], [], None
    for strategy in ("one_device", "mirrored"):
        config = tiny_config(
            family, *_same_on_every_replica(family), *overrides, f"runtime.strategy={strategy}"
        )
        session = build_session(config)
        before = before or {n: session.trainer.net(n).get_weights() for n in _trained(session)}
        with session.strategy.scope():  # SGD: see PARITY_ATOL
            rate = PARITY_RATES.get(family, 0.05)
            session.trainer.compile(
                {name: keras.optimizers.SGD(rate) for name in _trained(session)}
            )
        batch = _first_batch(config)
        logs.append(_steps(session.strategy, session.trainer, None, 2, batch=batch))
        trainers.append(session.trainer)
    a, b = trainers
    assert b.distribute_strategy.num_replicas_in_sync == 2
    first, second = zip(*logs, strict=True)
    assert first[0] == pytest.approx(first[1], rel=1e-5, abs=PARITY_ATOL)
    assert second[0] == pytest.approx(second[1], rel=1e-3, abs=PARITY_ATOL)  # amplified, above
    # Image pools, schedules' variables, ...: the pools hold the second step's fakes, made by
    # generators that already differ by round-off, amplified by instance norm (ganilla's tiny
    # generator: 6.4e-4 measured on the EPYC, 4.7e-3 on an AVX-512 Xeon, in 64 of 49,152
    # pixels); a wrong pool answers with other images, 0.1 or more away.
    for key, (x, y) in _state(a, b).items():
        np.testing.assert_allclose(x, y, atol=1e-2, err_msg=key)
    for name in a.contract.updates:
        moved = max(
            float(np.max(np.abs(w - w0)))
            for w, w0 in zip(a.net(name).get_weights(), before[name], strict=True)
        )
        assert moved > 0, name  # the steps trained this network
        assert _max_diff(a.net(name), b.net(name)) <= PARITY_ATOL + 3e-2 * moved, name
    return logs[0]  # one device's, step by step


def _state(a, b) -> dict:
    """The checkpointed state of two trainers beyond networks and optimizers (a kind's own:
    CycleGAN's image pools, its base learning rates), by checkpoint name."""
    pairs = {}
    for key, part in a.checkpoint_parts().items():
        if isinstance(part, tf.Module) and key != "rng":  # rng: per replica by design
            other = b.checkpoint_parts()[key]
            for i, (x, y) in enumerate(zip(part.variables, other.variables, strict=True)):
                pairs[f"{key}/{i}"] = (x.numpy(), y.numpy())
    return pairs


def _trained(session):
    return session.trainer.contract.updates


def _first_batch(config):
    """The first batch of ``config``'s data: every key the family's trainer reads."""
    dataset, _ = make_dataset(config.data, config.model.image_size, config.model.channels, 0)
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


def test_weight_clipping_bounds_the_critic():
    config = tiny_config("wgan", "objective.clip_value=0.01")
    session = build_session(config)
    real = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    _steps(session.strategy, session.trainer, real, 1)
    weights = session.trainer.discriminator.trainable_weights
    assert max(float(np.abs(w.numpy()).max()) for w in weights) <= 0.01 + 1e-7


def test_batch_norm_normalises_each_replica_with_its_own_statistics():
    """Without synchronised BN each replica's half batch has its own statistics: the mirrored
    discriminator in training mode equals one device applied to each half separately."""
    model, weights, real = _reference("batch")
    one_d = _trainer(_one(), model, weights).discriminator
    two = _two()
    two_d = _trainer(two, model, weights).discriminator
    ds = two.experimental_distribute_dataset(tf.data.Dataset.from_tensors(real))
    per_replica = two.run(lambda x: two_d(x, training=True), args=(next(iter(ds)),))
    halves = [np.asarray(v) for v in two.experimental_local_results(per_replica)]
    for half, expected in zip(halves, (real[:4], real[4:]), strict=True):
        np.testing.assert_allclose(half, one_d(expected, training=True), atol=1e-5)
    whole = np.asarray(one_d(real, training=True))
    assert np.abs(np.concatenate(halves) - whole).max() > 1e-4  # not the full-batch statistics


@pytest.mark.parametrize("name", ["z", "label", "code"])
def test_generator_inputs_do_not_depend_on_the_replica_count(name):
    config = tiny_config("infogan").model  # z, a categorical code and continuous codes
    trainers = []
    for strategy in (_two(), _one()):
        with strategy.scope():
            trainer = _adversarial("infogan", config, seed=7)
            trainer.compile(_sgd(0.1))
        trainers.append((strategy, trainer))
    (two, t2), (_, t1) = trainers
    halves = two.experimental_local_results(two.run(lambda: t2.generator_inputs(3, 0)[name]))
    whole = t1.generator_inputs(6, 0)[name]
    np.testing.assert_array_equal(np.concatenate(halves), whole)
    assert not np.array_equal(halves[0], halves[1])  # replicas get different draws


def test_ema_follows_the_generator():
    model, weights, real = _reference("batch")
    one = _one()
    trainer = _trainer(one, model, weights, ema_decay=0.75)
    _steps(one, trainer, real, 1)  # SGD, so a single step moves the weights a lot
    for ema, var, start in zip(
        trainer.generator_ema.weights, trainer.generator.weights, weights[0], strict=True
    ):
        expected = 0.75 * start + 0.25 * var.numpy() if var.trainable else var.numpy()
        np.testing.assert_allclose(ema.numpy(), expected, atol=1e-6)
    assert trainer.sampler is trainer.generator_ema


def test_d_steps_update_the_discriminator_on_separate_batches(tmp_path):
    config = tiny_config("dcgan", "objective.d_steps=3", "train.steps=2")
    train(config, tmp_path / "run")
    session, step = open_run(tmp_path / "run")
    assert step == 2
    assert session.trainer.optimizers["discriminator"].iterations.numpy() == 6
    with pytest.raises(ValueError, match="train_step needs 3 batches, got 1"):
        session.trainer.train_step(({"image": tf.zeros((2, 16, 16, 1))},))
    # Each of the 3 updates reads its own batch: three different batches move the
    # discriminator elsewhere than one batch three times.
    model, weights, _ = _reference("none")
    rng = np.random.default_rng(5)
    batches = [{"image": rng.uniform(-1, 1, (8, 16, 16, 1)).astype("float32")} for _ in "abc"]
    ends = []
    for data in (batches, [batches[0]] * 3):
        trainer = _adversarial("dcgan", model, weights=weights, seed=7, d_steps=3)
        trainer.compile(_sgd(0.5))
        trainer.train_step(tuple(data))
        ends.append(trainer.discriminator)
    assert _max_diff(*ends) > 1e-3


def test_mirrored_run_end_to_end(tmp_path):
    config = tiny_config("dcgan", "runtime.strategy=mirrored", "train.steps=2")
    session = build_session(config)
    assert session.strategy.num_replicas_in_sync == 2
    result = train(config, tmp_path / "run")
    assert result.step == 2 and np.isfinite(list(result.logs.values())).all()


def test_semi_supervised_discriminator_step_follows_salimans_loss():
    """One SGD step of sgan's discriminator moves it by -lr times the gradient of
    L = cross-entropy(labelled) + (softplus(-lse(real)) + softplus(lse(fake))) / 2."""
    config = tiny_config("sgan", "model.input_noise=0", "model.hidden_noise=0")
    keras.utils.set_random_seed(3)
    objective = [terms.SemiSupervised(NON_SATURATING)]
    trainer = _adversarial("sgan", config.model, objective)
    lr = 0.1
    trainer.compile(_sgd(lr, 0.0))
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.uniform(-1, 1, (8, 16, 16, 1)).astype("float32"),
        "labelled_image": rng.uniform(-1, 1, (8, 16, 16, 1)).astype("float32"),
        "labelled_label": (np.arange(8) % 10).astype("int32"),
    }
    d = trainer.discriminator
    fake = trainer.generator(trainer.generator_inputs(8, 0)["z"], training=True)
    with tf.GradientTape() as tape:
        lse = lambda x: tf.reduce_logsumexp(d(x, training=True)[0], axis=-1)  # noqa: E731
        labelled = d(batch["labelled_image"], training=True)[0]
        supervised = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(
                batch["labelled_label"], labelled, from_logits=True
            )
        )
        unsupervised = tf.reduce_mean(tf.nn.softplus(-lse(batch["image"])))
        unsupervised += tf.reduce_mean(tf.nn.softplus(lse(fake)))
        loss = supervised + 0.5 * unsupervised
    grads = tape.gradient(loss, d.trainable_variables)
    expected = [
        v.numpy() - lr * g.numpy() for v, g in zip(d.trainable_variables, grads, strict=True)
    ]
    trainer.train_step((batch,))
    for var, want in zip(d.trainable_variables, expected, strict=True):
        np.testing.assert_allclose(var.numpy(), want, rtol=1e-4, atol=1e-6)
    assert max(float(np.abs(g).max()) for g in grads) > 1e-3  # the step did move it
