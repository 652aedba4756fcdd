"""The latent-space tools (training.latent, python -m training.sample's latent options): the
latent math on known answers, and every tool on the session's tiny trained runs and on their
ONNX exports (ONNX Runtime, no model code)."""

import shutil

import numpy as np
import pytest
from PIL import Image

from training import latent
from training.sample import main, render


def _lines(capsys):
    err = capsys.readouterr().err.strip()
    return err.splitlines()


# -- latent math -----------------------------------------------------------------------------


def test_slerp_has_the_endpoints_and_keeps_unit_vectors_on_the_sphere():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(8), rng.standard_normal(8)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    frames = latent.slerp(a, b, np.linspace(0, 1, 9))
    np.testing.assert_allclose(frames[0], a, atol=1e-6)
    np.testing.assert_allclose(frames[-1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(frames, axis=1), 1.0, atol=1e-6)
    # orthogonal unit vectors: slerp's midpoint (a + b) / sqrt 2, lerp's has norm 1 / sqrt 2
    e0, e1 = np.eye(4)[0], np.eye(4)[1]
    np.testing.assert_allclose(latent.slerp(e0, e1, [0.5])[0], (e0 + e1) / np.sqrt(2), atol=1e-6)
    assert np.linalg.norm(latent.lerp(e0, e1, [0.5])[0]) == pytest.approx(1 / np.sqrt(2))
    # parallel vectors have no great circle: linear
    np.testing.assert_allclose(latent.slerp(e0, 2 * e0, [0.5])[0], 1.5 * e0, atol=1e-6)
    with pytest.raises(latent.LatentError):
        latent.path(e0, e1, 1, True)


def test_a_seed_is_the_first_z_of_its_grid():
    grid_z = np.random.default_rng(5).standard_normal((16, 8)).astype(np.float32)
    np.testing.assert_array_equal(latent.seed_z(5, 8), grid_z[0])
    truncated = latent.seed_z(5, 8, psi=0.5)
    assert np.abs(truncated).max() <= 0.5


def test_expressions_parse_into_signed_terms_and_bad_ones_are_one_line_errors():
    parse = latent.parse_expression
    assert parse("a.npy - b.npy + c.npy") == [(1, "a.npy"), (-1, "b.npy"), (1, "c.npy")]
    assert parse("- runs/dcgan-1/a.npy + 3") == [(-1, "runs/dcgan-1/a.npy"), (1, "3")]
    assert parse("7") == [(1, "7")]
    for bad in ("", "a.npy -", "a.npy - - b.npy", "a.npy -b.npy", "+", "a.npy + + 3"):
        with pytest.raises(latent.LatentError) as err:
            parse(bad)
        assert "\n" not in str(err.value)


def test_arithmetic_of_known_vectors_averages_each_file(tmp_path):
    a = np.array([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0]])  # mean [2, 0, 0]
    b = np.array([0.0, 1.0, 0.0])
    c = np.array([[0.0, 0.0, 4.0]])
    for name, value in {"a": a, "b": b, "c": c}.items():
        np.save(tmp_path / f"{name}.npy", value)
    terms = [
        (sign, latent.load_latent(tmp_path / name, 3)[1])
        for sign, name in latent.parse_expression("a.npy - b.npy + c.npy")
    ]
    np.testing.assert_allclose(latent.combine(terms), [2.0, -1.0, 4.0])
    ws = np.ones((2, 6, 3))
    ws[1] *= 3
    assert latent.load_latent(_save(tmp_path / "ws.npy", ws), 3, (6, 3))[0] == "ws"
    np.testing.assert_allclose(latent.load_latent(tmp_path / "ws.npy", 3, (6, 3))[1], 2.0)
    for bad, value in {"wrong.npy": np.ones(4), "text.npy": np.array(["x"])}.items():
        with pytest.raises(latent.LatentError, match=bad):
            latent.load_latent(_save(tmp_path / bad, value), 3)
    with pytest.raises(latent.LatentError, match="not found"):
        latent.load_latent(tmp_path / "missing.npy", 3)


def _save(path, value):
    np.save(path, value)
    return path


def test_mix_layers_split_the_resolutions_as_the_paper():
    assert latent.mix_layers("coarse", 18) == [0, 1, 2, 3]  # 1024x1024: 4x4 and 8x8
    assert latent.mix_layers("middle", 18) == [4, 5, 6, 7]  # 16x16 and 32x32
    assert latent.mix_layers("fine", 18) == list(range(8, 18))
    assert latent.mix_layers("coarse", 6) == [0, 1]  # the tiny 16x16: one resolution each
    assert latent.mix_layers("middle", 6) == [2, 3]
    assert latent.mix_layers("fine", 6) == [4, 5]
    assert latent.mix_layers("1:3", 6) == [1, 2]
    for bad in ("3:3", "0:7", "medium"):
        with pytest.raises(latent.LatentError):
            latent.mix_layers(bad, 6)


