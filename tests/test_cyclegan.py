"""CycleGAN and the two-domain trainer: the history pool, the objective's pieces, the schedule,
exact resume, replica parity and export, on the tiny preset."""

import json

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


# --- the way back (B -> A) in evaluation, sampling and export ---------------------------------


def _held_out_digits(n, size=16):
    """The first ``n`` held-out digits of the tiny preset (``eval.split`` = test) as the A view
    (the digit itself) and the B view (its bold strokes), computed here, not by
    ``training.translation``."""
    from training.data import load_split
    from training.sections import DataConfig
    from training.views import view

    digits = load_split(DataConfig(source="vendored"), f"test[:{n}]", size, 1)[0]
    return digits, np.asarray(view("bold", digits))


def _generators(run_dir):
    return (
        keras.saving.load_model(run_dir / "generator.keras", compile=False),
        keras.saving.load_model(run_dir / "generator_ba.keras", compile=False),
    )


def test_evaluation_scores_the_way_back_and_both_cycles(trained_runs, tmp_path, capsys):
    """``python -m training.evaluate RUN`` of a cyclegan run adds B -> A's own L1/PSNR/digit
    reading and the cycle-reconstruction L1 of both directions, each equal to the number
    computed here with numpy from the two shipped generators on the held-out digits."""
    from training import evaluate

    run = trained_runs.copy("cyclegan", tmp_path / "run")  # evaluation writes metrics.json
    assert evaluate.main([str(run), "--metrics", "fid", "--num-samples", "40"]) == 0
    printed = capsys.readouterr().out
    translation = json.loads((run / "metrics.json").read_text())["translation"]
    a, b = _held_out_digits(40)
    g_ab, g_ba = _generators(run)

    def l1(x, y):
        return float(np.mean(np.abs(np.asarray(x, np.float64) - y)) / 2)

    fake_b, fake_a = np.asarray(g_ab(a)), np.asarray(g_ba(b))
    expected = {
        "l1": l1(fake_b, b),
        "ba_l1": l1(fake_a, a),
        "cycle_l1_aba": l1(g_ba(fake_b), a),
        "cycle_l1_bab": l1(g_ab(fake_a), b),
    }
    assert {k: translation[k] for k in expected} == pytest.approx(expected, rel=1e-5)
    mse = np.mean(((fake_a.astype(np.float64) - a) / 2) ** 2, axis=(1, 2, 3))
    assert translation["ba_psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-5)
    # the digit classifier reads the true A views (the digits) nearly all as themselves
    assert translation["ba_truth_digit_accuracy"] > 0.9
    assert "ba_digit_accuracy" in translation and translation["ba_l1"] != translation["l1"]
    assert f"reverse translation (B -> A) of held-out test: L1 {expected['ba_l1']:.4f}" in printed
    assert (
        f"cycle reconstruction L1 of held-out test: A -> B -> A {expected['cycle_l1_aba']:.4f}, "
        f"B -> A -> B {expected['cycle_l1_bab']:.4f}"
    ) in printed


def test_sample_direction_ba_translates_b_views_back_to_their_a_views(trained_runs, tmp_path):
    """``--direction BA``: input/ holds the B views (bold digits), target/ their A views (the
    digits), output/ generator_ba's translation of the input; with ``--inputs`` the user's
    images are translated B -> A."""
    from PIL import Image

    from training import sample

    run, out = trained_runs("cyclegan"), tmp_path / "ba"
    argv = [str(run), "--split", "test[:3]", "--num", "3", "--direction", "BA", "--out", str(out)]
    assert sample.main(argv) == 0
    a, b = _held_out_digits(3)
    _, g_ba = _generators(run)

    def pngs(part):
        files = sorted((out / part).iterdir())
        assert [f.name for f in files] == [f"0000{i}.png" for i in range(3)]
        return np.stack([np.asarray(Image.open(f), np.float64) for f in files])

    for part, expected in (("input", b), ("target", a), ("output", np.asarray(g_ba(b)))):
        np.testing.assert_allclose(pngs(part), (expected[..., 0] + 1) * 127.5, atol=0.51)
    assert np.abs(pngs("input") - pngs("target")).max() > 100  # bold strokes are not the digits

    mine = tmp_path / "mine"
    mine.mkdir()
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(mine / "white.png")
    own = tmp_path / "own"
    assert (
        sample.main([str(run), "--inputs", str(mine), "--direction", "ba", "--out", str(own)]) == 0
    )
    white = np.ones((1, 16, 16, 1), np.float32)
    written = np.asarray(Image.open(own / "output" / "00000.png"), np.float64)
    np.testing.assert_allclose(written, (np.asarray(g_ba(white))[0, ..., 0] + 1) * 127.5, atol=0.51)


def test_export_direction_ba_ships_generator_ba_in_every_format(trained_runs, tmp_path, capsys):
    """``python -m export RUN --direction BA``: generator_ba.keras in every format, each file
    named after it, each passing export's parity check and giving generator_ba's images in its
    own runtime; the report and model card say B -> A; the default folder is RUN/export_ba
    (RUN/export stays A -> B's)."""
    from export.__main__ import main as export_main
    from export.core import destination
    from tests.test_families import ARTIFACTS, _close, run_artifact

    run, out = trained_runs("cyclegan"), tmp_path / "export_ba"
    assert destination(run, None, "BA") == run / "export_ba"
    assert destination(run, None) == destination(run, None, "AB") == run / "export"
    assert export_main([str(run), "--direction", "BA", "--out", str(out), "--repeats", "1"]) == 0
    assert "(B -> A, generator_ba.keras)" in capsys.readouterr().out
    names = {
        "saved_model_ba",
        "generator_ba.onnx",
        "generator_ba.tflite",
        "generator_ba_float16.tflite",
        "generator_ba_dynamic.tflite",
    }
    assert {p.name for p in out.iterdir()} == names | {"report.json", "model_card.json", "serving"}
    # the way back is its own model for the servers: cyclegan_ba
    assert (out / "serving" / "tf_serving" / "cyclegan_ba" / "1" / "saved_model.pb").is_file()
    triton = out / "serving" / "triton" / "cyclegan_ba"
    assert (triton / "1" / "model.onnx").read_bytes() == (out / "generator_ba.onnx").read_bytes()
    assert 'name: "cyclegan_ba"' in (triton / "config.pbtxt").read_text()
    report = json.loads((out / "report.json").read_text())
    card = json.loads((out / "model_card.json").read_text())
    assert all(row["passed"] for row in report["results"]) and len(report["results"]) == 6
    for saved in (report, card):
        assert (saved["generator"], saved["direction"], saved["translates"]) == (
            "generator_ba.keras",
            "BA",
            "B -> A",
        )
    assert "image_b" in card["input_distribution"]["source"]
    _, b = _held_out_digits(5)
    _, g_ba = _generators(run)
    expected = np.asarray(g_ba(b))
    for key, (file, kind, atol) in ARTIFACTS.items():
        if key != "tflite-int8":  # not offered for cyclegan (Family.no_int8)
            ba_file = file.replace("generator", "generator_ba").replace("model", "model_ba")
            assert _close(run_artifact(kind, out / ba_file, {"source": b}), expected, atol), key


def test_the_way_back_of_a_run_without_one_is_a_one_line_error(trained_runs, tmp_path, capsys):
    """``--direction BA`` of a run that ships no B -> A generator (dcgan, pix2pix): one line
    naming what is accepted, exit 2, nothing written; an unknown direction likewise."""
    from export.__main__ import main as export_main
    from training import sample

    for family in ("dcgan", "pix2pix"):
        run = trained_runs(family)
        out = tmp_path / family
        assert (
            sample.main([str(run), "--split", "test", "--direction", "BA", "--out", str(out)]) == 2
        )
        assert export_main([str(run), "--direction", "BA", "--out", str(out)]) == 2
        errors = capsys.readouterr().err.splitlines()
        assert len(errors) == 2 and not out.exists()
        for line in errors:
            assert (
                "direction BA needs a run that ships a B -> A generator (generator_ba.keras" in line
            )
            assert f"a {family} run ships generator.keras; accepted: AB" in line
    run = trained_runs("cyclegan")
    assert sample.main([str(run), "--split", "test", "--direction", "AX"]) == 2
    assert export_main([str(run), "--direction", "AX"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --direction 'AX' is unknown; accepted: AB, BA",
        "error: unknown direction 'AX'; accepted: AB, BA",
    ]
