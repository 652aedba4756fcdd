"""Export a run's generator, verify every artifact, and write the report and model card.

Everything is written to a temporary folder beside the destination and moved into place only
when every float artifact matches Keras within tolerance, so a failed export never replaces a
good one. The destination must be new, an empty folder, or an earlier export (``destination``):
export never replaces a file or folder of the user's.

A two-domain run ships a generator per direction (``training.translation.DIRECTIONS``); each
exports on its own (``ExportOptions.direction``), by default into its own folder (``export`` for
A -> B, as for every run, ``export_ba`` for B -> A), its files named after the generator they
come from (``generator_ba.onnx``, ``saved_model_ba``, ...), and the report and model card say
which direction they hold.

A family with ``Family.exports`` (StyleGAN2) ships its generator's parts too: each gets a
signature in the SavedModel (beside ``serving_default``), its own ``NAME.onnx`` and a float32
``NAME.tflite``, each checked against the Keras part on the inputs the parts before it give
(``Sampler.part_inputs``), and the Keras parts composed must give the generator's images. Its
``Family.variants`` (``ExportOptions.variants``: StyleGAN2's ``truncation`` and ``noise``)
export the generator and its parts with more inputs, by default into their own folder
(``export_truncation``, ``export_truncation_noise``, ...). Every family whose generator has a
class input also offers ``class_weights`` (``Family.variants_for``, ``zoo.class_weights``):
the shipped generator with float32 class weights [N, num_classes] as its ``label``, into
``export_class_weights``, checked like the generator on one-hot rows and two-class mixtures.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import secrets
import shutil
from pathlib import Path

from export import formats as fmt
from export import serving, verify, web
from export.sampler import (
    DestinationError,
    ExportError,
    Sampler,
    check_direction,
    check_run_dir,
    check_variants,
    load_sampler,
    read_config,
)

FORMATS = ("savedmodel", "tflite", "onnx", "serving")  # what --format all writes
OPT_IN = ("web",)  # written only when named: it needs onnxruntime-web from the npm registry
# A format built from others writes them too (each verified in the report).
NEEDS = {"serving": ("savedmodel", "onnx"), "web": ("onnx",)}
PARITY_BATCH = 16
LATENCY_BATCHES = (1, 32)
# What marks a folder as an earlier export: report.json and model_card.json that parse as JSON
# objects with (at least) these keys, which export has always written.
REPORT_KEYS = frozenset({"run_dir", "created", "machine", "inputs", "output", "results"})
CARD_KEYS = frozenset({"family", "inputs", "output", "artifacts"})


@dataclasses.dataclass
class ExportOptions:
    formats: tuple[str, ...] = FORMATS
    tflite_variants: tuple[str, ...] = fmt.TFLITE_VARIANTS
    uint8: bool = False
    opset: int = 17
    repeats: int = 20
    direction: str = "AB"  # a two-domain run's BA exports its generator_ba.keras
    ort_web: str | None = None  # a folder with onnxruntime-web's files (else npm installs it)
    variants: tuple[str, ...] = ()  # the family's export variants (``Family.variants``)

    def __post_init__(self):
        wanted = set(self.formats)
        wanted.update(need for f in self.formats for need in NEEDS.get(f, ()))
        self.formats = tuple(f for f in FORMATS + OPT_IN if f in wanted)


def export_run(run_dir: str | Path, out: str | Path | None = None, options=None) -> dict:
    """Exports the generator of ``run_dir`` that translates in ``options.direction`` into
    ``out`` (default ``run_dir/export``, ``run_dir/export_ba`` for a two-domain run's BA).

    Returns the report (also written as ``out/report.json``); raises ``ExportError`` when an
    export fails or a float artifact differs from Keras beyond its tolerance.
    """
    options = options or ExportOptions()
    run_dir = check_run_dir(run_dir)
    check_direction(run_dir, options.direction)  # a direction it ships a generator for
    check_variants(read_config(run_dir), options.variants)  # variants its family offers
    # refused before anything is loaded
    out = destination(run_dir, out, options.direction, options.variants)
    fmt.check_opset(options.opset)
    options, deploy_skipped = _deployment_with_variants(options)
    runtime = web.find_runtime(options.ort_web) if "web" in options.formats else None
    sampler = load_sampler(
        run_dir, uint8=options.uint8, direction=options.direction, variants=options.variants
    )
    skipped = {**deploy_skipped, **_skipped(sampler, options)}
    if any(k.startswith("tflite-") for k in skipped):
        options = dataclasses.replace(
            options,
            tflite_variants=tuple(
                v for v in options.tflite_variants if f"tflite-{v}" not in skipped
            ),
        )
    staging = _make_staging(out)
    try:
        try:
            artifacts, deploy = _write_all(sampler, staging, options, runtime)
        except OSError as err:  # a full disk, a quota: the folder beside `out`, not the model
            raise ExportError(
                f"cannot write the export beside {out} ({err.strerror or err}); nothing was "
                f"written to {out}"
            ) from None
        rows = _check_all(sampler, artifacts, options)
        report = _report(run_dir, sampler, options, rows)
        if sampler.parts:
            report["parts"] = _parts(sampler)
        if deploy:
            report["deploy"] = deploy
        if sampler.skipped_parts:
            skipped = {**skipped, **sampler.skipped_parts}
        if skipped:
            report["skipped"] = skipped
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
        destination(run_dir, out)  # again: files may have been put there while export ran
        try:
            _replace(staging, out)
        except OSError as err:
            raise ExportError(
                f"cannot move the export into {out} ({err.strerror}); the previous contents "
                "are unchanged"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report["out"] = str(out)
    return report


def _deployment_with_variants(options: ExportOptions) -> tuple[ExportOptions, dict[str, str]]:
    """``options`` without the deployment folders (``serving``, ``web``) when it exports
    variants, and why each is left out: they serve the generator as it ships (Triton batches
    every input, and a truncation ``psi`` has no batch dimension; the page feeds ``z``)."""
    deploy = [f for f in options.formats if f in NEEDS] if options.variants else []
    if not deploy:
        return options, {}
    import zoo

    flags = " ".join(zoo.variant_flag(v) for v in options.variants)
    why = f"written for the generator without variants (export without {flags})"
    why = {f: why for f in deploy}
    kept = tuple(f for f in options.formats if f not in deploy)
    return dataclasses.replace(options, formats=kept), why


def _skipped(sampler: Sampler, options: ExportOptions) -> dict[str, str]:
    """The variants asked for that the family does not offer, with why
    (``Family.no_int8``, ``Family.no_dynamic``)."""
    import zoo

    family = sampler.run_config.get("family")
    if family not in zoo.list_families() or "tflite" not in options.formats:
        return {}
    return {
        f"tflite-{variant}": reason
        for variant, reason in zoo.get_family(family).skipped_variants().items()
        if variant in options.tflite_variants
    }


def default_folder(direction: str = "AB", variants=()) -> str:
    """The export folder's name in the run folder: ``export`` for A -> B (every run's one
    generator), ``export_ba`` for B -> A; with export variants, their names after it
    (``export_truncation_noise``)."""
    name = "export" if direction.upper() == "AB" else f"export_{direction.lower()}"
    return "_".join([name, *variants])


def destination(
    run_dir: str | Path, out: str | Path | None = None, direction: str = "AB", variants=()
) -> Path:
    """The export folder ``out`` (default ``run_dir/export``,
    ``default_folder(direction, variants)``), if export may write it.

    Export replaces only what it wrote itself: ``out`` must not exist yet, be an empty folder,
    or be an earlier export, recognised by its report.json and model_card.json (JSON objects
    with the keys export writes) and holding nothing but those two and the artifacts its
    report lists. Anything else (a file, a symbolic link, a folder of the user's, an earlier
    export the user has added files to) raises ``DestinationError`` and is left untouched.
    """
    out = Path(out) if out is not None else Path(run_dir) / default_folder(direction, variants)
    if out.name in ("", ".", ".."):  # name the folder, so a sibling staging folder can be made
        out = Path(os.path.abspath(out))
    problem = _destination_problem(out)
    if problem:
        raise DestinationError(
            f"{out} {problem}; export writes only into a new folder, an empty one, or an "
            "earlier export it replaces: give another --out"
        )
    return out


def _destination_problem(out: Path) -> str | None:
    if out.is_symlink():
        return "is a symbolic link"
    if not out.exists():
        parent = next(p for p in out.parents if os.path.lexists(p))
        if not parent.is_dir():
            return f"cannot be created: {parent} is not a folder"
        return _writable(parent)
    if not out.is_dir():
        return "is an existing file, not a folder"
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if entries:
        written = _export_files(out)
        if written is None:
            return (
                "is a non-empty folder that is not an earlier export (it has no report.json "
                "and model_card.json from export)"
            )
        foreign = [name for name in entries if name not in written]
        foreign += _added_inside(out)
        if foreign:
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            return f"is an earlier export but also holds {foreign[0]}{more}, not written by export"
    return _writable(out.parent)


def _added_inside(out: Path) -> list[str]:
    """What is in an earlier export's deployment folders (``serving/``, ``web/``) beyond what
    its report lists: a model the user added to the Triton repository, say."""
    deploy = json.loads((out / "report.json").read_text()).get("deploy", {})
    added = []
    for name, entry in deploy.items():
        listed = entry.get("files") if isinstance(entry, dict) else None
        if isinstance(listed, list) and (out / name).is_dir():
            added += [f"{name}/{p}" for p in _listing(out / name) if p not in set(listed)]
    return added


def _listing(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, as sorted relative paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _writable(folder: Path) -> str | None:
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    return f"cannot be written: {folder} is not writable"


def _export_files(folder: Path) -> set[str] | None:
    """The names an earlier export in ``folder`` wrote, or None when it holds no export."""
    try:
        report = json.loads((folder / "report.json").read_text())
        card = json.loads((folder / "model_card.json").read_text())
    except (OSError, ValueError):  # missing, unreadable, not UTF-8 or not JSON
        return None
    if not (isinstance(report, dict) and isinstance(card, dict)):
        return None
    if not (REPORT_KEYS <= report.keys() and CARD_KEYS <= card.keys()):
        return None
    rows = report["results"]
    if not (isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
        return None
    files = [r.get("file") for r in rows]
    if not all(isinstance(f, str) for f in files):
        return None
    deploy = report.get("deploy", {})
    folders = {name for name in (serving.SERVING_FOLDER, web.WEB_FOLDER) if name in deploy}
    return {"report.json", "model_card.json"} | {Path(f).name for f in files if f} | folders


def _make_staging(out: Path) -> Path:
    """A new hidden folder beside ``out``, made with ``os.mkdir`` so that it gets the user's
    usual permissions (0o777 less the umask; ``tempfile.mkdtemp`` gives 0o700), which it keeps
    when it becomes ``out``."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        while True:
            staging = out.with_name(f".{out.name}-{secrets.token_hex(4)}")
            try:
                staging.mkdir()
                return staging
            except FileExistsError:
                continue
    except OSError as err:
        raise ExportError(
            f"cannot create a folder beside {out} ({err.strerror}); give another --out"
        ) from None


