"""What the discriminators see: DiffAugment in every kind that augments, and ADA's probability p
in the trainers (its rule on a discriminator of known outputs, two replicas, resume,
TensorBoard)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from tests.events import summaries
from tests.test_trainer import (
    PARITY_ATOL,
    _first_batch,
    _max_diff,
    _same_on_every_replica,
    _steps,
)
from training.config import load
from training.loop import build_session, open_run, train

POLICY = "objective.augment=translation,cutout"


def _sgd(session, rate):
    with session.strategy.scope():
        session.trainer.compile(
            {name: keras.optimizers.SGD(rate) for name in session.trainer.contract.updates}
        )


def _set_logits(trainer, value):
    """The discriminator's logit is ``value`` on every image."""
    dense = trainer.discriminator.get_layer("logits")
    kernel, bias = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), np.full_like(bias, value)])


def test_p_moves_by_the_rule_on_a_discriminator_of_known_outputs():
    """Batch 8, interval 2: 16 real images an interval, and ada_kimg 0.064 makes a move of
    16 / 64 = 0.25. A discriminator that calls every real image real (r_t = 1 > 0.6) raises p
    at each interval's end up to 1; one that calls them fake (r_t = -1) lowers it down to 0."""
    config = tiny_config(
        "dcgan", POLICY, "objective.ada_target=0.6", "objective.ada_interval=2",
        "objective.ada_kimg=0.064",
    )  # fmt: skip
    session = build_session(config)
    _sgd(session, 0.0)  # nothing but p moves
    trainer = session.trainer
    real = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    _set_logits(trainer, 3.0)
    logs = _steps(session.strategy, trainer, real, 10)
    assert [step["ada_p"] for step in logs] == [0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1, 1, 1]
    assert {step["ada_r_t"] for step in logs} == {1.0}
    _set_logits(trainer, -3.0)
    logs = _steps(session.strategy, trainer, real, 10)
    assert [step["ada_p"] for step in logs] == [1, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0, 0, 0]
    assert {step["ada_r_t"] for step in logs} == {-1.0}
    assert float(trainer.ada.p.numpy()) == 0.0


def test_ada_steps_identically_on_two_replicas():
    """p starts at 0.5 (the gate picks some images of each replica's half and not others) and
    moves after steps 2 (interval 2); p, the interval's signs, logs and weights match."""
    runs = []
    for strategy in ("one_device", "mirrored"):
        config = tiny_config(
            "dcgan", *_same_on_every_replica("dcgan"), POLICY, "objective.ada_target=0.6",
            "objective.ada_interval=2", "objective.ada_kimg=0.16", f"runtime.strategy={strategy}",
        )  # fmt: skip
        session = build_session(config)
        _sgd(session, 0.05)
        with session.strategy.scope():
            session.trainer.ada.p.assign(0.5)
        before = session.trainer.generator.get_weights()
        logs = _steps(session.strategy, session.trainer, None, 3, batch=_first_batch(config))
        runs.append((session.trainer, logs))
    (a, logs_a), (b, logs_b) = runs
    assert b.distribute_strategy.num_replicas_in_sync == 2
    assert logs_a[0] == pytest.approx(logs_b[0], rel=1e-5, abs=PARITY_ATOL)
    for x, y in zip(logs_a[1:], logs_b[1:], strict=True):
        assert x == pytest.approx(y, rel=1e-3, abs=PARITY_ATOL)
    assert [s["ada_p"] for s in logs_a] == [s["ada_p"] for s in logs_b]
    assert logs_a[0]["ada_p"] == 0.5
    moves = {0.4: "down", 0.6: "up"}  # by 16 / 160 after step 2
    assert [m for p, m in moves.items() if logs_a[1]["ada_p"] == pytest.approx(p)]
    for name in ("p", "signs", "count"):  # the third step's signs, in the next interval
        assert a.ada.state[name].numpy() == b.ada.state[name].numpy(), name
    assert a.ada.state["count"].numpy() == 8
    moved = max(
        float(np.max(np.abs(w - w0)))
        for w, w0 in zip(a.generator.get_weights(), before, strict=True)
    )
    for name in ("generator", "discriminator"):
        assert _max_diff(a.net(name), b.net(name)) <= PARITY_ATOL + 3e-2 * moved, name