# -- generators --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exports(lean_exports):
    return lean_exports


@pytest.fixture(scope="module")
def gens(trained_runs, exports):
    """``gens(family, where)``: the latent generator of the shared run (``run``) or of its
    export in ONNX Runtime (``onnx``) or TensorFlow's SavedModel loader (``savedmodel``)."""
    cache = {}

    def get(family, where="run"):
        if (family, where) not in cache:
            if where == "run":
                cache[family, where] = latent.open_generator(trained_runs(family))
            else:
                cache[family, where] = latent.open_generator(exports(family), where)
        return cache[family, where]

    return get


def test_keras_onnx_and_savedmodel_give_the_same_images(gens):
    z = latent.sample_z(gens("stylegan2"), 6, seed=1)
    keras_images = gens("stylegan2").images(z, psi=0.7)
    assert keras_images.std(axis=0).mean() > 0.05  # images that differ, so parity means much
    for where in ("onnx", "savedmodel"):
        np.testing.assert_allclose(
            gens("stylegan2", where).images(z, psi=0.7), keras_images, atol=1e-4
        )
    labels = np.arange(6) % 10
    z = latent.sample_z(gens("biggan"), 6, seed=1)
    np.testing.assert_allclose(
        gens("biggan", "onnx").images(z, labels), gens("biggan").images(z, labels), atol=1e-4
    )


def test_the_grid_is_the_one_training_sample_draws(trained_runs, gens, tmp_path):
    images, cols = latent.grid(gens("cgan"), 20, seed=3)
    assert images.shape == (20, 16, 16, 1) and cols == 2  # a row per class
    assert (
        main(
            [
                str(trained_runs("cgan")),
                "--grid",
                "20",
                "--seed",
                "3",
                "--out",
                str(tmp_path / "g.png"),
            ]
        )
        == 0
    )
    expected = render(trained_runs("cgan"), 20, seed=3)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g.png")), expected[..., 0])
    onnx, _ = latent.grid(gens("cgan", "onnx"), 20, seed=3)
    np.testing.assert_allclose(onnx, images, atol=1e-5)


@pytest.mark.parametrize("where", ["run", "onnx"])
def test_truncation_to_zero_gives_one_image_for_every_seed(gens, where):
    images, _ = latent.grid(gens("stylegan2", where), 6, seed=0, psi=0.0)
    assert np.abs(images - images[0]).max() < 1e-5
    free, _ = latent.grid(gens("stylegan2", where), 6, seed=0)
    assert np.abs(free - free[0]).max() > 0.1
    # biggan: z drawn within +-psi
    z = latent.sample_z(gens("biggan", where), 50, seed=0, psi=0.3)
    assert np.abs(z).max() <= 0.3


def test_an_export_without_the_truncation_variant_finds_it_beside_it(gens, exports):
    plain = gens("stylegan2", "onnx")
    assert not plain.truncating  # trained_runs' export has none: export_truncation beside it
    np.testing.assert_allclose(plain.w_avg, gens("stylegan2").w_avg, atol=1e-5)


@pytest.mark.parametrize("where", ["run", "onnx"])
def test_truncation_of_a_family_without_it_is_a_one_line_error(
    trained_runs, exports, where, capsys
):
    source = trained_runs("dcgan") if where == "run" else exports("dcgan")
    assert main([str(source), "--grid", "4", "--truncation", "0.5"]) == 2
    (line,) = _lines(capsys)
    assert line.startswith("error: --truncation applies to stylegan2") and "dcgan" in line


@pytest.mark.parametrize("where", ["run", "onnx"])
def test_interpolation_goes_from_seed_to_seed_and_animates(
    gens, trained_runs, exports, where, tmp_path
):
    gen = gens("stylegan2", where)
    a, b = latent.points(gen, "3,7", count=2)
    frames = latent.interpolate(gen, a, b, 6)
    ends = gen.images(np.stack([latent.seed_z(3, 8), latent.seed_z(7, 8)]))
    np.testing.assert_allclose(frames[[0, -1]], ends, atol=1e-5)
    source = trained_runs("stylegan2") if where == "run" else exports("stylegan2")
    out = tmp_path / "i.png"
    assert (
        main([str(source), "--interpolate", "3,7", "--frames", "6", "--gif", "--out", str(out)])
        == 0
    )
    assert Image.open(out).size == (6 * 17 + 1, 18)
    with Image.open(out.with_suffix(".gif")) as gif:
        assert gif.n_frames == 6
        assert gif.size == (128, 128)  # 16 px frames enlarged 8x


