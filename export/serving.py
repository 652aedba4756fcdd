"""The folders model servers read: a TF Serving model and a Triton model repository.

    serving/tf_serving/NAME/1/saved_model.pb, variables/...   TF Serving: --model_base_path
                                                              is serving/tf_serving/NAME, whose
                                                              numbered subfolders are versions
    serving/triton/NAME/config.pbtxt                          Triton: --model-repository is
    serving/triton/NAME/1/model.onnx                          serving/triton

NAME is the family (``dcgan``; ``cyclegan_ba`` for a two-domain run's way back). The files are
hard links to the export's own ``saved_model`` and ``generator.onnx`` (copies where the file
system has no hard links), so the layout costs no space and holds exactly what was verified.

Triton batches on the first dimension itself (``max_batch_size``), so each input's ``dims`` are
its shape without the batch; a class index, shape [batch] in the graph, is declared ``dims: [1]``
with ``reshape: { shape: [] }``, Triton's way of feeding a [batch] tensor.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from export.sampler import Sampler

SERVING_FOLDER = "serving"
MAX_BATCH = 64  # the largest batch Triton's config and ``export.serve`` accept per request
VERSION = "1"
TRITON_TYPES = {"float32": "TYPE_FP32", "int32": "TYPE_INT32", "uint8": "TYPE_UINT8"}


def model_name(family: str | None, direction: str = "AB") -> str:
    """The name servers know a generator by: its family, plus ``_ba`` for a way back."""
    name = family or "generator"
    name = name if direction.upper() == "AB" else f"{name}_{direction.lower()}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def write_serving(sampler: Sampler, saved_model: Path, onnx: Path, folder: Path) -> dict:
    """Writes ``folder/serving`` (see the module docstring); returns what it holds, for the
    report (paths relative to ``folder``)."""
    name = model_name(sampler.run_config.get("family"), sampler.direction)
    root = folder / SERVING_FOLDER
    shutil.copytree(saved_model, root / "tf_serving" / name / VERSION, copy_function=hard_link)
    triton = root / "triton" / name
    (triton / VERSION).mkdir(parents=True)
    hard_link(onnx, triton / VERSION / "model.onnx")
    (triton / "config.pbtxt").write_text(triton_config(sampler, name))
    return {
        "model_name": name,
        "tf_serving": f"{SERVING_FOLDER}/tf_serving/{name}",
        "triton": f"{SERVING_FOLDER}/triton",
        "max_batch_size": MAX_BATCH,
    }


def triton_config(sampler: Sampler, name: str, max_batch: int = MAX_BATCH) -> str:
    """Triton's ``config.pbtxt`` for the ONNX generator: inputs, output, dynamic batching."""
    inputs = [_tensor(s.name, s.dtype, s.shape[1:]) for s in sampler.inputs]
    output = sampler.output
    outputs = [_tensor(output["name"], output["dtype"], output["shape"][1:])]
    return "\n".join(
        [
            f'name: "{name}"',
            'platform: "onnxruntime_onnx"',
            f"max_batch_size: {max_batch}",
            "input [",
            ",\n".join(inputs),
            "]",
            "output [",
            ",\n".join(outputs),
            "]",
            "dynamic_batching { }",
            "",
        ]
    )


def _tensor(name: str, dtype: str, dims) -> str:
    if dtype not in TRITON_TYPES:
        raise ValueError(f"no Triton type for {name!r} of dtype {dtype}")
    lines = [f'    name: "{name}"', f"    data_type: {TRITON_TYPES[dtype]}"]
    if len(dims) == 0:  # [batch] in the graph: Triton feeds [batch, 1] and reshapes it
        lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
    else:
        lines.append(f"    dims: [ {', '.join(str(d) for d in dims)} ]")
    return "  {\n" + "\n".join(lines) + "\n  }"


def hard_link(src, dst) -> None:
    """``dst`` as a hard link to ``src``, or a copy where hard links cannot be made."""
    try:
        os.link(src, dst)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(src, dst)
