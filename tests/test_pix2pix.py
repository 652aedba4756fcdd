"""pix2pix and the paired kind: the objective (its terms' known answers are in
tests/test_terms.py), the step against a hand-written one, the PatchGAN's receptive field,
exact resume with dropout, replica parity, export parity and the held-out translation
measure."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import SHARED_STEPS, tiny_config
from training.loop import build_session, open_run, train
from training.sections import ConfigError
from training.trainers.paired import PairedTrainer
from zoo import pix2pix, terms
from zoo.losses import NON_SATURATING

FAMILY = zoo.get_family("pix2pix")


def test_the_objective_is_eq_4_with_lambda_100():
    objective = pix2pix.Pix2PixObjective()
    pieces = FAMILY.terms(objective)
    assert [type(p) for p in pieces] == [terms.ConditionalAdversarial, terms.L1Reconstruction]
    assert pieces[0].pair is NON_SATURATING and pieces[0].d_scale == 0.5
    assert pieces[1].weight == 100.0
    with pytest.raises(ConfigError, match="unknown key|l1_wieght"):
        tiny_config("pix2pix", "objective.l1_wieght=10")
    with pytest.raises(ConfigError, match="d_steps must be 1 for a paired family"):
        tiny_config("pix2pix", "objective.d_steps=2")


def _sgd(lr):
    return {"generator": keras.optimizers.SGD(lr), "discriminator": keras.optimizers.SGD(lr)}


def _descend(model, tape, loss, lr):
    variables = model.trainable_variables
    for var, grad in zip(variables, tape.gradient(loss, variables), strict=True):
        var.assign_sub(lr * grad)


def test_train_step_is_the_papers_algorithm():
    """One step equals, written out by hand with SGD: G(source) once; D descends half of the
    cGAN loss on (source, real) vs (source, G(source)); then G descends the non-saturating loss
    against the *updated* D plus 100 L1 (the authors' optimize_parameters)."""
    config = tiny_config("pix2pix", "model.dropout=0", "model.g_norm=none", "model.d_norm=none")
    nets = FAMILY.build(config.model)
    g, d = nets["generator"], nets["discriminator"]
    g0, d0 = g.get_weights(), d.get_weights()
    trainer = PairedTrainer(
        nets, FAMILY.contract(config.model), terms=FAMILY.terms(config.objective)
    )
    lr = 0.1
    trainer.compile(_sgd(lr))
    rng = np.random.default_rng(2)
    real = tf.constant(rng.uniform(-1, 1, (4, 16, 16, 1)), tf.float32)
    source = tf.constant(rng.uniform(-1, 1, (4, 16, 16, 1)), tf.float32)
    logs = trainer.train_step({"image": real, "source": source})

    g_ref, d_ref = keras.models.clone_model(g), keras.models.clone_model(d)
    g_ref.set_weights(g0)
    d_ref.set_weights(d0)
    fake = g_ref(source)
    with tf.GradientTape() as tape:
        r, f = d_ref([source, real]), d_ref([source, fake])
        d_loss = 0.5 * tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(r), r)
            + tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(f), f)
        )
    _descend(d_ref, tape, d_loss, lr)
    with tf.GradientTape() as tape:
        fake = g_ref(source)
        f = d_ref([source, fake])
        adversarial = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(f), f))
        g_loss = adversarial + 100.0 * tf.reduce_mean(tf.abs(real - fake))
    _descend(g_ref, tape, g_loss, lr)

    assert float(logs["d_loss"]) == pytest.approx(float(d_loss), rel=1e-5)
    assert float(logs["g_loss"]) == pytest.approx(float(adversarial), rel=1e-5)
    for a, b in zip(d.get_weights(), d_ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for a, b in zip(g.get_weights(), g_ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(g.get_weights(), g0, strict=True))
    assert moved > 1e-3  # the step did something the comparison could miss


def test_patchgan_receptive_field_and_map_size():
    """The paper's 70x70 PatchGAN (3 layers) gives a 30x30 map on 256 px; ours (1 layer) sees
    16x16 patches of a 32 px image: the centre logit's gradient covers exactly 16x16 pixels."""
    assert [pix2pix.receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]
    paper = pix2pix.Pix2PixConfig(image_size=256, levels=8, d_filters=2, d_layers=3)
    assert pix2pix.build_discriminator(paper).output.shape[1:] == (30, 30, 1)
    config = pix2pix.Pix2PixConfig(image_size=32, d_filters=4, d_layers=1, d_norm="none")
    d = pix2pix.build_discriminator(config)
    assert d.output.shape[1:] == (14, 14, 1)
    image = tf.constant(np.random.default_rng(3).normal(size=(1, 32, 32, 1)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(image)
        centre = d([tf.zeros_like(image), image])[0, 7, 7, 0]
    seen = np.abs(tape.gradient(centre, image).numpy()[0, ..., 0]) > 0
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    assert rows.max() - rows.min() + 1 == 16 and cols.max() - cols.min() + 1 == 16


def test_generator_is_a_unet_with_dropout_and_one_source_input():
    config = tiny_config("pix2pix")
    g = FAMILY.build(config.model)["generator"]
    assert [t.name.split(":")[0] for t in g.inputs] == ["source"] and g.output_names == ["image"]
    dropouts = [layer for layer in g.layers if isinstance(layer, keras.layers.Dropout)]
    skips = [layer for layer in g.layers if isinstance(layer, keras.layers.Concatenate)]
    assert len(skips) == config.model.levels - 1
    assert len(dropouts) == 3 and all(layer.rate == 0.5 for layer in dropouts)
    x = np.random.default_rng(4).uniform(-1, 1, (2, 16, 16, 1)).astype(np.float32)
    # dropout is the noise in training, and gone in what ships (training=False)
    assert np.abs(g(x, training=True) - g(x, training=True)).max() > 1e-4
    np.testing.assert_array_equal(g(x, training=False), g(x, training=False))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.pair=none"], "set data.pair to the view the source is"),
        (["data.pair=low_res4"], r"gives sources of shape \(4, 4, 1\), but the pix2pix"),
    ],
)
def test_a_source_the_generator_cannot_take_is_a_one_line_error(overrides, message):
    config = tiny_config("pix2pix", *overrides)
    with pytest.raises(ConfigError, match=message):
        build_session(config)


def test_resume_is_exact_with_dropout(trained_runs, tmp_path):
    """2 + 2 steps give the weights of 4: the dropout layers' seed state is checkpointed. (The
    first 2 steps are the shared run's, resumed in a copy.)"""
    config = tiny_config("pix2pix", "train.steps=4")
    assert config.model.dropout == 0.5 and SHARED_STEPS == 2
    train(config, tmp_path / "straight")
    train(config, trained_runs.copy("pix2pix", tmp_path / "resumed"), resume=True)
    a, b = open_run(tmp_path / "straight")[0].trainer, open_run(tmp_path / "resumed")[0].trainer
    for name in ("generator", "discriminator"):
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
    states = [v.numpy() for v in b.generator.variables if "seed_generator_state" in v.path]
    assert states and all(s[1] == 4 for s in states)  # one draw per step, restored


def _run_two_steps(strategy, batch):
    config = tiny_config(
        "pix2pix",
        f"runtime.strategy={strategy}",
        "model.dropout=0",
        "model.g_norm=instance",
        "model.d_norm=instance",
    )
    session = build_session(config)
    trainer = session.trainer
    with session.strategy.scope():  # SGD: Adam's first steps hide a wrong loss scale
        trainer.compile(_sgd(0.05))
    iterator = iter(
        session.strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(batch).repeat()
        )
    )

    @tf.function
    def step():
        logs = session.strategy.run(trainer.train_step, args=(next(iterator),))
        return {k: session.strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    logs = [{k: float(v) for k, v in step().items()} for _ in range(2)]
    return trainer, logs


def test_two_replicas_match_one_device():
    """Without dropout, and with instance norm (per image, so the replicas' halves are
    normalised as on one device), a step on two replicas is the step on one. Dropout is off
    because Keras' Dropout draws its mask on each replica from the same (mirrored) seed state
    for that replica's rows: other masks than one device draws for the whole batch."""
    from training.data import make_dataset

    config = tiny_config("pix2pix")
    dataset, _ = make_dataset(config.data, 16, 1, seed=0)
    batch = {k: v.numpy() for k, v in next(iter(dataset)).items()}
    a, logs_a = _run_two_steps("one_device", batch)
    b, logs_b = _run_two_steps("mirrored", batch)
    assert b.distribute_strategy.num_replicas_in_sync == 2
    for la, lb in zip(logs_a, logs_b, strict=True):
        assert la == pytest.approx(lb, abs=1e-6)
    for name in ("generator", "discriminator"):
        for x, y in zip(a.net(name).get_weights(), b.net(name).get_weights(), strict=True):
            np.testing.assert_allclose(x, y, atol=1e-6, err_msg=name)
    assert logs_a[0]["l1"] != logs_a[1]["l1"]  # the first step moved G


def test_generator_exports_with_parity(trained_runs):
    _, report = trained_runs.export("pix2pix")
    assert [i["name"] for i in report["inputs"]] == ["source"]
    assert report["results"] and all(row["passed"] for row in report["results"])


def test_held_out_translations_are_measured(trained_runs):
    """The run measures held-out digits 8000-9999 (eval.split), which it never trains on: a
    translator that returns its source scores the identity baseline, and the digit classifier
    reads nearly every true digit at the tiny model's size (the ceiling)."""
    from training.evaluate import held_out_translations, translate, translation_metrics
    from training.features import get_extractor

    run_dir = trained_runs("pix2pix")
    session, _ = open_run(run_dir)
    config, contract = session.config, session.trainer.contract
    assert config.data.split == "test[:8000]" and config.eval.split == "test[8000:]"
    held_out = held_out_translations(config, contract)
    sources, truth = held_out["sources"]["source"][:300], held_out["truth"][:300]
    labels, extractor = held_out["labels"][:300], get_extractor("mnist_cnn")
    identity = keras.Sequential([keras.Input((16, 16, 1), name="source"), keras.layers.Identity()])
    same = translation_metrics(
        translate(identity, contract, {"source": sources}, 0), truth, labels, extractor
    )
    baseline = translation_metrics(sources, truth, labels, extractor)
    assert same == pytest.approx(baseline) and same["l1"] > 0.05
    assert same["truth_digit_accuracy"] > 0.9
    trained = translate(session.trainer.sampler, contract, {"source": sources}, 0)
    assert trained.shape == truth.shape and np.isfinite(trained).all()
