"""Render a grid of samples from a run's generator.

    python -m training.sample runs/cgan-XXXX                 # one row per class (conditional)
    python -m training.sample runs/dcgan-XXXX --num 100 --out grid.png

Needs only the run folder's generator.keras and config.yaml.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def render(run_dir: str | Path, num: int = 64, seed: int = 0) -> np.ndarray:
    """A uint8 grid: ``num`` samples, or for a conditional generator ``num // classes`` per
    class with one row per class."""
    import keras

    from training.callbacks import image_grid
    from training.config import load
    from training.loop import grid_labels

    run_dir = Path(run_dir)
    config = load(run_dir / "config.yaml")
    generator = keras.saving.load_model(run_dir / "generator.keras", compile=False)
    classes = getattr(config.model, "num_classes", None)
    rng = np.random.default_rng(seed)
    if classes:
        labels, cols = grid_labels(num, classes)
        z = rng.standard_normal((len(labels), config.model.latent_dim)).astype(np.float32)
        images = generator([z, labels], training=False)
    else:
        z = rng.standard_normal((num, config.model.latent_dim)).astype(np.float32)
        images, cols = generator(z, training=False), None
    return image_grid(np.asarray(images), cols)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.sample",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir")
    parser.add_argument("--num", type=int, default=100, help="samples (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="PNG to write (default RUN_DIR/samples/grid.png)")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "generator.keras").is_file():
        print(
            f"error: {run_dir} is not a trained run folder (needs config.yaml and generator.keras)",
            file=sys.stderr,
        )
        return 2
    if args.num < 1:
        print("error: --num must be at least 1", file=sys.stderr)
        return 2
    from training.callbacks import save_png

    out = Path(args.out) if args.out else run_dir / "samples" / "grid.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(render(run_dir, args.num, args.seed), out)
    print(f"samples: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
