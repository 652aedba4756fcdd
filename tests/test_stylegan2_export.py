"""StyleGAN2's export beyond the shipped generator: the mapping and synthesis parts (SavedModel
signatures, mapping.onnx / synthesis.onnx, float32 .tflite) and the truncation and noise
variants (python -m export RUN --truncation --noise), on the session's shared tiny run."""

import json

import numpy as np
import pytest
import tensorflow as tf

from export import ExportOptions, export_run
from export.__main__ import main
from zoo import stylegan2

BATCH = 3


@pytest.fixture(scope="module")
def network(trained_runs):
    """The trained network the run ships (EMA weights), rebuilt by training's own resume."""
    from training.session import open_run

    session, _ = open_run(trained_runs("stylegan2"))
    return session.trainer.ema["generator"]


@pytest.fixture(scope="module")
def variant_export(trained_runs, tmp_path_factory):
    """(folder, report) of the shared run exported with --truncation --noise (float formats)."""
    out = tmp_path_factory.mktemp("sg2_variants") / "export"
    options = ExportOptions(
        formats=("savedmodel", "tflite", "onnx"),
        tflite_variants=("float32",),
        repeats=1,
        variants=("truncation", "noise"),
    )
    return out, export_run(trained_runs("stylegan2"), out, options)


def _z(n=BATCH, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 8)).astype("float32")


