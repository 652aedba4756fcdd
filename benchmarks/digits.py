"""What the digit classifier's features say about a digit run: where its FID comes from.

    python -m benchmarks.digits runs/dcgan-...        # about a minute on 2 CPUs
    python -m benchmarks.digits --reference           # the real digits alone

For a run (10,000 samples against 10,000 real digits, ``mnist_cnn`` features, as
``python -m training.evaluate``):
    - FID with the generator's batch norm in inference mode (what ships) and with batch
      statistics (what training saw), to rule out a moving-statistics mismatch;
    - FID of the samples read as a digit with probability >= 0.9 only: how much of the distance
      the ambiguous samples make;
    - FID with every pixel below -0.5 set to -1: how much faint background noise costs;
    - FID with z scaled by 0.5 and 0.8 (the truncation trick);
    - per predicted class: the samples' share, FID against the real digits of that class, and
      the mean feature norm of each (a digit the classifier recognises firmly has a long one).

``--reference`` gives the distances between groups of real digits: two halves of the first
8,000 (the classifier's training digits), those against the 2,000 it never saw, and the first
5,000 of the MNIST test set against the last 5,000 (two writer populations: Census employees
and students).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training import metrics as m  # noqa: E402
from training.host import tune_allocator  # noqa: E402

NUM = 10000


def _norm(features: np.ndarray) -> float:
    return float(np.linalg.norm(features, axis=1).mean())


def reference(extractor) -> list[tuple[str, float]]:
    """FIDs between groups of the vendored real digits."""
    from training.data import load_vendored_mnist

    images, _ = load_vendored_mnist()
    features, _ = extractor(images[..., None].astype(np.float32) / 127.5 - 1.0)
    return [
        (
            "classifier-training digits 0-1999 vs 2000-3999",
            m.fid(features[:2000], features[2000:4000]),
        ),
        (
            "classifier-training digits 6000-7999 vs held-out 8000-9999",
            m.fid(features[6000:8000], features[8000:]),
        ),
        (
            "first 5,000 vs last 5,000 of the MNIST test set",
            m.fid(features[:5000], features[5000:]),
        ),
    ]


def diagnose(run_dir: str, extractor) -> list[str]:
    """The lines of the report on a run (see the module docstring)."""
    from training.config import load
    from training.evaluate import real_images
    from training.sample import load_generator

    config = load(f"{run_dir}/config.yaml")
    generator = load_generator(run_dir, config.family)
    if [i.name for i in generator.inputs] != ["z"]:
        raise SystemExit("error: benchmarks.digits diagnoses unconditional generators (input z)")
    real_features, real_probs = extractor(real_images(config, NUM, 1))
    z = np.random.default_rng(0).standard_normal((NUM, generator.inputs[0].shape[-1]))

    def sample(scale=1.0, training=False):
        return np.concatenate(
            [
                np.asarray(
                    generator((z[i : i + 500] * scale).astype(np.float32), training=training)
                )
                for i in range(0, NUM, 500)
            ]
        )

    def fid(fake_features):
        return f"{m.fid(real_features, fake_features):.1f}"

    images = sample()
    features, probs = extractor(images)
    confident = probs.max(axis=1) >= 0.9
    lines = [
        f"FID {fid(features)} (confident digits {confident.mean():.3f}; "
        f"feature norm: samples {_norm(features):.1f}, real {_norm(real_features):.1f})",
        f"FID with batch statistics (training=True): {fid(extractor(sample(training=True))[0])}",
        f"FID of the confident samples only ({confident.sum()}): {fid(features[confident])}",
    ]
    clean = np.where(images < -0.5, -1.0, images).astype(np.float32)
    lines.append(
        f"every pixel below -0.5 set to -1 (a clean background): FID {fid(extractor(clean)[0])}"
    )
    for scale in (0.8, 0.5):
        f, p = extractor(sample(scale))
        lines.append(f"z x {scale}: FID {fid(f)}, confident {(p.max(1) >= 0.9).mean():.3f}")
    lines.append("class | share | FID vs real of the class | feature norm sample / real")
    real_class, fake_class = real_probs.argmax(1), probs.argmax(1)
    for c in range(probs.shape[1]):
        rf, ff = real_features[real_class == c], features[fake_class == c]
        distance = f"{m.fid(rf, ff):.1f}" if len(ff) > 1 else "-"
        norm = _norm(ff) if len(ff) else 0.0
        lines.append(f"{c} | {len(ff) / NUM:.3f} | {distance} | {norm:.1f} / {_norm(rf):.1f}")
    return lines


def main(argv=None) -> int:
    tune_allocator()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.digits",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", nargs="?", help="a digit run folder (unconditional)")
    parser.add_argument("--reference", action="store_true", help="distances of real digit groups")
    args = parser.parse_args(argv)
    if not args.run_dir and not args.reference:
        parser.error("give a run folder or --reference")

    from training.features import get_extractor

    extractor = get_extractor("mnist_cnn")
    if args.reference:
        for label, fid in reference(extractor):
            print(f"{label}: FID {fid:.1f}")
    if args.run_dir:
        print("\n".join(diagnose(args.run_dir, extractor)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
