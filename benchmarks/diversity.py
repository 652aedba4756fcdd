"""How much a run's generator depends on its latent, checkpoint by checkpoint (mode collapse).

    python -m benchmarks.diversity runs/progan-XXXX
    python -m benchmarks.diversity runs/progan-XXXX --steps 1000,1500,2000 --num 256

For each checkpoint kept in the run folder (or the ``--steps`` asked for), the generator, and its
EMA when the run keeps one, makes ``--num`` images from fixed standard-normal latents; the number
is each pixel's standard deviation over those images, averaged over the pixels: 0 when every
latent gives the same image, 0.285 for real MNIST digits padded to 32x32. The real
images' value is printed beside it, read as the discriminator saw them at that step (a
progressive family's real images blurred to the checkpoint's level of detail, ``lod``, which
the networks also hold in the checkpoint: what training drew at that step, not what ships).
Used in docs/results.md to find where ProGAN's digit generator stopped depending on ``z``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pixel_std(images) -> float:
    """Each pixel's standard deviation over the images (axis 0), averaged over the pixels."""
    import numpy as np

    return float(np.asarray(images, np.float64).std(axis=0).mean())


def checkpoint_steps(run_dir: Path) -> list[int]:
    """The steps of the checkpoints kept in ``run_dir/checkpoints``, in order."""
    folder = run_dir / "checkpoints"
    names = (path.name for path in folder.iterdir()) if folder.is_dir() else ()
    found = (re.fullmatch(r"ckpt-(\d+)\.index", name) for name in names)
    return sorted(int(m.group(1)) for m in found if m)


def diversity(run_dir, steps=None, num: int = 256, seed: int = 0) -> list[dict]:
    """One row per checkpoint: ``step``, ``lod`` (progressive families), ``generator``, ``ema``
    (``None`` without one) and ``real``, the pixel standard deviations described above."""
    import numpy as np
    import tensorflow as tf

    from training.rundir import RunError
    from training.session import first_examples, open_run

    run_dir = Path(run_dir)
    session, _ = open_run(run_dir)
    trainer = session.trainer
    generator = trainer.generator
    if [t.name.split(":")[0] for t in generator.inputs] != ["z"]:
        raise RunError(f"benchmarks.diversity reads generators of z alone; {run_dir} is not one")
    kept = checkpoint_steps(run_dir)
    if not kept:
        raise RunError(f"{run_dir} keeps no checkpoint (checkpoints/ckpt-N.index)")
    missing = sorted(set(steps or ()) - set(kept))
    if missing:
        raise RunError(f"no checkpoint of step {missing[0]} in {run_dir}; kept: {kept}")
    z = np.random.default_rng(seed).standard_normal((num, generator.inputs[0].shape[-1]))
    z = z.astype("float32")
    real = first_examples(session.config, ("image",), num, seed)["image"]
    schedules = getattr(trainer, "schedules", ())
    rows = []
    for step in steps or kept:
        path = run_dir / "checkpoints" / f"ckpt-{step}"
        try:
            session.checkpoint.restore(str(path)).expect_partial()
        except (tf.errors.OpError, ValueError, AssertionError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RunError(f"{path} does not load into this run's networks ({first})") from None
        row = {"step": step}
        seen = tf.constant(real)
        last = tf.constant(step - 1, tf.int64)  # the checkpoint's last step
        for schedule in schedules:  # the reals as the discriminator saw them in it
            seen = schedule.real_images(seen, last)
            if hasattr(schedule, "lod"):  # ProGAN's level of detail
                row["lod"] = float(schedule.lod(last))
        row["generator"] = pixel_std(generator(z, training=False))
        ema = trainer.generator_ema
        row["ema"] = pixel_std(ema(z, training=False)) if ema is not None else None
        row["real"] = pixel_std(seen)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--steps", help="checkpoint steps, comma-separated (default: all kept)")
    parser.add_argument("--num", type=int, default=256, help="latents (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    from zoo.errors import GanzooError

    try:
        steps = [int(s) for s in args.steps.split(",")] if args.steps else None
    except ValueError:
        parser.error(f"--steps takes whole numbers separated by commas, got {args.steps!r}")
    try:
        rows = diversity(args.run_dir, steps, args.num, args.seed)
    except GanzooError as err:  # not a run, no such checkpoint, a checkpoint that does not load
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("step     lod    generator   ema      real")
    for r in rows:
        lod = f"{r['lod']:.2f}" if "lod" in r else "-"
        ema = f"{r['ema']:.4f}" if r["ema"] is not None else "-"
        print(f"{r['step']:<8} {lod:<6} {r['generator']:.4f}      {ema:<8} {r['real']:.4f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
