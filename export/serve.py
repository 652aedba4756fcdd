"""python -m export.serve EXPORT_DIR [--port 8080] [--host 127.0.0.1] [--max-batch 64]

A local HTTP service for an exported generator: KServe's model server running the export's
verified ONNX file with ONNX Runtime, speaking the Open Inference Protocol (KServe v2 REST).

Why KServe's server: the Open Inference Protocol is what KServe and Triton both speak, so a
client written against this service works unchanged against the Triton model repository the
export writes (``serving/triton``) and in a KServe deployment; the ``kserve`` package is that
protocol's reference Python server (request decoding, health and metadata endpoints, errors as
HTTP statuses), so ganzoo adds only the model: ONNX Runtime, and checking each request against
the export's inputs.

    GET  /v2/health/ready                       200 once the model is loaded
    GET  /v2/models/NAME                        inputs and output: names, datatypes, shapes
    POST /v2/models/NAME/infer                  {"inputs": [{"name": "z", "shape": [2, 100],
                                                  "datatype": "FP32", "data": [...]}]}

NAME is the family (``dcgan``), as in the export's ``serving`` folders. A request with a missing
or unknown input, another datatype, another shape or more than ``--max-batch`` rows is answered
400 with a one-line reason (``{"error": "..."}``) and the service goes on serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np

from export.serving import MAX_BATCH
from export.serving import model_name as serving_name
from training.host import tune_allocator
from zoo.errors import GanzooError

DATATYPES = {"float32": "FP32", "int32": "INT32", "uint8": "UINT8"}


class ServeError(GanzooError):
    """A folder that cannot be served, with what to do about it."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m export.serve",
        description="Serve an exported generator over HTTP (Open Inference Protocol, KServe v2) "
        "with ONNX Runtime.",
    )
    parser.add_argument(
        "export_dir", help="an export folder (python -m export RUN writes RUN/export)"
    )
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every "
        "interface)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=MAX_BATCH,
        help=f"largest batch a request may carry (default {MAX_BATCH}, as in Triton's config)",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime threads per request (default: all)"
    )
    return parser.parse_args(argv)


def read_export(export_dir: str | Path) -> tuple[Path, dict]:
    """The export's ONNX file and report, or a one-line ``ServeError``."""
    folder = Path(export_dir)
    if not folder.is_dir():
        raise ServeError(
            f"{folder} is not a folder; give an export folder such as runs/dcgan-.../export"
        )
    try:
        report = json.loads((folder / "report.json").read_text())
        row = next(r for r in report["results"] if r["format"] == "onnx")
    except (OSError, ValueError, KeyError, TypeError):
        raise ServeError(
            f"{folder} is not an export (no report.json from python -m export); export a run "
            "first: python -m export RUN_DIR"
        ) from None
    except StopIteration:
        raise ServeError(
            f"{folder} holds no ONNX export; export it with: python -m export RUN_DIR --format onnx"
        ) from None
    onnx = folder / Path(row["file"]).name
    if not onnx.is_file():
        raise ServeError(f"{onnx} is missing; export the run again: python -m export RUN_DIR")
    return onnx, report


def model_name(folder: Path, report: dict) -> str:
    """The name the export's serving folders use (its family), for exports without them too."""
    if name := report.get("deploy", {}).get("serving", {}).get("model_name"):
        return name
    try:
        family = json.loads((folder / "model_card.json").read_text()).get("family")
    except (OSError, ValueError, AttributeError):
        family = None
    return serving_name(family, report.get("direction", "AB"))


