"""The browser page: ``python -m export RUN --format web`` writes ``EXPORT/web/``.

    web/index.html, app.js            the page (``export/page/``): a grid of samples, a "New
                                      samples" button, a latent interpolation slider, a class
                                      picker for conditional generators
    web/model.json                    what the page needs to feed the generator: each input's
                                      name, shape, type and kind, the output's range
    web/generator.onnx                the verified ONNX file (a hard link to the export's own)
    web/examples_NAME.u8              real inputs for a generator that translates images,
                                      uint8 ``round((x + 1) * 127.5)``
    web/ort.wasm.min.js, ort-wasm-*   onnxruntime-web's WebAssembly build

The runtime is onnxruntime-web at the version pinned in ``export/page/package-lock.json``,
installed once with npm (``npm ci``) into ganzoo's cache (``GANZOO_CACHE``, default
``~/.cache/ganzoo``), or taken from ``--ort-web DIR``, a folder that already holds the files of
``RUNTIME_FILES`` (an onnxruntime-web ``dist`` folder). The page must be served over HTTP
(browsers do not fetch WebAssembly from ``file://``), e.g.
``python -m http.server --directory EXPORT/web 8000``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from export.sampler import ExportError, Sampler
from export.serving import hard_link, model_name

PAGE = Path(__file__).parent / "page"
PAGE_FILES = ("index.html", "app.js")
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")
WEB_FOLDER = "web"
BATCH = 16  # samples per generation on the page
EXAMPLES = 64  # real inputs shipped for a generator that translates images
NPM_TIMEOUT_S = 300


def runtime_version() -> str:
    return json.loads((PAGE / "package.json").read_text())["dependencies"]["onnxruntime-web"]


def cache_dir() -> Path:
    if os.environ.get("GANZOO_CACHE"):
        return Path(os.environ["GANZOO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganzoo"


def find_runtime(ort_web: str | Path | None = None) -> Path:
    """A folder holding onnxruntime-web's ``RUNTIME_FILES``: ``ort_web`` when given, else
    ganzoo's cache, filled with npm the first time. A one-line ``ExportError`` otherwise."""
    if ort_web is not None:
        folder = Path(ort_web)
        if missing := _missing(folder):
            raise ExportError(
                f"--ort-web {folder} lacks {', '.join(missing)}; give onnxruntime-web's dist "
                f"folder (version {runtime_version()}: node_modules/onnxruntime-web/dist)"
            )
        return folder
    cache = cache_dir() / f"onnxruntime-web-{runtime_version()}"
    return cache if not _missing(cache) else _install(cache)


def _missing(folder: Path) -> list[str]:
    return [name for name in RUNTIME_FILES if not (folder / name).is_file()]


def _install(cache: Path) -> Path:
    version = runtime_version()
    instead = (
        f"or give --ort-web DIR holding onnxruntime-web {version}'s {', '.join(RUNTIME_FILES)}"
    )
    npm = shutil.which("npm")
    if npm is None:
        raise ExportError(
            f"--format web needs onnxruntime-web {version} from the npm registry, and npm is not "
            f"installed: install Node.js with npm, {instead}"
        )
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache.parent, prefix=".npm-") as tmp:
            for name in ("package.json", "package-lock.json"):
                shutil.copy(PAGE / name, tmp)
            env = {
                **os.environ,
                "npm_config_fetch_retries": "1",
                "npm_config_fetch_timeout": "60000",
            }
            try:
                done = subprocess.run(
                    [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=tmp,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=NPM_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired:
                raise ExportError(
                    f"npm did not install onnxruntime-web {version} within {NPM_TIMEOUT_S} s (is "
                    f"the npm registry reachable?); {instead}"
                ) from None
            if done.returncode != 0:
                said = [line for line in done.stderr.splitlines() if line.strip()]
                raise ExportError(
                    f"npm could not install onnxruntime-web {version} "
                    f"({said[0][:160] if said else f'exit code {done.returncode}'}); {instead}"
                )
            staged = Path(tmp) / "runtime"
            staged.mkdir()
            dist = Path(tmp) / "node_modules" / "onnxruntime-web"
            for name in RUNTIME_FILES:
                shutil.copy(dist / "dist" / name, staged / name)
            try:
                os.rename(staged, cache)  # whole or not at all
            except OSError:
                if _missing(cache):  # not another export that filled it meanwhile
                    raise
    except OSError as err:
        raise ExportError(
            f"cannot install onnxruntime-web into {cache} ({err.strerror or err}); set "
            f"GANZOO_CACHE to another folder, {instead}"
        ) from None
    return cache


def write_web(sampler: Sampler, onnx: Path, folder: Path, runtime: Path) -> dict:
    """Writes ``folder/web`` (see the module docstring); returns what it holds, for the report
    (paths relative to ``folder``)."""
    web = folder / WEB_FOLDER
    web.mkdir()
    for name in PAGE_FILES:
        shutil.copy(PAGE / name, web / name)
    for name in RUNTIME_FILES:
        shutil.copy(runtime / name, web / name)
    hard_link(onnx, web / onnx.name)
    declared = sampler.contract.inputs
    inputs = []
    for spec in sampler.inputs:
        entry = {**spec.as_dict(), "kind": declared[spec.name].kind}
        if declared[spec.name].kind == "class":
            entry["classes"] = declared[spec.name].classes
        if declared[spec.name].kind == "data":
            entry["examples"] = f"examples_{spec.name}.u8"
            count = min(EXAMPLES, len(sampler.calibration[declared[spec.name].key]))
            images = sampler.example_inputs(count, seed=0)[spec.name]
            pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
            (web / entry["examples"]).write_bytes(pixels.tobytes())
        inputs.append(entry)
    config = sampler.run_config
    steps = f", {sampler.step} training steps" if sampler.step is not None else ""
    model = {
        "name": model_name(config.get("family"), sampler.direction),
        "family": config.get("family") or "unknown",
        "about": (
            f"{config.get('family', 'A')} generator ({config.get('preset', 'no')} preset{steps}) "
            "running in this browser with onnxruntime-web: nothing is sent to a server."
        ),
        "onnx": onnx.name,
        "batch": BATCH,
        "runtime": runtime_version(),
        "inputs": inputs,
        "output": sampler.output,
    }
    (web / "model.json").write_text(json.dumps(model, indent=2) + "\n")
    return {"page": f"{WEB_FOLDER}/index.html", "runtime": f"onnxruntime-web {runtime_version()}"}
