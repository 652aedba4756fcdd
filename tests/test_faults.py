"""Injected faults: a killed process, a diverged loss, a full disk, a read-only run folder.
Each test checks the message and that nothing that was done is lost."""

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import SHARED_STEPS, tiny_config
from training.config import load
from training.loop import RunError, open_run, train
from training.run import main as run_main
from zoo import losses

TINY = ["dcgan", "--preset", "tiny", "--set", "data.source=vendored"]


def _cli(*args, preexec_fn=None):
    return subprocess.Popen(
        [sys.executable, "-m", "training.run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1"),
        preexec_fn=preexec_fn,
    )


def _same_weights(a, b, atol=1e-6):
    for name in ("generator", "discriminator"):
        for x, y in zip(
            getattr(a.trainer, name).weights, getattr(b.trainer, name).weights, strict=True
        ):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=atol, err_msg=name)
    for opt in ("generator", "discriminator"):
        for x, y in zip(
            a.trainer.optimizers[opt].variables, b.trainer.optimizers[opt].variables, strict=True
        ):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=atol, err_msg=opt)


@pytest.mark.slow
def test_sigkill_at_a_random_step_then_resume_loses_no_step(tmp_path, capsys):
    """SIGKILL (no chance to checkpoint) after a random completed step; --resume starts at that
    step or later, and ends with the weights of a run that was never interrupted. (The resume
    runs the CLI's ``main`` in this process: what is under test is the killed run's folder.)"""
    run_dir = tmp_path / "killed"
    kill_after = random.Random().randint(5, 40)
    extra = ["--set", "train.backup_every=1", "--set", "train.checkpoint_every=1000"]
    proc = _cli(*TINY, "--set", "train.steps=5000", *extra, "--run-dir", str(run_dir))
    deadline = time.time() + 240
    for line in proc.stdout:  # tiny logs every step, each line after that step's backup
        if line.startswith(f"step {kill_after}/") or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    target = kill_after + 20
    capsys.readouterr()
    resume = ["dcgan", "--run-dir", str(run_dir), "--resume", "--set", f"train.steps={target}"]
    assert run_main(resume) == 0
    out = capsys.readouterr().out
    resumed_at = int(out.split(f"resuming {run_dir} at step ")[1].split("/")[0])
    assert kill_after <= resumed_at < target, (kill_after, resumed_at)

    straight = tiny_config("dcgan", f"train.steps={target}", "train.checkpoint_every=1000")
    train(straight, tmp_path / "straight")
    _same_weights(open_run(run_dir)[0], open_run(tmp_path / "straight")[0])


def _poisoned_loss(monkeypatch, bad_calls):
    """A loss pair whose D loss is NaN on the calls in ``bad_calls`` (counted from 1)."""
    calls = tf.Variable(0.0)

    def d_loss(real, fake):
        calls.assign_add(1.0)
        bad = tf.reduce_any(tf.equal(calls, tf.constant(bad_calls, tf.float32)))
        return losses.NON_SATURATING.d_loss(real, fake) * tf.where(bad, float("nan"), 1.0)

    pair = losses.LossPair("nan_test", d_loss, losses.NON_SATURATING.g_loss)
    monkeypatch.setitem(losses._LOSSES, "nan_test", pair)


def test_rollback_after_nan_continues_with_lower_learning_rates(monkeypatch, tmp_path, capsys):
    _poisoned_loss(monkeypatch, [5.0])  # step 5 diverges once
    config = tiny_config(
        "dcgan",
        "objective.loss=nan_test",
        "train.steps=8",
        "train.checkpoint_every=3",
        "train.on_nonfinite=rollback",
    )
    result = train(config, tmp_path / "run")
    out = capsys.readouterr().out
    assert "non-finite values at step 5 (d_loss=nan" in out
    assert "rolled back to step 3 with learning rates x0.5 (rollback 1 of 3)" in out
    assert result.step == 8 and all(np.isfinite(v) for v in result.logs.values())
    session, step = open_run(tmp_path / "run")
    assert step == 8
    for opt in session.trainer.optimizers.values():
        assert float(opt.learning_rate.numpy()) == pytest.approx(1e-4)  # 2e-4 x 0.5, kept
    for w in session.trainer.generator.weights + session.trainer.discriminator.weights:
        assert np.all(np.isfinite(w.numpy()))


def test_rollbacks_are_bounded(monkeypatch, tmp_path):
    _poisoned_loss(monkeypatch, [float(i) for i in range(3, 100)])  # diverges for good
    config = tiny_config(
        "dcgan",
        "objective.loss=nan_test",
        "train.steps=8",
        "train.checkpoint_every=2",
        "train.on_nonfinite=rollback",
        "train.max_rollbacks=2",
    )
    with pytest.raises(RunError) as info:
        train(config, tmp_path / "run")
    message = str(info.value)
    assert "non-finite values at step 3" in message and "after 2 rollback(s)" in message
    assert "\n" not in message
    assert open_run(tmp_path / "run")[1] == 2