def make_model(export_dir: str | Path, max_batch: int = MAX_BATCH, threads: int = 0):
    """The KServe model of an export folder, loaded (``ready``)."""
    onnx, report = read_export(export_dir)  # a one-line error before the slow imports

    import kserve
    import onnxruntime as ort
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

    inputs = {i["name"]: i for i in report["inputs"]}
    output = report["output"]

    def wanted(spec: dict) -> str:
        dims = ", ".join("batch" if d is None else str(d) for d in spec["shape"])
        return f"{spec['name']} ({DATATYPES[spec['dtype']]} [{dims}])"

    takes = "; the model takes " + ", ".join(wanted(s) for s in inputs.values())

    class Generator(kserve.Model):
        def __init__(self):
            super().__init__(model_name(Path(export_dir), report))
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.log_severity_level = 3
            self.session = ort.InferenceSession(
                str(onnx), options, providers=["CPUExecutionProvider"]
            )
            self.ready = True

        def get_input_types(self):
            return [_metadata(s) for s in inputs.values()]

        def get_output_types(self):
            return [_metadata(output)]

        def feeds(self, request) -> dict[str, np.ndarray]:
            if not isinstance(request, InferRequest):
                raise InvalidInput(f"send v2 requests to /v2/models/{self.name}/infer" + takes)
            names = [i.name for i in request.inputs]
            if twice := [name for name in names if names.count(name) > 1]:
                raise InvalidInput(f"input {twice[0]!r} is given twice" + takes)
            given = {i.name: i for i in request.inputs}
            if missing := [name for name in inputs if name not in given]:
                raise InvalidInput(f"missing input {missing[0]!r}" + takes)
            if unknown := [name for name in given if name not in inputs]:
                raise InvalidInput(f"unknown input {unknown[0]!r}" + takes)
            feeds, batches = {}, set()
            for name, spec in inputs.items():
                tensor = given[name]
                datatype, shape = tensor.datatype, list(tensor.shape)
                if datatype != DATATYPES[spec["dtype"]]:
                    raise InvalidInput(f"input {name!r} is {datatype}" + takes)
                expected = spec["shape"][1:]
                if len(shape) != len(spec["shape"]) or shape[1:] != expected:
                    raise InvalidInput(f"input {name!r} has shape {shape}" + takes)
                if not 1 <= shape[0] <= max_batch:
                    raise InvalidInput(
                        f"input {name!r} has a batch of {shape[0]}; accepted: 1 to {max_batch}"
                    )
                try:
                    value = np.asarray(tensor.as_numpy(), dtype=spec["dtype"])
                except (ValueError, TypeError) as err:
                    raise InvalidInput(f"input {name!r} cannot be read: {err}") from None
                if value.shape != tuple(shape):
                    raise InvalidInput(
                        f"input {name!r} has {value.size} values for shape {shape}" + takes
                    )
                feeds[name] = value
                batches.add(shape[0])
            if len(batches) > 1:
                raise InvalidInput(f"the inputs have different batch sizes {sorted(batches)}")
            return feeds

        async def predict(self, payload, headers=None, response_headers=None):
            feeds = self.feeds(payload)
            # ONNX Runtime releases the GIL: requests run side by side off the event loop
            image = await asyncio.to_thread(self.session.run, [output["name"]], feeds)
            result = InferOutput(output["name"], list(image[0].shape), DATATYPES[output["dtype"]])
            result.set_data_from_numpy(image[0], binary_data=False)
            return InferResponse(
                response_id=payload.id or str(uuid.uuid4()),
                model_name=self.name,
                infer_outputs=[result],
            )

    return Generator()


def _metadata(spec: dict) -> dict:
    return {
        "name": spec["name"],
        "datatype": DATATYPES[spec["dtype"]],
        "shape": [-1 if d is None else d for d in spec["shape"]],
    }


def serve(model, port: int, host: str) -> None:
    """Runs KServe's REST server for ``model`` on ``host:port`` until interrupted."""
    import kserve
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from kserve.model_server import app

    async def not_a_request(_, exc):  # FastAPI's default answer is a list of pydantic errors
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(
            str(p) for p in first.get("loc", ())[1:] if p != "InferenceRequest" and p != 0
        )
        return JSONResponse(
            status_code=400,
            content={
                "error": f"not a v2 inference request: {first.get('msg', 'unreadable')}"
                + (f" at {where}" if where else "")
                + ' (send JSON: {"inputs": [{"name", "shape", "datatype", "data"}]})'
            },
        )

    app.add_exception_handler(RequestValidationError, not_a_request)

    class Server(kserve.ModelServer):
        def setup_event_loop(self):
            # KServe's REST server listens on 0.0.0.0; its uvicorn config is read only when
            # the server starts, which is after this hook
            self._rest_server.config.host = host
            super().setup_event_loop()

    server = Server(http_port=port, enable_grpc=False, enable_latency_logging=False)
    # one line per request and a traceback per bad request is KServe's default; keep warnings
    for name in ("kserve", "kserve.trace", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("kserve").setLevel(logging.CRITICAL)  # a 400's traceback is noise
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="fastapi")
    server.start([model])


def main(argv=None) -> int:
    tune_allocator()
    args = parse_args(argv)
    sys.argv = sys.argv[:1]  # kserve parses the command line when imported
    try:
        if args.max_batch < 1:
            raise ServeError("--max-batch must be at least 1")
        model = make_model(args.export_dir, args.max_batch, args.threads)
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"serving {model.name} from {args.export_dir} on http://{args.host}:{args.port}: "
        f"POST /v2/models/{model.name}/infer",
        flush=True,
    )
    serve(model, args.port, args.host)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
