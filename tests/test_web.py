"""The web page (``python -m export RUN --format web``) in a real headless Chromium: what it
draws against onnxruntime, its controls, and a missing runtime."""

import json
import os
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from benchmarks import web as page
from export import ExportError, ExportOptions, export_run, web
from export.sampler import load_sampler

# CI sets it: there, a missing Chromium or npm fails the browser tests instead of skipping them.
REQUIRE_BROWSER = os.environ.get("GANZOO_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def runtime():
    """onnxruntime-web from ganzoo's cache, installed with npm on first use."""
    problem = page.missing_browser() or (None if shutil.which("npm") else "npm not installed")
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"GANZOO_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    return web.find_runtime()


def test_web_page_draws_what_onnxruntime_computes(trained_runs, runtime, tmp_path):
    report = export_run(
        trained_runs("dcgan"), tmp_path / "exp", ExportOptions(formats=("web",), repeats=1)
    )
    assert [r["format"] for r in report["results"]] == ["keras", "onnx"]  # web needs onnx
    folder = tmp_path / "exp" / "web"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*web.PAGE_FILES, *web.RUNTIME_FILES, "model.json", "generator.onnx"]
    )
    shot = tmp_path / "page.png"
    result = page.measure(folder, generations=4, screenshot=shot)
    # three generations of new latents and one halfway along the slider, each checked
    assert result["generations"] == 4
    assert result["max_abs_diff"] <= 1e-4 and result["max_pixel_diff"] <= 1
    assert result["share_of_pixels_off"] <= 1e-3
    assert result["load_ms"] > 0 and result["first_ms"] > 0 and result["later_ms_median"] > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
    print(f"web page: {json.dumps(result)}")


def test_web_page_class_picker_and_translation_inputs(trained_runs, runtime, tmp_path):
    """A conditional generator gets a class picker; one that translates images shows the real
    inputs it was given beside its outputs, and no latent slider."""
    pages = {}
    for family in ("cgan", "pix2pix"):
        out, _ = trained_runs.export(family)
        folder = tmp_path / family
        folder.mkdir()
        web.write_web(load_sampler(trained_runs(family)), out / "generator.onnx", folder, runtime)
        pages[family] = folder / "web"
    session = {
        f: ort.InferenceSession(str(p / "generator.onnx"), providers=["CPUExecutionProvider"])
        for f, p in pages.items()
    }
    with page.browser() as driver:
        with page.static_server(pages["cgan"]) as url:
            cgan = page.Page(driver, url + "index.html")
            mixed = page.feeds(cgan.state)["label"]
            assert len(set(mixed.tolist())) > 1  # "mixed": drawn classes
            state = cgan.pick_class("3")
            assert page.feeds(state)["label"].tolist() == [3] * 16
            drawn = page.parity(state, session["cgan"])
            assert drawn["max_pixel_diff"] <= 1 and drawn["share_of_pixels_off"] <= 1e-3
            before = page.feeds(state)["z"]
            state = cgan.interpolate(100)
            after = page.feeds(state)["z"]
            assert np.abs(after - before).max() > 0.1  # the far end is other latents
            np.testing.assert_allclose(  # slerp keeps the norms of Gaussian latents close
                np.linalg.norm(after, axis=1).mean(),
                np.linalg.norm(before, axis=1).mean(),
                rtol=0.3,
            )
            assert page.parity(state, session["cgan"])["max_abs_diff"] <= 1e-4
        with page.static_server(pages["pix2pix"]) as url:
            pix = page.Page(driver, url + "index.html")
            assert driver.find_element("id", "t").get_attribute("disabled") is not None
            first = page.feeds(pix.state)["source"]
            assert len(driver.find_elements("css selector", "canvas.input")) == 16
            assert page.parity(pix.state, session["pix2pix"])["max_abs_diff"] <= 1e-4
            state = pix.new_samples()  # the next 16 real inputs
            assert np.abs(page.feeds(state)["source"] - first).max() > 0.1
            drawn = page.parity(state, session["pix2pix"])
            assert drawn["max_pixel_diff"] <= 1 and drawn["share_of_pixels_off"] <= 1e-3


def test_web_without_npm_is_one_line_and_writes_nothing(trained_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(web.shutil, "which", lambda name: None)
    out = tmp_path / "exp"
    with pytest.raises(ExportError, match="npm is not installed: install Node.js") as err:
        export_run(trained_runs("dcgan"), out, ExportOptions(formats=("web",), repeats=1))
    assert "\n" not in str(err.value) and not out.exists()
    lacking = tmp_path / "dist"
    lacking.mkdir()
    (lacking / "ort.wasm.min.js").write_text("")
    with pytest.raises(ExportError, match="lacks ort-wasm-simd-threaded.wasm"):
        export_run(
            trained_runs("dcgan"), out, ExportOptions(formats=("web",), ort_web=str(lacking))
        )
    assert not out.exists()
