"""One test module over every registered family: a family is tested once it is registered."""

import functools
import inspect
import json
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import SHARED_STEPS, tiny_config
from training.loop import build_session, open_run, train
from zoo.contract import CALIBRATION_FILE
from zoo.losses import get_loss

FAMILIES = zoo.list_families()


@pytest.fixture(params=FAMILIES)
def family(request):
    return zoo.get_family(request.param)


@functools.cache
def _built(name):
    config = tiny_config(name)
    # Seeded: the weights, and so the tests' margins, do not depend on which tests ran before
    # (an unseeded wgan_gp critic once moved by 3e-7 for one of four changed images).
    keras.utils.set_random_seed(config.runtime.seed)
    return config, zoo.get_family(name).build(config.model)


def _networks(family):
    """The family's tiny networks, untrained; built once and shared by the tests that only call,
    save or clone them."""
    return _built(family.name)


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
    # inputs drawn in training only (StyleGAN2's noise, at strength 0 until trained, and its
    # mixing draws) have tests of their own (tests/test_stylegan2.py)
    drawn = family.contract(config.model).drawn
    for network in (nets["generator"], nets["discriminator"]):
        feeds = _feeds(network, 4, num_classes=classes)
        base = _outputs(network, feeds)
        for name in [n for n in feeds if n not in drawn]:
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
    # real-vs-fake logits (one per image, or a patch map of them), or a semi-supervised
    # discriminator's K class logits
    assert first in ("logits", "class_logits")
    if first == "logits":
        assert outputs[0].shape[0] == 3 and outputs[0].shape[-1] == 1, outputs[0].shape
        assert len(outputs[0].shape) in (2, 4), "one logit per image or an [N, H, W, 1] patch map"
    else:
        assert outputs[0].shape == (3, classes)
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


def test_short_fit_changes_both_networks(family, trained_runs):
    config = trained_runs.config(family.name)
    initial = build_session(config).trainer
    result = trained_runs.result(family.name)
    assert result.step == SHARED_STEPS and all(np.isfinite(v) for v in result.logs.values())
    accuracies = {"d_real_acc", "d_fake_acc"}
    threshold = get_loss(config.objective.loss).threshold
    assert {"d_loss", "g_loss"} <= set(result.logs)
    if initial.contract.kind == "adversarial":  # D's accuracies where the loss has a threshold
        assert (accuracies <= set(result.logs)) == (threshold is not None)
    assert ("gp" in result.logs) == (getattr(config.objective, "gp_weight", 0) > 0)
    session, step = open_run(result.run_dir)
    assert step == SHARED_STEPS
    for name in initial.contract.updates:  # every network the family trains
        before = getattr(initial, name).get_weights()
        after = getattr(session.trainer, name).get_weights()
        changed = [not np.allclose(a, b) for a, b in zip(before, after, strict=True)]
        assert sum(changed) >= len(changed) // 2, f"{name}: {sum(changed)}/{len(changed)} changed"


# Each shipped artifact (file in the export folder, runtime) and how far it may be from the
# trained generator's own output: a max |difference| for the float formats; for the quantized
# variants, which trade accuracy for size, export's own bar of 30 dB PSNR (a single pixel can
# move far: a feature vector near zero before pixel norm, measured 0.53 in a tiny ProGAN).
ARTIFACTS = {
    "savedmodel": ("saved_model", "savedmodel", 1e-4),
    "onnx": ("generator.onnx", "onnx", 1e-4),
    "tflite-float32": ("generator.tflite", "tflite", 1e-4),
    "tflite-float16": ("generator_float16.tflite", "tflite", 2e-2),
    "tflite-dynamic": ("generator_dynamic.tflite", "tflite", "30dB"),
    "tflite-int8": ("generator_int8.tflite", "tflite", "30dB"),
}


def _close(actual, expected, tolerance) -> bool:
    """``actual`` within ``tolerance`` of ``expected``: a max |difference|, or ``"30dB"``."""
    difference = np.abs(actual - expected)
    if tolerance == "30dB":
        return 10 * np.log10(4.0 / max(float(np.mean(difference**2)), 1e-12)) >= 30.0
    return difference.max() <= tolerance


def run_artifact(kind, path, feeds):
    """The image of a shipped artifact on ``feeds``, run as a user of the export would: by the
    documented names (signature ``serving_default``, output ``image``) in the artifact's own
    runtime, without ganzoo's export code. Its source also runs in a fresh process (below)."""
    import numpy as np

    if kind == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(["image"], feeds)[0]
    if kind == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        return runner(**feeds)["image"]
    if kind == "savedmodel":
        import tensorflow as tf

        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        return signature(**{k: tf.constant(v) for k, v in feeds.items()})["image"].numpy()
    import keras  # kind == "keras": the run's generator.keras

    model = keras.saving.load_model(path)
    args = [feeds[t.name.split(":")[0]] for t in model.inputs]
    return np.asarray(model(args if len(args) > 1 else args[0], training=False))


