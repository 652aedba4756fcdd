"""Throughput and latency of ``python -m export.serve`` on loopback, as a Markdown table.

    python -m benchmarks.serve EXPORT_DIR [--concurrency 1,4,16] [--requests 400] [--batch 1]

Starts the service on the export, then for each concurrency level runs that many client
threads (one keep-alive HTTP connection each) that send ``--requests`` inference requests in
all, each of ``--batch`` latent vectors drawn as in training, and checks every answer's shape.
Reports requests/s, images/s and the median and 99th-percentile latency of a request as the
client sees it (JSON encoding and decoding included). Client and server share the machine: on
2 cores the clients' own CPU time is part of what is measured.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from export.serve import DATATYPES, model_name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(export_dir: Path, port: int, *options: str, timeout_s: float = 120) -> subprocess.Popen:
    """``python -m export.serve EXPORT_DIR --port PORT [OPTIONS]``, once it answers ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "export.serve", str(export_dir), "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"export.serve exited: {process.stdout.read()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v2/health/ready")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"export.serve was not ready within {timeout_s} s")


def bodies(report: dict, batch: int, count: int) -> list[bytes]:
    """``count`` request bodies of ``batch`` inputs each, drawn like the export's own checks."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        inputs = []
        for spec in report["inputs"]:
            shape = [batch, *spec["shape"][1:]]
            if spec["dtype"] == "int32":  # a class index (the graph clips it to its classes)
                data = rng.integers(0, 10, shape).ravel().tolist()
            else:
                data = rng.standard_normal(shape).astype(np.float32).ravel().tolist()
            inputs.append(
                {
                    "name": spec["name"],
                    "shape": shape,
                    "datatype": DATATYPES[spec["dtype"]],
                    "data": data,
                }
            )
        out.append(json.dumps({"inputs": inputs}).encode())
    return out


def load(port: int, name: str, payloads: list[bytes], concurrency: int, expected: list) -> dict:
    local = threading.local()
    path = f"/v2/models/{name}/infer"

    def send(body: bytes) -> float:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start = time.perf_counter()
        local.connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = local.connection.getresponse()
        answer = json.loads(response.read())
        elapsed = time.perf_counter() - start
        if response.status != 200 or answer["outputs"][0]["shape"] != expected:
            raise RuntimeError(f"unexpected answer {response.status}: {str(answer)[:200]}")
        return elapsed

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(send, payloads))
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "concurrency": concurrency,
        "requests": len(payloads),
        "requests_per_s": len(payloads) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__)
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    report = json.loads((args.export_dir / "report.json").read_text())
    name = model_name(args.export_dir, report)
    expected = [args.batch, *report["output"]["shape"][1:]]
    levels = [int(c) for c in args.concurrency.split(",")]
    payloads = bodies(report, args.batch, args.requests)
    port = free_port()
    server = start(args.export_dir, port)
    try:
        load(port, name, payloads[:20], 1, expected)  # warm-up
        rows = [load(port, name, payloads, c, expected) for c in levels]
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"{name}, batch {args.batch}, {args.requests} requests per level; {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}, python -m benchmarks.serve"
    )
    print("| concurrent clients | requests/s | images/s | p50 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['requests_per_s']:.0f} | "
            f"{r['requests_per_s'] * args.batch:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"batch": args.batch, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