def _write_all(
    sampler: Sampler, folder: Path, options: ExportOptions, runtime: Path | None
) -> tuple[list[fmt.Artifact], dict]:
    """The verified artifacts, and the deployment folders built from them (``deploy`` in the
    report: what each holds, relative to the export folder)."""
    stem = sampler.artifact  # generator, generator_ba: each file named after its generator
    artifacts = []
    saved_model = fmt.write_savedmodel(
        sampler, folder / ("saved_model" + stem.removeprefix("generator"))
    )
    if "savedmodel" in options.formats:
        artifacts.append(saved_model)
    parts = sampler.parts
    if "savedmodel" in options.formats:  # a signature each, in the one SavedModel
        artifacts += [
            fmt.Artifact("savedmodel", "float32", saved_model.path, p.name, p.output_name)
            for p in parts
        ]
    if "tflite" in options.formats:
        for variant in options.tflite_variants:
            name = f"{stem}.tflite" if variant == "float32" else f"{stem}_{variant}.tflite"
            artifacts.append(fmt.write_tflite(sampler, saved_model.path, variant, folder / name))
        if "float32" in options.tflite_variants:  # the parts in float32 only (PART_FORMATS)
            for part in parts:
                path = folder / f"{part.name}.tflite"
                artifacts.append(fmt.write_tflite(sampler, saved_model.path, "float32", path, part))
    if "savedmodel" not in options.formats:
        shutil.rmtree(saved_model.path)
    onnx = None
    if "onnx" in options.formats:
        onnx = fmt.write_onnx(sampler, folder / f"{stem}.onnx", options.opset)
        artifacts.append(onnx)
        for part in parts:
            path = folder / f"{part.name}.onnx"
            artifacts.append(fmt.write_onnx(sampler, path, options.opset, part))
    deploy = {}
    if "serving" in options.formats:
        deploy[serving.SERVING_FOLDER] = serving.write_serving(
            sampler, saved_model.path, onnx.path, folder
        )
    if "web" in options.formats:
        deploy[web.WEB_FOLDER] = web.write_web(sampler, onnx.path, folder, runtime)
    for name, entry in deploy.items():  # every path, so that an added one is seen (destination)
        entry["files"] = _listing(folder / name)
    return artifacts, deploy