def _keras_classes(path):
    """(module, class) of every serialized object in a .keras file's config."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    found, todo = set(), [config]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            if "class_name" in item and "module" in item:
                found.add((item["module"], item["class_name"]))
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


def _trained_output(run_dir, n, seed):
    """Feeds for what the run ships (real examples for inputs read from the data, as the run
    folder keeps them) and the image the trained (in-memory) sampler makes."""
    session, _ = open_run(run_dir)
    classes = getattr(session.config.model, "num_classes", None)
    contract, sampler = session.trainer.contract, session.trainer.sampler
    real = {}
    if contract.data_keys:
        with np.load(run_dir / CALIBRATION_FILE) as examples:
            real = {
                name: examples[spec.key][seed : seed + n]
                for name, spec in contract.inputs.items()
                if spec.kind == "data"
            }
    feeds = _feeds(sampler, n, seed=seed, num_classes=classes, **real)
    return feeds, np.asarray(_call(sampler, feeds))


def test_every_format_exports_and_matches_the_trained_generator(family, trained_runs):
    """Every family, every format: the export passes its own parity check, and each artifact,
    run by its documented names in its own runtime, gives the trained generator's images. The
    generator.keras gives them exactly, and names only Keras' own classes, so it loads where
    ganzoo is not installed (checked in a fresh process for a few families below)."""
    out, report = trained_runs.export(family.name)
    assert all(row["passed"] for row in report["results"]), report["results"]
    # a variant the family does not offer is left out with its reason, and only then
    skipped = {f"tflite-{v}": why for v, why in family.skipped_variants().items()}
    assert report.get("skipped", {}) == skipped
    run_dir = trained_runs(family.name)
    feeds, expected = _trained_output(run_dir, 5, seed=3)
    for key, (file, kind, atol) in ARTIFACTS.items():
        if key in skipped:
            assert not (out / file).exists()
            continue
        actual = run_artifact(kind, out / file, feeds)
        assert actual.shape == expected.shape, key
        assert _close(actual, expected, atol), key
    np.testing.assert_array_equal(
        run_artifact("keras", run_dir / "generator.keras", feeds), expected
    )
    foreign = {
        c for c in _keras_classes(run_dir / "generator.keras") if c[0].split(".")[0] != "keras"
    }
    assert not foreign, f"generator.keras needs classes outside Keras: {foreign}"


# The fresh-process check is about the runtimes, not the families, so a few families cover it:
# dcgan (one input), infogan (three inputs: z, label, code) and sgan (a generator shipped in
# another form than it trains in, and a classifier beside it).
FRESH_PROCESS_FAMILIES = ("dcgan", "infogan", "sgan")

IN_A_FRESH_PROCESS = """
import json, sys
import numpy as np
jobs, report_file = json.loads(sys.argv[1]), sys.argv[2]
imported_tf = None
for kind, path, feeds_file, out_file in jobs:  # the runtimes that need no TF come first
    if kind in ("savedmodel", "keras") and imported_tf is None:
        imported_tf = [m for m in ("tensorflow", "keras") if m in sys.modules]
    np.save(out_file, run_artifact(kind, path, dict(np.load(feeds_file))))
ganzoo = [m for m in sys.modules if m.split(".")[0] in ("zoo", "training", "export", "tests")]
with open(report_file, "w") as f:
    json.dump({"tf_before_tf_runtimes": imported_tf, "ganzoo": ganzoo}, f)
"""


def test_exports_run_without_tensorflow_or_ganzoo_in_a_fresh_process(trained_runs, tmp_path):
    """What ships runs where neither TensorFlow (ONNX, TFLite) nor ganzoo (every format, the
    generator.keras too) is imported: one fresh process runs every artifact of a few families,
    the TFLite and ONNX ones before anything imports TensorFlow."""
    jobs, expected = [], {}
    for name in FRESH_PROCESS_FAMILIES:
        out, _ = trained_runs.export(name)
        feeds, expected[name] = _trained_output(trained_runs(name), 5, seed=3)
        np.savez(tmp_path / f"{name}.npz", **feeds)
        artifacts = {key: (out / file, kind, atol) for key, (file, kind, atol) in ARTIFACTS.items()}
        artifacts["keras"] = (trained_runs(name) / "generator.keras", "keras", 0.0)
        for key, (path, kind, atol) in artifacts.items():
            result = tmp_path / f"{name}-{key}.npy"
            jobs.append((name, key, kind, path, tmp_path / f"{name}.npz", result, atol))
    jobs.sort(key=lambda job: job[2] in ("savedmodel", "keras"))
    script = inspect.getsource(run_artifact) + IN_A_FRESH_PROCESS
    argv = json.dumps([[kind, str(p), str(f), str(r)] for _, _, kind, p, f, r, _ in jobs])
    subprocess.run(
        [sys.executable, "-c", script, argv, str(tmp_path / "modules.json")],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    modules = json.loads((tmp_path / "modules.json").read_text())
    assert modules["tf_before_tf_runtimes"] == [], "ONNX or TFLite imported TensorFlow"
    assert modules["ganzoo"] == []
    for name, key, _, _, _, result, atol in jobs:
        actual = np.load(result)
        assert actual.shape == expected[name].shape, (name, key)
        assert _close(actual, expected[name], atol), (name, key)


def test_gan_trains_with_the_minimax_generator_loss(tmp_path):
    config = tiny_config("gan", "objective.loss=minimax", "train.steps=3")
    result = train(config, tmp_path / "run")
    assert result.step == 3 and np.isfinite(list(result.logs.values())).all()
    assert result.logs["g_loss"] < 0  # log(1 - D(G(z))) is negative, unlike -log D(G(z))
