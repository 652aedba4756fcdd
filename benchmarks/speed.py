"""Training and inference speed of ganzoo on this machine, as Markdown tables.

    python -m benchmarks.speed                       # everything (about 10 minutes on 2 CPUs)
    python -m benchmarks.speed --only train --families dcgan,gan --presets tiny
    python -m benchmarks.speed --out results.json    # also the raw numbers

Tables:
    train      generator updates/s and real images/s for each family's default and tiny
               preset: the run's own step function (``training.loop.make_step_function``: the
               distributed iterator, ``strategy.run`` and the global reductions), on the
               offline data, after warm-up steps that absorb tracing.
    switches   the DCGAN default preset with each speed switch of ``runtime.*`` and with
               ``train.backup_every=1`` (a backup written after every step).
    overhead   for each family (``--families``), the run's step function against the family's
               own ``train_step`` called in a plain ``tf.function`` on a plain iterator (no
               strategy, no distributed iterator, no global reductions): the same networks,
               objective and batch, timed in alternating rounds, so the ratio (the median of the
               rounds') is the framework's overhead (1.0 = none). For
               DCGAN also the simplest correct loop written out: a ``tf.function``
               GradientTape step, no trainer at all.
    inference  the generator of each default preset in Keras (a compiled ``tf.function``),
               median ms per call at batch 1 and 64; ``python -m export RUN`` measures the
               exported artifacts.
    data       real images/s of the input pipeline alone (decode, resize, batch, prefetch).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from training.config import resolve  # noqa: E402
from training.data import make_dataset  # noqa: E402
from training.host import tune_allocator  # noqa: E402
from training.loop import make_step_function  # noqa: E402
from training.session import build_session  # noqa: E402
from zoo.errors import GanzooError  # noqa: E402
from zoo.losses import NON_SATURATING, reduce_loss  # noqa: E402

QUIET = ["eval.every=none"]


def machine() -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "gpus": len(gpus),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def _config(family: str, preset: str | None, overrides=()):
    return resolve(family, preset, overrides=["data.source=auto", *QUIET, *overrides])


def _timed(fn, steps: int, warmup: int) -> float:
    """Seconds per call of ``fn`` (after ``warmup`` calls), the median of 3 rounds."""
    for _ in range(warmup):
        fn()
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        rounds.append((time.perf_counter() - start) / steps)
    return statistics.median(rounds)


def _run_step(config):
    """The run's step function as a callable of one ``run_steps`` call, and the steps it runs."""
    session = build_session(config)
    dataset, _ = make_dataset(
        config.data, config.model.image_size, config.model.channels, config.runtime.seed
    )
    run_steps = make_step_function(session, dataset)
    per_call = config.runtime.steps_per_execution
    n = tf.constant(per_call)
    return lambda: float(run_steps(n)["weights_finite"]), per_call


def _rates(config, steps_per_s: float) -> dict:
    real_images = config.data.batch_size * config.objective.d_steps
    return {"steps_per_s": steps_per_s, "images_per_s": steps_per_s * real_images}