def test_resume_inside_an_interval_continues_p_exactly(tmp_path):
    """Interval 3: a stop after 2 steps keeps the signs of those 2 in the checkpoint; 2 + 3
    steps give the p, statistics and weights of 5 in one go (both ending inside an interval, so
    the statistics compared are not zero); p and r_t reach TensorBoard."""
    ada = (POLICY, "objective.ada_target=0", "objective.ada_interval=3", "objective.ada_kimg=0.096")
    train(tiny_config("dcgan", *ada, "train.steps=5", "train.log_every=1"), tmp_path / "straight")
    train(tiny_config("dcgan", *ada, "train.steps=2", "train.log_every=1"), tmp_path / "resumed")
    first, _ = open_run(tmp_path / "resumed")
    assert first.trainer.ada.state["count"].numpy() == 16  # 2 steps of 8 real images
    config = load(tmp_path / "resumed" / "config.yaml")
    config.train.steps = 5
    train(config, tmp_path / "resumed", resume=True)
    a, step_a = open_run(tmp_path / "straight")
    b, step_b = open_run(tmp_path / "resumed")
    assert step_a == step_b == 5
    assert a.trainer.ada.state["count"].numpy() == 16  # steps 4 and 5, inside an interval
    for name in ("p", "signs", "count"):
        assert a.trainer.ada.state[name].numpy() == b.trainer.ada.state[name].numpy(), name
    assert a.trainer.ada.p.numpy() > 0  # r_t > 0 here: p moved up by 24 / 96 at least once
    for name in ("generator", "discriminator"):
        for x, y in zip(a.trainer.net(name).weights, b.trainer.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
    logged = summaries(tmp_path / "straight" / "logs", "ada_")
    assert set(logged) == {"ada_p", "ada_r_t"}
    assert sorted(logged["ada_p"]) == [1, 2, 3, 4, 5]
    assert logged["ada_p"][5] == pytest.approx(float(a.trainer.ada.p.numpy()))
    assert all(-1 <= r <= 1 for r in logged["ada_r_t"].values())


CUT = 16  # a cutout of 8x8 on 16x16 images keeps at least a 4x4 corner of it inside


def _record(trainer):
    """Every image each discriminator is fed (its ``image`` and ``source`` inputs), in order."""
    judges = [
        trainer.net(n) for n, group in trainer.contract.updates.items() if group != "generator"
    ]
    seen, call = [], trainer.call_network

    def recording(network, feeds, training=True):
        if any(network is judge for judge in judges):
            names = [t.name.split(":")[0] for t in network.inputs]
            seen.append({k: np.asarray(feeds[k]) for k in ("image", "source") if k in names})
        return call(network, feeds, training)

    trainer.call_network = recording
    return seen


def _zeros(images):
    return np.sum(np.reshape(images, (len(images), -1)) == 0.0, axis=1)


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan", "discogan", "progan"])
def test_every_kind_feeds_its_discriminators_augmented_images(family):
    """With p = 1 every image each discriminator sees, real, generated, pooled, and pix2pix's
    sources, carries a cutout (exact zeros that the data and the generators do not make); at
    ADA's start (p = 0) none does; p and r_t are logged."""
    overrides = ["objective.augment=cutout", "objective.ada_target=0.6"]
    if family == "progan":  # its wasserstein critic has no real/fake sign: ADA needs a pair
        overrides.append("objective.loss=hinge")
    config = tiny_config(family, *overrides)
    session = build_session(config)
    trainer = session.trainer
    batch = {k: tf.constant(v) for k, v in _first_batch(config).items()}
    for key in ("image", "source", "image_a", "image_b"):
        if key in batch:
            assert np.all(_zeros(batch[key].numpy()) < CUT), key
    seen = _record(trainer)
    logs = trainer.train_step(batch)  # p = 0: ADA starts without augmentation
    assert seen and all(np.all(_zeros(x) < CUT) for feeds in seen for x in feeds.values())
    assert {"ada_p", "ada_r_t"} <= set(logs) and float(logs["ada_p"]) == 0.0
    trainer.ada.p.assign(1.0)
    seen.clear()
    logs = trainer.train_step(batch)
    assert seen and all(np.all(_zeros(x) >= CUT) for feeds in seen for x in feeds.values())
    assert all(np.isfinite(float(v)) for v in logs.values())
    if family == "pix2pix":  # a pair is augmented alike: a source equal to its image stays so
        assert all("source" in feeds for feeds in seen)
        seen.clear()
        trainer.train_step({**batch, "source": batch["image"]})
        for feeds in seen[:1]:  # the real pair (fakes differ from their sources)
            np.testing.assert_array_equal(feeds["source"], feeds["image"])
