"""The folders model servers read (TF Serving, Triton) and the local inference service,
``python -m export.serve``, on loopback."""

import concurrent.futures
import http.client
import json
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf

from benchmarks.serve import free_port, start
from export import DestinationError, ExportOptions, export_run
from export.serve import main as serve_main
from export.serving import MAX_BATCH

ORT_TYPES = {"tensor(float)": "TYPE_FP32", "tensor(int32)": "TYPE_INT32"}


def _triton_config(path):
    """``config.pbtxt`` parsed with Triton's own schema (its client's ModelConfig message)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    return config, model_config_pb2


def test_serving_folders_are_what_tf_serving_and_triton_read(trained_runs):
    out, report = trained_runs.export("dcgan")  # every format of `all`: serving among them
    assert {k: v for k, v in report["deploy"]["serving"].items() if k != "files"} == {
        "model_name": "dcgan",
        "tf_serving": "serving/tf_serving/dcgan",
        "triton": "serving/triton",
        "max_batch_size": MAX_BATCH,
    }
    # TF Serving: --model_base_path holds numbered versions, each a SavedModel
    base = out / "serving" / "tf_serving" / "dcgan"
    assert [p.name for p in base.iterdir()] == ["1"]
    assert (base / "1" / "saved_model.pb").is_file() and (base / "1" / "variables").is_dir()
    signature = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
    # Triton: a repository of model folders, each with config.pbtxt and numbered versions
    repository = out / "serving" / "triton"
    assert sorted(p.name for p in (repository / "dcgan").iterdir()) == ["1", "config.pbtxt"]
    model = repository / "dcgan" / "1" / "model.onnx"
    assert model.read_bytes() == (out / "generator.onnx").read_bytes()  # what was verified
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    z = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_allclose(
        signature(z=tf.constant(z))["image"].numpy(), session.run(None, {"z": z})[0], atol=1e-5
    )

    config, schema = _triton_config(repository / "dcgan" / "config.pbtxt")
    assert config.name == "dcgan" and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == MAX_BATCH and config.HasField("dynamic_batching")
    declared = [(i.name, schema.DataType.Name(i.data_type), list(i.dims)) for i in config.input]
    assert declared == [
        (i.name, ORT_TYPES[i.type], i.shape[1:]) for i in session.get_inputs()
    ]  # batch dimension left to Triton
    (output,) = config.output
    assert (output.name, list(output.dims)) == ("image", session.get_outputs()[0].shape[1:])


def test_a_model_the_user_adds_to_the_repository_stops_a_new_export(trained_runs, tmp_path):
    """An earlier export is replaced whole; a model the user put into its Triton repository
    (to serve it beside the generator) is not the export's to delete."""
    run, out = trained_runs("dcgan"), tmp_path / "exp"
    options = ExportOptions(formats=("serving",), repeats=1)
    export_run(run, out, options)
    export_run(run, out, options)  # its own earlier export: replaced
    theirs = out / "serving" / "triton" / "theirs" / "config.pbtxt"
    theirs.parent.mkdir()
    theirs.write_text('name: "theirs"')
    with pytest.raises(DestinationError, match="also holds serving/triton/theirs and 1 more"):
        export_run(run, out, options)
    assert theirs.read_text() == 'name: "theirs"'


def test_a_class_index_is_declared_for_triton_as_one_value_reshaped(trained_runs):
    """The [batch] label of a conditional generator: Triton feeds [batch, 1] and reshapes."""
    out, _ = trained_runs.export("cgan")
    config, schema = _triton_config(out / "serving" / "triton" / "cgan" / "config.pbtxt")
    inputs = {i.name: i for i in config.input}
    assert list(inputs) == ["z", "label"]
    assert schema.DataType.Name(inputs["label"].data_type) == "TYPE_INT32"
    assert list(inputs["label"].dims) == [1] and list(inputs["label"].reshape.shape) == []
    assert inputs["label"].HasField("reshape") and not inputs["z"].HasField("reshape")


