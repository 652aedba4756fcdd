"""IMLE-GAN (zoo.imle_gan, zoo.terms.IMLE): the nearest-neighbour search on known cases, the
pieces of the terms against hand-computed answers, the search over every replica's candidates,
and the config's one-line errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from tests.test_trainer import _first_batch, _same_on_every_replica
from training.config import ConfigError
from training.loop import build_session
from zoo import terms
from zoo.terms import imle


def test_nearest_picks_each_query_its_true_nearest_candidate():
    candidates = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [5, 5]], np.float32)
    queries = np.array([[1, 1], [9, 1], [4.9, 5.2], [11, 12], [0.5, 9]], np.float32)
    index, distance = imle.nearest(tf.constant(queries), tf.constant(candidates))
    np.testing.assert_array_equal(index.numpy(), [0, 1, 4, 3, 2])
    np.testing.assert_allclose(
        distance.numpy(), [2, 2, 0.05, 5, 1.25], atol=1e-4
    )  # |q|^2 - 2q.c + |c|^2
    # equally near candidates: the first
    index, _ = imle.nearest(tf.constant([[5.0, 0.0]]), tf.constant(candidates[:2]))
    assert index.numpy()[0] == 0


def test_percentile_is_numpys_linear_percentile():
    values = np.random.default_rng(0).uniform(0, 10, 13).astype(np.float32)
    for q in (1.0, 25.0, 50.0, 62.5, 99.0, 100.0):
        assert imle.percentile(tf.constant(values), q).numpy() == pytest.approx(
            np.percentile(values, q), rel=1e-6
        )


def test_slerp_turns_the_direction_on_the_great_circle_and_lerps_the_length():
    a = np.array([[3.0, 0.0, 0.0]], np.float32)
    b = np.array([[0.0, 5.0, 0.0]], np.float32)
    np.testing.assert_allclose(imle.slerp(a, b, [[0.0]]).numpy(), a, atol=1e-6)
    np.testing.assert_allclose(imle.slerp(a, b, [[1.0]]).numpy(), b, atol=1e-6)
    half = imle.slerp(a, b, [[0.5]]).numpy()[0]  # 45 degrees, length 4
    np.testing.assert_allclose(half, [4 / np.sqrt(2), 4 / np.sqrt(2), 0.0], atol=1e-5)
    third = imle.slerp(a, b, [[1 / 3]]).numpy()[0]  # 30 degrees from a
    assert np.degrees(np.arctan2(third[1], third[0])) == pytest.approx(30.0, abs=1e-4)
    same = imle.slerp(a, 2 * a, [[0.5]]).numpy()  # one direction: no division by 0
    np.testing.assert_allclose(same, 1.5 * a, atol=1e-6)


# A toy generator: the image is the latent itself, 2x2x1; draws are fixed uniform numbers by
# stream, so the pool and each real image's nearest candidate are known.
DIM, CANDIDATES = 4, 3


def _toy_update(real, labels=None, seed=0):
    rng = np.random.default_rng(seed)
    draws = {}

    def draw(stream, shape):
        if stream not in draws:
            draws[stream] = tf.constant(rng.uniform(0.05, 0.95, (len(real), *shape)), tf.float32)
        return draws[stream]

    batch = {"image": tf.constant(real)}
    if labels is not None:
        batch["label"] = tf.constant(labels, tf.int32)
    update = terms.Update(
        global_batch=tf.constant(len(real)),
        batch=batch,
        real_out={},
        fake_in={"z": tf.zeros([len(real), DIM])},
        fake=None,
        fake_out={},
        critic=None,
        draw=draw,
        discriminate=None,
        logs={},
        generate=lambda inputs: tf.reshape(inputs["z"], [-1, 2, 2, 1]),
    )
    return update, draws


def _pool(draws):
    z = imle.standard_normal(draws["imle_z"]).numpy()
    return z.reshape(-1, DIM)


def test_each_real_image_pulls_its_true_nearest_generated_candidate():
    """Real images near chosen candidates of the pool (b = 4 images, 3 candidates each): each
    is matched to its own, the nearest by brute force; the loss is the mean squared pixel
    difference to it, the interpolation term the authors' lerp of two such differences."""
    rng = np.random.default_rng(1)
    term = terms.IMLE(candidates=CANDIDATES, perturbation=0.0)
    # the pool depends only on the draws: take it from a first update, then build the reals
    update, draws = _toy_update(np.zeros((4, 2, 2, 1), np.float32))
    pool = _pool({"imle_z": update.draw("imle_z", [CANDIDATES, DIM])})
    chosen = np.array([7, 2, 11, 2])  # two real images near the same candidate
    real = (pool[chosen] + 0.01 * rng.standard_normal((4, DIM))).astype(np.float32)
    update, draws = _toy_update(real.reshape(4, 2, 2, 1))
    term.prepare_generator(update)
    prepared = update.prepared["imle"]
    brute = np.argmin(((real[:, None] - pool[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(brute, chosen)
    np.testing.assert_array_equal(prepared["index"].numpy(), chosen)
    np.testing.assert_allclose(prepared["latents"].numpy(), pool[chosen], rtol=1e-6)
    loss = term.generator_loss(update).numpy()
    imle_expected = np.mean(((pool[chosen] - real) ** 2).mean(-1))
    assert update.logs["imle"].numpy() == pytest.approx(imle_expected, rel=1e-5)
    t = draws["imle_t"].numpy()[0::2, 0]
    z1, z2 = pool[chosen][0::2], pool[chosen][1::2]
    between = imle.slerp(z2, z1, t[:, None]).numpy()
    d1 = ((between - real[0::2]) ** 2).mean(-1)
    d2 = ((between - real[1::2]) ** 2).mean(-1)
    interp_expected = np.mean((1 - t) * d2 + t * d1)
    assert update.logs["imle_interp"].numpy() == pytest.approx(interp_expected, rel=1e-5)
    assert loss == pytest.approx(2.5 * imle_expected + 1.0 * interp_expected, rel=1e-5)


def test_the_search_reads_a_fixed_random_projection_when_asked():
    real = np.random.default_rng(2).standard_normal((4, 2, 2, 1)).astype(np.float32)
    update, draws = _toy_update(real)
    terms.IMLE(candidates=CANDIDATES, perturbation=0.0, projection=3).prepare_generator(update)
    projection = imle.random_projection(DIM, 3)
    np.testing.assert_array_equal(projection, imle.random_projection(DIM, 3))  # fixed
    pool = _pool(draws) @ projection
    brute = np.argmin((((real.reshape(4, DIM) @ projection)[:, None] - pool[None]) ** 2).sum(-1), 1)
    np.testing.assert_array_equal(update.prepared["imle"]["index"].numpy(), brute)


def test_a_subgroup_of_labels_is_all_the_terms_reconstruct():
    """Minority inclusion: only images of the listed labels count, averaged over them; the
    interpolation term over the pairs whose two images both belong."""
    real = np.random.default_rng(3).standard_normal((6, 2, 2, 1)).astype(np.float32)
    labels = [5, 5, 1, 5, 2, 3]
    everything, _ = _toy_update(real, labels)
    term = terms.IMLE(candidates=CANDIDATES, perturbation=0.0)
    term.prepare_generator(everything)
    term.generator_loss(everything)
    update, _ = _toy_update(real, labels)
    term = terms.IMLE(candidates=CANDIDATES, perturbation=0.0, classes=(5, 3))
    term.prepare_generator(update)
    prepared = update.prepared["imle"]
    np.testing.assert_array_equal(prepared["selected"].numpy(), [1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(prepared["pairs"].numpy(), [1, 0, 0])  # (0,1) (2,3) (4,5)
    term.generator_loss(update)
    latents = prepared["latents"].numpy()
    per_image = ((latents - real.reshape(6, DIM)) ** 2).mean(-1)
    assert update.logs["imle"].numpy() == pytest.approx(per_image[[0, 1, 3, 5]].mean(), rel=1e-5)
    assert everything.logs["imle"].numpy() == pytest.approx(per_image.mean(), rel=1e-5)
    nobody, _ = _toy_update(real, labels)
    term = terms.IMLE(candidates=CANDIDATES, classes=(9,))
    term.prepare_generator(nobody)
    assert term.generator_loss(nobody).numpy() == 0.0  # no member in the batch: nothing


def test_a_percentile_keeps_the_real_images_nearest_their_candidates():
    real = np.random.default_rng(4).standard_normal((8, 2, 2, 1)).astype(np.float32)
    update, draws = _toy_update(real)
    terms.IMLE(candidates=CANDIDATES, perturbation=0.0, percentile=50.0).prepare_generator(update)
    distance = (((real.reshape(8, 1, DIM) - _pool(draws)[None]) ** 2).sum(-1)).min(1)
    expected = (distance <= np.percentile(distance, 50)).astype(np.float32)
    np.testing.assert_array_equal(update.prepared["imle"]["selected"].numpy(), expected)
    assert expected.sum() == 4


def _term_on(strategy_name):
    """The tiny imle_gan's trainer (no batch norm: per replica by design) on ``strategy_name``,
    run through its generator update's IMLE term on the first batch of its data: each
    replica's matched pool indices, matched latents and loss share."""
    config = tiny_config(
        "imle_gan",
        *_same_on_every_replica("imle_gan"),
        "objective.imle_candidates=3",
        f"runtime.strategy={strategy_name}",
    )
    session = build_session(config)
    trainer, strategy = session.trainer, session.strategy
    term = next(t for t in trainer.terms if isinstance(t, terms.IMLE))
    batch = _first_batch(config)
    data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat())

    @tf.function
    def run(batch):
        def replica_step(batch):
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            update = trainer._update(batch, trainer.d_steps, replicas, {}, draw_fakes=False)
            term.prepare_generator(update)
            loss = term.generator_loss(update)
            prepared = update.prepared["imle"]
            return prepared["index"], prepared["latents"], loss

        return strategy.run(replica_step, args=(batch,))

    index, latents, loss = run(next(iter(data)))
    local = strategy.experimental_local_results
    return (
        [i.numpy() for i in local(index)],
        np.concatenate([x.numpy() for x in local(latents)]),
        sum(float(x) for x in local(loss)),
        config.data.batch_size,
    )


def test_two_replicas_search_the_global_pool_and_match_one_device():
    """Each replica's real images find their nearest candidate among both replicas'
    candidates: the matches, the matched (perturbed) latents and the loss are one device's,
    and some of each replica's matches are the other replica's candidates."""
    one_index, one_latents, one_loss, batch = _term_on("one_device")
    two_index, two_latents, two_loss, _ = _term_on("mirrored")
    np.testing.assert_array_equal(np.concatenate(two_index), one_index[0])
    np.testing.assert_allclose(two_latents, one_latents, atol=1e-6)
    assert two_loss == pytest.approx(one_loss, rel=1e-5)
    own = batch // 2 * 3  # candidates each replica generates
    assert (two_index[0] >= own).any() and (two_index[1] < own).any()


@pytest.mark.parametrize(
    "override, message",
    [
        ("objective.imle_candidates=0", "objective.imle_candidates must be positive, got 0"),
        ("objective.imle_perturb=1.5", "objective.imle_perturb must be in [0, 1], got 1.5"),
        ("objective.imle_projection=0", "objective.imle_projection must be positive"),
        ("objective.imle_percentile=0", "objective.imle_percentile must be in (0, 100]"),
        ("objective.imle_classes=-1", "objective.imle_classes must list labels of 0 or more"),
        ("objective.imle_weight=-1", "objective.imle_weight must be 0 or more"),
        ("model.num_classes=10", "model.num_classes is None in imle_gan and cannot be changed"),
    ],
)
def test_bad_values_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as err:
        tiny_config("imle_gan", override)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_classes_and_percentile_are_exclusive():
    with pytest.raises(ConfigError, match="set one") as err:
        tiny_config("imle_gan", "objective.imle_classes=1,2", "objective.imle_percentile=90")
    assert "\n" not in str(err.value)


def test_without_weights_the_family_is_its_adversarial_pair():
    config = tiny_config("imle_gan", "objective.imle_weight=0", "objective.interp_weight=0")
    trainer = build_session(config).trainer
    assert not any(isinstance(t, terms.IMLE) for t in trainer.terms)
