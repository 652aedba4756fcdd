"""``tf.distribute`` strategies by name (``runtime.strategy``)."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from training.sections import ConfigError, RuntimeConfig, first_line


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
    if runtime.strategy == "multi_worker":  # before anything initializes the TF runtime
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
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as err:  # TensorFlow was started before the strategy
            raise ConfigError(
                f"runtime.strategy=multi_worker: {err}; start each worker in a fresh process"
            ) from None
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
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=runtime.tpu or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as err:
            raise ConfigError(
                f"runtime.strategy=tpu: no TPU found (runtime.tpu={runtime.tpu!r}): "
                f"{first_line(err)}"
            ) from None
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"unknown runtime.strategy {runtime.strategy!r}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run folder: always, except on the non-chief workers of
    a multi-worker run (the chief is task ``chief``, or ``worker`` 0 when there is none)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    if resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def accelerator(strategy: tf.distribute.Strategy) -> str:
    """``"tpu"``, ``"gpu"`` or ``"cpu"``: what the strategy's replicas run on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "tpu"
    devices = getattr(strategy.extended, "worker_devices", ()) or ()
    if any("GPU" in d.upper() for d in devices) or (
        not devices and tf.config.list_logical_devices("GPU")
    ):
        return "gpu"
    return "cpu"


def mixed_precision_policy(runtime: RuntimeConfig, strategy: tf.distribute.Strategy) -> str:
    """The Keras dtype policy that ``runtime.mixed_precision`` means on this hardware."""
    if runtime.mixed_precision != "auto":
        return "float32" if runtime.mixed_precision == "none" else runtime.mixed_precision
    kind = accelerator(strategy)
    if kind == "cpu":  # only with native bfloat16 arithmetic; emulated it is slower
        return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
    return {"gpu": "mixed_float16", "tpu": "mixed_bfloat16"}[kind]


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes in bfloat16 natively (x86 AVX512_BF16 or AMX_BF16)."""
    try:
        with open(cpuinfo) as f:
            flags = next(
                (line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []
            )
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def use_jit(runtime: RuntimeConfig, strategy: tf.distribute.Strategy) -> bool:
    """Whether each replica's step is XLA-compiled (``runtime.jit_compile``; auto: on GPUs).
    On TPUs everything is compiled anyway, so the flag is not needed there."""
    kind = accelerator(strategy)
    if kind == "tpu":
        return False
    if runtime.jit_compile is None:
        return kind == "gpu"
    return runtime.jit_compile
