"""Test setup: two logical CPU devices (for MirroredStrategy tests) and no outside network."""

import os
import socket

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Must happen before TensorFlow creates its devices, i.e. before any test runs an op.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import training.data  # noqa: E402
from training import config as cfg  # noqa: E402


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