def test_slerp_and_lerp_meet_halfway_on_stylegan2_and_ws_are_linear(gens):
    gen = gens("stylegan2", "onnx")
    a, b = latent.points(gen, "3,7")
    spherical = latent.interpolate(gen, a, b, 5)
    linear = latent.interpolate(gen, a, b, 5, spherical=False)
    # the mapping scales z to unit second moment, and slerp's midpoint is a multiple of
    # (a + b), lerp's (a + b) / 2: the same image; a quarter of the way they differ
    np.testing.assert_allclose(spherical[2], linear[2], atol=1e-5)
    assert np.abs(spherical[1] - linear[1]).max() > 1e-3
    ws = latent.to_ws(gen, [a, b])
    between_ws = latent.interpolate(gen, latent.Point("ws", ws[0]), latent.Point("ws", ws[1]), 5)
    np.testing.assert_allclose(
        between_ws, gen.synthesis(latent.lerp(ws[0], ws[1], np.linspace(0, 1, 5))), atol=1e-6
    )


@pytest.mark.parametrize("family", ["cgan", "biggan"])
def test_class_interpolation_starts_and_ends_at_the_two_classes(gens, family):
    gen = gens(family)
    z = np.stack([latent.seed_z(s, gen.latent_dim) for s in range(10)])
    labels = np.arange(10, dtype=np.int32)
    one_hot = np.eye(10, dtype=np.float32)[labels]
    np.testing.assert_allclose(gen.class_images(z, one_hot), gen.images(z, labels), atol=1e-6)
    frames = latent.interpolate(gen, None, None, 5, classes=(2, 5), seed=4)
    z4 = latent.seed_z(4, gen.latent_dim)[None]
    np.testing.assert_allclose(frames[0], gen.images(z4, [2])[0], atol=1e-6)
    np.testing.assert_allclose(frames[-1], gen.images(z4, [5])[0], atol=1e-6)
    assert np.abs(frames[2] - frames[0]).max() > 0  # the middle is neither


@pytest.mark.parametrize("family", ["cgan", "biggan"])
def test_class_interpolation_of_an_onnx_export_is_the_run_folders(gens, exports, family):
    exports(family, ("class_weights",))  # export_class_weights, beside the plain export
    keras_gen = gens(family)
    variant = latent.open_generator(exports(family, ("class_weights",)), "onnx")
    assert variant.class_weighted and not gens(family, "onnx").class_weighted
    a, b = latent.points(keras_gen, "3,7")
    for classes, ends in (((2, 5), (None, None)), ((7, 1), (a, b))):
        expected = latent.interpolate(keras_gen, *ends, 6, classes=classes, seed=4)
        # the tiny runs' images are small (cgan's within 1e-3 of 0): measured against how
        # far the frames move, not against 1e-4 alone
        spread = np.abs(expected - expected[0]).max()
        assert spread > 0
        # through the export_class_weights beside the plain export, or the variant itself
        for gen in (gens(family, "onnx"), variant, gens(family, "savedmodel")):
            frames = latent.interpolate(gen, *ends, 6, classes=classes, seed=4)
            assert np.abs(frames - expected).max(axis=(1, 2, 3)).max() <= min(1e-4, 1e-2 * spread)
    # the variant's plain grid takes int32 classes as one-hot rows
    z = latent.sample_z(keras_gen, 4, seed=1)
    np.testing.assert_allclose(
        variant.images(z, [0, 3, 6, 9]), keras_gen.images(z, [0, 3, 6, 9]), atol=1e-5
    )