def _onnx(path, output, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([output], feeds)[0]


def _tflite(path, signature, output, feeds):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner(signature)
    return runner(**feeds)[output]


def _noise(network, n=BATCH, seed=1, same=False):
    """Noise inputs by name (one draw repeated over the batch when ``same``)."""
    rng = np.random.default_rng(seed)
    model = stylegan2.synthesis(network, noise=True)
    feeds = {}
    for t in model.inputs[1:]:
        name, shape = t.name.split(":")[0], tuple(t.shape[1:])
        draw = rng.standard_normal((1 if same else n, *shape)).astype("float32")
        feeds[name] = np.repeat(draw, n, axis=0) if same else draw
    return feeds


def test_the_export_has_mapping_and_synthesis_and_records_their_parity(trained_runs):
    out, report = trained_runs.export("stylegan2")
    names = {p.name for p in out.iterdir()}
    assert {"mapping.onnx", "synthesis.onnx", "mapping.tflite", "synthesis.tflite"} <= names
    saved = json.loads((out / "report.json").read_text())
    parts = {r["format"]: r for r in saved["results"] if "part" in r}
    assert set(parts) == {
        f"{kind}:{part}"
        for kind in ("savedmodel", "tflite-float32", "onnx")
        for part in ("mapping", "synthesis")
    }
    for row in parts.values():
        assert row["passed"] and row["max_abs_diff"] <= 1e-4, row
    assert saved["parts"]["order"] == ["mapping", "synthesis"]
    assert saved["parts"]["mapping"]["output"]["shape"] == [None, 6, 8]  # num_ws 6, w_dim 8
    assert saved["parts"]["composed_max_abs_diff"] <= 1e-4
    card = json.loads((out / "model_card.json").read_text())
    assert card["artifacts"]["onnx:synthesis"]["file"] == "synthesis.onnx"


def test_savedmodel_signatures_match_the_keras_parts(trained_runs, network):
    out, _ = trained_runs.export("stylegan2")
    signatures = tf.saved_model.load(str(out / "saved_model")).signatures
    assert set(signatures) == {"serving_default", "mapping", "synthesis"}
    z = _z()
    ws = signatures["mapping"](z=tf.constant(z))["ws"].numpy()
    np.testing.assert_allclose(ws, stylegan2.mapping(network)(z), atol=1e-5)
    ws = ws + np.random.default_rng(2).normal(0, 0.3, ws.shape).astype("float32")  # mixed styles
    image = signatures["synthesis"](ws=tf.constant(ws))["image"].numpy()
    np.testing.assert_allclose(image, stylegan2.synthesis(network)(ws), atol=1e-4)


def test_part_files_run_in_onnxruntime_and_litert_and_match(trained_runs, network):
    out, _ = trained_runs.export("stylegan2")
    z = _z(seed=3)
    expected_ws = np.asarray(stylegan2.mapping(network)(z))
    ws = _onnx(out / "mapping.onnx", "ws", {"z": z})
    np.testing.assert_allclose(ws, expected_ws, atol=1e-4)
    np.testing.assert_allclose(
        _tflite(out / "mapping.tflite", "mapping", "ws", {"z": z}), expected_ws, atol=1e-4
    )
    # each layer its own style (mapping gives every layer the same w): a part reading one
    # layer's row for another's would differ
    ws = expected_ws + np.random.default_rng(5).normal(0, 0.3, ws.shape).astype("float32")
    expected = np.asarray(stylegan2.synthesis(network)(ws))
    assert np.abs(expected).max() > 1e-2  # an image, not zeros
    np.testing.assert_allclose(_onnx(out / "synthesis.onnx", "image", {"ws": ws}), expected,
                               atol=1e-4)  # fmt: skip
    got = _tflite(out / "synthesis.tflite", "synthesis", "image", {"ws": ws})
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_exported_mapping_then_synthesis_is_the_generator(trained_runs):
    import keras

    out, _ = trained_runs.export("stylegan2")
    z = _z(n=5, seed=4)
    composed = _onnx(out / "synthesis.onnx", "image", {"ws": _onnx(out / "mapping.onnx", "ws",
                                                                    {"z": z})})  # fmt: skip
    np.testing.assert_allclose(composed, _onnx(out / "generator.onnx", "image", {"z": z}),
                               atol=1e-4)  # fmt: skip
    shipped = keras.saving.load_model(trained_runs("stylegan2") / "generator.keras")
    np.testing.assert_allclose(composed, shipped(z), atol=1e-4)


def test_truncation_to_zero_gives_the_w_avg_image_for_every_z(variant_export, network):
    out, report = variant_export
    assert report["variants"] == ["truncation", "noise"]
    assert all(r["passed"] and r["max_abs_diff"] <= 1e-4 for r in report["results"])
    names = [i["name"] for i in report["inputs"]]
    assert names[:2] == ["z", "psi"] and len(names) == 2 + 5
    assert report["inputs"][1]["shape"] == []  # psi is rank 0
    z, psi = _z(n=4, seed=5), np.asarray(0.0, np.float32)
    noise = _noise(network, n=4, same=True)  # the same noise in every row: only z differs
    w_avg = np.asarray(network.get_layer("w_avg").w_avg)
    ws_avg = np.broadcast_to(w_avg, (4, 6, 8)).astype("float32")
    expected = np.asarray(stylegan2.synthesis(network, noise=True)([ws_avg, *noise.values()]))
    feeds = {"z": z, "psi": psi, **noise}
    signature = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    images = {
        "onnx": _onnx(out / "generator.onnx", "image", feeds),
        "tflite": _tflite(out / "generator.tflite", "serving_default", "image", feeds),
        "savedmodel": signature(**{k: tf.constant(v) for k, v in feeds.items()})["image"].numpy(),
    }
    for kind, image in images.items():
        np.testing.assert_allclose(image, expected, atol=1e-4, err_msg=kind)
    ws = _onnx(out / "mapping.onnx", "ws", {"z": z, "psi": psi})
    np.testing.assert_allclose(ws, ws_avg, atol=1e-5)
    # psi = 1 is no truncation: z matters again, and the noise inputs reach the image
    one = _onnx(out / "generator.onnx", "image", {**feeds, "psi": np.asarray(1.0, np.float32)})
    assert np.abs(one - one[:1]).max() > 1e-3
    other = {**feeds, **{k: v + 1.0 for k, v in noise.items()}}
    assert np.abs(_onnx(out / "generator.onnx", "image", other) - images["onnx"]).max() > 1e-3


def test_a_variant_flag_on_another_family_is_a_one_line_usage_error(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("family: dcgan\npreset: tiny\n")
    assert main([str(run), "--truncation"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --truncation applies to runs of stylegan2, not to a dcgan run"
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]  # nothing written
