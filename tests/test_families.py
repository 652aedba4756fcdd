"""One test module over every registered family: a family is tested once it is registered."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import tiny_config
from training.loop import build_session, open_run, train
from zoo.losses import get_loss

FAMILIES = zoo.list_families()


@pytest.fixture(params=FAMILIES)
def family(request):
    return zoo.get_family(request.param)


def _networks(family):
    config = tiny_config(family.name)
    return config, family.build(config.model)


def test_shapes_and_output_range(family):
    config, nets = _networks(family)
    m = config.model
    z = np.random.default_rng(0).standard_normal((3, m.latent_dim)).astype("float32") * 10
    images = np.asarray(nets.generator(z, training=False))
    assert images.shape == (3, m.image_size, m.image_size, m.channels)
    assert images.min() >= -1.0 and images.max() <= 1.0
    logits = np.asarray(nets.discriminator(images, training=False))
    assert logits.shape == (3, 1) and np.isfinite(logits).all()


def test_generator_config_round_trip(family):
    _, nets = _networks(family)
    clone = keras.Model.from_config(nets.generator.get_config())
    clone.set_weights(nets.generator.get_weights())
    z = np.ones((2, nets.generator.input_shape[-1]), "float32")
    np.testing.assert_array_equal(clone(z, training=False), nets.generator(z, training=False))
    assert [layer.name for layer in clone.layers] == [layer.name for layer in nets.generator.layers]


def test_keras_save_and_load(family, tmp_path):
    _, nets = _networks(family)
    for model in (nets.generator, nets.discriminator):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        x = np.random.default_rng(1).standard_normal((2, *model.input_shape[1:])).astype("float32")
        np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)


def test_short_fit_changes_both_networks(family, tmp_path):
    config = tiny_config(family.name, "train.steps=3", "train.checkpoint_every=3")
    initial = build_session(config).trainer
    result = train(config, tmp_path / "run")
    assert result.step == 3 and all(np.isfinite(v) for v in result.logs.values())
    accuracies = {"d_real_acc", "d_fake_acc"}
    threshold = get_loss(config.train.loss or family.loss).threshold
    assert {"d_loss", "g_loss"} <= set(result.logs)
    assert (accuracies <= set(result.logs)) == (threshold is not None)
    assert ("gp" in result.logs) == (config.train.gp_weight > 0)
    session, step = open_run(tmp_path / "run")
    assert step == 3
    for name in ("generator", "discriminator"):
        before = getattr(initial, name).get_weights()
        after = getattr(session.trainer, name).get_weights()
        changed = [not np.allclose(a, b) for a, b in zip(before, after, strict=True)]
        assert sum(changed) >= len(changed) // 2, f"{name}: {sum(changed)}/{len(changed)} changed"


LOAD_IN_FRESH_PROCESS = """
import sys, numpy as np, keras
model = keras.saving.load_model(sys.argv[1])
z = np.load(sys.argv[2])
np.save(sys.argv[3], np.asarray(model(z, training=False)))
ganzoo = [m for m in sys.modules if m == "zoo" or m.startswith(("zoo.", "training"))]
assert not ganzoo, ganzoo
"""


def test_generator_keras_reloads_in_a_fresh_process(family, tmp_path):
    config = tiny_config(family.name, "train.steps=2")
    train(config, tmp_path / "run")
    session, _ = open_run(tmp_path / "run")
    z = np.random.default_rng(2).standard_normal((4, config.model.latent_dim)).astype("float32")
    np.save(tmp_path / "z.npy", z)
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_IN_FRESH_PROCESS,
            str(tmp_path / "run" / "generator.keras"),
            str(tmp_path / "z.npy"),
            str(tmp_path / "out.npy"),
        ],
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    expected = np.asarray(session.trainer.sampler(z, training=False))
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


RUN_ARTIFACT = """
import sys, numpy as np
kind, path, feeds_file, out_file = sys.argv[1:5]
feeds = dict(np.load(feeds_file))
if kind == "onnx":
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = session.run(["image"], feeds)[0]
elif kind == "tflite":
    from ai_edge_litert.interpreter import Interpreter
    runner = Interpreter(model_path=path).get_signature_runner("serving_default")
    out = runner(**feeds)["image"]
else:
    import tensorflow as tf
    signature = tf.saved_model.load(path).signatures["serving_default"]
    out = signature(**{k: tf.constant(v) for k, v in feeds.items()})["image"].numpy()
np.save(out_file, out)
ganzoo = [m for m in ("zoo", "training", "export") if m in sys.modules]
assert not ganzoo, ganzoo
if kind != "savedmodel":
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules, kind + " imported TF"
"""


def test_every_format_exports_and_matches_keras_in_a_fresh_process(family, tmp_path):
    from export import ExportOptions, export_run

    config = tiny_config(family.name, "train.steps=2")
    train(config, tmp_path / "run")
    report = export_run(tmp_path / "run", options=ExportOptions(repeats=1))
    assert all(row["passed"] for row in report["results"]), report["results"]
    out = tmp_path / "run" / "export"

    session, _ = open_run(tmp_path / "run")
    z = np.random.default_rng(3).standard_normal((5, config.model.latent_dim)).astype("float32")
    expected = np.asarray(session.trainer.sampler(z, training=False))
    np.savez(tmp_path / "feeds.npz", z=z)
    artifacts = {
        "savedmodel": ("savedmodel", out / "saved_model", 1e-4),
        "onnx": ("onnx", out / "generator.onnx", 1e-4),
        "tflite-float32": ("tflite", out / "generator.tflite", 1e-4),
        "tflite-float16": ("tflite", out / "generator_float16.tflite", 2e-2),
        "tflite-dynamic": ("tflite", out / "generator_dynamic.tflite", 0.5),
        "tflite-int8": ("tflite", out / "generator_int8.tflite", 0.5),
    }
    for key, (kind, path, atol) in artifacts.items():
        result = tmp_path / f"{key}.npy"
        subprocess.run(
            [
                sys.executable,
                "-c",
                RUN_ARTIFACT,
                kind,
                str(path),
                str(tmp_path / "feeds.npz"),
                str(result),
            ],
            check=True,
            cwd=tmp_path,
            timeout=120,
        )
        actual = np.load(result)
        assert actual.shape == expected.shape, key
        assert np.abs(actual - expected).max() <= atol, key
