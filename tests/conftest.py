"""Test setup: two logical CPU devices (for MirroredStrategy tests) and no outside network."""

import gc
import os
import shutil
import socket
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Must happen before TensorFlow creates its devices, i.e. before any test runs an op.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import training.sources  # noqa: E402
from training import config as cfg  # noqa: E402
from training.host import tune_allocator  # noqa: E402

tune_allocator()  # as every command line does (training.host)


@pytest.fixture(autouse=True)
def _free_pipelines():
    """Frees tf.data iterators caught in reference cycles while the interpreter is fully alive.

    Then freezes what survived (gc.freeze): TensorFlow, Keras and the shared fixtures are
    hundreds of thousands of objects that stay alive all session, and a full collection
    walked them after every test (0.17 s a test, measured: a third of the time of the fast
    tests). Frozen, they are skipped, so each collection looks only at what the test made.
    The cost is that an object alive now and dropped in a later cycle is never collected: at
    most a module fixture's model, a few MB.
    """
    yield
    gc.collect()
    gc.freeze()


def pytest_sessionfinish(session, exitstatus):
    session.config._ganzoo_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    """Ends the process once pytest has reported, skipping native teardown.

    Seen in CI (py-spy, native stack): after "159 passed" the interpreter hung in
    EagerTensor_dealloc -> IteratorResource::~IteratorResource -> UnboundedThreadPool waiting
    for a tf.data worker thread. A dataset whose worker runs Python (tfds.testing.mock_data
    builds them with from_generator) can be freed during finalization, when that thread can no
    longer take the GIL, so the wait never ends. The CLIs use pure-TF pipelines and exit
    normally; only this test process needs the shortcut. The exit status is pytest's own.
    """
    status = getattr(config, "_ganzoo_exitstatus", None)
    if status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Points the TFDS download probe at a closed loopback port: the tests never go online."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()
    monkeypatch.setattr(training.sources, "DOWNLOAD_HOST", closed)
    return closed


@pytest.fixture
def reachable_host(monkeypatch):
    """A loopback listener standing in for a reachable TFDS download host."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    monkeypatch.setattr(training.sources, "DOWNLOAD_HOST", server.getsockname())
    yield server.getsockname()
    server.close()


def tiny_config(family="dcgan", *overrides):
    """The family's tiny preset on the vendored MNIST, with ``section.key=value`` overrides."""
    return cfg.resolve(family, "tiny", overrides=["data.source=vendored", *overrides])


SHARED_STEPS = 2  # the training steps of every shared run (``trained_runs``)


class TrainedRuns:
    """One short run of each family's tiny preset, trained the first time a test asks for it and
    then shared by every test that only needs a trained run folder (export, reload, evaluate,
    sample). Training once per family and session, rather than once per test module, keeps the
    suite's time from growing with each test that needs a trained generator.

    The folders are shared, so treat them as read-only: a test that writes into a run folder
    (``training.evaluate`` writes metrics.json, which the export's model card then reads) works
    on ``copy(family, dest)``.
    """

    def __init__(self, root):
        self._root = root
        self._results = {}
        self._exports = {}

    def config(self, family):
        """The configuration every shared run of ``family`` is trained with."""
        return tiny_config(family, f"train.steps={SHARED_STEPS}")

    def result(self, family):
        """The ``RunResult`` of the shared run of ``family`` (its final step and logs)."""
        if family not in self._results:
            from training.loop import train

            run_dir = self._root / family / "run"
            self._results[family] = train(self.config(family), run_dir)
        return self._results[family]

    def __call__(self, family):
        """The shared run folder of ``family``."""
        return self.result(family).run_dir

    def export(self, family):
        """(folder, report) of the shared run exported in every format, with one latency repeat.
        The folder is beside the run folder, which stays as training left it."""
        if family not in self._exports:
            from export import ExportOptions, export_run

            out = self._root / family / "export"
            report = export_run(self(family), out, ExportOptions(repeats=1))
            self._exports[family] = (out, report)
        return self._exports[family]

    def copy(self, family, dest):
        """A private copy of the shared run folder of ``family`` at ``dest``, to write into."""
        shutil.copytree(self(family), dest)
        return dest


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory):
    """``trained_runs(family)``: the folder of one short trained run per family (see
    ``TrainedRuns``), trained on first use and shared by the whole session."""
    return TrainedRuns(tmp_path_factory.mktemp("trained_runs"))


@pytest.fixture(scope="session")
def lean_exports(trained_runs, tmp_path_factory):
    """``lean_exports(family, variants=())``: the shared run of ``family`` exported as
    SavedModel and ONNX only (no TFLite: a third of the time), for tests of what reads an export
    folder (``training.latent``, ``training.project``); with ``variants``, its export with those
    variants, in the folder beside the plain one where ``python -m export RUN --VARIANT`` puts
    it (``export_class_weights``), exported on first use. stylegan2's plain export always has
    its ``--truncation`` variant beside it, in ``export_truncation``."""
    from export import ExportOptions, export_run
    from export.core import default_folder

    root, done = tmp_path_factory.mktemp("lean_exports"), {}

    def export(family, variants):
        out = root / family / default_folder("AB", variants)
        options = ExportOptions(formats=("savedmodel", "onnx"), repeats=1, variants=variants)
        export_run(trained_runs(family), out, options)
        return out

    def get(family, variants=()):
        variants = tuple(variants)
        if (family, variants) not in done:
            done[family, variants] = export(family, variants)
            if family == "stylegan2" and not variants:
                done[family, ("truncation",)] = export(family, ("truncation",))
        return done[family, variants]

    return get
