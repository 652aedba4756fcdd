"""Evaluation: the digit classifier, real-data reference points, the CLI and the callback."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import SHARED_STEPS, tiny_config
from tests.events import summaries
from training import evaluate, metrics
from training.classifier import HELD_OUT, accuracy_on, load_classifier
from training.data import load_split, load_vendored_mnist
from training.features import ExtractorError, get_extractor
from training.loop import train
from training.sections import DataConfig
from training.translation import translation_metrics


@pytest.fixture(scope="module")
def mnist():
    images, labels = load_vendored_mnist()
    return images[..., None].astype(np.float32) / 127.5 - 1.0, labels


@pytest.fixture(scope="module")
def extractor():
    return get_extractor("mnist_cnn")


def test_versioned_classifier_reaches_98_5_percent_on_held_out_digits(mnist):
    x, labels = mnist
    assert accuracy_on(load_classifier(), x[HELD_OUT], labels[HELD_OUT]) >= 0.985


def test_real_data_reference_points(extractor):
    result = evaluate.baselines(extractor, ("fid", "kid", "is"))
    halves = result["mnist_half_a_vs_half_b"]
    shuffled = result["mnist_vs_pixel_shuffled_mnist"]
    assert halves["extractor"] == "mnist_cnn"
    # random halves (the test set's first 5,000 digits are cleaner than the last 5,000)
    assert halves["fid"] < 5.0 and shuffled["fid"] > 100 * halves["fid"]
    assert abs(halves["kid"]["mean"]) < 3 * halves["kid"]["std"] + 1e-3
    assert halves["is"]["mean"] > 9.0  # ten confidently recognised, balanced classes
    assert halves["class_entropy"] > 0.99


def test_class_balance_signals_collapse(extractor, mnist):
    x, labels = mnist
    balanced = evaluate.class_balance(extractor(x[:1000])[1])
    collapsed = evaluate.class_balance(extractor(x[:1000][labels[:1000] == 1])[1])
    assert balanced["class_entropy"] > 0.98
    assert collapsed["class_entropy"] < 0.2 and collapsed["class_shares"][1] > 0.95
    # real digits are read confidently (0.99 measured); the average of two different digits
    # is ambiguous (0.59)
    assert balanced["confident"] > 0.97
    other = np.roll(np.arange(1000), 1)
    mixed = (x[:1000] + x[other]) / 2
    ambiguous = evaluate.class_balance(extractor(mixed[labels[:1000] != labels[other]])[1])
    assert ambiguous["confident"] < 0.75


@pytest.fixture(scope="module")
def tiny_run(trained_runs):
    """The session's shared dcgan run: read-only, so evaluating it (which writes metrics.json
    into the run folder) happens on a copy."""
    return trained_runs("dcgan")


def test_evaluate_run_writes_labelled_metrics(trained_runs, tmp_path, capsys):
    run = trained_runs.copy("dcgan", tmp_path / "run")
    code = evaluate.main([str(run), "--num-samples", "200", "--extractor", "mnist_cnn"])
    out = capsys.readouterr().out
    assert code == 0
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["extractor"] == "mnist_cnn" and saved["num_fake"] == 200
    assert saved["step"] == SHARED_STEPS
    assert {"fid", "kid", "is", "precision", "recall", "swd", "class_entropy", "confident"} <= set(
        saved
    )
    assert set(saved["swd"]) == {"swd_16px", "swd_mean"}
    assert f"FID (mnist_cnn) {saved['fid']:.3f}" in out
    # --out writes there instead: the run's metrics.json (the model card's FID) stays
    other = tmp_path / "swd.json"
    argv = [str(run), "--metrics", "swd", "--num-samples", "50", "--out", str(other)]
    assert evaluate.main(argv) == 0
    assert json.loads((run / "metrics.json").read_text()) == saved
    assert set(json.loads(other.read_text())["swd"]) == {"swd_16px", "swd_mean"}


def test_compare_two_image_sets_without_a_run(tmp_path, mnist, capsys):
    from PIL import Image

    x, _ = mnist
    np.savez(tmp_path / "real.npz", images=np.round((x[:300] + 1) * 127.5).astype(np.uint8))
    folder = tmp_path / "fake"
    folder.mkdir()
    for i, image in enumerate(np.round((x[300:600, ..., 0] + 1) * 127.5).astype(np.uint8)):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    out_file = tmp_path / "m.json"
    code = evaluate.main(
        [
            "--real",
            str(tmp_path / "real.npz"),
            "--fake",
            str(folder),
            "--metrics",
            "fid,kid",
            "--out",
            str(out_file),
        ]
    )
    assert code == 0
    result = json.loads(out_file.read_text())
    assert result["num_real"] == result["num_fake"] == 300 and "is" not in result
    # a palette GIF in a folder counts as its pixels, not its palette indices
    Image.fromarray(np.full((28, 28), 255, np.uint8)).convert("P").save(folder / "zz.gif")
    loaded = evaluate.load_images(folder)
    assert len(loaded) == 301 and np.allclose(loaded[-1], 1.0)
    # reading uint8 .npz and PNG files gives the numbers of the in-memory images
    direct = evaluate.compute(x[:300], x[300:600], get_extractor("mnist_cnn"), ("fid", "kid"))
    assert result["fid"] == pytest.approx(direct["fid"], rel=1e-6)
    assert result["kid"]["mean"] == pytest.approx(direct["kid"]["mean"], rel=1e-6)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (
            ["RUN", "--metrics", "fid,lpips"],
            "unknown metric 'lpips'; accepted: fid, kid, is, pr, swd, ppl",
        ),
        (
            ["RUN", "--metrics", "ppl", "--ppl-space", "w"],
            "--ppl-space w needs a mapping network (z -> w) and dcgan has none (families with "
            "one: stylegan2); use --ppl-space z",
        ),
        (
            ["RUN", "--metrics", "ppl", "--ppl-space", "x"],
            "unknown --ppl-space 'x'; accepted: z, w",
        ),
        (
            ["RUN", "--metrics", "fid,ppl", "--ppl-sampling", "mid"],
            "unknown --ppl-sampling 'mid'; accepted: full, end",
        ),
        (["RUN", "--metrics", "ppl", "--ppl-paths", "0"], "--ppl-paths must be at least 1"),
        (
            ["--real", "a.npz", "--fake", "b.npz", "--metrics", "fid,ppl"],
            "ppl measures a run's generator (its latent paths): give a run folder",
        ),
        (
            ["RUN", "--extractor", "inception", "--weights", "/nope.h5"],
            "InceptionV3 weights not found at /nope.h5; on a machine with internet download https://",
        ),
        (["RUN", "--real", "a.npz", "--fake", "b.npz"], "give a run folder, or --real and --fake"),
        (["/no/such/run"], "is not a trained run folder"),
    ],
)
def test_cli_errors_are_one_line(tiny_run, capsys, argv, fragment):
    argv = [str(tiny_run) if a == "RUN" else a for a in argv]
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and fragment in err and "\n" not in err


def test_ppl_of_a_run_in_z_with_the_other_metrics(trained_runs, tmp_path, capsys):
    run = trained_runs.copy("dcgan", tmp_path / "run")
    argv = [str(run), "--metrics", "fid,ppl", "--num-samples", "100", "--ppl-paths", "30"]
    assert evaluate.main(argv) == 0
    out = capsys.readouterr().out
    saved = json.loads((run / "metrics.json").read_text())
    ppl = saved["ppl"]
    assert "fid" in saved and "kid" not in saved and saved["extractor"] == "mnist_cnn"
    assert (ppl["space"], ppl["sampling"], ppl["paths"], ppl["epsilon"]) == ("z", "full", 30, 1e-4)
    assert ppl["kept"] == 30 and np.isfinite(ppl["mean"]) and ppl["mean"] > 0  # too few to trim
    assert f"PPL (mnist_cnn) z full {ppl['mean']:.4g} ± {ppl['sem']:.2g}" in out
    assert "FID (mnist_cnn)" in out


def test_ppl_of_stylegan2_in_w_and_in_z(trained_runs, tmp_path, capsys):
    run = trained_runs.copy("stylegan2", tmp_path / "run")
    argv = [str(run), "--metrics", "ppl", "--ppl-paths", "40", "--extractor", "mnist_cnn"]
    assert evaluate.main([*argv, "--ppl-space", "w", "--ppl-sampling", "end"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((run / "metrics.json").read_text())
    w = saved["ppl"]
    assert (w["space"], w["sampling"], w["paths"]) == ("w", "end", 40)
    assert np.isfinite(w["mean"]) and w["mean"] > 0 and "fid" not in saved  # PPL alone
    assert f"PPL (mnist_cnn) w end {w['mean']:.4g} ± {w['sem']:.2g}" in out
    assert evaluate.main(argv) == 0  # z: slerp through the whole generator, another number
    z = json.loads((run / "metrics.json").read_text())["ppl"]
    assert z["space"] == "z" and z["mean"] != w["mean"]


@pytest.mark.slow
def test_inception_extractor_with_user_supplied_weights(tmp_path):
    import keras

    path = tmp_path / "inception.weights.h5"
    keras.applications.InceptionV3(include_top=True, weights=None).save_weights(path)
    inception = get_extractor("inception", path)
    images = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    features, probabilities = inception(images)
    assert features.shape == (3, 2048) and probabilities.shape == (3, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    (tmp_path / "bad.h5").write_bytes(b"junk")
    with pytest.raises(ExtractorError, match="is not InceptionV3 weights"):
        get_extractor("inception", tmp_path / "bad.h5")


def _eval_tags(logdir):
    return set(summaries(logdir, "eval/"))


def test_training_evaluates_and_keeps_the_best_generator(tmp_path):
    config = tiny_config(
        "dcgan", "train.steps=4", "eval.every=2", "eval.num_samples=64", "eval.extractor=mnist_cnn"
    )
    train(config, tmp_path / "run")
    tags = _eval_tags(tmp_path / "run" / "logs")
    assert {
        "eval/fid_mnist_cnn",
        "eval/kid_mnist_cnn",
        "eval/class_entropy",
        "eval/confident",
        "eval/class_share/0",
        "eval/class_share/9",
    } <= tags
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["metric"] == "kid" and best["extractor"] == "mnist_cnn"
    # the best is the evaluation with the lowest KID, as logged at steps 2 and 4
    kid = summaries(tmp_path / "run" / "logs", "eval/")["eval/kid_mnist_cnn"]
    assert sorted(kid) == [2, 4] and best["step"] == min(kid, key=kid.get)
    assert best["value"] == pytest.approx(kid[best["step"]], rel=1e-6)
    assert (tmp_path / "run" / "generator_best.keras").is_file()
    state = tf.train.get_checkpoint_state(str(tmp_path / "run" / "checkpoints" / "best"))
    assert state.model_checkpoint_path.endswith(f"ckpt-{best['step']}")

    # a resumed run compares against the saved best: an unbeatable best is never overwritten
    (tmp_path / "run" / "best.json").write_text(json.dumps({**best, "value": -1.0}))
    from training.config import load

    resumed = load(tmp_path / "run" / "config.yaml")
    resumed.train.steps = 8
    train(resumed, tmp_path / "run", resume=True)
    assert json.loads((tmp_path / "run" / "best.json").read_text())["value"] == -1.0


def test_a_late_collapse_keeps_the_earlier_best(extractor, mnist):
    from training.callbacks import Evaluation

    x, _ = mnist
    real_features, _ = extractor(x[:500])
    outputs = {2: x[500:1000], 4: np.repeat(x[1000:1001], 500, axis=0)}  # good, then collapsed
    step = {"now": 2}
    best = []
    callback = Evaluation(
        lambda z: outputs[step["now"]][: len(z)],
        np.zeros((500, 1)),
        real_features,
        extractor,
        tf.summary.create_noop_writer(),
        2,
        "fid",
        lambda s, v: best.append((s, v)),
    )
    for step["now"] in (2, 4):
        callback.on_step_end(step["now"], {})
    assert [s for s, _ in best] == [2]


@pytest.fixture(scope="module")
def cgan_run(trained_runs):
    return trained_runs("cgan")


def test_sample_grid_has_one_row_per_class(cgan_run, tiny_run, tmp_path, capsys):
    from PIL import Image

    from training import sample

    assert sample.main([str(cgan_run), "--num", "30", "--out", str(tmp_path / "g.png")]) == 0
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == (10 * 17 + 1, 3 * 17 + 1)  # 10 classes x 3 samples of 16 px + borders
    assert sample.main([str(tiny_run), "--num", "16", "--out", str(tmp_path / "u.png")]) == 0
    assert np.asarray(Image.open(tmp_path / "u.png")).shape == (4 * 17 + 1, 4 * 17 + 1)
    assert sample.main([str(tmp_path)]) == 2
    assert "is not a trained run folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def digits(cgan_run, extractor):
    """One 16x16 digit per class (index = class) that the digit classifier recognises at that
    size: the images a generator that draws exactly the digit asked for would give."""
    from training.config import load
    from training.data import load_split

    images, labels = load_split(load(cgan_run / "config.yaml").data, "test[:300]", 16, 1)
    right = np.argmax(extractor(images)[1], axis=1) == labels
    return np.stack([images[np.flatnonzero(right & (labels == c))[0]] for c in range(10)])


def _drawing_run(trained_runs, family, dest, images):
    """A copy of the shared run of ``family`` whose generator.keras, with the same inputs,
    ignores all but ``label`` and gives ``images[label]``: a generator whose class or code
    accuracy is known exactly."""
    import keras

    run = trained_runs.copy(family, dest)
    trained = keras.saving.load_model(run / "generator.keras", compile=False)
    inputs = [
        keras.Input(t.shape[1:], name=t.name.split(":")[0], dtype=t.dtype) for t in trained.inputs
    ]
    table = keras.layers.Embedding(len(images), images[0].size, trainable=False)
    label = next(i for i in inputs if i.name == "label")
    drawing = keras.Model(inputs, keras.layers.Reshape(images.shape[1:])(table(label)))
    table.set_weights([images.reshape(len(images), -1)])
    drawing.save(run / "generator.keras")
    return run


def test_class_accuracy_is_how_often_the_class_asked_for_is_drawn(trained_runs, digits, tmp_path):
    """Only a conditional generator gets a class accuracy: the share of its images that the
    digit classifier sees as the class that was asked for."""
    conditional = evaluate.evaluate_run(
        trained_runs.copy("cgan", tmp_path / "cgan"), ("fid",), 100, "mnist_cnn"
    )
    assert "class_accuracy" in conditional and "code_accuracy" not in conditional
    exact = _drawing_run(trained_runs, "cgan", tmp_path / "exact", digits)
    assert evaluate.evaluate_run(exact, ("fid",), 100, "mnist_cnn")["class_accuracy"] == 1.0
    # every image a digit, but always the next class: recognisable, never the one asked for
    shifted = _drawing_run(trained_runs, "cgan", tmp_path / "shifted", np.roll(digits, -1, axis=0))
    assert evaluate.evaluate_run(shifted, ("fid",), 100, "mnist_cnn")["class_accuracy"] == 0.0
    unconditional = trained_runs.copy("dcgan", tmp_path / "dcgan")
    assert "class_accuracy" not in evaluate.evaluate_run(unconditional, ("fid",), 100, "mnist_cnn")


@pytest.fixture(scope="module")
def infogan_run(trained_runs):
    return trained_runs("infogan")


def test_traversal_grids_vary_one_code_at_a_time(infogan_run, tmp_path, capsys):
    from PIL import Image

    from training import sample

    out = tmp_path / "label.png"
    assert sample.main([str(infogan_run), "--vary", "label", "--num", "20", "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 17 + 1, 10 * 17 + 1)  # a row per z, a column per code value
    cells = [grid[1:17, 1 + 17 * c : 17 + 17 * c] for c in range(10)]
    assert any(not np.array_equal(cells[0], cell) for cell in cells[1:])

    out = tmp_path / "code.png"
    argv = [str(infogan_run), "--vary", "code:1", "--steps", "5", "--out", str(out)]
    assert sample.main(argv) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (10 * 17 + 1, 5 * 17 + 1)  # a row per categorical value, 5 steps
    for argv, fragment in [
        (["--vary", "code:2"], "accepted: label, code:0, code:1"),
        (["--vary", "width"], "accepted: label, code:0, code:1"),
    ]:
        assert sample.main([str(infogan_run), *argv]) == 2
        assert fragment in capsys.readouterr().err


def test_vary_needs_the_code_in_the_generator(tiny_run, capsys):
    from training import sample

    assert sample.main([str(tiny_run), "--vary", "label"]) == 2
    assert "needs a generator with a 'label' input" in capsys.readouterr().err


def test_code_accuracy_matches_code_values_to_classes_one_to_one():
    rng = np.random.default_rng(0)
    codes = np.arange(1000) % 10
    # a collapsed generator: every sample is seen as one class, whatever its code
    assert metrics.code_accuracy(codes, np.full(1000, 7), 10) <= 1 / 10
    # a generator that ignores the code: classes at random
    assert metrics.code_accuracy(codes, rng.integers(0, 10, 1000), 10) < 0.2
    # a perfect one, whose code values became the classes in another order
    assert metrics.code_accuracy(codes, rng.permutation(10)[codes], 10) == 1.0
    # code 0 -> class 0 five times and class 1 four times; code 1 -> class 0 four times and
    # class 1 once. The best one-to-one matching is 0->1, 1->0 (4 + 4 = 8 of 14); taking each
    # code's most frequent class (5 + 4, both class 0) would count 9.
    codes = np.array([0] * 9 + [1] * 5)
    predicted = np.array([0] * 5 + [1] * 4 + [0] * 4 + [1])
    assert metrics.code_accuracy(codes, predicted, 2) == pytest.approx(8 / 14)


def test_best_assignment_is_the_optimum_of_all_matchings():
    import itertools

    rng = np.random.default_rng(1)
    for rows, cols in [(5, 5), (3, 6), (6, 4), (1, 3)]:
        weights = rng.integers(0, 20, (rows, cols))
        brute = max(
            sum(weights[i, j] for i, j in zip(range(rows), perm, strict=False))
            if rows <= cols
            else sum(weights[i, j] for i, j in zip(perm, range(cols), strict=False))
            for perm in itertools.permutations(range(max(rows, cols)), min(rows, cols))
        )
        assert metrics.best_assignment(weights) == brute


def test_infogan_reports_code_accuracy_not_class_accuracy(trained_runs, digits, tmp_path, capsys):
    """InfoGAN's categorical code is not a class: which code value became which digit is
    learnt, so its accuracy is that of the best one-to-one matching of values to classes."""
    run = trained_runs.copy("infogan", tmp_path / "trained")
    code = evaluate.main([str(run), "--metrics", "fid", "--num-samples", "100"])
    out = capsys.readouterr().out
    saved = json.loads((run / "metrics.json").read_text())
    assert code == 0 and "code_purity" not in saved and "class_accuracy" not in saved
    assert f"code accuracy (mnist_cnn) {saved['code_accuracy']:.3f}" in out
    # code values that became the digits in another order: a perfect code
    permuted = digits[np.random.default_rng(0).permutation(10)]
    run = _drawing_run(trained_runs, "infogan", tmp_path / "permuted", permuted)
    assert evaluate.evaluate_run(run, ("fid",), 100, "mnist_cnn")["code_accuracy"] == 1.0
    # one digit whatever the code: the best matching pairs one code value (10 of 100) with it
    run = _drawing_run(trained_runs, "infogan", tmp_path / "collapsed", digits[[3] * 10])
    assert evaluate.evaluate_run(run, ("fid",), 100, "mnist_cnn")["code_accuracy"] == pytest.approx(
        0.1
    )


def test_sgan_run_ships_a_classifier_measured_on_held_out_digits(tmp_path):
    import json

    import keras

    from training.data import load_split

    config = tiny_config("sgan", "train.steps=4", "eval.every=2")
    train(config, tmp_path / "run")
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["metric"] == "accuracy" and best["split"] == "test[9900:]"
    classifier = keras.saving.load_model(tmp_path / "run" / "classifier_best.keras")
    images, labels = load_split(config.data, "test[9900:]", 16, 1)
    accuracy = np.mean(np.argmax(classifier.predict(images, verbose=0), axis=1) == labels)
    assert accuracy == pytest.approx(best["value"])
    assert "eval/accuracy" in _eval_tags(tmp_path / "run" / "logs")
    result = evaluate.evaluate_run(tmp_path / "run", ("fid",), 100, "mnist_cnn")
    final = keras.saving.load_model(tmp_path / "run" / "classifier.keras")
    expected = np.mean(np.argmax(final.predict(images, verbose=0), axis=1) == labels)
    assert result["classifier_accuracy"] == pytest.approx(expected)


def test_a_truncated_generator_is_a_one_line_error_in_evaluate_and_sample(
    tiny_run, tmp_path, capsys
):
    import shutil

    from training import sample

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run / "config.yaml", run)
    whole = (tiny_run / "generator.keras").read_bytes()
    (run / "generator.keras").write_bytes(whole[: len(whole) // 2])  # a copy cut short
    for main, argv in [
        (evaluate.main, [str(run), "--num-samples", "10"]),
        (sample.main, [str(run)]),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        assert f"{run / 'generator.keras'} cannot be loaded (not a complete .keras" in err
        assert err.endswith(f"python -m training.run dcgan --run-dir {run} --resume")


def test_unreadable_and_mixed_size_image_folders_are_one_line_errors(tmp_path, capsys):
    from PIL import Image

    real = tmp_path / "real"
    real.mkdir()
    for i in range(4):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(real / f"{i}.png")
    cases = {}
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    Image.fromarray(np.full((28, 28), 9, np.uint8)).save(truncated / "a.png")
    noise = np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)
    Image.fromarray(noise).save(truncated / "b.png")
    whole = (truncated / "b.png").read_bytes()
    (truncated / "b.png").write_bytes(whole[: len(whole) // 2])
    cases[truncated] = f"{truncated / 'b.png'} cannot be read as an image (OSError: "
    junk = tmp_path / "junk"
    junk.mkdir()
    Image.fromarray(np.full((28, 28), 9, np.uint8)).save(junk / "a.png")
    (junk / "c.jpg").write_text("not a picture")
    cases[junk] = f"{junk / 'c.jpg'} cannot be read as an image (UnidentifiedImageError: "
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.full((28, 28), 9, np.uint8)).save(mixed / "a.png")
    Image.fromarray(np.full((32, 30, 3), 9, np.uint8)).save(mixed / "b.png")
    cases[mixed] = (
        f"{mixed} mixes image sizes: 28x28 (e.g. {mixed / 'a.png'}) and 30x32 "
        f"(e.g. {mixed / 'b.png'})"
    )
    for fake, fragment in cases.items():
        assert evaluate.main(["--real", str(real), "--fake", str(fake)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and fragment in err and "\n" not in err


def test_large_grids_are_sampled_in_batches_with_the_same_images(tiny_run, tmp_path):
    import shutil

    import keras
    from PIL import Image

    from training import sample
    from training.callbacks import image_grid

    @keras.saving.register_keras_serializable(package="ganzoo_tests")
    class BatchRecorder(keras.layers.Layer):
        """Passes its input through and notes each batch size the generator is called with."""

        seen: list[int] = []

        def call(self, x):
            if x.shape[0] is not None:  # eager calls, not the symbolic ones of loading
                BatchRecorder.seen.append(int(x.shape[0]))
            return x

    generator = keras.saving.load_model(tiny_run / "generator.keras", compile=False)
    z = keras.Input((8,), name="z")
    recorded = keras.Model(z, generator(BatchRecorder()(z)))
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run / "config.yaml", run)
    recorded.save(run / "generator.keras")

    argv = [str(run), "--num", "1200", "--out", str(tmp_path / "grid.png")]
    assert sample.main(argv) == 0
    assert BatchRecorder.seen and max(BatchRecorder.seen) <= 500  # sample.BATCH_SIZE
    assert sum(BatchRecorder.seen) == 1200
    grid = np.asarray(Image.open(tmp_path / "grid.png"), np.int16)
    latents = np.random.default_rng(0).standard_normal((1200, 8)).astype(np.float32)
    unbatched = image_grid(np.asarray(generator(latents, training=False)))[..., 0]
    assert grid.shape == unbatched.shape == (35 * 17 + 1, 35 * 17 + 1)
    # the same images; at most float round-off moving a pixel across a rounding boundary
    assert np.abs(grid - unbatched).max() <= 1 and np.mean(grid == unbatched) > 0.999


def test_kid_summary_gives_the_spread_and_its_subsets(extractor, mnist):
    x, _ = mnist
    result = evaluate.compute(x[:400], x[400:800], extractor, ("kid",))
    kid = result["kid"]
    # subsets of all 400 would all be the same set: a spread of round-off only (1e-16)
    assert kid["std"] > 0.01 * abs(kid["mean"])
    assert kid["subsets"] == 100 and kid["subset_size"] == 200
    line = evaluate.summary(result).splitlines()[0]
    assert line == (
        f"KID (mnist_cnn) {kid['mean']:.5f} ± {kid['std']:.5f} (std over 100 random subsets of 200)"
    )


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A tiny dcgan trained with eval.every on three classes of 16x16 RGB images (red, green,
    blue), with no InceptionV3 weights in Keras' cache; its folder and its printed output."""
    import contextlib
    import io

    from PIL import Image

    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for k, name in enumerate(["red", "green", "blue"]):
        (root / "images" / name).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            pixels[..., k] += 180
            Image.fromarray(pixels).save(root / "images" / name / f"{i}.png")
    config = tiny_config(
        "dcgan",
        "data.source=folder",
        f"data.path={root / 'images'}",
        "model.channels=3",
        "eval.every=2",
        "eval.num_samples=32",
    )
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("HOME", str(root / "home"))  # Keras' cache: ~/.keras/models/
        train(config, root / "run")
    return root / "run", printed.getvalue()


