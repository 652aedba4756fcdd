"""python -m export: formats, verification, report, and failures that leave nothing broken."""

import hashlib
import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from export import ExportError, ExportOptions, export_run, verify
from export import formats as fmt
from export.__main__ import main
from tests.conftest import SHARED_STEPS
from training import config as cfg
from training.loop import Shipper, open_run, train


@pytest.fixture(scope="module")
def tiny_run(trained_runs):
    """The session's shared dcgan run (read-only: tests that write into it use a copy)."""
    return trained_runs("dcgan")


def _only(formats, variants=("float32",), **kwargs):
    return ExportOptions(formats=formats, tflite_variants=variants, repeats=1, **kwargs)


def test_report_model_card_and_layout(trained_runs):
    out, report = trained_runs.export("dcgan")  # every format, ExportOptions(repeats=1)
    names = {p.name for p in out.iterdir()}
    assert names == {
        "saved_model",
        "generator.onnx",
        "generator.tflite",
        "generator_float16.tflite",
        "generator_dynamic.tflite",
        "generator_int8.tflite",
        "report.json",
        "model_card.json",
        "serving",
    }
    saved = json.loads((out / "report.json").read_text())
    assert [r["format"] for r in saved["results"]] == [
        "keras",
        "savedmodel",
        "tflite-float32",
        "tflite-float16",
        "tflite-dynamic",
        "tflite-int8",
        "onnx",
    ]
    for row in saved["results"]:
        assert row["passed"] and row["ms_per_image"]["batch_1"] > 0
        assert row["ms_per_image"]["batch_32"] > 0
        if row["format"] != "keras":
            assert row["bytes"] > 0 and row["file"].startswith(str(out))
    assert saved["inputs"] == [{"name": "z", "shape": [None, 8], "dtype": "float32"}]
    assert saved["output"]["range"] == [-1.0, 1.0]
    assert report["results"][1]["max_abs_diff"] <= 1e-4
    card = json.loads((out / "model_card.json").read_text())
    assert card["family"] == "dcgan" and card["preset"] == "tiny"
    assert card["training_steps"] == SHARED_STEPS
    assert card["dataset"] == {"name": "mnist", "source": "vendored"}
    assert card["output"]["dtype"] == "float32"
    assert set(card["artifacts"]) == {r["format"] for r in saved["results"][1:]}


def test_savedmodel_signature_is_named_and_batch_is_dynamic(trained_runs, tiny_run):
    out, _ = trained_runs.export("dcgan")
    signature = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    spec = signature.structured_input_signature[1]
    assert list(spec) == ["z"] and spec["z"].shape.as_list() == [None, 8]
    assert list(signature.structured_outputs) == ["image"]
    generator = keras.saving.load_model(tiny_run / "generator.keras")
    for batch in (1, 7):
        z = np.random.default_rng(batch).standard_normal((batch, 8)).astype("float32")
        out = signature(z=tf.constant(z))["image"].numpy()
        np.testing.assert_allclose(out, generator(z, training=False), atol=1e-6)


def test_uint8_output(tiny_run, tmp_path):
    report = export_run(
        tiny_run,
        tmp_path / "exp",
        _only(("savedmodel", "tflite", "onnx"), ("float32", "int8"), uint8=True),
    )
    assert report["output"] == {
        "name": "image",
        "shape": [None, 16, 16, 1],
        "dtype": "uint8",
        "range": [0, 255],
    }
    assert all(r["passed"] for r in report["results"])
    import onnxruntime as ort

    z = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    images = ort.InferenceSession(str(tmp_path / "exp" / "generator.onnx")).run(
        ["image"], {"z": z}
    )[0]
    assert images.dtype == np.uint8
    generator = keras.saving.load_model(tiny_run / "generator.keras")
    expected = np.round((np.asarray(generator(z, training=False)) + 1) * 127.5)
    assert np.abs(images.astype(int) - expected).max() <= 1


