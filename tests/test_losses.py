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
    with pytest.raises(ValueError, match="unknown loss 'hinge'; known losses: non_saturating"):
        losses.get_loss("hinge")