def _check_all(sampler: Sampler, artifacts, options: ExportOptions) -> list[dict]:
    """A row per artifact: its parity with the Keras generator, or with the Keras part it
    exports on the same inputs (``Sampler.part_inputs``), and its latency."""
    feeds = sampler.example_inputs(PARITY_BATCH, seed=0)
    timing_feeds = {b: sampler.example_inputs(b, seed=1) for b in LATENCY_BATCHES}
    checks = {None: (feeds, sampler.reference(feeds), timing_feeds, options.uint8)}
    by_part = {b: sampler.part_inputs(f) for b, f in timing_feeds.items()}
    for part, part_feeds in sampler.part_inputs(feeds, mixed=True).items():
        timing = {b: by_part[b][part] for b in LATENCY_BATCHES}
        own = next(p for p in sampler.parts if p.name == part)
        checks[part] = (part_feeds, own.reference(part_feeds), timing, own.uint8)
    rows = [_row("keras", None, sampler.reference, *checks[None], options)]
    for artifact in artifacts:
        run = fmt.runner(artifact)
        rows.append(_row(artifact.key, artifact, run, *checks[artifact.part], options))
    float32 = next((r for r in rows if r["format"] == "tflite-float32"), None)
    for row in rows:
        if row["format"].startswith("tflite-") and float32 and row is not float32:
            ratio = row["ms_per_image"]["batch_1"] / float32["ms_per_image"]["batch_1"]
            row["vs_tflite_float32_batch_1"] = round(ratio, 2)
    return rows