def test_int8_is_under_30_percent_of_float32_for_the_default_dcgan(tmp_path):
    run_dir = tmp_path / "run"
    config = cfg.resolve(
        "dcgan", overrides=["data.source=vendored", "train.steps=1", "train.sample_every=1"]
    )
    train(config, run_dir)
    report = export_run(run_dir, tmp_path / "exp", _only(("tflite",), ("float32", "int8")))
    sizes = {r["format"]: r["bytes"] for r in report["results"][1:]}
    assert sizes["tflite-int8"] <= 0.30 * sizes["tflite-float32"]
    int8 = report["results"][-1]
    assert int8["passed"] and int8["psnr_db"] >= 30


def test_parity_beyond_tolerance_fails_and_keeps_the_previous_export(
    tiny_run, tmp_path, monkeypatch
):
    out = tmp_path / "exp"
    export_run(tiny_run, out, _only(("savedmodel", "tflite")))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    monkeypatch.setitem(verify.TOLERANCE, "float32", (0.0, None))  # TFLite differs by ~1e-7
    with pytest.raises(
        ExportError,
        match=r"tflite-float32 differs from Keras by max .* nothing "
        r"was written to",
    ):
        export_run(tiny_run, out, _only(("savedmodel", "tflite")))
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_runtime_that_fails_on_the_inputs_is_a_one_line_error(tiny_run, tmp_path, monkeypatch):
    """A model can load and still fail when run (a shape its kernels cannot prepare): that is an
    ExportError naming the artifact, and the previous export stays."""
    from export import formats

    out = tmp_path / "exp"
    export_run(tiny_run, out, _only(("onnx",)))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    def failing(artifact, threads=None):
        def run(feeds):
            raise RuntimeError("Node number 21 (CONCATENATION) failed to prepare.\nmore detail")

        return run

    monkeypatch.setattr(formats, "runner", failing)
    with pytest.raises(ExportError) as err:
        export_run(tiny_run, out, _only(("onnx",)))
    assert str(err.value) == (
        "the onnx export fails when run in its runtime: "
        "Node number 21 (CONCATENATION) failed to prepare."
    )
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@keras.saving.register_keras_serializable(package="ganzoo_tests")
class BesselLayer(keras.layers.Layer):
    """An op that TFLite's builtins lack and onnxruntime cannot run."""

    def call(self, x):
        return tf.math.bessel_i0e(x)


def _odd_run(tmp_path):
    z = keras.Input((4,), name="z")
    image = keras.layers.Activation("tanh")(BesselLayer()(keras.layers.Dense(4 * 4)(z)))
    model = keras.Model(z, keras.layers.Reshape((4, 4, 1))(image))
    run_dir = tmp_path / "odd"
    run_dir.mkdir()
    model.save(run_dir / "generator.keras")
    return run_dir


@pytest.mark.parametrize(
    "fmt, message",
    [
        (
            "tflite",
            "TFLite (float32) conversion failed: op BesselI0e is not supported by TFLite "
            "builtins; export the other formats with --format savedmodel,onnx",
        ),
        (
            "onnx",
            "bessel_i0e/BesselI0e: BesselI0e] is not supported; try another --opset or export "
            "the other formats with --format savedmodel,tflite",
        ),
    ],
)
def test_converter_rejection_is_one_line_and_leaves_the_good_export(tmp_path, fmt, message):
    run_dir = _odd_run(tmp_path)
    out = tmp_path / "exp"
    export_run(run_dir, out, _only(("savedmodel",)))
    with pytest.raises(ExportError) as info:
        export_run(run_dir, out, _only((fmt,)))
    assert message in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in out.iterdir()) == [
        "model_card.json",
        "report.json",
        "saved_model",
    ]


