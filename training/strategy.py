"""``tf.distribute`` strategies by name (``runtime.strategy``)."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from training.config import ConfigError, RuntimeConfig


def configure_devices(runtime: RuntimeConfig) -> None:
    """Applies ``runtime.virtual_cpus``; must run before TensorFlow creates its devices."""
    if runtime.virtual_cpus is None:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * runtime.virtual_cpus
    if tf.config.get_logical_device_configuration(cpu) == wanted:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != runtime.virtual_cpus:
            raise ConfigError(
                f"runtime.virtual_cpus={runtime.virtual_cpus} cannot be applied: TensorFlow "
                f"already runs with {have} CPU device(s) in this process"
            ) from None


def make_strategy(runtime: RuntimeConfig) -> tf.distribute.Strategy:
    """The strategy ``runtime.strategy`` names.

    ``auto`` is MirroredStrategy when there are several GPUs and OneDeviceStrategy otherwise;
    ``mirrored`` without GPUs mirrors over the CPU devices (see ``runtime.virtual_cpus``).
    """
    configure_devices(runtime)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    name = runtime.strategy
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 and runtime.devices is None else "one_device"
    if name == "one_device":
        device = (runtime.devices or gpus or cpus)[0]
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        devices = runtime.devices or gpus or cpus
        if any("GPU" in d.upper() for d in devices):
            return tf.distribute.MirroredStrategy(devices)
        # Over CPU devices there is no NCCL to use; collective all-reduce would also make
        # separate strategies in one process collide on collective instance keys.
        return tf.distribute.MirroredStrategy(
            devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError(
                "runtime.strategy=multi_worker needs the TF_CONFIG environment variable "
                '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}})'
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as err:
            raise ConfigError(f"TF_CONFIG is not valid JSON: {err.msg}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown runtime.strategy {runtime.strategy!r}")
