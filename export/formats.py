"""Writers and runners, one pair per artifact kind.

A writer turns a ``Sampler`` into a file or folder; a runner loads that artifact with its own
runtime only (``tf.saved_model``, ``ai_edge_litert``, ``onnxruntime``) and maps named numpy
inputs to the ``image`` output. TFLite comes in four variants:

    float32   no optimisation
    float16   float16 weights
    dynamic   dynamic-range int8 weights, float activations. Often *slower* than float32 on
              CPUs: transposed convolutions have no hybrid kernel (measured 28-41x slower on
              DCGAN-64 and pix2pix-256 generators), so the report shows its latency next to
              float32's.
    int8      full-integer: weights and activations int8, calibrated on the generator's own
              input distribution; float32 input and output tensors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from export.sampler import ExportError, Part, Sampler

TFLITE_VARIANTS = ("float32", "float16", "dynamic", "int8")
CALIBRATION_SAMPLES = 200
TFLITE_METADATA = "ganzoo"  # the metadata entry of each TFLite file (``tflite_description``)
# The oldest ONNX opset in which every family's generator converts and matches Keras (measured
# on the tiny presets of all ten families, float and uint8 output): below 9, tf2onnx cannot
# convert a transposed convolution's computed output shape, a Reshape to a computed shape or the
# int32 label clipping, or writes graphs onnxruntime rejects. The newest is the newest tf2onnx
# can write (``onnx_opsets``).
MIN_ONNX_OPSET = 9

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Artifact:
    format: str  # savedmodel | tflite | onnx
    variant: str  # float32 | float16 | dynamic | int8
    path: Path
    part: str | None = None  # a part of the generator (``Part``): its signature, its file
    output: str = "image"  # the output it is compared on

    @property
    def key(self) -> str:
        key = self.format if self.format != "tflite" else f"tflite-{self.variant}"
        return f"{key}:{self.part}" if self.part else key

    @property
    def signature(self) -> str:
        return self.part or "serving_default"

    def size(self) -> int:
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return self.path.stat().st_size


def write_savedmodel(sampler: Sampler, path: Path) -> Artifact:
    """A SavedModel whose ``serving_default`` signature takes the named inputs, with a
    signature of its own for each of the generator's parts (``sampler.parts``)."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(sampler.generator)
    archive.add_endpoint(
        "serving_default", sampler.serve, input_signature=[s.tensor_spec() for s in sampler.inputs]
    )
    for part in sampler.parts:
        archive.track(part.model)
        archive.add_endpoint(
            part.name, part.serve, input_signature=[s.tensor_spec() for s in part.inputs]
        )
    try:
        archive.write_out(str(path), verbose=False)
    except Exception as err:  # noqa: BLE001 (TF raises many types)
        raise ExportError(f"SavedModel export failed: {first_line(err)}") from None
    return Artifact("savedmodel", "float32", path)


def write_tflite(
    sampler: Sampler, saved_model: Path, variant: str, path: Path, part: Part | None = None
) -> Artifact:
    """The SavedModel's ``serving_default`` signature (or ``part``'s) alone as a TFLite file."""
    import tensorflow as tf

    signature = part.name if part else "serving_default"
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model), signature_keys=[signature]
    )
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _calibration(sampler)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if sampler.uint8:  # the uint8 post-processing itself stays a float tail
            converter.target_spec.supported_ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
    elif variant != "float32":
        raise ExportError(
            f"unknown TFLite variant {variant!r}; accepted: {', '.join(TFLITE_VARIANTS)}"
        )
    try:
        flatbuffer = converter.convert()
    except Exception as err:  # noqa: BLE001
        op = re.search(r'fused\["(\w+):', str(err))
        what = f"op {op.group(1)} is not supported by TFLite builtins" if op else first_line(err)
        raise ExportError(
            f"TFLite ({variant}) conversion failed: {what}; export the other formats with "
            "--format savedmodel,onnx"
        ) from None
    path.write_bytes(with_metadata(flatbuffer, tflite_description(sampler, variant, part)))
    if part:
        return Artifact("tflite", variant, path, part.name, part.output_name)
    return Artifact("tflite", variant, path)


def tflite_description(sampler: Sampler, variant: str, part: Part | None = None) -> dict:
    """What a mobile developer needs beside the signature: each input's shape, type and
    distribution, and the output's value range (the TFLite file's ``ganzoo`` metadata). A
    part's input that is another part's output (``ws``) is described as that."""
    described = sampler.contract.describe()
    inputs = part.inputs if part else sampler.inputs
    made_by = {p.output_name: p.name for p in sampler.parts}
    return {
        "signature": part.name if part else "serving_default",
        "family": sampler.run_config.get("family"),
        "variant": variant,
        **({"variants": list(sampler.variants)} if sampler.variants else {}),
        "inputs": [
            {
                **s.as_dict(),
                "distribution": described.get(s.name) or f"the output of {made_by.get(s.name)}",
            }
            for s in inputs
        ],
        "output": part.output if part else sampler.output,
    }


def with_metadata(flatbuffer: bytes, description: dict) -> bytes:
    """``flatbuffer`` with ``description`` as UTF-8 JSON in its metadata entry ``ganzoo``."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(description).encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = TFLITE_METADATA, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_metadata(path: Path) -> dict:
    """The ``ganzoo`` metadata of a TFLite file written by ``write_tflite``."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    for entry in model.metadata or []:
        if entry.name.decode() == TFLITE_METADATA:
            return json.loads(bytes(model.buffers[entry.buffer].data).decode())
    raise ExportError(f"{path} has no {TFLITE_METADATA!r} metadata")


