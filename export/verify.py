"""Parity with the Keras generator, and latency, for every artifact.

Differences are measured on the [-1, 1] scale whatever the output type (a uint8 output is
mapped back with x / 127.5 - 1), on a fixed batch of inputs. PSNR uses the peak-to-peak range
of 2.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np

# Accepted error per TFLite variant (float formats use "float32"): the largest max |difference|
# on the [-1, 1] scale and, for quantized variants, the smallest PSNR. Quantized bounds catch a
# broken conversion (bad calibration, a wrong scale), not the quantization error itself, which
# the report states. Measured on the default DCGAN (README, "Deploy"): float16 max 2.7e-3;
# dynamic max 0.11, PSNR 49 dB; int8 max 0.26, PSNR 40 dB.
TOLERANCE = {
    "float32": (1e-4, None),
    "float16": (2e-2, None),
    "dynamic": (0.5, 30.0),
    "int8": (0.5, 30.0),
}
# Rounding to uint8 can move a value by one level (1 / 127.5 on the [-1, 1] scale).
UINT8_LEVEL = 1 / 127.5


def tolerance(variant: str, uint8: bool) -> tuple[float, float | None]:
    """(max |difference|, min PSNR in dB or None) accepted for ``variant``."""
    max_abs, min_psnr = TOLERANCE[variant]
    return (max(max_abs, UINT8_LEVEL + 1e-6) if uint8 else max_abs), min_psnr


def within(numbers: dict, limit: tuple[float, float | None]) -> bool:
    max_abs, min_psnr = limit
    psnr = numbers["psnr_db"]
    return numbers["max_abs_diff"] <= max_abs and (
        min_psnr is None or psnr is None or psnr >= min_psnr
    )


def to_unit_range(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float64) / 127.5 - 1.0
    return images.astype(np.float64)


def parity(expected: np.ndarray, actual: np.ndarray) -> dict[str, float | None]:
    """max and mean |difference| and PSNR (None when identical) on the [-1, 1] scale."""
    expected, actual = to_unit_range(expected), to_unit_range(actual)
    if expected.shape != actual.shape:
        raise ValueError(f"output shape {actual.shape} differs from Keras' {expected.shape}")
    diff = np.abs(expected - actual)
    mse = float(np.mean(diff**2))
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "psnr_db": None if mse == 0 else 10 * math.log10(4.0 / mse),
    }


def latency_ms_per_image(run, feeds: dict[str, np.ndarray], repeats: int) -> float:
    """Median wall time of ``run(feeds)`` divided by the batch size, after two warm-up runs."""
    batch = len(next(iter(feeds.values())))
    for _ in range(2):
        run(feeds)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(feeds)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / batch * 1000.0
