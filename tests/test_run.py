"""The command line and the run folder, as a user meets them."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from tests.events import summaries
from training import run
from training.config import load
from training.loop import train
from training.rundir import RunError
from training.session import build_session, open_run

VENDORED = ["--set", "data.source=vendored"]


def _main(capsys, *argv):
    code = run.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.strip()


def _one_line_error(err, *fragments):
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err


def test_list(capsys):
    code, out, _ = _main(capsys, "--list")
    assert code == 0 and "dcgan" in out and "dcgan_mnist (default)" in out and "tiny" in out


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (
            ["dcgn"],
            ["unknown family 'dcgn'", "known families: acgan, biggan, cartoongan, cgan, cyclegan"],
        ),
        # a translation family without the data it translates
        (["pix2pix", "--set", "data.pair=none"], ["set data.pair to the view the source is"]),
        (["dcgan", "--preset", "big"], ["unknown preset 'big'", "known presets:"]),
        (["dcgan", "--set", "train.stpes=3"], ["unknown config key 'train.stpes'"]),
        (["dcgan", "--set", "data.batch_size=-1"], ["data.batch_size must be positive"]),
        (["dcgan", "--config", "nope.yaml"], ["cannot read config file nope.yaml"]),
        (["dcgan", "--set", "eval.metric=accuracy"], ["eval.metric=accuracy measures"]),
        (["dcgan", "--set", "data.labelled=100"], ["data.labelled is for semi-supervised"]),
        (
            ["sgan", "--set", "data.labelled=none", "--set", "eval.metric=kid"],
            ["needs data.labelled"],
        ),
        (["sgan", "--set", "data.split=valid"], ["has the split 'test' only"]),
        (["dcgan", "--set", "runtime.strategy=tpu"], ["runtime.strategy=tpu: no TPU found"]),
        (["dcgan", "--set", "runtime.strategy=multi_worker"], ["needs the TF_CONFIG environment"]),
        (["dcgan", "--set", "runtime.steps_per_execution=0"], ["must be positive"]),
        (["dcgan", "--set", "train.rollback_lr_factor=2"], ["must be in (0, 1)"]),
        (["dcgan", "--set", "data.mixed_sizes=crop"], ["expected one of resize, reject"]),
        # The evaluation's extractor and held-out split are loaded before the folder is made
        # (they gave a traceback, or a one-line error, after it was half written).
        (
            ["dcgan", "--set", "eval.extractor=inception", "--set", "eval.weights=nope.h5"],
            ["InceptionV3 weights not found at nope.h5"],
        ),
        (["sgan", "--set", "eval.split=valid"], ["has the split 'test' only", "not 'valid'"]),
    ],
)
def test_bad_input_is_a_one_line_error(capsys, tmp_path, argv, fragments):
    code, _, err = _main(capsys, *argv, "--run-dir", str(tmp_path / "r"))
    assert code == 2
    _one_line_error(err, *fragments)
    assert not (tmp_path / "r").exists()  # nothing written for a bad config


def test_run_folder_misuse(capsys, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    code, _, err = _main(capsys, "dcgan", "--run-dir", str(tmp_path / "full"))
    assert code == 2
    _one_line_error(err, "already exists; pass --resume")
    code, _, err = _main(capsys, "dcgan", "--run-dir", str(tmp_path / "full"), "--resume")
    _one_line_error(err, "is not a run folder (no config.yaml)")
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["x"]  # left as it was
    (tmp_path / "file").write_text("mine")
    code, _, err = _main(capsys, "dcgan", *VENDORED, "--run-dir", str(tmp_path / "file"))
    assert code == 2
    _one_line_error(err, "is a file, not a folder")
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("family", ["cgan", "acgan"])
def test_more_classes_than_the_model_has_is_a_one_line_error(capsys, tmp_path, family):
    """cgan trained on with no label for the extra classes; acgan died in its loss at step 1."""
    from PIL import Image

    for k in range(12):
        folder = tmp_path / "data" / f"class{k:02d}"
        folder.mkdir(parents=True)
        Image.fromarray(np.full((16, 16), 20 * k, np.uint8)).save(folder / "0.png")
    code, _, err = _main(
        capsys,
        family,
        "--preset",
        "tiny",
        "--set",
        "data.source=folder",
        "--set",
        f"data.path={tmp_path / 'data'}",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert code == 2
    _one_line_error(err, "has 12 classes", "but model.num_classes=10", "model.num_classes=12")
    assert not (tmp_path / "run").exists()


def test_resume_keeps_the_config(capsys, tmp_path):
    train(tiny_config("dcgan", "train.steps=2"), tmp_path / "run")
    code, _, err = _main(
        capsys,
        "dcgan",
        "--run-dir",
        str(tmp_path / "run"),
        "--resume",
        "--set",
        "model.base_filters=8",
    )
    assert code == 2
    _one_line_error(err, "--resume cannot change model.base_filters", "train.steps")
    code, _, err = _main(capsys, "wgan", "--run-dir", str(tmp_path / "run"), "--resume")
    _one_line_error(err, "is a 'dcgan' run, not 'wgan'")
    code, out, _ = _main(
        capsys, "dcgan", "--run-dir", str(tmp_path / "run"), "--resume", "--set", "train.steps=3"
    )
    assert code == 0 and "resuming" in out and "at step 2/3" in out
    assert open_run(tmp_path / "run")[1] == 3
    assert load(tmp_path / "run" / "config.yaml").train.steps == 3


def _cli(*args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        [sys.executable, "-m", "training.run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.mark.slow
def test_cli_run_folder_layout(tmp_path):
    run_dir = tmp_path / "run"
    proc = _cli("dcgan", "--preset", "tiny", *VENDORED, "--run-dir", str(run_dir))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "data: mnist: the MNIST test set vendored in ganzoo" in out
    assert "step 4/4" in out and "done: 4 steps" in out
    assert load(run_dir / "config.yaml") == tiny_config("dcgan")
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == [
        "step_000000.png",
        "step_000002.png",
        "step_000004.png",
    ]
    assert (run_dir / "generator.keras").is_file()
    assert tf.train.get_checkpoint_state(
        str(run_dir / "checkpoints")
    ).model_checkpoint_path.endswith("ckpt-4")
    assert {
        "d_loss",
        "g_loss",
        "d_real_acc",
        "d_fake_acc",
        "lr/generator",
        "lr/discriminator",
        "steps_per_sec",
        "samples",
    } <= set(summaries(run_dir / "logs"))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_resumes_to_the_same_step_count(tmp_path, sig, capsys):
    run_dir = tmp_path / "run"
    args = ["dcgan", "--preset", "tiny", *VENDORED, "--run-dir", str(run_dir)]
    proc = _cli(
        *args,
        "--set",
        "train.steps=2000",
        "--set",
        "train.checkpoint_every=10",
        "--set",
        "train.keep_checkpoints=none",
    )
    state = run_dir / "checkpoints" / "checkpoint"
    deadline = time.time() + 240
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert state.exists(), proc.communicate()[1]
    if sig == signal.SIGINT:  # while it trains, a second run on its folder stops at once
        for second in (args, ["dcgan", "--run-dir", str(run_dir), "--resume"]):
            code, _, err = _main(capsys, *second)
            assert code == 2
            _one_line_error(err, f"is in use by process {proc.pid} on ", "choose another")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert f"{sig.name}: stopping after this step" in out
    assert proc.returncode == 130, err
    stopped = int(out.split("interrupted at step ")[1].split(";")[0])
    assert 10 <= stopped < 2000
    assert (
        f"ckpt-{stopped}"
        in tf.train.get_checkpoint_state(str(run_dir / "checkpoints")).model_checkpoint_path
    )

    target = stopped + 15
    proc = _cli("dcgan", "--run-dir", str(run_dir), "--resume", "--set", f"train.steps={target}")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"resuming {run_dir} at step {stopped}/{target}" in out
    assert f"done: {target} steps" in out

    # every checkpoint, from before and after the interruption, restores
    paths = tf.train.get_checkpoint_state(str(run_dir / "checkpoints")).all_model_checkpoint_paths
    steps = [int(p.rsplit("-", 1)[1]) for p in paths]
    assert stopped in steps and target in steps and 10 in steps
    session = build_session(load(run_dir / "config.yaml"))
    for path, step in zip(paths, steps, strict=True):
        session.checkpoint.read(path).assert_existing_objects_matched()
        assert session.trainer.step.numpy() == step


# sgan: Gaussian-noise layers' RNG; imle_gan: its generator terms' own streams (the pool, the
# perturbation, the interpolation factors)
@pytest.mark.parametrize("family", ["dcgan", "sgan", "imle_gan"])
def test_resume_continues_exactly(tmp_path, family):
    """Two steps, a stop, and two more steps give the weights of four steps in one go."""
    straight = tiny_config(family, "train.steps=4", "train.ema_decay=0.5")
    train(straight, tmp_path / "straight")
    train(tiny_config(family, "train.steps=2", "train.ema_decay=0.5"), tmp_path / "resumed")
    config = load(tmp_path / "resumed" / "config.yaml")
    config.train.steps = 4
    train(config, tmp_path / "resumed", resume=True)
    a, step_a = open_run(tmp_path / "straight")
    b, step_b = open_run(tmp_path / "resumed")
    assert step_a == step_b == 4
    for name in ("generator", "discriminator", "generator_ema"):
        for x, y in zip(
            getattr(a.trainer, name).weights, getattr(b.trainer, name).weights, strict=True
        ):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
    for opt in ("generator", "discriminator"):
        for x, y in zip(
            a.trainer.optimizers[opt].variables, b.trainer.optimizers[opt].variables, strict=True
        ):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=opt)


def test_unreadable_newest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog):
    train(tiny_config("dcgan", "train.steps=4"), tmp_path / "run")
    newest = tmp_path / "run" / "checkpoints" / "ckpt-4.data-00000-of-00001"
    newest.write_bytes(b"truncated")
    session, step = open_run(tmp_path / "run")
    assert step == 2
    assert "ckpt-4 is unreadable" in caplog.text


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_checkpoints(monkeypatch, tmp_path):
    from zoo import losses

    calls = tf.Variable(0.0)

    def d_loss(real, fake):  # finite for two steps, NaN from the third on
        calls.assign_add(1.0)
        poison = tf.where(calls > 2.0, float("nan"), 1.0)
        return losses.NON_SATURATING.d_loss(real, fake) * poison

    pair = losses.LossPair("nan_test", d_loss, losses.NON_SATURATING.g_loss)
    monkeypatch.setitem(losses._LOSSES, "nan_test", pair)
    config = tiny_config(
        "dcgan", "objective.loss=nan_test", "train.steps=6", "train.checkpoint_every=1"
    )
    with pytest.raises(RunError) as info:
        train(config, tmp_path / "run")
    assert "non-finite values at step 3 (d_loss=nan" in str(info.value)
    assert "\n" not in str(info.value)
    assert open_run(tmp_path / "run")[1] == 2  # the good checkpoints are intact


def test_resume_with_a_relative_run_folder(tmp_path, monkeypatch):
    """Checkpoint paths are stored relative to their folder; a run started as runs/x (the
    default) must resume from the same working directory."""
    monkeypatch.chdir(tmp_path)
    train(tiny_config("dcgan", "train.steps=2"), "runs/x")
    config = load("runs/x/config.yaml")
    config.train.steps = 4
    assert train(config, "runs/x", resume=True).step == 4
    assert open_run("runs/x")[1] == 4


def test_readme_names_exactly_the_keys_resume_may_change():
    text = (Path(__file__).parent.parent / "README.md").read_text()
    allowed = text.split("**`--resume`**", 1)[1].split("Every other")[0]
    named = set(re.findall(r"`((?:\w+)\.\w+)`", allowed))
    assert named == {f"{s}.{k}" for s, keys in run.RESUMABLE_KEYS.items() for k in keys}
