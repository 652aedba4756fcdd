"""python -m export RUN_DIR [--format F[,F]] [--quantize Q[,Q]] [--uint8] [--out DIR]
[--direction AB|BA] [--ort-web DIR] [--VARIANT ...]

``--VARIANT`` flags are the registered families' export variants (``Family.variants_for``:
stylegan2's ``--truncation`` and ``--noise``, every conditional family's ``--class-weights``);
on a run of a family that does not offer one, the flag is a one-line error naming the families
that do."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from training.host import tune_allocator  # noqa: E402
from zoo.errors import GanzooError  # noqa: E402

FORMAT_WORDS = ("all", "savedmodel", "tflite", "onnx", "serving", "web")
QUANTIZE_WORDS = ("all", "none", "float16", "dynamic", "int8")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description="Export a run's generator to SavedModel, TFLite and ONNX and check each "
        "against Keras.",
    )
    parser.add_argument("run_dir", help="run folder holding generator.keras")
    parser.add_argument(
        "--format",
        default="all",
        help="comma-separated: savedmodel, tflite, onnx, serving (TF Serving and Triton model "
        "folders), web (a browser page; needs npm once, or --ort-web), all (default: every one "
        "but web)",
    )
    parser.add_argument(
        "--quantize",
        default="all",
        help="TFLite variants, comma-separated: none (float32 only), float16, dynamic "
        "(dynamic-range), int8 (full-integer), all (default)",
    )
    parser.add_argument(
        "--uint8", action="store_true", help="output uint8 images in [0, 255] instead of floats"
    )
    parser.add_argument(
        "--out",
        help="destination folder (default RUN_DIR/export, RUN_DIR/export_ba for --direction BA): "
        "a new folder, an empty one, or an earlier export, which it replaces; anything else is "
        "refused and left as it is",
    )
    parser.add_argument(
        "--direction",
        default="AB",
        help="AB (default: generator.keras), or BA for a two-domain run's reverse generator "
        "(cyclegan's generator_ba.keras)",
    )
    parser.add_argument(
        "--opset", type=int, default=17, help="ONNX opset, 9 to 18 with tf2onnx 1.17 (default 17)"
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed runs per latency number (default 20)"
    )
    parser.add_argument(
        "--ort-web",
        metavar="DIR",
        help="for --format web: onnxruntime-web's dist folder, instead of installing it with npm",
    )
    import zoo  # the families' export variants become flags (registering imports no Keras)

    for variant, families in zoo.export_variants().items():
        texts = list(dict.fromkeys(families.values()))
        parser.add_argument(
            zoo.variant_flag(variant),
            dest=variant,
            action="store_true",
            help=f"{' / '.join(texts)}; for runs of {', '.join(families)} (default folder "
            f"RUN_DIR/export_{variant})",
        )
    return parser.parse_args(argv)


def _choices(value: str, accepted: tuple[str, ...], what: str) -> list[str]:
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    bad = [w for w in words if w not in accepted]
    if bad or not words:
        raise ValueError(
            f"unknown {what} {bad[0] if bad else value!r}; accepted: {', '.join(accepted)}"
        )
    return words


def options_from(args):
    from export.core import FORMATS, OPT_IN, ExportOptions
    from export.formats import TFLITE_VARIANTS, check_opset
    from training.translation import DIRECTIONS

    fmts = _choices(args.format, FORMAT_WORDS, "format")
    quant = _choices(args.quantize, QUANTIZE_WORDS, "quantization")
    formats = tuple(f for f in FORMATS + OPT_IN if f in fmts or ("all" in fmts and f in FORMATS))
    variants = (
        TFLITE_VARIANTS
        if "all" in quant
        else tuple(v for v in TFLITE_VARIANTS if v in quant or (v == "float32" and "none" in quant))
    )
    if args.quantize != "all" and "tflite" not in formats:
        raise ValueError("--quantize applies to TFLite; add --format tflite")
    if args.repeats < 1:
        raise ValueError("--repeats must be at least 1")
    check_opset(args.opset)  # even without onnx in --format: the value is wrong either way
    direction = args.direction.strip().upper()
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {args.direction!r}; accepted: {', '.join(DIRECTIONS)}")
    if args.ort_web and "web" not in formats:
        raise ValueError("--ort-web applies to the web page; add --format web")
    import zoo

    chosen = tuple(v for v in zoo.export_variants() if getattr(args, v, False))
    return ExportOptions(
        formats, variants, args.uint8, args.opset, args.repeats, direction, args.ort_web, chosen
    )


def table(report: dict) -> str:
    head = (
        "format",
        "file",
        "size",
        "max|diff|",
        "mean|diff|",
        "PSNR dB",
        "ms/img b1",
        "ms/img b32",
        "check",
    )
    lines = []
    for r in report["results"]:
        psnr = "inf" if r["psnr_db"] is None else f"{r['psnr_db']:.1f}"
        ms = r["ms_per_image"]
        note = "reference" if r["format"] == "keras" else ("ok" if r["passed"] else "FAIL")
        if r.get("vs_tflite_float32_batch_1", 1) > 1.5:
            note += f" ({r['vs_tflite_float32_batch_1']:.1f}x slower than tflite-float32)"
        size = "" if r["bytes"] is None else f"{r['bytes'] / 1e6:.2f} MB"
        lines.append(
            (
                r["format"],
                os.path.basename(r["file"]),
                size,
                f"{r['max_abs_diff']:.2e}",
                f"{r['mean_abs_diff']:.2e}",
                psnr,
                f"{ms['batch_1']:.3f}",
                f"{ms['batch_32']:.3f}",
                note,
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*row) for row in [head, *lines])


def main(argv=None) -> int:
    tune_allocator()
    args = parse_args(argv)
    try:
        options = options_from(args)
    except (ValueError, GanzooError) as err:  # a bad argument
        print(f"error: {err}", file=sys.stderr)
        return 2
    from export.core import export_run
    from export.sampler import DestinationError, DirectionError, VariantError

    try:
        report = export_run(args.run_dir, args.out, options)
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        # a destination or direction refused before any work is a usage error; anything else,
        # a failed export
        usage = (DestinationError, DirectionError, VariantError)
        return 2 if isinstance(err, usage) else 1
    machine = report["machine"]
    which = f" ({report['translates']}, {report['generator']})" if "translates" in report else ""
    if "variants" in report:
        which += f" (variants: {', '.join(report['variants'])})"
    print(f"exported {args.run_dir}{which} -> {report['out']}")
    if "parity_inputs" in report:
        print(f"parity inputs: {report['parity_inputs']}")
    inputs = ", ".join(f"{i['name']} {i['dtype']} {i['shape']}" for i in report["inputs"])
    output = report["output"]
    print(f"inputs: {inputs}; output: image {output['dtype']} {output['shape']}")
    for name in report.get("parts", {}).get("order", []):
        part = report["parts"][name]
        ins = ", ".join(f"{i['name']} {i['dtype']} {i['shape']}" for i in part["inputs"])
        out = part["output"]
        print(f"part {name}: {ins} -> {out['name']} {out['dtype']} {out['shape']}")
    print(
        f"machine: {machine['cpu_count']} CPUs, {machine['platform']}, TF {machine['tensorflow']}, "
        f"onnxruntime {machine['onnxruntime']}, LiteRT {machine['ai_edge_litert']}"
    )
    print(table(report))
    for artifact, reason in report.get("skipped", {}).items():
        print(f"not exported: {artifact}: {reason}")
    out, deploy = report["out"], report.get("deploy", {})
    if "serving" in deploy:
        where = deploy["serving"]
        print(
            f"serving: {out}/{where['tf_serving']} (TF Serving), {out}/{where['triton']} (Triton "
            f"model repository); locally: python -m export.serve {out}"
        )
    if "web" in deploy:
        print(
            f"web: {out}/{deploy['web']['page']} ({deploy['web']['runtime']}); open it with: "
            f"python -m http.server --directory {out}/web 8000"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
