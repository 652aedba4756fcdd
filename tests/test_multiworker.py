"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train what one process does."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.conftest import tiny_config
from training.loop import train

# Batch norm normalizes each replica's share of the batch, so it is the one thing that
# legitimately differs between 2 workers and 1 device; without it the math is the same and
# only the order of float additions in the all-reduce differs.
SAME_MATH = ["model.g_norm=none", "model.d_norm=none", "train.steps=6", "eval.every=none"]
TOLERANCE = 1e-5  # max abs weight difference after 6 steps (float32 summation order)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_match_one_process_and_only_the_chief_writes(tmp_path):
    run_dir = tmp_path / "multi"
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    args = ["dcgan", "--preset", "tiny", "--set", "data.source=vendored", "--run-dir", str(run_dir)]
    for item in [*SAME_MATH, "runtime.strategy=multi_worker"]:
        args += ["--set", item]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="3")
        env["TMPDIR"] = str(tmp_path / f"tmp{index}")
        os.mkdir(env["TMPDIR"])
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "training.run", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
        assert "done: 6 steps" in out

    # The chief wrote the run folder; the other worker's temporary folder is gone.
    assert (run_dir / "generator.keras").is_file() and (
        run_dir / "checkpoints" / "ckpt-6.index"
    ).is_file()
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png"))[-1] == "step_000006.png"
    assert not list((tmp_path / "tmp1").iterdir()), "the non-chief worker left files behind"

    single = train(
        tiny_config("dcgan", *SAME_MATH, "runtime.strategy=one_device"), tmp_path / "one"
    )
    assert single.step == 6
    a = keras.saving.load_model(run_dir / "generator.keras")
    b = keras.saving.load_model(tmp_path / "one" / "generator.keras")
    diffs = [np.abs(x - y).max() for x, y in zip(a.get_weights(), b.get_weights(), strict=True)]
    assert max(diffs) < TOLERANCE, diffs
    # and the weights did move: the comparison is not between two untrained networks
    fresh = train(tiny_config("dcgan", *SAME_MATH[:2], "train.steps=1"), tmp_path / "fresh")
    c = keras.saving.load_model(fresh.run_dir / "generator.keras")
    assert (
        max(np.abs(x - y).max() for x, y in zip(a.get_weights(), c.get_weights(), strict=True))
        > 10 * TOLERANCE
    )
