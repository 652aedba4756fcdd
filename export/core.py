"""Export a run's generator, verify every artifact, and write the report and model card.

Everything is written to a temporary folder beside the destination and moved into place only
when every float artifact matches Keras within tolerance, so a failed export never replaces a
good one.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from export import formats as fmt
from export import verify
from export.sampler import ExportError, Sampler, load_sampler

FORMATS = ("savedmodel", "tflite", "onnx")
PARITY_BATCH = 16
LATENCY_BATCHES = (1, 32)


@dataclasses.dataclass
class ExportOptions:
    formats: tuple[str, ...] = FORMATS
    tflite_variants: tuple[str, ...] = fmt.TFLITE_VARIANTS
    uint8: bool = False
    opset: int = 17
    repeats: int = 20


def export_run(run_dir: str | Path, out: str | Path | None = None, options=None) -> dict:
    """Exports the generator of ``run_dir`` into ``out`` (default ``run_dir/export``).

    Returns the report (also written as ``out/report.json``); raises ``ExportError`` when an
    export fails or a float artifact differs from Keras beyond its tolerance.
    """
    options = options or ExportOptions()
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "export"
    sampler = load_sampler(run_dir, uint8=options.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        artifacts = _write_all(sampler, staging, options)
        rows = _check_all(sampler, artifacts, options)
        report = _report(run_dir, sampler, options, rows)
        failed = [r for r in rows if not r["passed"]]
        if failed:
            raise ExportError(
                "; ".join(
                    f"{r['format']} differs from Keras by max {r['max_abs_diff']:.3g}, PSNR "
                    f"{r['psnr_db']:.1f} dB (accepted: {_limits(r['tolerance'])})"
                    for r in failed
                )
                + f"; nothing was written to {out}"
            )
        for row in rows:
            row["file"] = row["file"].replace(str(staging), str(out))
        _write_json(staging / "report.json", report)
        _write_json(staging / "model_card.json", _model_card(run_dir, sampler, rows))
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report["out"] = str(out)
    return report


def _write_all(sampler: Sampler, folder: Path, options: ExportOptions) -> list[fmt.Artifact]:
    artifacts = []
    saved_model = fmt.write_savedmodel(sampler, folder / "saved_model")
    if "savedmodel" in options.formats:
        artifacts.append(saved_model)
    if "tflite" in options.formats:
        for variant in options.tflite_variants:
            name = "generator.tflite" if variant == "float32" else f"generator_{variant}.tflite"
            artifacts.append(fmt.write_tflite(sampler, saved_model.path, variant, folder / name))
    if "savedmodel" not in options.formats:
        shutil.rmtree(saved_model.path)
    if "onnx" in options.formats:
        artifacts.append(fmt.write_onnx(sampler, folder / "generator.onnx", options.opset))
    return artifacts


def _check_all(sampler: Sampler, artifacts, options: ExportOptions) -> list[dict]:
    feeds = sampler.example_inputs(PARITY_BATCH, seed=0)
    expected = sampler.reference(feeds)
    timing_feeds = {b: sampler.example_inputs(b, seed=1) for b in LATENCY_BATCHES}
    rows = [_row("keras", None, sampler.reference, feeds, expected, timing_feeds, options)]
    for artifact in artifacts:
        rows.append(
            _row(
                artifact.key, artifact, fmt.runner(artifact), feeds, expected, timing_feeds, options
            )
        )
    float32 = next((r for r in rows if r["format"] == "tflite-float32"), None)
    for row in rows:
        if row["format"].startswith("tflite-") and float32 and row is not float32:
            ratio = row["ms_per_image"]["batch_1"] / float32["ms_per_image"]["batch_1"]
            row["vs_tflite_float32_batch_1"] = round(ratio, 2)
    return rows


def _row(key, artifact, run, feeds, expected, timing_feeds, options) -> dict:
    variant = artifact.variant if artifact else "float32"
    try:
        actual = run(feeds)
    except ExportError:
        raise
    except Exception as err:  # noqa: BLE001 (each runtime raises its own types)
        raise ExportError(
            f"the {key} export fails when run in its runtime: {fmt.first_line(err)}"
        ) from None
    try:
        numbers = verify.parity(expected, actual)
    except ValueError as err:
        raise ExportError(f"the {key} export {err}") from None
    max_abs, min_psnr = verify.tolerance(variant, options.uint8)
    return {
        "format": key,
        "file": str(artifact.path) if artifact else "",
        "bytes": artifact.size() if artifact else None,
        **numbers,
        "tolerance": {"max_abs_diff": max_abs, "min_psnr_db": min_psnr},
        "passed": verify.within(numbers, (max_abs, min_psnr)),
        "ms_per_image": {
            f"batch_{b}": verify.latency_ms_per_image(run, f, options.repeats)
            for b, f in timing_feeds.items()
        },
    }


def _limits(tolerance: dict) -> str:
    text = f"max <= {tolerance['max_abs_diff']:.3g}"
    return text + (f", PSNR >= {tolerance['min_psnr_db']} dB" if tolerance["min_psnr_db"] else "")


def _report(run_dir: Path, sampler: Sampler, options: ExportOptions, rows: list[dict]) -> dict:
    import onnxruntime
    import tensorflow as tf
    from ai_edge_litert import __version__ as litert_version

    return {
        "run_dir": str(run_dir),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "onnxruntime": onnxruntime.__version__,
            "ai_edge_litert": litert_version,
        },
        "inputs": [s.as_dict() for s in sampler.inputs],
        "output": sampler.output,
        "parity_batch": PARITY_BATCH,
        "onnx_opset": options.opset,
        "latency_repeats": options.repeats,
        "results": rows,
    }


def _model_card(run_dir: Path, sampler: Sampler, rows: list[dict]) -> dict:
    config = sampler.run_config
    data = config.get("data", {})
    metrics_file = run_dir / "metrics.json"  # written by evaluation, when it has run
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    return {
        "family": config.get("family"),
        "preset": config.get("preset"),
        "dataset": {"name": data.get("dataset"), "source": data.get("source")},
        "training_steps": sampler.step,
        "ema_weights": config.get("train", {}).get("ema_decay") is not None,
        "model": config.get("model", {}),
        "inputs": [s.as_dict() for s in sampler.inputs],
        "output": sampler.output,
        "input_distribution": {
            "z": "standard normal, float32",
            **(
                {"label": f"int32 class index in [0, {sampler.num_classes})"}
                if sampler.num_classes
                else {}
            ),
            **(
                {"code": "uniform in [-1, 1], float32"}
                if any(s.name == "code" for s in sampler.inputs)
                else {}
            ),
        },
        "metrics": metrics,
        "artifacts": {
            r["format"]: {
                "file": Path(r["file"]).name,
                "bytes": r["bytes"],
                "max_abs_diff": r["max_abs_diff"],
                "psnr_db": r["psnr_db"],
            }
            for r in rows[1:]
        },
    }


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _replace(staging: Path, out: Path) -> None:
    """Moves the finished ``staging`` folder to ``out``, replacing an earlier export."""
    final = staging.with_name(staging.name + ".done")
    os.rename(staging, final)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
        os.rename(final, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(final, out)