def test_class_interpolation_of_an_export_without_the_variant_is_a_one_line_error(
    exports, tmp_path, capsys
):
    alone = tmp_path / "copied" / "export"  # no export_class_weights beside it
    shutil.copytree(exports("cgan"), alone)
    assert main([str(alone), "--classes", "2,5", "--out", str(tmp_path / "c.png")]) == 2
    (line,) = _lines(capsys)
    assert line == (
        f"error: interpolating between classes needs the class-weights export: {alone} takes "
        "the class as an int32 label and has no export_class_weights folder beside it; export "
        "it with: python -m export RUN_DIR --class-weights"
    )
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("where", ["run", "onnx"])
def test_style_mixing_cells_take_the_named_layers_from_the_column_source(gens, where):
    gen = gens("stylegan2", where)
    rows, cols = latent.points(gen, "0,1"), latent.points(gen, "2,3,4")
    a, b = (
        gen.images(np.stack([p.value for p in rows])),
        gen.images(np.stack([p.value for p in cols])),
    )
    images, width = latent.style_mix(gen, rows, cols, [])
    assert width == 4 and images.shape[0] == 3 * 4
    grid = images.reshape(3, 4, *images.shape[1:])
    np.testing.assert_allclose(grid[0, 1:], b, atol=1e-5)  # the column sources on top
    np.testing.assert_allclose(grid[1:, 0], a, atol=1e-5)  # the row sources down the left
    np.testing.assert_allclose(grid[1:, 1:], np.repeat(a[:, None], 3, axis=1), atol=1e-5)
    every, _ = latent.style_mix(gen, rows, cols, list(range(6)))
    np.testing.assert_allclose(
        every.reshape(3, 4, *b.shape[1:])[1:, 1:], np.repeat(b[None], 2, axis=0), atol=1e-5
    )
    coarse, _ = latent.style_mix(gen, rows, cols, latent.mix_layers("coarse", 6))
    cells = coarse.reshape(3, 4, *b.shape[1:])[1:, 1:]
    assert np.abs(cells - np.repeat(a[:, None], 3, axis=1)).max() > 1e-3


def test_mixing_a_generator_without_styles_is_a_one_line_error(exports, capsys):
    assert main([str(exports("dcgan")), "--mix"]) == 2
    (line,) = _lines(capsys)
    assert line.startswith("error: --mix is StyleGAN2's")


@pytest.mark.parametrize("where", ["run", "onnx"])
def test_arithmetic_renders_each_term_and_saves_the_result(
    trained_runs, exports, gens, where, tmp_path
):
    np.save(tmp_path / "a.npy", np.stack([latent.seed_z(s, 8) for s in (1, 2, 3)]))
    np.save(tmp_path / "b.npy", latent.seed_z(4, 8))
    source = trained_runs("dcgan") if where == "run" else exports("dcgan")
    out = tmp_path / "sum.png"
    expression = f"{tmp_path / 'a.npy'} - {tmp_path / 'b.npy'} + 5"
    assert main([str(source), "--arithmetic", expression, "--out", str(out)]) == 0
    expected = (
        np.mean([latent.seed_z(s, 8) for s in (1, 2, 3)], axis=0)
        - latent.seed_z(4, 8)
        + latent.seed_z(5, 8)
    )
    np.testing.assert_allclose(np.load(out.with_suffix(".npy")), expected, atol=1e-6)
    assert Image.open(out).size == (4 * 17 + 1, 18)  # three terms and the result
    gen = gens("dcgan", where)
    images, result = latent.arithmetic(gen, expression)
    np.testing.assert_allclose(images[-1], gen.images(result.value[None])[0], atol=1e-6)


def test_tensorboard_gets_the_grid_in_the_runs_logs(trained_runs, exports, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = trained_runs.copy("stylegan2", tmp_path / "run")
    shutil.copytree(exports("dcgan"), tmp_path / "dcgan_run" / "export")
    shutil.copy(trained_runs("dcgan") / "config.yaml", tmp_path / "dcgan_run")
    assert main([str(run), "--mix", "--out", str(tmp_path / "m.png"), "--tensorboard"]) == 0
    export = tmp_path / "dcgan_run" / "export"
    assert (
        main(
            [str(export), "--interpolate", "1,2", "--tensorboard", "--out", str(tmp_path / "i.png")]
        )
        == 0
    )
    for folder, tag in ((run, "latent/mix"), (tmp_path / "dcgan_run", "latent/interpolation")):
        events = EventAccumulator(str(folder / "logs" / "latent"), size_guidance={"tensors": 0})
        events.Reload()
        assert tag in events.Tags()["tensors"]
    assert sorted(p.name for p in export.iterdir()) == sorted(
        p.name for p in exports("dcgan").iterdir()
    )


def test_a_folder_that_is_neither_run_nor_export_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "report.json").write_text("{}")
    assert main([str(tmp_path), "--grid", "4"]) == 2
    (line,) = _lines(capsys)
    assert "not a readable export" in line
    with pytest.raises(latent.LatentError, match="neither a trained run folder"):
        latent.open_generator(tmp_path / "nothing")
