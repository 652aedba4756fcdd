"""ProGAN (zoo.progan) and the progressive kind (training.trainers.progressive): the schedule
as a function of the step, the blends it drives, exact resume inside a fade-in, two replicas
against one device, and a shipped generator of the final resolution that exports."""

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from training.checkpoints import portable_copy
from training.config import load
from training.loop import build_session, open_run, train
from training.trainers import ProgressiveTrainer
from zoo import progan


@pytest.mark.parametrize(
    ("step", "lod"),
    [
        (0, 3.0),  # 4x4 alone
        (9, 3.0),
        (10, 3.0),  # the 8x8 level starts fading in
        (12, 2.6),
        (15, 2.0),  # 8x8 alone
        (27, 1.6),  # 16x16 fading in
        (30, 1.0),
        (44, 0.2),
        (45, 0.0),  # the final resolution, from here on
        (10_000, 0.0),
    ],
)
def test_level_of_detail_at_phase_boundaries(step, lod):
    value = progan.level_of_detail(tf.constant(step, tf.int64), 3, 10, 5)
    assert float(value) == pytest.approx(lod, abs=1e-6)


def test_level_of_detail_without_fade_jumps_a_level():
    values = [float(progan.level_of_detail(s, 2, 4, 0)) for s in (0, 3, 4, 7, 8, 100)]
    assert values == [2.0, 2.0, 1.0, 1.0, 0.0, 0.0]


def _box(x, k):
    """x box-downscaled 2**k times and upscaled back (nearest), in numpy."""
    n, h, w, c = x.shape
    f = 2**k
    small = x.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4))
    return small.repeat(f, axis=1).repeat(f, axis=2)


def test_reals_are_blurred_to_the_level_of_detail():
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)).astype("float32")
    for lod, expected in [(0.0, x), (1.0, _box(x, 1)), (2.0, _box(x, 2))]:
        np.testing.assert_allclose(progan.lod_reals(x, lod, 2), expected, atol=1e-6)
    blend = 0.75 * _box(x, 1) + 0.25 * _box(x, 2)
    np.testing.assert_allclose(progan.lod_reals(x, 1.25, 2), blend, atol=1e-6)


@pytest.fixture(scope="module")
def networks():
    keras.utils.set_random_seed(0)
    return progan.build(tiny_config("progan").model)


def _set_lod(nets, lod):
    for net in nets.values():
        net.get_layer("lod").lod.assign(lod)


def test_networks_see_only_the_levels_of_their_level_of_detail(networks):
    g, d = networks["generator"], networks["discriminator"]
    z = np.random.default_rng(1).standard_normal((4, 8)).astype("float32")
    x = np.random.default_rng(2).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
    try:
        _set_lod(networks, 2.0)  # 4x4: the generator's image is 4x4 upscaled
        image = g(z).numpy()
        np.testing.assert_allclose(image, _box(image, 2), atol=1e-6)
        # and the discriminator reads the 4x4 box average of what it is given
        np.testing.assert_allclose(d(x), d(_box(x, 2)), atol=1e-5)
        _set_lod(networks, 1.0)  # 8x8
        image8 = g(z).numpy()
        np.testing.assert_allclose(image8, _box(image8, 1), atol=1e-6)
        assert not np.allclose(image8, _box(image8, 2), atol=1e-4)
        _set_lod(networks, 1.75)  # a quarter through the 8x8 level's fade-in
        np.testing.assert_allclose(g(z), 0.25 * image8 + 0.75 * image, atol=1e-5)
        _set_lod(networks, 0.0)
        assert not np.allclose(d(x), d(_box(x, 1)), atol=1e-4)
    finally:
        _set_lod(networks, 0.0)


def _keras_modules(path):
    with zipfile.ZipFile(path) as archive:
        text = archive.read("config.json").decode()
    return {m.split(".")[0] for m in _modules(json.loads(text))}


def _modules(item):
    if isinstance(item, dict):
        if "module" in item and "class_name" in item:
            yield item["module"]
        for value in item.values():
            yield from _modules(value)
    elif isinstance(item, list):
        for value in item:
            yield from _modules(value)


def test_shipped_generator_is_the_final_resolution_of_keras_layers(networks, tmp_path):
    g = networks["generator"]
    shipped = progan.ship("generator", g)
    z = np.random.default_rng(3).standard_normal((5, 8)).astype("float32") * 3
    _set_lod(networks, 0.0)
    np.testing.assert_allclose(shipped(z), np.clip(g(z), -1, 1), atol=1e-6)
    assert shipped.output.shape[1:] == (16, 16, 1)
    assert [t.name.split(":")[0] for t in shipped.inputs] == ["z"]
    # shares the weights: a change of the generator's kernel moves the shipped image
    kernel = g.get_layer("to_rgb16").kernel
    before = shipped(z).numpy()
    kernel.assign(kernel * 2.0)
    try:
        assert np.abs(shipped(z).numpy() - before).max() > 1e-3
    finally:
        kernel.assign(kernel / 2.0)
    # the file a run writes (its first layer, a bias per channel, as the Dense it equals)
    copy = portable_copy(shipped)
    np.testing.assert_allclose(copy(z), shipped(z), atol=1e-6)
    copy.save(tmp_path / "g.keras")
    assert _keras_modules(tmp_path / "g.keras") == {"keras"}


