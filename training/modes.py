"""Mode coverage on Stacked MNIST (``--metrics modes``), as VEEGAN (Srivastava et al. 2017) and
PacGAN (Lin et al. 2018) measure it: the project's digit classifier reads the digit in each of
an image's three channels, the three digits name one of 1,000 modes, and the samples' modes give
how many modes are covered (at least one sample) and KL(generated || uniform)
(``training.metrics.mode_coverage``). The papers count 26,000 samples; so does ``evaluate``.

    python -m training.modes [--split test] [--num 26000]   # real Stacked MNIST: the ceiling

counts the modes of real Stacked MNIST images (``--split train``: the training pool, digits
0-7999; ``test``: the held-out 8000-9999), drawn independently of the 60,000 the runs train on,
so the table of generators has the number that sampling and the classifier's errors give to
real data."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from training.metrics import mode_coverage
from zoo.errors import GanzooError

SAMPLES = 26_000
DIGIT_WEIGHTS = np.array([100, 10, 1])


class ModesError(GanzooError, ValueError):
    """Images whose Stacked MNIST modes cannot be counted."""


def stacked_digits(images: np.ndarray, fit: str = "resize") -> np.ndarray:
    """[N, 3] digits the classifier reads in the channels of ``images`` ([N, H, W, 3] in
    [-1, 1]; ``fit`` is the run's ``data.fit``: a padded run's images are cropped back)."""
    from training.features import get_extractor

    if images.ndim != 4 or images.shape[-1] != 3:
        raise ModesError(
            f"modes counts Stacked MNIST's 1,000 modes, a digit in each of 3 channels; these "
            f"images are {'x'.join(map(str, images.shape[1:]))} (train on "
            "data.dataset=stacked_mnist with model.channels=3)"
        )
    classifier = get_extractor("mnist_cnn", fit=fit)
    return np.stack(
        [np.argmax(classifier(images[..., c : c + 1])[1], axis=1) for c in range(3)], axis=1
    )


def stacked_modes(images: np.ndarray, fit: str = "resize") -> dict:
    """Modes covered and KL(generated || uniform) of ``images`` (``stacked_digits``)."""
    coverage = mode_coverage(stacked_digits(images, fit) @ DIGIT_WEIGHTS)
    return {**coverage, "samples": len(images), "extractor": "mnist_cnn, per channel"}


def real_stacked(split: str = "test", num: int = SAMPLES, seed: int = 1) -> np.ndarray:
    """``num`` real Stacked MNIST images ([N, 28, 28, 3] in [-1, 1]) of ``split``'s digits,
    each channel an independent draw (``seed``; the runs' 60,000 are drawn with seed 0)."""
    from training.sources import stacked_pool

    pool, _ = stacked_pool(split)
    picks = np.random.default_rng(seed).integers(0, len(pool), size=(num, 3))
    return pool[picks].transpose(0, 2, 3, 1).astype(np.float32) / 127.5 - 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.modes", description="Modes of real Stacked MNIST images."
    )
    parser.add_argument("--split", default="test", help="train (0-7999) or test (8000-9999)")
    parser.add_argument("--num", type=int, default=SAMPLES, help="images (default 26,000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the draws")
    args = parser.parse_args(argv)
    try:
        result = stacked_modes(real_stacked(args.split, args.num, args.seed))
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"real Stacked MNIST ({args.split}): modes {result['modes']} of 1000, "
        f"KL(real || uniform) {result['kl']:.3f} ({args.num:,} images, {result['extractor']})"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