def train_rate(config, steps: int, warmup: int) -> dict:
    step, per_call = _run_step(config)
    return _rates(config, per_call / _timed(step, max(1, steps // per_call), warmup))


def plain_loop_rate(config, steps: int, warmup: int) -> dict:
    """The simplest correct DCGAN loop on the same networks, batch and data."""
    keras.utils.set_random_seed(config.runtime.seed)
    nets = zoo.get_family(config.family).build(config.model)
    g, d = nets["generator"], nets["discriminator"]
    g_opt = keras.optimizers.Adam(config.train.g_lr, config.train.beta_1)
    d_opt = keras.optimizers.Adam(config.train.d_lr, config.train.beta_1)
    dataset, _ = make_dataset(
        config.data, config.model.image_size, config.model.channels, config.runtime.seed
    )
    batches = iter(dataset)
    batch = config.data.batch_size

    @tf.function
    def step():
        real = next(batches)["image"]
        z = tf.random.normal([batch, config.model.latent_dim])
        with tf.GradientTape() as tape:
            fake = g(z, training=True)
            loss = NON_SATURATING.d_loss(d(real, training=True), d(fake, training=True))
            loss = reduce_loss(loss, batch)
        d_opt.apply_gradients(
            zip(tape.gradient(loss, d.trainable_variables), d.trainable_variables, strict=True)
        )
        z = tf.random.normal([batch, config.model.latent_dim])
        with tf.GradientTape() as tape:
            g_loss = reduce_loss(
                NON_SATURATING.g_loss(d(g(z, training=True), training=True)), batch
            )
        g_opt.apply_gradients(
            zip(tape.gradient(g_loss, g.trainable_variables), g.trainable_variables, strict=True)
        )
        return loss

    seconds = _timed(lambda: float(step()), steps, warmup)
    return {"steps_per_s": 1 / seconds, "images_per_s": batch / seconds}


def _plain_trainer_step(config):
    """The family's ``train_step`` (networks, objective, EMA) in a plain ``tf.function`` on a
    plain iterator of the same data: what the run's step function costs over it is the
    framework's (strategy, distributed iterator, global reductions, the finite-weights check).
    Only for a ``one_device`` strategy: the step runs outside ``strategy.run``."""
    if config.runtime.strategy != "one_device":
        raise ValueError("the plain train_step needs runtime.strategy=one_device")
    trainer = build_session(config).trainer
    dataset, _ = make_dataset(
        config.data, config.model.image_size, config.model.channels, config.runtime.seed
    )
    batches = iter(dataset)

    @tf.function
    def step():
        data = tuple(next(batches) for _ in range(trainer.batches_per_step))
        return trainer.train_step(data if len(data) > 1 else data[0])

    # a value of the step's logs, read back so that the step has run (every kind logs some)
    return lambda: float(next(iter(step().values())))


def overhead(config, steps: int, warmup: int, rounds: int = 5) -> dict:
    """The run's step function against the plain ``train_step`` (``_plain_trainer_step``),
    timed in alternating rounds of ``steps`` steps so that both see the same state of the
    machine; the ratio (run / plain steps per second, 1.0 = no overhead) is the median of the
    rounds' ratios."""
    ours, per_call = _run_step(config)
    plain = _plain_trainer_step(config)
    calls = max(1, steps // per_call)
    for _ in range(warmup):
        ours(), plain()
    ratios, ours_s, plain_s = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            ours()
        ours_s.append((time.perf_counter() - start) / (calls * per_call))
        start = time.perf_counter()
        for _ in range(steps):
            plain()
        plain_s.append((time.perf_counter() - start) / steps)
        ratios.append(plain_s[-1] / ours_s[-1])
    return {
        "ganzoo": _rates(config, 1 / statistics.median(ours_s)),
        "plain": _rates(config, 1 / statistics.median(plain_s)),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


def backup_cost(config, repeats: int = 10) -> float:
    """Seconds to write one backup of ``config``'s training state."""
    import tempfile
    from pathlib import Path

    from training.checkpoints import CheckpointStore

    session = build_session(config)
    with tempfile.TemporaryDirectory() as folder:
        store = CheckpointStore(session.checkpoint, Path(folder), None)
        return _timed(lambda: store.save(0, kind="backup"), repeats, 2)


def inference_ms(family: str, batch: int, repeats: int = 20) -> float:
    config = _config(family, None)
    session = build_session(config)
    trainer = session.trainer
    inputs = trainer.generator_inputs(tf.constant(batch), 0)
    args = inputs if len(inputs) > 1 else inputs["z"]
    call = tf.function(lambda: trainer.sampler(args, training=False))
    return 1000 * _timed(lambda: call().numpy(), repeats, 3)


def data_rate(config, batches: int = 50) -> float:
    dataset, _ = make_dataset(
        config.data, config.model.image_size, config.model.channels, config.runtime.seed
    )
    it = iter(dataset)
    seconds = _timed(lambda: next(it)["image"].numpy(), batches, 5)
    return config.data.batch_size / seconds


def _rate_row(label: str, steps_per_s: float, batch: int, baseline: float) -> list[str]:
    return [
        label,
        f"{steps_per_s:.1f}",
        f"{steps_per_s * batch:.0f}",
        f"{steps_per_s / baseline:.2f}x",
    ]


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    tune_allocator()
    try:
        return _run(argv)
    except GanzooError as err:  # a config or data the benchmark cannot use
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", default="train,switches,overhead,inference,data")
    parser.add_argument("--families", default="all")
    parser.add_argument("--presets", default="default,tiny")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    families = zoo.list_families() if args.families == "all" else args.families.split(",")
    results: dict = {"machine": machine()}
    m = results["machine"]
    print(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['gpus']} GPU(s); Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}\n",
        flush=True,
    )

    if "train" in parts:
        rows = []
        for family in families:
            for preset in args.presets.split(","):
                name = zoo.get_family(family).default_preset if preset == "default" else preset
                config = _config(family, name)
                r = train_rate(config, args.steps, args.warmup)
                results.setdefault("train", []).append({"family": family, "preset": name, **r})
                rows.append(
                    [
                        f"`{family}`",
                        f"`{name}`",
                        config.data.batch_size,
                        config.objective.d_steps,
                        f"{r['steps_per_s']:.1f}",
                        f"{r['images_per_s']:.0f}",
                    ]
                )
                print(rows[-1], flush=True)
        print(
            _table(["family", "preset", "batch", "D steps", "G updates/s", "real images/s"], rows)
            + "\n"
        )

    base = _config("dcgan", None)
    if "switches" in parts:
        rows = []
        baseline = None
        variants = [
            ("float32, no XLA (baseline)", []),
            (
                "`runtime.mixed_precision=mixed_bfloat16`",
                ["runtime.mixed_precision=mixed_bfloat16"],
            ),
            ("`runtime.mixed_precision=mixed_float16`", ["runtime.mixed_precision=mixed_float16"]),
            ("`runtime.jit_compile=true` (XLA)", ["runtime.jit_compile=true"]),
            ("`runtime.steps_per_execution=10`", ["runtime.steps_per_execution=10"]),
        ]
        for label, overrides in variants:
            r = train_rate(_config("dcgan", None, overrides), args.steps, args.warmup)
            baseline = baseline or r["steps_per_s"]
            results.setdefault("switches", []).append({"switch": label, **r})
            rows.append(_rate_row(label, r["steps_per_s"], base.data.batch_size, baseline))
            print(rows[-1], flush=True)
        cost = backup_cost(base)
        results["backup_seconds"] = cost
        for every, label in ((1, "(a backup after every step)"), (100, "(the default)")):
            rate = 1 / (1 / baseline + cost / every)  # a step, plus its share of a backup
            rows.append(_rate_row(f"`train.backup_every={every}` {label}", rate, 64, baseline))
        print(_table(["dcgan_mnist with", "G updates/s", "real images/s", "vs baseline"], rows))
        print(f"(one backup of the training state: {1000 * cost:.1f} ms)\n")
        # Several steps per call pay off where a step is short: the tiny preset.
        rows, tiny_base = [], None
        for label, overrides in (
            ("dcgan `tiny`", []),
            ("dcgan `tiny`, `runtime.steps_per_execution=10`", ["runtime.steps_per_execution=10"]),
        ):
            r = train_rate(_config("dcgan", "tiny", overrides), 10 * args.steps, args.warmup)
            tiny_base = tiny_base or r["steps_per_s"]
            results.setdefault("switches", []).append({"switch": label, **r})
            rows.append(_rate_row(label, r["steps_per_s"], 8, tiny_base))
            print(rows[-1], flush=True)
        print(_table(["preset", "G updates/s", "real images/s", "vs baseline"], rows) + "\n")

    if "overhead" in parts:
        rows = []
        for family in families:
            # one device: the plain step runs outside strategy.run, which only a one-device
            # strategy's variables allow
            config = _config(family, None, ["runtime.strategy=one_device"])
            measured = overhead(config, args.steps, args.warmup)
            results.setdefault("overhead", []).append({"family": family, **measured})
            ours, plain = measured["ganzoo"], measured["plain"]
            row = [f"`{family}`", f"`{config.preset}`", config.data.batch_size]
            row += [f"{plain['images_per_s']:.0f}", f"{ours['images_per_s']:.0f}"]
            spread = f"{min(measured['ratios']):.2f}-{max(measured['ratios']):.2f}"
            rows.append(row + [f"{measured['ratio']:.2f} ({spread})"])
            if family == "dcgan":  # and the loop written out, without a trainer
                hand = plain_loop_rate(config, args.steps, args.warmup)
                results["overhead"][-1]["hand_written"] = hand
                rows.append(
                    ["`dcgan`, GradientTape loop written out", "", config.data.batch_size]
                    + [f"{hand['images_per_s']:.0f}", "", ""]
                )
            print(rows[-1], flush=True)
        header = ["family", "preset", "batch", "plain real img/s", "ganzoo real img/s"]
        print(_table(header + ["ratio (rounds' range)"], rows) + "\n")

    if "inference" in parts:
        rows = []
        for family in families:
            ms1, ms64 = inference_ms(family, 1), inference_ms(family, 64)
            results.setdefault("inference", []).append(
                {"family": family, "ms_batch1": ms1, "ms_batch64": ms64}
            )
            rows.append([f"`{family}`", f"{ms1:.2f}", f"{ms64:.2f}", f"{ms64 / 64:.3f}"])
            print(rows[-1], flush=True)
        print(
            _table(
                ["family (default preset)", "ms, batch 1", "ms, batch 64", "ms/image, batch 64"],
                rows,
            )
            + "\n"
        )

    if "data" in parts:
        rate = data_rate(base)
        results["data_images_per_s"] = rate
        print(f"input pipeline alone (dcgan_mnist, batch 64): {rate:.0f} real images/s\n")

    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