def write_onnx(sampler: Sampler, path: Path, opset: int, part: Part | None = None) -> Artifact:
    """The generator (or one of its parts) as an ONNX file."""
    import tensorflow as tf
    import tf2onnx

    check_opset(opset)
    graph = part or sampler
    specs = [s.tensor_spec() for s in graph.inputs]
    function = tf.function(graph.serve, input_signature=specs)
    advice = "try another --opset or export the other formats with --format savedmodel,tflite"
    with _tf2onnx_errors() as errors:
        try:
            tf2onnx.convert.from_function(
                function, input_signature=specs, opset=opset, output_path=str(path)
            )
        except Exception as err:  # noqa: BLE001
            raise ExportError(
                f"ONNX conversion (opset {opset}) failed: {first_line(err)}; {advice}"
            ) from None
    if errors:
        # from_function logs a node it cannot convert and carries on, writing a broken graph
        raise ExportError(f"ONNX conversion (opset {opset}) failed: {errors[0]}; {advice}")
    if part:
        return Artifact("onnx", "float32", path, part.name, part.output_name)
    return Artifact("onnx", "float32", path)


def onnx_opsets() -> range:
    """The ONNX opsets export accepts: from ``MIN_ONNX_OPSET`` to the newest tf2onnx writes."""
    from tf2onnx import constants

    return range(MIN_ONNX_OPSET, max(constants.OPSET_TO_IR_VERSION) + 1)


def check_opset(opset: int) -> None:
    accepted = onnx_opsets()
    if opset not in accepted:
        raise ExportError(
            f"ONNX opset {opset} is not supported; accepted: {accepted[0]} to {accepted[-1]} "
            "(default 17)"
        )


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:  # a message of its own, e.g. "Tensorflow op [NAME: OP] is not supported"
            self.errors.append(record.getMessage().strip().split("\n")[0][:200])
            return
        # "Failed to convert node %r ..." with the handler's exception: name the node and say why
        node = record.args[0] if isinstance(record.args, tuple) and record.args else None
        self.errors.append(f"node {node}: {first_line(exc)}" if node else first_line(exc))


@contextlib.contextmanager
def _tf2onnx_errors():
    """Collects tf2onnx's error records instead of letting them reach the console.

    tf2onnx logs every node it fails to convert with a full traceback (dozens of lines for one
    bad opset); the first of them becomes the one-line ``ExportError``. Its warnings and
    information lines are dropped with them: the export's own parity check is what tells
    whether the graph is right.
    """
    logger = logging.getLogger("tf2onnx")
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.errors
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def runner(artifact: Artifact, threads: int | None = None) -> Runner:
    """Loads ``artifact`` in its own runtime; a load failure is an ``ExportError``."""
    threads = threads or os.cpu_count() or 1
    load = {"savedmodel": _savedmodel_runner, "tflite": _tflite_runner, "onnx": _onnx_runner}
    try:
        return load[artifact.format](artifact, threads)
    except ExportError:
        raise
    except Exception as err:  # noqa: BLE001
        raise ExportError(
            f"the {artifact.key} export does not load in its runtime: {first_line(err)}"
        ) from None


def _savedmodel_runner(artifact: Artifact, threads: int) -> Runner:
    import tensorflow as tf

    signature = tf.saved_model.load(str(artifact.path)).signatures[artifact.signature]
    return lambda feeds: signature(**{k: tf.constant(v) for k, v in feeds.items()})[
        artifact.output
    ].numpy()


def _tflite_runner(artifact: Artifact, threads: int) -> Runner:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(artifact.path), num_threads=threads)
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    output = interpreter.get_output_details()[0]["index"]
    shapes: dict[str, tuple] = {}

    def run(feeds):
        details = {name: _tflite_input(inputs, name, artifact.signature) for name in feeds}
        # Resize every input before allocating: inputs that meet in the graph (z and label)
        # must agree on the batch size when the tensors are allocated.
        resized = False
        for name, value in feeds.items():
            if shapes.get(name) != value.shape:
                interpreter.resize_tensor_input(details[name]["index"], value.shape)
                shapes[name], resized = value.shape, True
        if resized:
            interpreter.allocate_tensors()
        for name, value in feeds.items():
            interpreter.set_tensor(details[name]["index"], value)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return run


def _tflite_input(details: dict, name: str, signature: str = "serving_default") -> dict:
    # the converter names inputs "<signature>_<name>:0"
    for key, detail in details.items():
        if key == name or key.startswith(f"{signature}_{name}:"):
            return detail
    raise ExportError(f"the TFLite model has no input {name!r} (it has {', '.join(details)})")


def _onnx_runner(artifact: Artifact, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(artifact.path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run([artifact.output], feeds)[0]


def _calibration(sampler: Sampler):
    def samples():
        feeds = sampler.example_inputs(CALIBRATION_SAMPLES, seed=12345)
        for i in range(CALIBRATION_SAMPLES):
            # by name: the converter's input order is not the generator's (it sorts them)
            # a rank-0 input (a truncation psi) is one value for the whole batch
            yield {
                s.name: feeds[s.name] if not s.shape else feeds[s.name][i : i + 1]
                for s in sampler.inputs
            }

    return samples


def first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:200]
