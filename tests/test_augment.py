"""DiffAugment (zoo.augment): each operation on known draws, and its gradients; ADA's gate
and rule (zoo.augment, training.trainers.augmentation)."""

import numpy as np
import pytest
import tensorflow as tf

from training.trainers.augmentation import AdaptiveProbability
from zoo.augment import DRAWS, ada_adjustment, diff_augment, gated_augment, parse_policy


def _draws(batch=1, **columns):
    u = np.full((batch, DRAWS), 0.5, np.float32)  # 0.5 everywhere: no change at all
    for column, value in columns.items():
        u[:, int(column[1:])] = value
    return tf.constant(u)


def _dot(row=10, col=12, size=28):
    x = -np.ones((1, size, size, 1), np.float32)
    x[0, row, col, 0] = 1.0
    return tf.constant(x)


def test_middle_draws_leave_images_unchanged():
    x = tf.random.stateless_uniform([2, 28, 28, 1], [0, 1], -1, 1)
    out = diff_augment(x, parse_policy("color,translation,cutout"), _draws(2, u5=0.0, u6=0.0))
    # cutout at a corner (centre 0, 0) removes the top-left 7x7 only
    np.testing.assert_allclose(out[:, 7:, :], x[:, 7:, :], atol=1e-6)
    np.testing.assert_allclose(out[:, :7, 7:], x[:, :7, 7:], atol=1e-6)
    assert np.all(out[:, :7, :7].numpy() == 0)


def test_translation_shifts_by_up_to_an_eighth_and_fills_with_zero():
    policy = parse_policy("translation")
    # u = 0 is the largest negative draw: -4 pixels on 28 (28 / 8 rounded), content moves +4
    out = diff_augment(_dot(), policy, _draws(u3=0.0, u4=0.0)).numpy()[0, ..., 0]
    assert out[14, 16] == 1.0 and np.sum(out == 1.0) == 1
    assert np.all(out[:4, :] == 0) and np.all(out[:, :4] == 0)  # the 0 fill where it came from
    out = diff_augment(_dot(), policy, _draws(u3=0.99, u4=0.5)).numpy()[0, ..., 0]
    assert out[6, 12] == 1.0  # +4 rows: content moves up by 4, columns unchanged


def test_cutout_zeroes_a_half_size_square_around_the_drawn_centre():
    x = tf.ones([1, 28, 28, 1])
    out = diff_augment(x, parse_policy("cutout"), _draws(u5=0.5, u6=0.5)).numpy()[0, ..., 0]
    # centre floor(0.5 * 29) = 14: rows and columns 7..20 are cut
    assert np.sum(out == 0) == 14 * 14 and np.all(out[7:21, 7:21] == 0)


def test_color_moves_brightness_saturation_and_contrast():
    x = tf.constant(np.linspace(-1, 1, 28 * 28, dtype=np.float32).reshape(1, 28, 28, 1))
    brighter = diff_augment(x, parse_policy("color"), _draws(u0=1.0)).numpy()
    np.testing.assert_allclose(brighter, x.numpy() + 0.5, atol=1e-6)
    flat = diff_augment(x, parse_policy("color"), _draws(u2=0.0)).numpy()  # contrast x0.5
    np.testing.assert_allclose(flat, x.numpy() * 0.5, atol=1e-6)  # its mean is 0


def test_every_operation_passes_gradients_to_the_images():
    x = tf.random.stateless_uniform([2, 16, 16, 3], [0, 2], -1, 1)
    u = tf.random.stateless_uniform([2, DRAWS], [0, 3])
    for name in ("color", "translation", "cutout"):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(diff_augment(x, parse_policy(name), u) ** 2)
        grad = tape.gradient(loss, x)
        assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0, name


def test_policy_is_parsed_in_the_authors_order_and_unknown_parts_are_refused():
    assert parse_policy("cutout, translation") == ("translation", "cutout")
    assert parse_policy("") == ()
    with pytest.raises(ValueError, match="unknown DiffAugment policy flip; use a comma-sep"):
        parse_policy("translation,flip")


def test_gate_passes_images_unchanged_at_p0_and_augments_all_at_p1():
    x = tf.random.stateless_uniform([6, 16, 16, 3], [0, 4], -1, 1)
    u = tf.random.stateless_uniform([6, DRAWS + 1], [0, 5])
    policy = parse_policy("color,translation,cutout")
    plain = diff_augment(x, policy, u[:, :DRAWS])
    np.testing.assert_array_equal(gated_augment(x, policy, u, 0.0), x)
    np.testing.assert_array_equal(gated_augment(x, policy, u, 1.0), plain)
    # in between, image by image: augmented where its gate value is below p
    u = tf.concat([u[:, :DRAWS], tf.constant([[0.1], [0.9], [0.4], [0.6], [0.0], [0.99]])], 1)
    half = gated_augment(x, policy, u, 0.5).numpy()
    for i, chosen in enumerate([True, False, True, False, True, False]):
        np.testing.assert_array_equal(half[i], (plain if chosen else x)[i].numpy())
    assert not np.array_equal(plain[1], x[1])  # the unchosen ones would have changed


def test_ada_adjustment_is_the_authors_rule():
    # sign(r_t - target) * batch * interval / (kimg * 1000)
    assert float(ada_adjustment(0.9, 0.6, 64 * 4, 500)) == pytest.approx(256 / 500_000)
    assert float(ada_adjustment(0.1, 0.6, 64 * 4, 500)) == pytest.approx(-256 / 500_000)
    assert float(ada_adjustment(0.6, 0.6, 64 * 4, 500)) == 0.0


def test_adaptive_probability_moves_at_interval_ends_within_0_and_1():
    ada = AdaptiveProbability(target=0.6, interval=2, kimg=0.032)  # 8 * 2 images: 0.5 a move
    p, state = [], ada.state
    for step in range(6):  # every real judged "real" (sign +1): overfitting, p goes up
        p.append(float(ada.update(tf.constant(8.0), tf.constant(8.0), step, 8)))
        assert float(state["count"]) == (8.0 if step % 2 == 0 else 0.0)  # reset at each end
    assert p == [0.0, 0.5, 0.5, 1.0, 1.0, 1.0]  # and clipped at 1
    # r_t = (8 - 4) / 16 = 0.25 < 0.6 over the next interval: down by the same step
    ada.update(tf.constant(8.0), tf.constant(8.0), 6, 8)
    assert float(ada.update(tf.constant(-4.0), tf.constant(8.0), 7, 8)) == 0.5
    for step in (8, 9, 10, 11):
        ada.update(tf.constant(-8.0), tf.constant(8.0), step, 8)
    assert float(ada.p) == 0.0  # clipped at 0
    with pytest.raises(ValueError, match="ada_target must be in"):
        AdaptiveProbability(target=1.5)