@pytest.fixture
def no_inception(monkeypatch, tmp_path):
    """A home folder without InceptionV3 weights in Keras' cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_a_folder_run_trains_without_a_digit_fid_and_says_so(folder_run):
    run, printed = folder_run
    notes = [line for line in printed.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1
    assert notes[0].startswith(
        f"note: no FID/KID while training on the image folder {run.parent / 'images'}: the digit "
        "classifier (mnist_cnn) scores only MNIST digits"
    )
    assert notes[0].endswith(
        "this run trains without the evaluation every 2 steps and without a best checkpoint "
        "(generator_best.keras)"
    )
    assert "eval at step" not in printed and not _eval_tags(run / "logs")
    assert not (run / "best.json").exists() and not (run / "generator_best.keras").exists()
    assert (run / "generator.keras").is_file()


def test_auto_extractor_is_the_digit_classifier_only_for_digits(tmp_path, no_inception):
    from training.config import DataConfig
    from training.features import default_extractor

    folder = DataConfig(source="folder", path=str(tmp_path))
    assert folder.dataset == "mnist"  # the default, which says nothing about a folder
    assert default_extractor(folder) is None
    assert default_extractor(DataConfig(source="tfds", dataset="cifar10")) is None
    for source in ("auto", "tfds", "vendored"):
        assert default_extractor(DataConfig(source=source)) == "mnist_cnn"
    weights = tmp_path / "inception.h5"
    weights.write_bytes(b"weights")
    assert default_extractor(folder, weights) == "inception"
    assert default_extractor(DataConfig(source="tfds", dataset="cifar10"), weights) == "inception"


def test_evaluate_on_a_folder_run_reports_no_digit_fid(folder_run, no_inception, capsys):
    run, _ = folder_run
    assert evaluate.main([str(run), "--num-samples", "32"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["extractor"] is None and "swd" in saved
    assert not {"fid", "kid", "is", "precision", "class_entropy"} & set(saved)
    assert out.startswith(f"note: no FID, KID, IS, PR for {run}: the digit classifier (mnist_cnn)")
    assert "\nSWD x1e3 16px " in out and "FID" not in out.split("\n", 1)[1]
    assert saved["note"] == out.splitlines()[0][len("note: ") :]

    # nothing left to compute is an error, in one line
    assert evaluate.main([str(run), "--metrics", "fid,kid", "--num-samples", "32"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: no FID, KID for {run}: ") and "\n" not in err
    assert err.endswith("nothing else was asked for (SWD needs no extractor: --metrics swd)")

    # asked for by name, the digit classifier is still used
    argv = [str(run), "--metrics", "fid", "--num-samples", "32", "--extractor", "mnist_cnn"]
    assert evaluate.main(argv) == 0
    assert "FID (mnist_cnn) " in capsys.readouterr().out


def test_auto_extractor_for_two_image_sets_needs_digits_or_inception(
    folder_run, no_inception, tmp_path, capsys
):
    images = folder_run[0].parent / "images"
    argv = ["--real", str(images / "red"), "--fake", str(images / "blue")]
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "error: --extractor auto uses the digit classifier only for 28x28 grayscale images "
        "(these are 16x16x3 and 16x16x3) and the InceptionV3 weights are not at "
    )
    assert "pass --extractor inception --weights PATH, or --extractor mnist_cnn" in err
    assert "\n" not in err
    assert evaluate.main([*argv, "--metrics", "swd"]) == 0  # SWD needs no extractor
    assert capsys.readouterr().out.startswith("SWD x1e3 16px ")
    assert evaluate.main([*argv, "--extractor", "mnist_cnn", "--metrics", "fid"]) == 0
    assert "FID (mnist_cnn) " in capsys.readouterr().out


def test_translation_metrics_know_the_answer(extractor, mnist):
    """The true translation scores perfectly; a translation into the wrong digit keeps a
    fair PSNR but is read as the wrong digit; erasing the image has a known PSNR."""
    x, labels = mnist
    truth, digits = x[:200], labels[:200]
    perfect = translation_metrics(truth, truth, digits, extractor)
    assert perfect["l1"] == 0 and perfect["psnr"] == pytest.approx(100.0)
    assert perfect["digit_accuracy"] == perfect["truth_digit_accuracy"] > 0.97
    wrong = translation_metrics(np.roll(truth, 1, axis=0), truth, digits, extractor)
    assert wrong["digit_accuracy"] < 0.2 and wrong["truth_digit_accuracy"] > 0.97
    blank = np.full_like(truth, -1.0)
    erased = translation_metrics(blank, truth, digits, extractor)
    mse = np.mean(((truth + 1) / 2) ** 2, axis=(1, 2, 3))
    assert erased["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-6)
    assert erased["l1"] == pytest.approx(np.mean((truth + 1) / 2), rel=1e-6)


def test_a_translation_run_writes_held_out_triplets_and_translation_metrics(
    trained_runs, tmp_path, capsys
):
    """pix2pix (edges -> digit): ``--split`` writes input/output/target PNGs of the first held-out
    digits, the target being the digit itself and the input its edge map; ``--inputs``
    translates a user's folder; evaluation compares translations with the truth."""
    from PIL import Image

    from training import sample
    from training.views import view

    run = trained_runs.copy("pix2pix", tmp_path / "run")
    out = tmp_path / "triplets"
    assert sample.main([str(run), "--split", "test[8000:]", "--num", "3", "--out", str(out)]) == 0
    names = {part: sorted(p.name for p in (out / part).iterdir()) for part in TRIPLET}
    assert (
        names["input"] == names["output"] == names["target"] == [f"0000{i}.png" for i in range(3)]
    )
    digits = load_split(DataConfig(source="vendored"), "test[8000:8003]", 16, 1)[0]
    for part, expected in (("target", digits), ("input", view("edges", digits).numpy())):
        pixels = np.stack([np.asarray(Image.open(out / part / n)) for n in names[part]])
        np.testing.assert_array_equal(pixels, np.round((expected[..., 0] + 1) * 127.5))
    assert np.asarray(Image.open(out / "triplets.png")).shape == (3 * 17 + 1, 3 * 17 + 1)

    mine = tmp_path / "mine"
    mine.mkdir()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(mine / "blank.png")
    assert sample.main([str(run), "--inputs", str(mine), "--out", str(tmp_path / "own")]) == 0
    assert sorted(p.name for p in (tmp_path / "own").iterdir()) == [
        "input",
        "output",
        "triplets.png",
    ]

    result = evaluate.evaluate_run(run, ("fid",), num_samples=40)
    translation = result["translation"]
    assert translation["split"] == "test[8000:]" and result["num_real"] == 40
    assert translation["identity_l1"] > 0.05  # an edge map is far from its digit
    assert {"l1", "psnr", "digit_accuracy", "truth_digit_accuracy"} <= set(translation)
    capsys.readouterr()
    assert sample.main([str(trained_runs("dcgan")), "--split", "test"]) == 2
    assert "are for translation families" in capsys.readouterr().err


TRIPLET = ("input", "output", "target")
