"""The exported web page in a real headless Chromium: pixel parity and generation times.

    python -m benchmarks.web EXPORT_DIR [--generations 10] [--screenshot docs/web_page.png]

Serves ``EXPORT_DIR/web`` (``python -m export RUN --format web``) on loopback, opens it in
Debian's Chromium through Selenium, presses "New samples" and moves the interpolation slider,
and for every generation compares what the page computed and drew with onnxruntime's output for
the same inputs (read back from the page): the largest float difference, and the largest
difference in pixel levels between each canvas and ``round((x + 1) * 127.5)``. Prints the time
to load the model and of the first and later generations. ``tests/test_deploy.py`` drives the
page with the same code.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CHROMIUM = ("chromium", "chromedriver")  # Debian's packages chromium and chromium-driver
# What the machine's closed network needs: no background connections, no first-run checks.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=960,900",
)
TIMEOUT_S = 60


def missing_browser() -> str | None:
    """Why the page cannot be driven here, or None."""
    absent = [name for name in CHROMIUM if shutil.which(name) is None]
    if absent:
        return f"{' and '.join(absent)} not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[test]')"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_server(folder: Path):
    """``folder`` served over HTTP on loopback; yields its address."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser():
    """A headless Debian Chromium driven by Selenium, with a fresh profile."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="ganzoo-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which(CHROMIUM[0])
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which(CHROMIUM[1])), options=options)
        driver.set_script_timeout(TIMEOUT_S)
        try:
            yield driver
        finally:
            driver.quit()


_STATE = """
const g = window.ganzoo;
const canvases = Array.from(document.querySelectorAll("canvas.output"));
return {
  ready: g.ready, error: g.error, generations: g.generations, timings: g.timings, last: g.last,
  pixels: canvases.map((c) =>
    Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data)),
};
"""


class Page:
    """The page at ``url`` in ``driver``: each generation's inputs, output and drawn pixels."""

    def __init__(self, driver, url: str):
        self.driver = driver
        self.started = time.perf_counter()
        driver.get(url)
        self.state = self._wait(lambda s: s["ready"] or s["error"])
        self.ready_s = time.perf_counter() - self.started

    def _read(self) -> dict:
        state = self.driver.execute_script(
            "return window.ganzoo ? {ready: window.ganzoo.ready, error: window.ganzoo.error, "
            "generations: window.ganzoo.generations} : {ready: false, error: null, generations: 0}"
        )
        return state

    def _wait(self, done) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            if done(self._read()):
                state = self.driver.execute_script(_STATE)
                if state["error"]:
                    raise RuntimeError(f"the page failed: {state['error']}")
                return state
            time.sleep(0.05)
        raise TimeoutError(f"the page did not finish within {TIMEOUT_S} s")

    def new_samples(self) -> dict:
        count = self.state["generations"]
        self.driver.find_element("id", "new").click()
        self.state = self._wait(lambda s: s["generations"] > count)
        return self.state

    def interpolate(self, percent: int) -> dict:
        count = self.state["generations"]
        self.driver.execute_script(
            "const t = document.getElementById('t'); t.value = arguments[0];"
            "t.dispatchEvent(new Event('input'));",
            percent,
        )
        self.state = self._wait(lambda s: s["generations"] > count)
        return self.state

    def pick_class(self, value: str) -> dict:
        from selenium.webdriver.support.ui import Select

        count = self.state["generations"]
        Select(self.driver.find_element("id", "class")).select_by_value(value)
        self.state = self._wait(lambda s: s["generations"] > count)
        return self.state


def feeds(state: dict) -> dict[str, np.ndarray]:
    """The inputs of the page's last generation, as numpy arrays."""
    return {
        name: np.asarray(t["data"], t["dtype"]).reshape(t["shape"])
        for name, t in state["last"]["inputs"].items()
    }


def parity(state: dict, session) -> dict[str, float]:
    """How far the page's last generation is from onnxruntime's for the same inputs: the float
    output, and the drawn pixel levels (every channel the canvas shows)."""
    expected = session.run(None, feeds(state))[0]
    out = state["last"]["output"]
    actual = np.asarray(out["data"], np.float32).reshape(out["shape"])
    n, h, w, c = expected.shape
    levels = expected.astype(np.float64)
    if out["dtype"] != "uint8":
        levels = np.clip(np.round((levels + 1.0) * 127.5), 0, 255)
    drawn = np.asarray(state["pixels"], np.float64).reshape(n, h, w, 4)[..., :3]
    return {  # a one-channel image is drawn gray: its level in each of R, G and B
        "max_abs_diff": float(np.abs(actual - expected).max()),
        "max_pixel_diff": float(np.abs(drawn - levels).max()),
        # a level off only where the two floats straddle a rounding boundary
        "share_of_pixels_off": float(np.mean(drawn != levels)),
    }


def measure(web_dir: Path, generations: int = 10, screenshot: Path | None = None) -> dict:
    import onnxruntime as ort

    web_dir = Path(web_dir)
    model = json.loads((web_dir / "model.json").read_text())
    session = ort.InferenceSession(str(web_dir / model["onnx"]), providers=["CPUExecutionProvider"])
    checks = []
    with static_server(web_dir) as url, browser() as driver:
        page = Page(driver, url + "index.html")
        checks.append(parity(page.state, session))
        for _ in range(generations - 2):
            checks.append(parity(page.new_samples(), session))
        if any(i["kind"] in ("normal", "code") for i in model["inputs"]):
            checks.append(parity(page.interpolate(50), session))
        if screenshot:
            driver.save_screenshot(str(screenshot))
        timings = page.state["timings"]
    runs = timings["runs_ms"]
    return {
        "model": model["name"],
        "batch": model["batch"],
        "runtime": f"onnxruntime-web {model['runtime']}",
        "browser": driver_version(),
        "page_ready_s": page.ready_s,
        "load_ms": timings["load_ms"],
        "first_ms": runs[0],
        "later_ms_median": statistics.median(runs[1:]) if len(runs) > 1 else None,
        "generations": len(runs),
        "max_abs_diff": max(c["max_abs_diff"] for c in checks),
        "max_pixel_diff": max(c["max_pixel_diff"] for c in checks),
        "share_of_pixels_off": max(c["share_of_pixels_off"] for c in checks),
    }


def driver_version() -> str:
    import subprocess

    done = subprocess.run([shutil.which(CHROMIUM[0]), "--version"], capture_output=True, text=True)
    return done.stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web", description=__doc__)
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args(argv)
    if problem := missing_browser():
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not (args.export_dir / "web" / "model.json").is_file():
        print(
            f"error: {args.export_dir} has no web page; write it with: python -m export RUN "
            "--format web",
            file=sys.stderr,
        )
        return 2
    result = measure(args.export_dir / "web", max(args.generations, 2), args.screenshot)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