def test_finite_loss_with_non_finite_weights_is_caught_and_never_saved(monkeypatch, tmp_path):
    """The loss value is finite but its gradient is NaN (sqrt at 0): the weights go bad without
    a bad loss. The run stops at that step; neither a checkpoint nor the best generator (eval
    every step) is ever written from them."""

    def g_loss(fake):  # from the 4th step on: value + 0, gradient NaN
        calls.assign_add(1.0)
        trap = tf.sqrt(0.0 * tf.abs(fake)) * tf.cast(calls >= 4.0, tf.float32)
        return losses.NON_SATURATING.g_loss(fake) + trap

    calls = tf.Variable(0.0)
    pair = losses.LossPair("nan_grad", losses.NON_SATURATING.d_loss, g_loss)
    monkeypatch.setitem(losses._LOSSES, "nan_grad", pair)
    config = tiny_config(
        "dcgan",
        "objective.loss=nan_grad",
        "train.steps=8",
        "train.checkpoint_every=1",
        "eval.every=1",
        "eval.num_samples=64",
    )
    with pytest.raises(RunError) as info:
        train(config, tmp_path / "run")
    assert "non-finite values at step 4 (non-finite weights)" in str(info.value)
    session, step = open_run(tmp_path / "run")
    assert step == 3
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["step"] <= 3
    generator = keras.saving.load_model(tmp_path / "run" / "generator_best.keras")
    assert all(np.all(np.isfinite(w)) for w in generator.get_weights())


def test_keep_n_prunes_old_checkpoints_but_not_the_backup(tmp_path):
    config = tiny_config(
        "dcgan",
        "train.steps=8",
        "train.checkpoint_every=1",
        "train.keep_checkpoints=3",
        "train.backup_every=5",
    )
    train(config, tmp_path / "run")
    folder = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in folder.glob("ckpt-*.index")) == [
        "ckpt-6.index",
        "ckpt-7.index",
        "ckpt-8.index",
    ]
    assert [p.name for p in (folder / "backup").glob("ckpt-*.index")] == ["ckpt-5.index"]


def _limit_file_size(limit):
    """For a child process. Python must not write bytecode caches under the limit: a cut .pyc
    breaks every later import of that module (hence PYTHONDONTWRITEBYTECODE in _cli)."""

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.slow
def test_full_disk_is_a_clear_error_and_the_previous_checkpoint_survives(
    trained_runs, tmp_path, capsys
):
    """The process may not grow any file beyond a few KB (RLIMIT_FSIZE): every larger write
    fails as it would on a full disk. The run to resume is a copy of the session's shared
    dcgan run (the tiny preset, as ``TINY`` trains it)."""
    run_dir = trained_runs.copy("dcgan", tmp_path / "run")
    before = sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt-*"))

    proc = _cli(
        "dcgan",
        "--run-dir",
        str(run_dir),
        "--resume",
        "--set",
        "train.steps=6",
        "--set",
        "train.sample_every=1000",  # the checkpoint is the first large write
        preexec_fn=_limit_file_size(4096),
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2  # the CLI's exit code for a run that cannot go on
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("error: cannot write") and "Traceback" not in err, err[-3000:]
    assert "File too large" in lines[-1] and "is intact" in lines[-1]
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt-*")) == before
    assert open_run(run_dir)[1] == SHARED_STEPS < 6

    # the run goes on once there is room (the CLI's main, in this process)
    capsys.readouterr()
    assert run_main(["dcgan", "--run-dir", str(run_dir), "--resume", "--set", "train.steps=6"]) == 0
    assert "done: 6 steps" in capsys.readouterr().out


def _make_read_only(path):
    if os.geteuid() == 0:  # root ignores permission bits, not the immutable attribute
        subprocess.run(["chattr", "-R", "+i", str(path)], check=True)
    else:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)


def _make_writable(path):
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "-i", str(path)], check=True)
    else:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


@pytest.mark.slow
def test_read_only_run_folder_is_a_clear_error_and_changes_nothing(trained_runs, tmp_path, capsys):
    run_dir = trained_runs.copy("dcgan", tmp_path / "run")  # the tiny preset, as TINY trains it
    snapshot = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    _make_read_only(run_dir)
    try:
        proc = _cli("dcgan", "--run-dir", str(run_dir), "--resume", "--set", "train.steps=4")
        out, err = proc.communicate(timeout=300)
    finally:
        _make_writable(run_dir)
    assert proc.returncode == 2  # the CLI's exit code for a run that cannot go on
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith(f"error: run folder {run_dir} is not writable"), err[-2000:]
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == snapshot
    assert load(run_dir / "config.yaml").train.steps == SHARED_STEPS < 4
    # writable again, it resumes (the CLI's main, in this process)
    capsys.readouterr()
    assert run_main(["dcgan", "--run-dir", str(run_dir), "--resume", "--set", "train.steps=4"]) == 0
    assert "done: 4 steps" in capsys.readouterr().out
