import math

import numpy as np
import pytest
import tensorflow as tf

from zoo import losses


def test_non_saturating_known_values():
    pair = losses.get_loss("non_saturating")
    real = tf.constant([[0.0], [2.0]])
    fake = tf.constant([[0.0], [-3.0]])
    d = pair.d_loss(real, fake).numpy()
    g = pair.g_loss(fake).numpy()
    # -log(sigmoid(r)) - log(1 - sigmoid(f)); at 0 logits both terms are log 2.
    np.testing.assert_allclose(d[0], 2 * math.log(2), rtol=1e-6)
    np.testing.assert_allclose(d[1], math.log1p(math.exp(-2)) + math.log1p(math.exp(-3)), rtol=1e-6)
    np.testing.assert_allclose(g, [math.log(2), math.log1p(math.exp(3))], rtol=1e-6)


def test_non_saturating_stays_finite_for_extreme_logits():
    pair = losses.NON_SATURATING
    big = tf.constant([[1e4], [-1e4]])
    assert np.isfinite(pair.d_loss(big, -big).numpy()).all()
    assert np.isfinite(pair.g_loss(big).numpy()).all()


def test_reduce_loss_divides_by_the_global_batch():
    per_example = tf.constant([1.0, 2.0, 3.0, 4.0])
    assert float(losses.reduce_loss(per_example, 4)) == pytest.approx(2.5)
    # a replica holding half of a global batch of 8 contributes its sum / 8
    assert float(losses.reduce_loss(per_example, 8)) == pytest.approx(1.25)


def test_unknown_loss():
    with pytest.raises(
        ValueError,
        match="unknown loss 'perceptual'; known losses: hinge, "
        "least_squares, minimax, non_saturating, wasserstein",
    ):
        losses.get_loss("perceptual")


def test_minimax_generator_loss_is_log_one_minus_d():
    fake = tf.constant([[0.0], [2.0]])
    g = losses.MINIMAX.g_loss(fake).numpy()
    sigmoid = 1 / (1 + np.exp(-np.array([0.0, 2.0])))
    np.testing.assert_allclose(g, np.log(1 - sigmoid), rtol=1e-6)


def test_least_squares_known_values():
    real, fake = tf.constant([[1.0], [0.0]]), tf.constant([[0.0], [1.0]])
    np.testing.assert_allclose(losses.LEAST_SQUARES.d_loss(real, fake), [0.0, 1.0])
    np.testing.assert_allclose(losses.LEAST_SQUARES.g_loss(fake), [0.5, 0.0])
    assert losses.LEAST_SQUARES.threshold == 0.5


def test_wasserstein_and_hinge_known_values():
    real, fake = tf.constant([[3.0], [0.5]]), tf.constant([[-2.0], [0.5]])
    np.testing.assert_allclose(losses.WASSERSTEIN.d_loss(real, fake), [-5.0, 0.0])
    np.testing.assert_allclose(losses.WASSERSTEIN.g_loss(fake), [2.0, -0.5])
    assert losses.WASSERSTEIN.threshold is None
    # at and beyond the margin (real >= 1, fake <= -1) the hinge loss is zero
    np.testing.assert_allclose(losses.HINGE.d_loss(real, fake), [0.0, 0.5 + 1.5])
    at_margin = losses.HINGE.d_loss(tf.constant([[1.0]]), tf.constant([[-1.0]]))
    np.testing.assert_allclose(at_margin, [0.0])


def test_gradient_penalty_of_a_linear_critic():
    import keras

    w = np.array([[0.3], [-1.2], [2.0], [0.5]], np.float32)
    critic = keras.Sequential(
        [keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)]
    )
    critic.layers[-1].set_weights([w])
    real = tf.random.normal((5, 2, 2, 1))
    fake = tf.random.normal((5, 2, 2, 1))
    eps = tf.random.uniform((5, 1, 1, 1))
    gp = losses.gradient_penalty(critic, real, fake, eps).numpy()
    np.testing.assert_allclose(gp, (np.linalg.norm(w) - 1) ** 2, rtol=1e-5)


def test_gradient_penalty_is_nan_free_when_gradients_vanish():
    import keras

    critic = keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(1, kernel_initializer="zeros"),
        ]
    )
    real, fake = tf.ones((3, 2, 2, 1)), tf.zeros((3, 2, 2, 1))
    with tf.GradientTape() as tape:
        gp = losses.gradient_penalty(critic, real, fake, tf.fill((3, 1, 1, 1), 0.5))
    grads = tape.gradient(gp, critic.trainable_variables)
    np.testing.assert_allclose(gp.numpy(), 1.0, atol=1e-5)
    kernel_grad = grads[0]  # the bias does not move the input gradient: its gradient is None
    assert kernel_grad is not None and np.isfinite(kernel_grad.numpy()).all()


def test_spectral_norm_leaves_a_top_singular_value_near_one():
    import keras

    import zoo

    family = zoo.get_family("sngan")
    config = family.config_cls(image_size=16, latent_dim=8, base_filters=4, d_norm="spectral")
    critic = family.build(config)["discriminator"]
    x = tf.random.normal((4, 16, 16, 1))
    for _ in range(30):  # each training call runs one power iteration and normalizes
        critic(x, training=True)
    for layer in critic.layers:
        if isinstance(layer, keras.layers.SpectralNormalization):
            kernel = layer.layer.kernel.numpy()
            top = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
            assert top == pytest.approx(1.0, abs=0.02), layer.name


def test_semi_supervised_logit_is_that_of_z_over_z_plus_one():
    logits = np.array([[0.0, 0.0], [2.0, -1.0], [-30.0, -30.0]], np.float32)
    z = np.exp(logits.astype(np.float64)).sum(axis=1)
    d = tf.sigmoid(losses.semi_supervised_logit(tf.constant(logits)))[:, 0].numpy()
    np.testing.assert_allclose(d, z / (z + 1), rtol=1e-6)
    big = losses.semi_supervised_logit(tf.constant([[1000.0, 1000.0]]))  # no overflow
    np.testing.assert_allclose(big.numpy(), [[1000.0 + np.log(2.0)]], rtol=1e-6)


def test_feature_matching_value_and_gradient():
    rng = np.random.default_rng(0)
    real = tf.constant(rng.standard_normal((6, 4)), tf.float32)
    fake = tf.Variable(rng.standard_normal((6, 4)), dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = losses.feature_matching(real, fake, 6)
    gap = fake.numpy().mean(axis=0) - real.numpy().mean(axis=0)
    np.testing.assert_allclose(loss.numpy(), np.sum(gap**2), rtol=1e-5)
    # d/d f_i ||mean(f) - mean(r)||^2 = 2 (mean(f) - mean(r)) / B, the same for every fake
    expected = np.tile(2 * gap / 6, (6, 1))
    np.testing.assert_allclose(tape.gradient(loss, fake).numpy(), expected, rtol=1e-5, atol=1e-7)
