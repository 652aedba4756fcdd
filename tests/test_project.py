"""Projection (training.project) and its measurement (benchmarks.projection) on the session's
tiny stylegan2 run (its images differ from seed to seed after 2 steps; the tiny DCGANs' are
nearly constant, so a projection there would measure nothing): images the generator made itself
from a known latent are found again, with Keras gradients, SavedModel gradients and evolution
strategies on ONNX Runtime."""

import json

import numpy as np
import pytest
from PIL import Image

from benchmarks import projection as bench
from training import latent, project
from training.sample import main as sample_main


@pytest.fixture(scope="module")
def gens(trained_runs, lean_exports):
    cache = {}

    def get(where="run"):
        if where not in cache:
            source = trained_runs("stylegan2") if where == "run" else lean_exports("stylegan2")
            cache[where] = latent.open_generator(source, where if where != "run" else "auto")
        return cache[where]

    return get


def _targets(gen):
    """Two images the generator makes from known seeds' w."""
    z = np.stack([latent.seed_z(s, gen.latent_dim) for s in (11, 12)])
    return gen.images(z)


def test_psnr_on_known_differences():
    a = np.zeros((2, 4, 4, 1), np.float32)
    b = a + np.array([0.2, 0.0], np.float32)[:, None, None, None]
    np.testing.assert_allclose(project.psnr(a, b), [20.0, 100.0])  # 10 log10(4 / 0.04); capped


def test_images_are_read_at_the_generators_size(tmp_path):
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(tmp_path / "white.png")
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(tmp_path / "black.png")
    images = project.read_images([tmp_path / "white.png", tmp_path / "black.png"], (16, 16, 1))
    assert images.shape == (2, 16, 16, 1)
    np.testing.assert_allclose(images[0], 1.0)
    np.testing.assert_allclose(images[1], -1.0)
    with pytest.raises(project.ProjectError, match="missing.png: not found"):
        project.read_images([tmp_path / "missing.png"], (16, 16, 1))


@pytest.mark.parametrize("where", ["run", "onnx"])
def test_projection_finds_an_image_the_generator_made(gens, where):
    gen = gens(where)
    targets = _targets(gen)
    # measured: Adam 23.4 and 25.3 dB in 40 steps (loss 0.24-0.26 -> 0.03); evolution
    # strategies 22.9 and 18.8 dB in 40 steps at lr 0.05, 35.6 and 32.9 dB in 80 at lr 0.1
    steps, lr, floor = (80, 0.1, 25.0) if where == "onnx" else (40, 0.05, 20.0)
    result = project.project(gen, targets, space="w", steps=steps, starts=2, lr=lr, progress=False)
    assert result.method == ("evolution strategies" if where == "onnx" else "adam")
    assert (result.loss_final < 0.3 * result.loss_start).all()
    assert (result.psnr > floor).all()
    assert result.snapshots.shape[:2] == (2, 8)  # 8 snapshots of the optimisation
    rendered = gen.synthesis(np.stack([p.value for p in result.latents]))
    np.testing.assert_allclose(rendered, result.images, atol=1e-4)


def test_the_savedmodel_gives_keras_gradients(gens):
    import tensorflow as tf

    z = tf.Variable(np.stack([latent.seed_z(s, 8) for s in (1, 2)]))
    grads = []
    for where in ("run", "savedmodel"):
        _, mapping, synthesis = gens(where).tf_functions()
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(synthesis(mapping(z)) - 0.5))
        grads.append(np.asarray(tape.gradient(loss, z)))
    assert np.abs(grads[0]).max() > 1e-3
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-3, atol=1e-5)


def test_projection_in_z_and_w_plus_lowers_the_loss(gens):
    gen = gens("run")
    targets = _targets(gen)[:1]
    for space in ("z", "w+"):
        result = project.project(gen, targets, space=space, steps=20, starts=1, progress=False)
        assert result.loss_final[0] < 0.7 * result.loss_start[0]
        assert result.latents[0].space == ("z" if space == "z" else "ws")


def test_the_command_writes_what_the_latent_tools_edit(
    trained_runs, lean_exports, gens, tmp_path, capsys
):
    """The iGAN workflow: project a drawing, then interpolate from it to a seed in ONNX; in a
    log (no terminal) the progress is plain lines."""
    gen = gens("run")
    image = tmp_path / "drawn.png"
    pixels = np.clip((_targets(gen)[0, ..., 0] + 1) * 127.5, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(image)
    out = tmp_path / "proj"
    args = [str(trained_runs("stylegan2")), str(image), "--space", "w+", "--steps", "7"]
    assert project.main([*args, "--starts", "2", "--out", str(out)]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("step ")]
    assert lines[-1].startswith("step 7/7 loss=") and "\x1b" not in "".join(lines)
    assert {p.name for p in out.iterdir()} == {
        "drawn.png",
        "drawn.npy",
        "drawn_steps.png",
        "projection.json",
    }
    assert np.load(out / "drawn.npy").shape == (1, 6, 8)  # ws, as load_latent reads them
    summary = json.loads((out / "projection.json").read_text())
    assert summary["images"][0]["space"] == "ws" and summary["settings"]["method"] == "adam"
    assert Image.open(out / "drawn_steps.png").size == (9 * 17 + 1, 18)  # image + 8 steps
    edit = tmp_path / "edit.png"
    edited = [str(lean_exports("stylegan2")), "--interpolate", f"{out / 'drawn.npy'},3"]
    assert sample_main([*edited, "--frames", "4", "--out", str(edit)]) == 0
    onnx = gens("onnx")
    start, end = latent.point(onnx, str(out / "drawn.npy")), latent.point(onnx, "3")
    frames = latent.interpolate(onnx, start, end, 4)
    np.testing.assert_allclose(frames[0], onnx.synthesis(np.load(out / "drawn.npy"))[0], atol=1e-6)
    strip = np.asarray(Image.open(edit))
    assert strip.shape == (18, 4 * 17 + 1)


def test_usage_errors_are_one_line(trained_runs, tmp_path, capsys):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "x.png")
    for args, expected in (
        ([str(trained_runs("dcgan")), str(tmp_path / "x.png"), "--space", "w"], "StyleGAN2's w"),
        ([str(trained_runs("dcgan")), str(tmp_path / "nope.png")], "nope.png: not found"),
        ([str(tmp_path), str(tmp_path / "x.png")], "neither a trained run folder"),
    ):
        assert project.main(args) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]


def test_nearest_sample_is_found_and_the_benchmark_reports_both(lean_exports):
    pool = np.random.default_rng(0).uniform(-1, 1, (50, 4, 4, 1)).astype(np.float32)
    np.testing.assert_array_equal(bench.nearest(pool[[7, 3]] + 0.01, pool), [7, 3])
    numbers = bench.measure(
        lean_exports("stylegan2"), num=2, steps=3, starts=1, backend="onnx", progress=False
    )
    assert numbers["num"] == 2 and numbers["method"] == "evolution strategies"
    for key in ("projection", "nearest_training_sample"):
        assert set(numbers[key]) == {"psnr_db", "read_as_original"}
        assert 0.0 <= numbers[key]["read_as_original"] <= 1.0
    assert numbers["examples"].shape == (2, 3, 16, 16, 1)
