"""The allocator set-up that every command line and the test session run (training.host)."""

import platform

import pytest

from training import host


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt"
)
def test_glibc_takes_the_top_pad():
    assert host.tune_allocator() is True


def test_opt_out_keeps_the_c_library_settings(monkeypatch):
    monkeypatch.setenv(host.OPT_OUT, "default")
    assert host.tune_allocator() is False


@pytest.mark.parametrize(
    "module",
    [
        "training.run",
        "training.evaluate",
        "training.sample",
        "training.classifier",
        "export.__main__",
        "benchmarks.speed",
        "benchmarks.digits",
        "benchmarks.quality",
    ],
)
def test_every_command_line_tunes_the_allocator(module, monkeypatch):
    """Training, evaluating, sampling or exporting without it runs at less than half the speed
    here (training.host): each command line tunes the allocator before anything else."""
    import importlib

    main = importlib.import_module(module)
    calls = []
    monkeypatch.setattr(main, "tune_allocator", lambda: calls.append(True))
    with pytest.raises(SystemExit) as exit_:
        main.main(["--help"])
    assert exit_.value.code == 0 and calls == [True]