def _weights_match(a, b, names):
    for name in names:
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)


def test_resume_inside_a_fade_in_continues_exactly(trained_runs, tmp_path):
    """Tiny preset: every level fades in over 3 steps, so the resume point (1 step, lod 5/3) is
    inside the 8x8 level's fade-in; 1 + 1 steps equal the shared run's 2 straight (lod 4/3),
    weights, EMA (decay 0.5) and optimizer state alike."""
    first = train(tiny_config("progan", "train.steps=1"), tmp_path / "r")
    assert first.logs["lod"] == pytest.approx(2.0)  # the step's lod, read before it moves
    config = load(tmp_path / "r" / "config.yaml")
    config.train.steps = 2
    resumed = train(config, tmp_path / "r", resume=True)
    assert resumed.logs["lod"] == pytest.approx(2 - 1 / 3)  # inside the fade-in
    a, step_a = open_run(trained_runs("progan"))
    b, step_b = open_run(tmp_path / "r")
    assert step_a == step_b == 2
    assert isinstance(b.trainer, ProgressiveTrainer)
    _weights_match(a.trainer, b.trainer, ("generator", "discriminator"))
    for x, y in zip(a.trainer.generator_ema.weights, b.trainer.generator_ema.weights, strict=True):
        np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6)
    for opt in ("generator", "discriminator"):
        for x, y in zip(
            a.trainer.optimizers[opt].variables, b.trainer.optimizers[opt].variables, strict=True
        ):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=opt)
    # the 8x8 level trained; the 16x16 one, whose fade-in starts at step 4, got no gradient
    fresh = build_session(tiny_config("progan")).trainer
    kernel = lambda t, n: t.generator.get_layer(n).kernel.numpy()  # noqa: E731
    assert not np.allclose(kernel(fresh, "b8_conv1"), kernel(b.trainer, "b8_conv1"))
    np.testing.assert_array_equal(kernel(fresh, "b16_conv1"), kernel(b.trainer, "b16_conv1"))


def _steps(session, batch, n):
    strategy, trainer = session.strategy, session.trainer
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(ds))

    @tf.function
    def step():
        logs = strategy.run(trainer.train_step, args=(next(iterator),))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    return [{k: float(v) for k, v in step().items()} for _ in range(n)]


def test_trained_run_ships_the_final_resolution_and_exports(trained_runs, tmp_path):
    """What ships takes ``z`` alone and is the final resolution's generator, made of Keras'
    own layers; its exports (the shared export of tests/test_families.py) pass parity in every
    variant but full int8, which pixel norm's mean of squares does not survive."""
    run_dir = trained_runs("progan")
    _, report = trained_runs.export("progan")
    assert all(row["passed"] for row in report["results"]), report["results"]
    assert [i["name"] for i in report["inputs"]] == ["z"]
    assert set(report["skipped"]) == {"tflite-int8"}
    session, _ = open_run(run_dir)
    g = keras.saving.load_model(run_dir / "generator.keras")
    assert g.output.shape[1:] == (16, 16, 1)
    assert _keras_modules(run_dir / "generator.keras") == {"keras"}
    z = np.random.default_rng(4).standard_normal((3, 8)).astype("float32")
    network = session.trainer.generator_ema or session.trainer.generator
    network.get_layer("lod").lod.assign(0.0)  # the trained network read at the final level
    np.testing.assert_allclose(g(z), np.clip(network(z), -1, 1), atol=1e-5)


def test_diversity_benchmark_reads_each_checkpoint_at_its_level_of_detail(trained_runs):
    """benchmarks.diversity: a pixel's std over latents at a kept checkpoint of the shared tiny
    run (step 2: lod 2 - 1 / 3 in its last step), the real images blurred to that level (less
    spread than sharp ones)."""
    from benchmarks.diversity import diversity, main, pixel_std
    from training.rundir import RunError
    from training.session import first_examples

    assert pixel_std(np.ones((5, 4, 4, 1))) == 0.0  # one image for every latent: collapse
    assert pixel_std(np.stack([np.ones((2, 2, 1)), -np.ones((2, 2, 1))])) == pytest.approx(1.0)
    run_dir = trained_runs("progan")
    [row] = diversity(run_dir, num=16)
    assert row["step"] == 2 and row["lod"] == pytest.approx(5 / 3)
    assert row["generator"] > 0 and row["ema"] > 0
    sharp = first_examples(load(run_dir / "config.yaml"), ("image",), 16, 0)["image"]
    assert 0 < row["real"] < pixel_std(sharp)
    with pytest.raises(RunError, match="no checkpoint of step 3"):
        diversity(run_dir, steps=[3], num=16)
    assert main([str(run_dir.parent / "nowhere")]) == 2  # not a run: one line, no traceback
