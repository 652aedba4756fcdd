"""The speed switches: mixed precision, XLA and several steps per execution."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import tiny_config
from tests.events import summaries
from training.loop import build_session, open_run, train
from training.strategy import mixed_precision_policy, use_jit
from zoo.contract import CALIBRATION_FILE


def _finite(session):
    for net in (session.trainer.generator, session.trainer.discriminator):
        for w in net.weights:
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(w))), w.path


def _max_diff(a, b):
    return max(
        float(np.abs(x.numpy() - y.numpy()).max())
        for x, y in zip(a.trainer.generator.weights, b.trainer.generator.weights, strict=True)
    )


# One family per network builder (the DCGAN builder serves seven families; sngan's spectral
# norm and infogan's heads are its variants with their own layers) and per trainer kind.
BFLOAT16_FAMILIES = (
    *("gan", "dcgan", "sngan", "infogan", "sgan", "pix2pix", "pix2pixhd", "srgan", "esrgan"),
    *("cyclegan", "progan", "discogan", "dualgan", "ganilla", "cartoongan", "stargan"),
    "biggan",  # and sagan, which builds with it
    "stylegan2",
)


@pytest.mark.parametrize("family", BFLOAT16_FAMILIES)
def test_mixed_bfloat16_trains_every_kind_of_network_and_ships_float32(family, tmp_path):
    config = tiny_config(family, "runtime.mixed_precision=mixed_bfloat16", "train.steps=3")
    result = train(config, tmp_path / "run")
    assert result.step == 3 and all(np.isfinite(v) for v in result.logs.values()), result.logs
    session, _ = open_run(tmp_path / "run")
    _finite(session)
    computes = {layer.compute_dtype for layer in session.trainer.generator.layers}
    assert "bfloat16" in computes  # the switch is really on
    shipped = keras.saving.load_model(tmp_path / "run" / "generator.keras")
    assert {layer.compute_dtype for layer in shipped.layers} == {"float32"} or all(
        layer.compute_dtype in ("float32", "int32") for layer in shipped.layers
    )
    # inputs as the contract declares them; real examples for what the generator reads
    shapes = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in shipped.inputs}
    contract = session.trainer.contract
    real = dict(np.load(tmp_path / "run" / CALIBRATION_FILE)) if contract.data_keys else None
    feeds = contract.example_inputs(shapes, 4, np.random.default_rng(0), real)
    args = [feeds[name] for name in shapes]
    args = args if len(args) > 1 else args[0]
    mixed = session.trainer.sampler(args, training=False)
    full = shipped(args, training=False)
    assert mixed.dtype == full.dtype == tf.float32
    # bfloat16 keeps 2-3 significant digits; a normalization of a near-zero feature vector
    # (ProGAN's pixel norm) can amplify that in a pixel or two (measured: 1 of 1,024 at 0.11)
    difference = np.abs(np.asarray(full) - np.asarray(mixed))
    assert difference.mean() < 0.02 and difference.max() < 0.3, (
        difference.mean(),
        difference.max(),
    )


@pytest.mark.parametrize("family", ["wgan_gp"])  # both networks' scales, two D batches a step
def test_mixed_float16_uses_loss_scaling_and_trains(family, tmp_path):
    config = tiny_config(family, "runtime.mixed_precision=mixed_float16", "train.steps=3")
    result = train(config, tmp_path / "run")
    assert all(np.isfinite(v) for v in result.logs.values()), result.logs
    session, step = open_run(tmp_path / "run")  # the loss scale is part of the checkpoint
    assert step == 3
    for name, opt in session.trainer.optimizers.items():
        assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
        # restored, not new: the scale counts the optimizer's steps since it last changed (0 in
        # a new optimizer), and it only ever halves or doubles from 2^15
        steps, since = int(opt.iterations.numpy()), int(opt.step_counter.numpy())
        assert 0 < since <= steps, (name, since, steps)
        assert np.log2(float(opt.dynamic_scale.numpy())) in range(16 - steps, 16 + 1), name
    _finite(session)


@pytest.mark.parametrize("family", ["dcgan"])  # (wgan_gp: XLA of two D batches, 3 s more)
def test_xla_trains_and_resumes_exactly(family, tmp_path):
    """XLA draws other normal noise than the plain step for the same seed (its sampler is
    another implementation), so the check is that it trains, and that 2 + 2 steps give 4."""
    xla = ["runtime.jit_compile=true", "train.checkpoint_every=2"]
    result = train(tiny_config(family, *xla, "train.steps=4"), tmp_path / "straight")
    assert all(np.isfinite(v) for v in result.logs.values()), result.logs
    train(tiny_config(family, *xla, "train.steps=2"), tmp_path / "resumed")
    resumed = tiny_config(family, *xla, "train.steps=4")
    train(resumed, tmp_path / "resumed", resume=True)
    a, b = open_run(tmp_path / "straight")[0], open_run(tmp_path / "resumed")[0]
    assert a.jit and b.jit  # the sessions of both runs, as reopened from their configs
    _finite(a)
    assert _max_diff(a, b) < 1e-6
    fresh = build_session(tiny_config(family, "runtime.jit_compile=false"))
    assert not fresh.jit
    assert _max_diff(a, fresh) > 1e-4  # and the weights did move


def test_steps_per_execution_computes_the_same_steps_and_keeps_events_exact(tmp_path, capsys):
    """The same weights, events at the same steps, and the same logged means: each call's
    logs average its steps (4, then 2 cut short at the event), and the progress line and
    TensorBoard weight them by those steps."""
    events = ["train.steps=12", "train.log_every=6", "train.sample_every=6"]
    events += ["train.checkpoint_every=6", "train.backup_every=none"]
    train(tiny_config("dcgan", *events), tmp_path / "one")
    one = capsys.readouterr().out
    train(tiny_config("dcgan", *events, "runtime.steps_per_execution=4"), tmp_path / "four")
    four = capsys.readouterr().out
    assert _max_diff(open_run(tmp_path / "one")[0], open_run(tmp_path / "four")[0]) == 0.0

    def progress(out):
        return [line.split(" (")[0] for line in out.splitlines() if line.startswith("step ")]

    assert len(progress(one)) == 2 and progress(four) == progress(one)
    logged = [summaries(tmp_path / run / "logs", "d_loss") for run in ("one", "four")]
    assert logged[0]["d_loss"].keys() == {6, 12}
    for step in (6, 12):
        assert logged[1]["d_loss"][step] == pytest.approx(logged[0]["d_loss"][step], rel=1e-6)
    samples = sorted(p.name for p in (tmp_path / "four" / "samples").glob("*.png"))
    assert samples == ["step_000000.png", "step_000006.png", "step_000012.png"]
    checkpoints = sorted(p.name for p in (tmp_path / "four" / "checkpoints").glob("*.index"))
    assert checkpoints == ["ckpt-12.index", "ckpt-6.index"]


def test_auto_switches_on_a_cpu(tmp_path, monkeypatch):
    """auto: bfloat16 only on a CPU that computes it natively; XLA never on a CPU (measured
    slower here, README)."""
    from training import strategy as strategies

    with_bf16 = tmp_path / "bf16"
    with_bf16.write_text("processor: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    without = tmp_path / "plain"
    without.write_text("processor: 0\nflags\t\t: fpu sse avx2\n")
    assert strategies.cpu_has_bfloat16(str(with_bf16))
    assert not strategies.cpu_has_bfloat16(str(without))
    assert not strategies.cpu_has_bfloat16(str(tmp_path / "missing"))

    config = tiny_config("dcgan", "runtime.mixed_precision=auto")
    cpu = tf.distribute.OneDeviceStrategy("/cpu:0")
    for native, policy in ((True, "mixed_bfloat16"), (False, "float32")):
        monkeypatch.setattr(strategies, "cpu_has_bfloat16", lambda native=native: native)
        assert mixed_precision_policy(config.runtime, cpu) == policy
    assert use_jit(config.runtime, cpu) is False
    config = tiny_config("dcgan", "runtime.mixed_precision=none")
    assert mixed_precision_policy(config.runtime, cpu) == "float32"


def test_bfloat16_covers_every_network_builder_and_kind():
    """The families the bfloat16 test trains cover every network builder and trainer kind, so
    a new family of another kind or with its own builder is added to it."""
    covered = {zoo.get_family(f).build for f in BFLOAT16_FAMILIES}
    kinds = {
        zoo.get_family(f).contract(zoo.get_family(f).model_config()).kind for f in BFLOAT16_FAMILIES
    }
    for name in zoo.list_families():
        family = zoo.get_family(name)
        assert family.build in covered, name
        assert family.contract(family.model_config()).kind in kinds, name