def _row(key, artifact, run, feeds, expected, timing_feeds, uint8, options) -> dict:
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
    max_abs, min_psnr = verify.tolerance(variant, uint8)
    return {
        "format": key,
        **({"part": artifact.part} if artifact and artifact.part else {}),
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
        **_which(sampler),
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


def _parts(sampler: Sampler) -> dict:
    """The parts' inputs and outputs, in the order they compose, and how far the Keras parts
    composed are from the Keras generator on the parity inputs (a one-line ``ExportError``
    beyond the float32 tolerance: then the parts are not pieces of this generator)."""
    feeds = sampler.example_inputs(PARITY_BATCH, seed=0)
    last = sampler.parts[-1]
    composed = last.reference(sampler.part_inputs(feeds)[last.name])
    diff = verify.parity(sampler.reference(feeds), composed)["max_abs_diff"]
    limit = verify.tolerance("float32", sampler.uint8)[0]
    if diff > limit:
        raise ExportError(
            f"the parts {', '.join(p.name for p in sampler.parts)} composed differ from the "
            f"generator by max {diff:.3g} (accepted: {limit:.3g})"
        )
    return {
        "order": [p.name for p in sampler.parts],
        **{
            p.name: {"inputs": [s.as_dict() for s in p.inputs], "output": p.output}
            for p in sampler.parts
        },  # fmt: skip
        "composed_max_abs_diff": diff,
    }


def _model_card(run_dir: Path, sampler: Sampler, rows: list[dict]) -> dict:
    config = sampler.run_config
    data = config.get("data", {})
    metrics_file = run_dir / "metrics.json"  # written by evaluation, when it has run
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    return {
        "family": config.get("family"),
        "preset": config.get("preset"),
        "overrides": config.get("overrides", {}),
        **_which(sampler),
        "dataset": {"name": data.get("dataset"), "source": data.get("source")},
        "training_steps": sampler.step,
        "ema_weights": config.get("train", {}).get("ema_decay") is not None,
        "model": config.get("model", {}),
        "inputs": [s.as_dict() for s in sampler.inputs],
        "output": sampler.output,
        "input_distribution": sampler.contract.describe(),
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


def _which(sampler: Sampler) -> dict:
    """Which generator was exported: its file, and for a run that ships one per direction, the
    direction (``BA``, "B -> A"); and what the parity inputs were when not real examples."""
    from training.translation import DIRECTION_NAMES

    which = {"generator": f"{sampler.artifact}.keras"}
    if sampler.variants:
        which["variants"] = list(sampler.variants)
    if sampler.two_way:
        which["direction"] = sampler.direction
        which["translates"] = DIRECTION_NAMES[sampler.direction]
    if sampler.parity_inputs:
        which["parity_inputs"] = sampler.parity_inputs
    return which


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _replace(staging: Path, out: Path) -> None:
    """Moves the finished ``staging`` folder to ``out``.

    What is at ``out`` (an earlier export or an empty folder, checked just before) is renamed
    aside first and deleted only once the new export is in place; if that move fails it is put
    back. With nothing at ``out``, the rename cannot overwrite anything that appeared meanwhile:
    renaming a folder onto a file or a non-empty folder fails.
    """
    if os.path.lexists(out):
        aside = staging.with_name(staging.name + ".old")
        os.rename(out, aside)
        try:
            os.rename(staging, out)
        except OSError:
            os.rename(aside, out)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(staging, out)
