"""Test setup: two logical CPU devices (for MirroredStrategy tests) and no outside network."""

import gc
import os
import socket
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Must happen before TensorFlow creates its devices, i.e. before any test runs an op.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import training.data  # noqa: E402
from training import config as cfg  # noqa: E402


@pytest.fixture(autouse=True)
def _free_pipelines():
    """Frees tf.data iterators caught in reference cycles while the interpreter is fully alive."""
    yield
    gc.collect()


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
    monkeypatch.setattr(training.data, "DOWNLOAD_HOST", closed)
    return closed


@pytest.fixture
def reachable_host(monkeypatch):
    """A loopback listener standing in for a reachable TFDS download host."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    monkeypatch.setattr(training.data, "DOWNLOAD_HOST", server.getsockname())
    yield server.getsockname()
    server.close()


def tiny_config(family="dcgan", *overrides):
    """The family's tiny preset on the vendored MNIST, with ``section.key=value`` overrides."""
    return cfg.resolve(family, "tiny", overrides=["data.source=vendored", *overrides])
