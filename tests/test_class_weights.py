"""The class-weights export variant (zoo.class_weights; python -m export RUN --class-weights):
offered to every family whose generator has a class input, checked in every float format on
class mixtures, and one-hot rows giving the int32 labels' images; on the session's tiny runs."""

import json

import numpy as np
import pytest

import zoo
from export import ExportOptions, export_run
from export.__main__ import main
from zoo import contract

CLASSES = 10


def test_every_family_with_a_class_input_offers_the_variant():
    offering = zoo.export_variants()["class_weights"]
    expected = []
    for name in zoo.list_families():
        family = zoo.get_family(name)
        declared = family.contract(family.model_config(family.preset(None).get("model", {})))
        if declared.num_classes:
            expected.append(name)
    assert list(offering) == expected
    assert {"cgan", "acgan", "infogan", "biggan", "sagan"} <= set(offering)
    assert "dcgan" not in offering and "stylegan2" not in offering
    # a run whose model has no class input does not, whichever its family
    infogan = zoo.get_family("infogan")
    codes_only = infogan.model_config({"num_classes": None, "num_codes": 2})
    assert "class_weights" not in infogan.variants_for(codes_only)


def test_drawn_class_weights_are_one_hot_rows_and_two_class_mixtures():
    spec = contract.Contract("adversarial", {"label": contract.class_weights(CLASSES)})
    rows = spec.example_inputs({"label": (CLASSES,)}, 64, np.random.default_rng(0))["label"]
    assert rows.shape == (64, CLASSES) and rows.dtype == np.float32
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-6)
    assert ((rows > 0).sum(axis=1) <= 2).all()
    one_hot = (rows == 1).any(axis=1)
    assert one_hot[::4].all() and not one_hot.all()  # every fourth row a class, others mixed
    given = spec.example_inputs({"label": (CLASSES,)}, 3, np.random.default_rng(0), None, [4, 0, 9])
    np.testing.assert_array_equal(given["label"], np.eye(CLASSES)[[4, 0, 9]])
    assert spec.num_classes == CLASSES
    assert spec.describe()["label"].startswith(f"float32 class weights [N, {CLASSES}]")


@pytest.mark.parametrize("family", list(zoo.export_variants()["class_weights"]))
def test_one_hot_rows_give_each_familys_labels_images_and_mixtures_reach_it(family):
    """Every family offering the variant, on its tiny preset's untrained shipped generator (no
    training: the clone's wiring, whatever layers the label goes through after its encoding)."""
    import keras

    from training.config import resolve
    from zoo.class_weights import soft_label_model

    keras.utils.set_random_seed(0)
    registered = zoo.get_family(family)
    config = resolve(family, "tiny").model
    network = registered.build(config)[registered.contract(config).ships["generator"]]
    shipped = registered.ship("generator", network) if registered.ship else network
    classes = registered.contract(config).num_classes
    rng = np.random.default_rng(0)
    names = [t.name.split(":")[0] for t in shipped.inputs]
    # one z (code, source image) for every row, in [-1, 1]: the rows differ by their class
    one = {
        t.name.split(":")[0]: rng.uniform(-1, 1, (1, *t.shape[1:])).astype(np.float32)
        for t in shipped.inputs
    }

    def run(model, label):
        feeds = {n: np.repeat(v, len(label), axis=0) for n, v in one.items()}
        return np.asarray(model([{**feeds, "label": label}[n] for n in names], training=False))

    eye = np.eye(classes, dtype=np.float32)
    soft = soft_label_model(shipped, classes)
    plain = run(shipped, np.arange(classes, dtype=np.int32))
    weighted = run(soft, eye)
    spread = np.abs(plain[0] - plain[1]).max()
    assert spread > 0 and np.abs(weighted - plain).max() <= min(1e-5, 1e-2 * spread)
    mixed = run(soft, 0.5 * (eye[[0]] + eye[[1]]))[0]
    assert min(np.abs(mixed - plain[0]).max(), np.abs(mixed - plain[1]).max()) > 0.1 * spread


@pytest.fixture(scope="module")
def variant_export(trained_runs, tmp_path_factory):
    """``variant_export(family)``: (folder, report) of the shared run exported with
    --class-weights in the float formats (SavedModel, TFLite float32, ONNX)."""
    done = {}

    def get(family):
        if family not in done:
            out = tmp_path_factory.mktemp(f"{family}_class_weights") / "export_class_weights"
            options = ExportOptions(
                formats=("savedmodel", "tflite", "onnx"),
                tflite_variants=("float32",),
                repeats=1,
                variants=("class_weights",),
            )
            done[family] = (out, export_run(trained_runs(family), out, options))
        return done[family]

    return get


def _onnx(path, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["image"], feeds)[0]


@pytest.mark.parametrize("family", ["cgan", "biggan"])  # one-hot encoding, Embedding
def test_the_variant_passes_parity_and_one_hot_rows_give_the_labels_images(
    variant_export, lean_exports, family
):
    out, report = variant_export(family)
    assert report["variants"] == ["class_weights"]
    label = next(i for i in report["inputs"] if i["name"] == "label")
    assert label == {"name": "label", "shape": [None, CLASSES], "dtype": "float32"}
    formats = {r["format"] for r in report["results"] if r["format"] != "keras"}
    assert formats == {"savedmodel", "tflite-float32", "onnx"}
    assert all(r["passed"] for r in report["results"])
    card = json.loads((out / "model_card.json").read_text())
    assert card["input_distribution"]["label"].startswith("float32 class weights")
    # one-hot rows in the variant's ONNX are the plain export's int32 labels
    latent_dim = next(i for i in report["inputs"] if i["name"] == "z")["shape"][-1]
    z = np.random.default_rng(3).standard_normal((CLASSES, latent_dim)).astype(np.float32)
    z[:] = z[0]  # one z: the images differ by their class alone
    labels = np.arange(CLASSES, dtype=np.int32)
    plain = _onnx(lean_exports(family) / "generator.onnx", {"z": z, "label": labels})
    eye = np.eye(CLASSES, dtype=np.float32)
    weighted = _onnx(out / "generator.onnx", {"z": z, "label": eye[labels]})
    # the tiny runs' images are small (cgan's within 1e-3 of 0): measured against how much
    # the class changes them, not against 1e-5 alone
    spread = np.abs(plain[2] - plain[5]).max()
    assert np.abs(weighted - plain).max() <= min(1e-5, 1e-2 * spread)
    # halfway between two classes is neither: the weights reach the image
    mixed = _onnx(out / "generator.onnx", {"z": z[:1], "label": 0.5 * (eye[[2]] + eye[[5]])})[0]
    assert min(np.abs(mixed - plain[2]).max(), np.abs(mixed - plain[5]).max()) > 0.1 * spread


def test_the_flag_on_a_family_without_a_class_input_is_a_one_line_usage_error(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("family: dcgan\npreset: tiny\n")
    assert main([str(run), "--class-weights"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: --class-weights applies to runs of acgan, biggan, cgan, infogan, sagan, stargan, "
        "not to a dcgan run"
    )
    (run / "config.yaml").write_text(
        "family: infogan\npreset: tiny\nmodel:\n  num_classes: null\n  num_codes: 2\n"
    )
    assert main([str(run), "--class-weights"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith("not to this infogan run (its generator has no class input)")
    (run / "config.yaml").write_text("family: cgan\npreset: tiny\nmodel:\n  num_classes: 10\n")
    assert main([str(run), "--truncation"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith("not to a cgan run (its variants: --class-weights)")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]  # nothing written
