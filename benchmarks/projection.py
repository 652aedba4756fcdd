"""How well a digit generator reconstructs held-out digits by projection (``training.project``).

    python -m benchmarks.projection runs/dcgan-XXXX --num 200
    python -m benchmarks.projection runs/stylegan2-XXXX --space w --num 200
    python -m benchmarks.projection runs/stylegan2-XXXX/export --backend onnx --num 50

Projects the first ``--num`` digits of ``--split`` (default ``test[8000:]``, the vendored
MNIST test set's last 2,000 digits, which the digit classifier never trained on) and reports,
for the reconstructions:

- PSNR (dB, on the [-1, 1] scale, peak-to-peak 2), mean over the digits;
- the share the digit classifier (mnist_cnn) reads as the original's digit (its true label);

and the same two for the baseline of the **nearest training-set sample**: for each held-out
digit, the image of ``--pool`` (default ``test[:8000]``) nearest in pixel space. A generator
that only memorised its data would do no better than that baseline; one that generalises
reconstructs unseen digits more closely. Those digits are held out from the generator only
when it trained on ``test[:8000]`` (``--set data.split=test[:8000]``): the presets' default
split ``train`` is all 10,000 vendored digits offline. The output says which split the run
trained on (``run_split``: from the run's config.yaml, also for an export folder inside the
run folder). The images are at the generator's size (digits resized by the data pipeline).
Writes ``--out`` (JSON, default ``RUN/projection_benchmark.json``) and a PNG of the first 16
(original, reconstruction, nearest sample) beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training.host import tune_allocator  # noqa: E402
from zoo.errors import GanzooError  # noqa: E402


def nearest(targets: np.ndarray, pool: np.ndarray, chunk: int = 500) -> np.ndarray:
    """Index of the image of ``pool`` nearest (L2 over pixels) to each target."""
    flat = pool.reshape(len(pool), -1).astype(np.float64)
    norms = np.sum(flat**2, axis=1)
    out = []
    for start in range(0, len(targets), chunk):
        t = targets[start : start + chunk].reshape(-1, flat.shape[1]).astype(np.float64)
        out.append(np.argmin(norms[None] - 2 * t @ flat.T, axis=1))
    return np.concatenate(out)


def measure(
    source,
    split: str = "test[8000:]",
    num: int = 200,
    pool_split: str = "test[:8000]",
    space: str = "z",
    steps: int = 200,
    starts: int = 4,
    backend: str = "auto",
    progress: bool = True,
) -> dict:
    """The numbers of the module docstring, and the images of the first 16 (``examples``)."""
    from training import latent
    from training.data import load_split
    from training.project import check_space, classify, project, psnr
    from training.sections import DataConfig

    source = Path(source)
    if backend == "auto" and (source / "report.json").is_file():
        backend = "savedmodel" if (source / "saved_model").is_dir() else "onnx"
    gen = latent.open_generator(source, backend)
    check_space(gen, space)
    if not gen.digits:
        raise latent.LatentError(
            f"{source} was not trained on MNIST digits; the projection benchmark measures "
            "digit generators (its classifier reads digits only)"
        )
    size, _, channels = gen.image_shape
    data = DataConfig(dataset="mnist", source="vendored")
    targets, labels = load_split(data, split, size, channels)
    targets, labels = targets[:num], labels[:num]
    pool, _ = load_split(data, pool_split, size, channels)
    config_file = (gen.run_dir or source) / "config.yaml"
    run_split = None
    if config_file.is_file():
        import yaml

        run_split = (yaml.safe_load(config_file.read_text()) or {}).get("data", {}).get("split")
    start = time.perf_counter()
    result = project(gen, targets, None, space, steps, starts, progress=progress)
    seconds = time.perf_counter() - start
    near = pool[nearest(targets, pool)]
    read, read_near = classify(result.images), classify(near)
    return {
        "source": str(source),
        "family": gen.family,
        "backend": gen.backend,
        "method": result.method,
        "space": space,
        "steps": steps,
        "starts": starts,
        "split": split,
        "num": int(len(targets)),
        "pool": pool_split,
        "run_split": run_split,
        "seconds": round(seconds, 1),
        "projection": {
            "psnr_db": round(float(result.psnr.mean()), 2),
            "read_as_original": round(float(np.mean(read == labels)), 4),
        },
        "nearest_training_sample": {
            "psnr_db": round(float(psnr(near, targets).mean()), 2),
            "read_as_original": round(float(np.mean(read_near == labels)), 4),
        },
        "examples": np.stack([targets[:16], result.images[:16], near[:16]], axis=1),
        "out_base": gen.out_base,
    }


def main(argv=None) -> int:
    tune_allocator()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.projection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", help="a digit run folder or its export folder")
    parser.add_argument("--split", default="test[8000:]", help="held-out digits (test[8000:])")
    parser.add_argument("--num", type=int, default=200, help="digits to project (200)")
    parser.add_argument("--pool", default="test[:8000]", help="nearest-sample pool")
    parser.add_argument("--space", default="z", choices=("z", "w", "w+"))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--starts", type=int, default=4)
    parser.add_argument(
        "--backend", default="auto", choices=("auto", "keras", "savedmodel", "onnx")
    )
    parser.add_argument("--out", help="JSON to write (default RUN/projection_benchmark.json)")
    args = parser.parse_args(argv)
    if args.num < 1:
        print("error: --num must be at least 1", file=sys.stderr)
        return 2
    try:
        numbers = measure(
            args.source,
            args.split,
            args.num,
            args.pool,
            args.space,
            args.steps,
            args.starts,
            args.backend,
        )
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from training.grids import image_grid, save_png

    examples, base = numbers.pop("examples"), numbers.pop("out_base")
    out = Path(args.out) if args.out else base / "projection_benchmark.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(numbers, indent=2) + "\n")
    save_png(image_grid(examples.reshape(-1, *examples.shape[2:]), 6), out.with_suffix(".png"))
    p, n = numbers["projection"], numbers["nearest_training_sample"]
    print(
        f"{numbers['num']} digits of {numbers['split']}, {numbers['family']} in "
        f"{numbers['space']} ({numbers['method']}, {numbers['steps']} steps x "
        f"{numbers['starts']} starts, {numbers['seconds']} s)"
    )
    print(
        f"  projection:               PSNR {p['psnr_db']:6.2f} dB, read as the original's digit "
        f"{100 * p['read_as_original']:5.1f}%"
    )
    print(
        f"  nearest of {numbers['pool']}: PSNR {n['psnr_db']:6.2f} dB, read as the original's "
        f"digit {100 * n['read_as_original']:5.1f}%"
    )
    if numbers["run_split"] != "test[:8000]":
        split = numbers["run_split"] or "unknown (no config.yaml beside the generator)"
        print(
            f"  note: the run trained on data.split={split}; {args.split} is held out from "
            "the generator only if that split excludes it"
        )
    print(f"written: {out} and {out.with_suffix('.png')} (original, projection, nearest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