def _call(port, method, path, body=None, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        connection.request(method, path, data, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _request(z, label):
    return {
        "inputs": [
            {"name": "z", "shape": list(z.shape), "datatype": "FP32", "data": z.ravel().tolist()},
            {
                "name": "label",
                "shape": list(label.shape),
                "datatype": "INT32",
                "data": label.tolist(),
            },
        ]
    }


@pytest.fixture(scope="module")
def service(trained_runs):
    """``python -m export.serve`` on the shared cgan export (inputs z and label), on loopback,
    with batches of at most 8."""
    out, _ = trained_runs.export("cgan")
    port = free_port()
    try:
        process = start(out, port, "--max-batch", "8", timeout_s=90)
    except RuntimeError as err:
        pytest.fail(str(err))
    yield port, out
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("export.serve did not stop within 30 s of SIGTERM")


def test_service_answers_concurrent_requests_as_the_model_does(service):
    port, out = service
    session = ort.InferenceSession(str(out / "generator.onnx"), providers=["CPUExecutionProvider"])
    status, metadata = _call(port, "GET", "/v2/models/cgan")
    assert status == 200 and metadata["name"] == "cgan"
    assert metadata["inputs"] == [
        {"name": "z", "datatype": "FP32", "shape": [-1, 8]},
        {"name": "label", "datatype": "INT32", "shape": [-1]},
    ]
    assert metadata["outputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 16, 16, 1]}]

    def one(i):
        rng = np.random.default_rng(i)
        batch = 1 + i % 8
        z = rng.standard_normal((batch, 8)).astype(np.float32)
        label = rng.integers(0, 10, batch).astype(np.int32)
        status, answer = _call(port, "POST", "/v2/models/cgan/infer", _request(z, label))
        assert status == 200, answer
        (image,) = answer["outputs"]
        got = np.asarray(image["data"], np.float32).reshape(image["shape"])
        np.testing.assert_allclose(got, session.run(None, {"z": z, "label": label})[0], atol=1e-5)
        return batch

    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # 48 requests, 8 at a time
        batches = [f.result(timeout=60) for f in [pool.submit(one, i) for i in range(48)]]
    assert sum(batches) == 6 * sum(range(1, 9))


z2 = np.zeros((2, 8), np.float32)
label2 = np.zeros(2, np.int32)


def _with(index, **changes):
    body = _request(z2, label2)
    body["inputs"][index].update(changes)
    return body


@pytest.mark.parametrize(
    "body, fragment",
    [
        (_with(0, shape=[2, 7], data=[0.0] * 14), "input 'z' has shape [2, 7]"),
        (_with(0, datatype="INT32", data=[0] * 16), "input 'z' is INT32"),
        (_with(1, datatype="FP32", data=[0.0, 0.0]), "input 'label' is FP32"),
        ({"inputs": _request(z2, label2)["inputs"][:1]}, "missing input 'label'"),
        (_with(1, name="class"), "missing input 'label'"),
        (
            {"inputs": [*_request(z2, label2)["inputs"], _request(z2, label2)["inputs"][0]]},
            "input 'z' is given twice",
        ),
        (_with(0, data=[0.0] * 5), "input 'z' cannot be read"),
        (_with(0, data=["a"] * 16), "input 'z' cannot be read"),
        (_with(0, shape=[9, 8], data=[0.0] * 72), "batch of 9; accepted: 1 to 8"),
        (_with(0, shape=[0, 8], data=[]), "batch of 0; accepted: 1 to 8"),
        (_with(1, shape=[3], data=[0, 0, 0]), "different batch sizes [2, 3]"),
        (b"not json", "not a v2 inference request"),
        ({"inputs": [{"name": "z", "shape": "x"}]}, "not a v2 inference request"),
    ],
)
def test_a_bad_request_is_a_400_with_one_line_and_the_service_goes_on(service, body, fragment):
    port, _ = service
    status, answer = _call(port, "POST", "/v2/models/cgan/infer", body)
    assert status == 400, answer
    assert fragment in answer["error"] and "\n" not in answer["error"], answer
    status, _ = _call(port, "POST", "/v2/models/cgan/infer", _request(z2, label2))
    assert status == 200


def test_serve_refuses_what_is_not_an_onnx_export(tmp_path, capsys):
    not_export = tmp_path / "folder"
    not_export.mkdir()
    no_onnx = tmp_path / "no_onnx"
    no_onnx.mkdir()
    (no_onnx / "report.json").write_text(json.dumps({"results": [{"format": "savedmodel"}]}))
    for folder, fragment in [
        (tmp_path / "nowhere", "is not a folder"),
        (not_export, "is not an export (no report.json"),
        (no_onnx, "holds no ONNX export; export it with: python -m export RUN_DIR --format onnx"),
    ]:
        assert serve_main([str(folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and fragment in err and "\n" not in err
