"""The process's memory allocator, tuned for TensorFlow's CPU kernels.

TensorFlow allocates its CPU tensors with ``malloc``. glibc grows a heap by just what a
request needs and hands the memory freed at a heap's top back to the kernel, so a training
step's buffers are faulted in and zeroed again at every step. With a top pad, each heap grows
by 256 MiB more than asked and keeps that much when trimmed. Measured on the 2-core EPYC of
docs/measurements.md: CycleGAN's default (32 px, batch 8) 1.8 -> 4.1 generator updates/s and
DCGAN's 2.8 -> 5.4, with the same losses (docs/speed.md: ``python -m benchmarks.speed --only
train``, and with ``GANZOO_MALLOC=default`` for the rates without it). In 150-step CycleGAN
runs the kernel's share of the CPU time fell from 53% to 21% and the peak resident memory rose
from 1.06 GB to 1.16-1.18 GB (pads of 64 and 512 MiB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TOP_PAD = -2  # mallopt(3): bytes kept at the top of a heap when it grows or is trimmed
TOP_PAD = 256 * 2**20

OPT_OUT = "GANZOO_MALLOC"  # "default": keep the C library's own settings


def tune_allocator() -> bool:
    """Give glibc's heaps a top pad of ``TOP_PAD`` bytes. True if glibc took it; False
    elsewhere (musl, macOS) and with ``GANZOO_MALLOC=default`` in the environment."""
    if os.environ.get(OPT_OUT, "").lower() == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_TOP_PAD, TOP_PAD))
