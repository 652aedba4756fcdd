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


def _feeds(model, n, seed=0, scale=1.0, num_classes=None, **given):
    """Inputs for ``model`` by name: ``label`` integers, anything else standard normal."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        if name in given:
            feeds[name] = given[name]
        elif name == "label":
            feeds[name] = rng.integers(0, num_classes, n).astype("int32")
        else:
            feeds[name] = (rng.standard_normal((n, *tensor.shape[1:])) * scale).astype("float32")
    return feeds


def _call(model, feeds):
    args = [feeds[t.name.split(":")[0]] for t in model.inputs]
    return model(args if len(args) > 1 else args[0], training=False)


def test_every_input_changes_the_output(family):
    """A generator input that does not reach the image (an unused label, say) is a silent bug:
    the model builds, trains and exports, but ignores it."""
    config, nets = _networks(family)
    classes = getattr(config.model, "num_classes", None)
    for network in (nets["generator"], nets["discriminator"]):
        feeds = _feeds(network, 4, num_classes=classes)
        base = _outputs(network, feeds)
        for name in feeds:
            changed = dict(feeds)
            if name == "label":
                changed[name] = (feeds[name] + 1) % classes
            else:
                changed[name] = _feeds(network, 4, seed=1, num_classes=classes)[name]
            moved = np.abs(_outputs(network, changed) - base).reshape(4, -1).max(axis=1)
            assert (moved > 1e-6).all(), f"{network.name} input {name!r} does not change its output"


def _outputs(model, feeds):
    """Every output of ``model`` on ``feeds``, flattened per example and joined."""
    outputs = _call(model, feeds)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return np.concatenate([np.asarray(o).reshape(len(o), -1) for o in outputs], axis=1)


def test_shapes_and_output_range(family):
    config, nets = _networks(family)
    m, classes = config.model, getattr(config.model, "num_classes", None)
    feeds = _feeds(nets["generator"], 3, scale=10, num_classes=classes)
    # what ships is in the image range (sgan trains an unbounded generator and clips it)
    shipped = family.ship("generator", nets["generator"]) if family.ship else nets["generator"]
    images = np.asarray(_call(shipped, feeds))
    assert images.shape == (3, m.image_size, m.image_size, m.channels)
    assert images.min() >= -1.0 and images.max() <= 1.0
    outputs = _call(
        nets["discriminator"],
        _feeds(
            nets["discriminator"], 3, num_classes=classes, image=images, label=feeds.get("label")
        ),
    )
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    first = nets["discriminator"].output_names[0]
    # real-vs-fake logits, or a semi-supervised discriminator's K class logits
    assert outputs[0].shape == (3, 1 if first == "logits" else classes), first
    assert first in ("logits", "class_logits")
    assert all(np.isfinite(np.asarray(o)).all() for o in outputs)
    heads = dict(zip(nets["discriminator"].output_names, outputs, strict=True))
    for name in ("class_logits", "code_logits"):  # ACGAN's classifier, InfoGAN's Q
        if name in heads:
            assert heads[name].shape == (3, classes)
    if "code" in heads:
        assert heads["code"].shape == (3, m.num_codes)


def test_generator_config_round_trip(family):
    config, nets = _networks(family)
    clone = keras.Model.from_config(nets["generator"].get_config())
    clone.set_weights(nets["generator"].get_weights())
    feeds = _feeds(nets["generator"], 2, num_classes=getattr(config.model, "num_classes", None))
    np.testing.assert_array_equal(_call(clone, feeds), _call(nets["generator"], feeds))
    assert [layer.name for layer in clone.layers] == [
        layer.name for layer in nets["generator"].layers
    ]


def test_keras_save_and_load(family, tmp_path):
    config, nets = _networks(family)
    classes = getattr(config.model, "num_classes", None)
    for model in (nets["generator"], nets["discriminator"]):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        feeds = _feeds(model, 2, seed=1, num_classes=classes)
        expected, actual = _call(model, feeds), _call(loaded, feeds)
        for e, a in zip(keras.tree.flatten(expected), keras.tree.flatten(actual), strict=True):
            np.testing.assert_allclose(a, e, atol=1e-6)


def test_short_fit_changes_both_networks(family, tmp_path):
    config = tiny_config(family.name, "train.steps=3", "train.checkpoint_every=3")
    initial = build_session(config).trainer
    result = train(config, tmp_path / "run")
    assert result.step == 3 and all(np.isfinite(v) for v in result.logs.values())
    accuracies = {"d_real_acc", "d_fake_acc"}
    threshold = get_loss(config.objective.loss).threshold
    assert {"d_loss", "g_loss"} <= set(result.logs)
    assert (accuracies <= set(result.logs)) == (threshold is not None)
    assert ("gp" in result.logs) == (getattr(config.objective, "gp_weight", 0) > 0)
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
feeds = np.load(sys.argv[2])
args = [feeds[t.name.split(":")[0]] for t in model.inputs]
np.save(sys.argv[3], np.asarray(model(args if len(args) > 1 else args[0], training=False)))
ganzoo = [m for m in sys.modules if m == "zoo" or m.startswith(("zoo.", "training"))]
assert not ganzoo, ganzoo
"""


def test_generator_keras_reloads_in_a_fresh_process(family, tmp_path):
    config = tiny_config(family.name, "train.steps=2")
    train(config, tmp_path / "run")
    session, _ = open_run(tmp_path / "run")
    feeds = _feeds(
        session.trainer.generator, 4, seed=2, num_classes=getattr(config.model, "num_classes", None)
    )
    np.savez(tmp_path / "feeds.npz", **feeds)
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_IN_FRESH_PROCESS,
            str(tmp_path / "run" / "generator.keras"),
            str(tmp_path / "feeds.npz"),
            str(tmp_path / "out.npy"),
        ],
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    expected = np.asarray(_call(session.trainer.sampler, feeds))
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
    feeds = _feeds(
        session.trainer.generator, 5, seed=3, num_classes=getattr(config.model, "num_classes", None)
    )
    expected = np.asarray(_call(session.trainer.sampler, feeds))
    np.savez(tmp_path / "feeds.npz", **feeds)
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


def test_gan_trains_with_the_minimax_generator_loss(tmp_path):
    config = tiny_config("gan", "objective.loss=minimax", "train.steps=3")
    result = train(config, tmp_path / "run")
    assert result.step == 3 and np.isfinite(list(result.logs.values())).all()
    assert result.logs["g_loss"] < 0  # log(1 - D(G(z))) is negative, unlike -log D(G(z))
