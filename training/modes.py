"""Mode coverage on Stacked MNIST (``--metrics modes``), as VEEGAN (Srivastava et al. 2017) and
PacGAN (Lin et al. 2018) measure it: the project's digit classifier reads the digit in each of
an image's three channels, the three digits name one of 1,000 modes, and the samples' modes give
how many modes are covered (at least one sample) and KL(generated || uniform)
(``training.metrics.mode_coverage``). The papers count 26,000 samples; so does ``evaluate``."""

from __future__ import annotations

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
