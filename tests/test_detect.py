"""The patch-based fake detector (training.detect): average precision on known answers, the
receptive field, a toy case whose fakes carry a known artifact, the reals formatted as a run
formats its data, the command line end to end on the session's tiny runs, and its one-line
errors."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training import detect
from training.detect_data import ImageFormat, eight_bit, load_reals
from training.sources import load_vendored_mnist


def _digits(rows: slice) -> np.ndarray:
    images, _ = load_vendored_mnist()
    return images[rows][..., None].astype(np.float32) / 127.5 - 1.0


def _stamp(images: np.ndarray) -> np.ndarray:
    """The toy artifact: a bright 4x4 square near the top-left corner, where digits are not."""
    out = images.copy()
    out[:, 1:5, 1:5] = 1.0
    return out


def _save_pngs(folder, images):
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        pixels = np.clip((image[..., 0] + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return folder


def _error(capsys) -> str:
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ")
    return line


# -- average precision ------------------------------------------------------------------------


def test_average_precision_known_answers():
    ap = detect.average_precision
    # scikit-learn's documented example: (1/2 * 1 + 1/2 * 2/3) = 0.8333
    assert ap([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6)
    assert ap([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0  # ranked perfectly
    assert ap([1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1 / 4)  # the positive last
    assert ap([1, 0, 1, 0], [0.5] * 4) == pytest.approx(0.5)  # one threshold: the prevalence
    # a tie between a positive and a negative ranked first: P = 1/2 at R = 1/2, then 2/3 at 1
    assert ap([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    with pytest.raises(ValueError):
        ap([0, 0], [0.1, 0.2])


# -- the model --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_each_logit_sees_exactly_its_patch(depth):
    """The authors' numerical check (utils/rfutil.py): all kernels 1, biases 0, an input of
    ones; the input pixels with a gradient for logit (i, j) are its patch."""
    import tensorflow as tf

    field, stride = detect.receptive_field(depth)
    assert (field, stride) == (5 + 4 * depth, 2)
    model = detect.build_detector(1, depth, width=4)
    model.set_weights([np.ones_like(w) if w.ndim > 1 else np.zeros_like(w) for w in model.weights])
    image = tf.ones((1, 28, 28, 1))
    with tf.GradientTape() as tape:
        tape.watch(image)
        logits = model(image)
        patches = (28 - field) // stride + 1
        assert logits.shape == (1, patches, patches, 1)
        i, j = 1, patches - 1
        chosen = logits[0, i, j, 0]
    rows, cols = np.nonzero(tape.gradient(chosen, image).numpy()[0, ..., 0])
    assert (rows.min(), rows.max() + 1) == (stride * i, stride * i + field)
    assert (cols.min(), cols.max() + 1) == (stride * j, stride * j + field)


def test_heatmap_puts_each_patch_at_its_centre():
    patches = np.zeros((8, 8))
    patches[0, 0] = 1.0
    up = detect.heatmap(patches, 28, 13, 2)
    assert up.shape == (28, 28)
    assert up[6, 6] == 1.0 and up[:7, :7].min() == 1.0  # centre (6, 6) and beyond it, clamped
    assert up[7, 6] == 0.5 and up[8, 8] == 0.0  # halfway to the next centre, then the next's


# -- a toy case: fakes are real digits with a known artifact ----------------------------------


def test_the_detector_finds_a_known_artifact_and_shows_where_it_is():
    real, fake = _digits(slice(0, 2000)), _stamp(_digits(slice(2000, 4000)))
    model, _ = detect.train_detector(real, fake, steps=300, width=32, log=lambda line: None)
    held_real, held_fake = _digits(slice(8000, 9000)), _stamp(_digits(slice(4000, 5000)))
    maps = {
        "real": detect.patch_probabilities(model, held_real),
        "fake": detect.patch_probabilities(model, held_fake),
    }
    scores = np.r_[maps["real"].mean(axis=(1, 2)), maps["fake"].mean(axis=(1, 2))]
    truth = np.r_[np.zeros(1000), np.ones(1000)]
    assert detect.average_precision(truth, scores) > 0.98
    mean = maps["fake"].mean(axis=0)  # [8, 8]: patch (i, j) is rows 2i..2i+12
    i, j = np.unravel_index(mean.argmax(), mean.shape)
    assert i <= 1 and j <= 1  # a patch that holds the artifact (rows and columns 1-4)
    up = detect.heatmap(mean, 28, *detect.receptive_field(2))
    assert up[1:5, 1:5].mean() > 0.9 > 0.6 > up[14:, 14:].max()


# -- reals in the run's format ----------------------------------------------------------------


@pytest.mark.parametrize("fit", ["pad", "resize"])
def test_reals_are_formatted_as_a_run_formats_its_data(fit):
    import tensorflow as tf

    from training.sections import DataConfig
    from training.sources import to_model_format

    data = DataConfig(source="vendored", split="test[:8000]")
    fmt = ImageFormat(32, 1, fit)
    reals, what = load_reals("test[8000:8004]", fmt, data, 10)
    assert what == "mnist[test[8000:8004]]" and reals.shape == (4, 32, 32, 1)
    digits, _ = load_vendored_mnist()
    if fit == "pad":  # unscaled in the middle of a black canvas
        expected = np.pad(
            _digits(slice(8000, 8004)),
            ((0, 0), (2, 2), (2, 2), (0, 0)),
            "constant",
            constant_values=-1,
        )
    else:  # training's own resize, then 8 bits
        resized = [
            to_model_format(tf.constant(d[..., None]), 32, 1, "resize") for d in digits[8000:8004]
        ]
        expected = eight_bit(np.stack(resized))
    np.testing.assert_array_equal(reals, expected)
    assert np.allclose(reals * 127.5, np.round(reals * 127.5 + 127.5) - 127.5, atol=1e-4)


# -- the command line -------------------------------------------------------------------------


def test_train_then_eval_on_runs_an_export_and_an_image_folder(
    trained_runs, lean_exports, tmp_path, capsys
):
    run = trained_runs("dcgan")
    out = tmp_path / "detector"
    args = ["--real", "test[:300]", "--fake", str(run), "--num", "200", "--steps", "20"]
    assert detect.main(["train", *args, "--out", str(out)]) == 0
    settings = json.loads((out / "detector.json").read_text())
    assert (out / "detector.keras").is_file()
    assert settings["receptive_field"] == 13 and settings["stride"] == 2
    assert (settings["image_size"], settings["channels"], settings["fit"]) == (16, 1, "resize")
    assert settings["trained_on"]["fake"]["family"] == "dcgan"
    assert settings["trained_on"]["real"]["num"] == 200 and settings["steps"] == 20
    capsys.readouterr()

    pngs = _save_pngs(tmp_path / "pngs", _stamp(_digits(slice(5000, 5040))))  # 28x28: any size
    heat = tmp_path / "heat"
    sources = [run, trained_runs("cgan"), lean_exports("dcgan"), pngs]
    fakes = [a for s in sources for a in ("--fake", str(s))]
    real = ["--real", "test[8000:8100]", "--num", "60"]
    assert (
        detect.main(["eval", "--detector", str(out), *real, *fakes, "--heatmaps", str(heat)]) == 0
    )
    printed = capsys.readouterr().out
    assert "| fake | family | format | AP | acc@0.5 | N (each) |" in printed
    result = json.loads((out / "eval.json").read_text())
    rows = result["sources"]
    assert [r["family"] for r in rows] == ["dcgan", "cgan", "dcgan", None]
    assert [r["kind"] for r in rows] == ["run", "run", "export", "images"]
    assert [r["format"] for r in rows[:3]] == ["16x16x1, fit=resize"] * 3
    assert rows[3]["format"] == "28x28x1, fit=resize" and rows[3]["num_fake"] == 40
    assert not any(r["seen_in_training"] for r in rows)
    assert [(r["num_real"], r["num_fake"]) for r in rows] == [(60, 60)] * 3 + [(40, 40)]
    for r in rows:
        assert 0 <= r["ap"] <= 1 and 0 <= r["accuracy"] <= 1 and 0 <= r["patch_ap"] <= 1
    folder = heat / "0-run"
    for name in ("fake_easiest_00", "fake_hardest_03", "real_hardest_00", "fake_mean"):
        with Image.open(folder / f"{name}.png") as image:
            assert image.size == (4 * (3 * 16 + 2), 4 * 16)
    scores = json.loads((folder / "scores.json").read_text())
    assert len(scores) == 3 * 4 + 2 and len(scores["fake_mean.png"]["patches"]) == 2
    assert len(list(heat.iterdir())) == 4

    # the training fakes again: a warning, and the row says so
    assert (
        detect.main(["eval", "--detector", str(out), *real, "--fake", str(run), "--seed", "0"]) == 0
    )
    assert "gives the fakes the detector trained on" in capsys.readouterr().err
    assert json.loads((out / "eval.json").read_text())["sources"][0]["seen_in_training"]


def test_bad_input_is_a_one_line_error(trained_runs, tmp_path, capsys):
    run = trained_runs("dcgan")
    out = str(tmp_path / "det")

    def train(real, fake, *more):
        return detect.main(["train", "--real", real, "--fake", fake, "--out", out, *more])

    assert train("test[:100]", str(tmp_path / "missing")) == 2
    assert _error(capsys) == f"error: --fake {tmp_path / 'missing'}: no such folder or file"
    assert train(str(tmp_path / "nowhere"), str(run)) == 2
    assert "no such folder, and not a split" in _error(capsys)

    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run / "config.yaml", bare / "config.yaml")
    assert train("test[:100]", str(bare)) == 2
    assert f"{bare} has no generator.keras" in _error(capsys)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert train("test[:100]", str(empty)) == 2
    assert _error(capsys) == f"error: {empty} holds no images"
    assert train(str(empty), str(run)) == 2
    assert f"--real {empty} holds no images" in _error(capsys)

    mixed = _save_pngs(tmp_path / "mixed", _digits(slice(0, 2)))
    Image.new("L", (32, 32)).save(mixed / "big.png")
    assert train("test[:100]", str(mixed)) == 2
    assert "mixes image sizes: 28x28" in _error(capsys)
    small = _save_pngs(tmp_path / "small", np.zeros((2, 8, 8, 1), np.float32))
    assert train("test[:100]", str(small)) == 2
    assert "8x8 images, smaller than the detector's 13-pixel receptive field" in _error(capsys)

    assert detect.main(["eval", "--detector", out, "--real", "test[:9]", "--fake", str(run)]) == 2
    assert "holds no detector.keras and detector.json" in _error(capsys)
    taken = ["--out", str(mixed)]
    assert detect.main(["train", "--real", "test[:9]", "--fake", str(run), *taken]) == 2
    assert _error(capsys) == f"error: --out {mixed} holds other files; choose a new or empty folder"
    assert train("test[:100]", str(run), "--num", "50", "--steps", "2") == 0
    capsys.readouterr()
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    Image.new("RGB", (16, 16)).save(rgb / "a.png")
    assert detect.main(["eval", "--detector", out, "--real", "test[:9]", "--fake", str(rgb)]) == 2
    assert "gives 3-channel images; the detector in" in _error(capsys)
    # a detector file cut short is named, with what to do, in one line
    model = Path(out) / "detector.keras"
    model.write_bytes(model.read_bytes()[:1000])
    assert detect.main(["eval", "--detector", out, "--real", "test[:9]", "--fake", str(run)]) == 2
    assert _error(capsys) == (
        f"error: {model} cannot be loaded (not a complete .keras (zip) file: truncated or "
        "corrupt); train it again"
    )