def test_missing_and_corrupt_generator(trained_runs, tmp_path, capsys):
    with pytest.raises(ExportError, match="is not a folder"):
        export_run(tmp_path / "nope")
    run_dir = trained_runs.copy("dcgan", tmp_path / "run")
    (run_dir / "generator.keras").unlink()
    with pytest.raises(ExportError, match="has no generator.keras; train first, or write it from"):
        export_run(run_dir)
    (run_dir / "generator.keras").write_bytes(b"not a zip file")
    with pytest.raises(ExportError) as info:
        export_run(run_dir)
    resume = f"python -m training.run dcgan --run-dir {run_dir} --resume"
    assert "generator.keras cannot be loaded (" in str(info.value) and resume in str(info.value)
    # the advice works: resuming the finished run writes the generator again
    from training.run import main as run_main

    assert run_main(["dcgan", "--run-dir", str(run_dir), "--resume"]) == 0
    assert export_run(run_dir, options=_only(("onnx",)))["results"][1]["passed"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (
            ["--format", "coreml"],
            "unknown format 'coreml'; accepted: all, savedmodel, tflite, onnx",
        ),
        (["--quantize", "int4"], "unknown quantization 'int4'; accepted: all, none, float16"),
        (["--format", "onnx", "--quantize", "int8"], "--quantize applies to TFLite"),
        (["--ort-web", "dist"], "--ort-web applies to the web page; add --format web"),
    ],
)
def test_cli_bad_options(tiny_run, capsys, argv, fragment):
    assert main([str(tiny_run), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and fragment in err and "\n" not in err


def test_cli_table(tiny_run, tmp_path, capsys):
    code = main(
        [
            str(tiny_run),
            "--format",
            "tflite",
            "--quantize",
            "int8",
            "--out",
            str(tmp_path / "exp"),
            "--repeats",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "inputs: z float32 [None, 8]; output: image float32 [None, 16, 16, 1]" in out
    rows = [line.split()[0] for line in out.splitlines()[4:]]
    assert rows == ["keras", "tflite-int8"]
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == [
        "generator_int8.tflite",
        "model_card.json",
        "report.json",
    ]
    missing = main([str(tmp_path / "nothing")])
    assert missing == 1 and "is not a folder" in capsys.readouterr().err


def test_sgan_generator_with_wide_activations_keeps_int8_parity(trained_runs, tmp_path):
    """A trained sgan generator feeds its softplus layers inputs of 10 and more, where TFLite's
    int8 softplus is wrong (a 5 dB export, measured); the generator it ships computes softplus
    in a form that quantizes (``zoo.sgan.ship``)."""
    run_dir = trained_runs.copy("sgan", tmp_path / "run")
    session, _ = open_run(run_dir)
    generator = session.trainer.generator
    beta = generator.get_layer("hidden0_bn").beta
    beta.assign(np.linspace(-4.0, 12.0, beta.shape[0]).astype("float32"))
    bias = generator.get_layer("to_pixels").bias
    bias.assign(np.linspace(-12.0, 4.0, bias.shape[0]).astype("float32"))
    Shipper(session, run_dir).save()
    report = export_run(run_dir, tmp_path / "exp", _only(("tflite",), ("int8",)))
    int8 = report["results"][-1]
    assert int8["format"] == "tflite-int8" and int8["passed"], int8


def _tree(root):
    """Every name under ``root`` (``root`` included) with its kind, mode and content digest."""
    paths = [root, *sorted(root.rglob("*"))] if root.is_dir() and not root.is_symlink() else [root]
    tree = {}
    for path in paths:
        info = os.lstat(path)
        if path.is_symlink():
            content = os.readlink(path)
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = None
        tree[str(path.relative_to(root.parent))] = (info.st_mode, content)
    return tree


def _user_folder(tmp_path, run_dir):
    mine = tmp_path / "mine"
    (mine / "src" / "empty").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes\n")
    (mine / "src" / "main.py").write_text("print('hello')\n")
    (mine / "src" / ".hidden").write_bytes(bytes(range(256)))
    return mine


def _user_file(tmp_path, run_dir):
    mine = tmp_path / "mine.txt"
    mine.write_text("not an export\n")
    return mine


def _link_to_user_folder(tmp_path, run_dir):
    link = tmp_path / "link"
    link.symlink_to(_user_folder(tmp_path, run_dir), target_is_directory=True)
    return link


def _export_with_user_notes(tmp_path, run_dir):
    out = tmp_path / "exp"
    export_run(run_dir, out, _only(("onnx",)))
    (out / "notes.txt").write_text("kept beside the export\n")
    return out


@pytest.mark.parametrize(
    "make, fragment",
    [
        (_user_folder, "is a non-empty folder that is not an earlier export"),
        (_user_file, "is an existing file, not a folder"),
        (_link_to_user_folder, "is a symbolic link"),
        (_export_with_user_notes, "is an earlier export but also holds notes.txt"),
    ],
    ids=["user-folder", "file", "symlink", "export-plus-notes"],
)
def test_out_never_replaces_the_users_files(tiny_run, tmp_path, capsys, make, fragment):
    """Only an earlier export (or a new or empty folder) may be replaced; anything else is
    refused in one line, exit 2, before the generator is loaded, and stays byte-identical."""
    target = make(tmp_path, tiny_run)
    broken = tmp_path / "broken"  # a run whose generator cannot even be loaded
    broken.mkdir()
    (broken / "generator.keras").write_bytes(b"not a zip file")
    before = _tree(tmp_path)
    capsys.readouterr()
    code = main([str(tiny_run), "--out", str(target), "--repeats", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: {target} {fragment}") and "\n" not in err
    assert "give another --out" in err
    assert _tree(tmp_path) == before  # the target, its contents and its siblings
    # refused before any work: the broken run gets the same answer, not a load error
    assert main([str(broken), "--out", str(target)]) == 2
    assert fragment in capsys.readouterr().err
    assert _tree(tmp_path) == before


def test_export_replaces_an_earlier_export_and_gets_the_users_permissions(tiny_run, tmp_path):
    """An empty folder and an earlier export are both accepted; the export folder's mode is what
    os.mkdir gives under the umask (tempfile.mkdtemp made it 0o700)."""
    old_umask = os.umask(0o022)
    try:
        probe = tmp_path / "probe"
        probe.mkdir()
        expected_mode = probe.stat().st_mode
        probe.rmdir()
        out = tmp_path / "exp"
        out.mkdir()  # an empty folder of the user's may be used
        export_run(tiny_run, out, _only(("savedmodel", "onnx")))
        assert out.stat().st_mode == expected_mode == 0o40755
        export_run(tiny_run, out, _only(("tflite",)))  # replaces the earlier export
        assert sorted(p.name for p in out.iterdir()) == [
            "generator.tflite",
            "model_card.json",
            "report.json",
        ]
        assert out.stat().st_mode == expected_mode
        assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # nothing left beside it
    finally:
        os.umask(old_umask)


def test_opset_outside_the_supported_range_is_one_line(tiny_run, tmp_path, capsys):
    out = tmp_path / "exp"
    for opset in ("3", "19"):
        code = main([str(tiny_run), "--format", "onnx", "--opset", opset, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert (
            err == f"error: ONNX opset {opset} is not supported; accepted: 9 to 18 (default 17)\n"
        )
    assert not out.exists()
    with pytest.raises(ExportError, match="accepted: 9 to 18"):
        export_run(tiny_run, out, _only(("onnx",), opset=8))


def test_a_failing_onnx_conversion_prints_no_tf2onnx_traceback(
    tiny_run, tmp_path, capfd, caplog, monkeypatch
):
    """tf2onnx logs each node it cannot convert with a traceback and writes a broken graph; the
    export says in one line which node failed and why, and nothing else reaches the console.
    (Opset 8 is below what the generators need, so the range check is lowered to reach it.)"""
    monkeypatch.setattr(fmt, "MIN_ONNX_OPSET", 1, raising=False)
    capfd.readouterr()
    code = main([str(tiny_run), "--format", "onnx", "--opset", "8", "--out", str(tmp_path / "x")])
    err = capfd.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("error: ONNX conversion (opset 8) failed: node ")
    assert "Traceback" not in err and not (tmp_path / "x").exists()
    # tf2onnx's records (each with a traceback) reach no logging handler that could print them
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("tf2onnx")]


def test_exported_conditional_generators_clip_out_of_range_labels(trained_runs):
    """Label 15 gives exactly the image of the last class and -1 that of class 0, in every
    runtime (before, TF and TFLite gave an image of no class, and ONNX read -1 as class 9)."""
    out, report = trained_runs.export("cgan")
    assert all(r["passed"] for r in report["results"])  # parity on in-range labels holds
    run_dir = trained_runs("cgan")
    n = yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["num_classes"]
    z = np.repeat(np.random.default_rng(3).standard_normal((1, 8)).astype("float32"), 4, axis=0)
    labels = np.array([15, n - 1, -1, 0], dtype=np.int32)
    artifacts = {
        "savedmodel": fmt.Artifact("savedmodel", "float32", out / "saved_model"),
        "tflite-float32": fmt.Artifact("tflite", "float32", out / "generator.tflite"),
        "onnx": fmt.Artifact("onnx", "float32", out / "generator.onnx"),
    }
    for name, artifact in artifacts.items():
        images = fmt.runner(artifact)({"z": z, "label": labels})
        np.testing.assert_allclose(images[0], images[1], atol=1e-6, err_msg=f"{name}: 15")
        np.testing.assert_allclose(images[2], images[3], atol=1e-6, err_msg=f"{name}: -1")
        assert np.abs(images[1] - images[3]).max() > 1e-5, name  # the label does matter
    card = json.loads((out / "model_card.json").read_text())
    assert card["input_distribution"]["label"] == (
        f"int32 class index in [0, {n}); values outside are clipped to the nearest class"
    )


def test_model_card_records_the_overrides_actually_used(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    # the tiny values recorded as overrides of the full preset, as training writes them
    sections = yaml.safe_load((run_dir / "config.yaml").read_text())
    overrides = {"model.base_filters": 4, "train.steps": 2}
    config = {"family": "dcgan", "preset": "dcgan_mnist", "overrides": overrides}
    config |= {k: v for k, v in sections.items() if k not in config}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    export_run(run_dir, tmp_path / "exp", _only(("onnx",)))
    card = json.loads((tmp_path / "exp" / "model_card.json").read_text())
    assert card["preset"] == "dcgan_mnist" and card["overrides"] == overrides
    assert list(card)[:3] == ["family", "preset", "overrides"]


def test_tflite_files_carry_their_signature_and_metadata(trained_runs):
    from ai_edge_litert.interpreter import Interpreter

    out, report = trained_runs.export("cgan")
    tflite = [r for r in report["results"] if r["format"].startswith("tflite-")]
    assert len(tflite) == 4
    for row in tflite:
        path = out / os.path.basename(row["file"])
        signatures = Interpreter(model_path=str(path)).get_signature_list()
        assert signatures == {"serving_default": {"inputs": ["label", "z"], "outputs": ["image"]}}
        meta = fmt.read_metadata(path)
        assert meta["signature"] == "serving_default" and meta["family"] == "cgan"
        assert meta["variant"] == row["format"].removeprefix("tflite-")
        assert meta["output"] == {
            "name": "image",
            "shape": [None, 16, 16, 1],
            "dtype": "float32",
            "range": [-1.0, 1.0],
        }
        by_name = {i["name"]: i for i in meta["inputs"]}
        assert by_name["z"]["distribution"] == "standard normal, float32"
        assert by_name["z"]["shape"] == [None, 8] and by_name["label"]["dtype"] == "int32"
        assert by_name["label"]["distribution"].startswith("int32 class index in [0, ")
