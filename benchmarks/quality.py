"""Sample quality of a family's default over several seeds, as a Markdown table.

    python -m benchmarks.quality dcgan                          # seeds 0, 1, 2 (~20 min on 2 CPUs)
    python -m benchmarks.quality dcgan --seeds 0 --set train.g_lr=4e-4 --set train.d_lr=4e-4
    python -m benchmarks.quality gan lsgan --seeds 0 --out quality.json

Each seed is what a user gets from ``python -m training.run FAMILY --set runtime.seed=S`` (a
subprocess, timed from start to exit: the wall clock of the quick start) followed by
``python -m training.evaluate RUN`` (10,000 samples). The table gives each seed's FID, KID,
confident digits, class entropy, precision and recall, then their mean and spread (the sample
standard deviation). Run folders go under ``--runs`` (a temporary folder unless given).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from training.host import tune_allocator

COLUMNS = (  # (header, key in metrics.json, format)
    ("FID", "fid", "{:.1f}"),
    ("KID x1e3", "kid", "{:.1f}"),
    ("confident", "confident", "{:.3f}"),
    ("class entropy", "class_entropy", "{:.3f}"),
    ("precision", "precision", "{:.2f}"),
    ("recall", "recall", "{:.2f}"),
)


def _value(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, dict):  # KID: {"mean": ..., "std": ...}, already x1e3 in metrics.json
        value = value["mean"]
    return value


def measure(family: str, seed: int, overrides: list[str], runs: Path) -> dict:
    """Trains ``family`` with ``runtime.seed=seed`` and ``overrides`` in a subprocess, then
    evaluates it: the run's metrics with ``seconds`` (training wall clock) and ``run_dir``."""
    run_dir = runs / f"{family}-seed{seed}"
    sets = [arg for override in [*overrides, f"runtime.seed={seed}"] for arg in ("--set", override)]
    command = [sys.executable, "-m", "training.run", family, "--run-dir", str(run_dir), *sets]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    subprocess.run(
        [sys.executable, "-m", "training.evaluate", str(run_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return metrics | {"seconds": round(seconds, 1), "run_dir": str(run_dir), "seed": seed}


def table(results: dict[str, list[dict]]) -> str:
    """One row per family and seed, then the family's mean and standard deviation."""
    header = ["family", "seed", "time (s)", *(name for name, _, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for family, rows in results.items():
        for row in rows:
            cells = [f"`{family}`", str(row["seed"]), f"{row['seconds']:.0f}"]
            for _, key, fmt in COLUMNS:
                value = _value(row, key)
                cells.append("" if value is None else fmt.format(value))
            lines.append("| " + " | ".join(cells) + " |")
        if len(rows) > 1:
            cells = [f"`{family}`", "mean +- sd", _spread([r["seconds"] for r in rows], "{:.0f}")]
            for _, key, fmt in COLUMNS:
                values = [_value(r, key) for r in rows]
                cells.append("" if None in values else _spread(values, fmt))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _spread(values: list[float], fmt: str) -> str:
    return f"{fmt.format(statistics.mean(values))} +- {fmt.format(statistics.stdev(values))}"


def main(argv=None) -> int:
    tune_allocator()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("families", nargs="+", help="families to train with their default preset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="an override"
    )
    parser.add_argument("--runs", help="where the run folders go (default: a temporary folder)")
    parser.add_argument("--out", help="also write the raw results as JSON here")
    args = parser.parse_args(argv)
    import zoo
    from zoo.errors import GanzooError

    try:
        for family in args.families:
            zoo.get_family(family)
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(args.runs or scratch)
        results: dict[str, list[dict]] = {}
        for family in args.families:
            for seed in args.seeds:
                try:
                    row = measure(family, seed, args.set, runs)
                except subprocess.CalledProcessError as err:
                    print(f"error: {family} seed {seed} failed ({err})", file=sys.stderr)
                    return 2
                results.setdefault(family, []).append(row)
                print(f"{family} seed {seed}: FID {row['fid']:.1f} in {row['seconds']:.0f} s")
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
