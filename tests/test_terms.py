"""Each objective term on its own, against answers computed by hand (zoo.terms)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import losses, terms


def _update(batch=None, real_out=None, fake_in=None, fake=None, fake_out=None, **kwargs):
    batch = batch or {"image": tf.zeros([2, 1])}
    defaults = dict(
        global_batch=tf.constant(int(batch["image"].shape[0])),
        batch=batch,
        real_out=real_out or {},
        fake_in=fake_in or {},
        fake=fake if fake is not None else tf.zeros_like(batch["image"]),
        fake_out=fake_out or {},
        critic=None,
        draw=None,
        discriminate=None,
        logs={},
    )
    return terms.Update(**(defaults | kwargs))


def _softplus(x):
    return np.log1p(np.exp(x))


def test_adversarial_is_the_loss_pair_with_its_accuracies():
    real, fake = np.array([[2.0], [-1.0]]), np.array([[0.5], [-3.0]])
    u = _update(real_out={"logits": tf.constant(real)}, fake_out={"logits": tf.constant(fake)})
    term = terms.Adversarial(losses.NON_SATURATING)
    d = term.discriminator_loss(u).numpy()
    np.testing.assert_allclose(d, np.mean(_softplus(-real) + _softplus(fake)), rtol=1e-6)
    assert u.logs["d_real_acc"].numpy() == pytest.approx(0.5)  # 2.0 > 0, -1.0 is not
    assert u.logs["d_fake_acc"].numpy() == pytest.approx(0.5)  # -3.0 < 0, 0.5 is not
    g = term.generator_loss(u).numpy()
    np.testing.assert_allclose(g, np.mean(_softplus(-fake)), rtol=1e-6)
    critic = terms.Adversarial(losses.WASSERSTEIN)
    u = _update(real_out={"logits": tf.constant(real)}, fake_out={"logits": tf.constant(fake)})
    critic.discriminator_loss(u)
    assert "d_real_acc" not in u.logs  # a critic has no real/fake boundary


def test_gradient_penalty_of_a_linear_critic_is_weight_times_norm_minus_one_squared():
    w = np.array([[3.0], [4.0]], np.float32)  # ||w|| = 5: the penalty is (5 - 1)^2 = 16
    real = tf.constant(np.random.default_rng(0).standard_normal((4, 2)), tf.float32)
    u = _update(
        batch={"image": real},
        fake=tf.zeros_like(real),
        critic=lambda x: x @ w,
        draw=lambda stream, shape: tf.fill([4, *shape], 0.3),
    )
    assert terms.GradientPenalty(10.0).discriminator_loss(u).numpy() == pytest.approx(160.0)
    assert u.logs["gp"].numpy() == pytest.approx(16.0)


def test_r1_is_half_weight_times_the_squared_gradient_norm_at_real_images():
    # A linear critic has gradient w everywhere: ||w||^2 = 25, the loss 10 / 2 * 25.
    w = np.array([[3.0], [4.0]], np.float32)
    real = tf.constant(np.random.default_rng(0).standard_normal((4, 2)), tf.float32)
    u = _update(batch={"image": real}, critic=lambda x: x @ w)
    assert terms.R1(10.0).discriminator_loss(u).numpy() == pytest.approx(125.0)
    assert u.logs["r1"].numpy() == pytest.approx(25.0)
    # D(x) = sum x^2 has gradient 2x: the penalty is the batch mean of 4 ||x||^2, at real only.
    u = _update(batch={"image": real}, fake=real + 5.0, critic=lambda x: tf.reduce_sum(x**2, 1))
    expected = np.mean(4 * np.sum(real.numpy() ** 2, axis=1))
    assert terms.R1(1.0).discriminator_loss(u).numpy() == pytest.approx(expected / 2, rel=1e-5)
    assert terms.R1(1.0).generator_loss(u) is None


def test_weight_clipping_bounds_every_discriminator_weight():
    d = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    d.set_weights([np.full((3, 4), 0.5, np.float32), np.full(4, -0.2, np.float32)])
    terms.WeightClipping(0.01).after_discriminator_update(d)
    kernel, bias = d.get_weights()
    np.testing.assert_array_equal(kernel, np.float32(0.01))
    np.testing.assert_array_equal(bias, np.float32(-0.01))


def _ce(labels, logits):
    logits = np.asarray(logits, np.float64)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.mean(log_p[np.arange(len(labels)), labels])


def test_auxiliary_classifier_adds_cross_entropy_of_real_and_fake_labels():
    real_logits, fake_logits = [[2.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [3.0, 0.0]]
    u = _update(
        batch={"image": tf.zeros([2, 1]), "label": tf.constant([0, 0])},
        real_out={"class_logits": tf.constant(real_logits)},
        fake_in={"label": tf.constant([1, 0])},
        fake_out={"class_logits": tf.constant(fake_logits)},
    )
    term = terms.AuxiliaryClassifier(weight=2.0)
    expected = 2.0 * (_ce([0, 0], real_logits) + _ce([1, 0], fake_logits))
    assert term.discriminator_loss(u).numpy() == pytest.approx(expected, rel=1e-5)
    assert u.logs["d_aux_acc"].numpy() == pytest.approx(0.5)
    assert term.generator_loss(u).numpy() == pytest.approx(2.0 * _ce([1, 0], fake_logits), 1e-5)


def test_mutual_information_is_the_codes_negative_log_likelihood():
    code_logits, code, predicted = [[0.0, 2.0], [1.0, 1.0]], [[0.5], [-0.5]], [[0.0], [0.5]]
    u = _update(
        fake_in={"label": tf.constant([1, 0]), "code": tf.constant(code)},
        fake_out={"code_logits": tf.constant(code_logits), "code": tf.constant(predicted)},
    )
    term = terms.MutualInformation(weight=1.5, continuous_weight=0.1)
    gaussian = np.mean(0.5 * (np.array(predicted) - np.array(code)) ** 2)
    expected = 1.5 * (_ce([1, 0], code_logits) + 0.1 * gaussian)
    assert term.discriminator_loss(u).numpy() == pytest.approx(expected, rel=1e-5)
    assert term.generator_loss(u).numpy() == pytest.approx(expected, rel=1e-5)


def test_semi_supervised_halves_the_unsupervised_loss_and_adds_labelled_cross_entropy():
    real, fake = [[1.0, 2.0], [0.0, -1.0]], [[-2.0, -1.0], [0.5, 0.5]]
    labelled_logits = tf.constant([[3.0, 0.0], [0.0, 1.0]])
    u = _update(
        batch={
            "image": tf.zeros([2, 1]),
            "labelled_image": tf.zeros([2, 1]),
            "labelled_label": tf.constant([0, 0]),
        },
        real_out={"class_logits": tf.constant(real)},
        fake_out={"class_logits": tf.constant(fake)},
        discriminate=lambda images: {"class_logits": labelled_logits},
    )
    lse = lambda x: np.log(np.exp(np.asarray(x)).sum(axis=1))  # noqa: E731
    unsupervised = np.mean(_softplus(-lse(real)) + _softplus(lse(fake)))
    expected = 0.5 * unsupervised + _ce([0, 0], labelled_logits.numpy())
    d = terms.SemiSupervised(losses.NON_SATURATING).discriminator_loss(u)
    assert d.numpy() == pytest.approx(expected, rel=1e-5)
    assert u.logs["d_loss"].numpy() == pytest.approx(unsupervised, rel=1e-5)
    assert u.logs["d_sup_acc"].numpy() == pytest.approx(0.5)


def test_drift_is_weight_times_the_mean_squared_real_logit():
    u = _update(real_out={"logits": tf.constant([[2.0], [-1.0]])})
    assert terms.Drift(0.001).discriminator_loss(u).numpy() == pytest.approx(0.001 * 2.5)
    assert u.logs["drift"].numpy() == pytest.approx(2.5)  # (4 + 1) / 2
    assert terms.Drift(0.001).generator_loss(u) is None


def _penalty_update(step):
    w = np.array([[3.0], [4.0]], np.float32)  # the penalty is 10 * (5 - 1)^2 = 160
    real = tf.constant(np.random.default_rng(0).standard_normal((4, 2)), tf.float32)
    return _update(
        batch={"image": real},
        critic=lambda x: x @ w,
        draw=lambda stream, shape: tf.fill([4, *shape], 0.3),
        step=step,
    )


@pytest.mark.parametrize("graph", [False, True])
def test_lazy_term_runs_every_n_steps_with_its_loss_times_n(graph):
    lazy = terms.Lazy(terms.GradientPenalty(10.0), every=4)

    def loss_and_log(step):
        u = _penalty_update(step)
        return lazy.discriminator_loss(u), u.logs["gp"]

    run = tf.function(loss_and_log) if graph else loss_and_log
    for step, expected in [(0, 4 * 160.0), (1, 0.0), (3, 0.0), (4, 4 * 160.0), (6, 0.0)]:
        loss, logged = run(tf.constant(step, tf.int64))
        assert float(loss) == pytest.approx(expected, rel=1e-5), step
        assert float(logged) == pytest.approx(expected / 10.0, rel=1e-5), step  # 4 * 16 or 0


def test_lazy_term_every_step_is_the_term_and_needs_a_step_otherwise():
    every_step = terms.Lazy(terms.GradientPenalty(10.0), every=1)
    assert every_step.discriminator_loss(_penalty_update(None)).numpy() == pytest.approx(160.0)
    with pytest.raises(ValueError, match="needs the step"):
        terms.Lazy(terms.GradientPenalty(10.0), every=16).discriminator_loss(_penalty_update(None))
    with pytest.raises(ValueError, match="every N >= 1"):
        terms.Lazy(terms.GradientPenalty(10.0), every=0)


# -- the paired kind (pix2pix) ------------------------------------------------------------------


def test_l1_reconstruction_is_lambda_times_the_mean_absolute_difference():
    """pix2pix's eq. 3 with lambda = 100: ||y - G(x)||_1 averaged over pixels and the batch."""
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    fake = rng.uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    u = _update(batch={"image": tf.constant(real), "source": real}, fake=tf.constant(fake))
    loss = terms.L1Reconstruction(100.0).generator_loss(u)
    expected = np.abs(real.astype(np.float64) - fake).mean()
    assert float(loss) == pytest.approx(100.0 * expected, rel=1e-5)
    assert float(u.logs["l1"]) == pytest.approx(expected, rel=1e-5)
    assert terms.L1Reconstruction(100.0).discriminator_loss(u) is None


def test_conditional_adversarial_is_the_halved_cgan_loss_on_a_patch_map():
    """pix2pix's eq. 1 on every patch: D minimises half of BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)
    (sec. 3.3), G the non-saturating BCE(D(x, G(x)), 1), each averaged over patches and the
    batch; the accuracies are shares of patches."""
    rng = np.random.default_rng(1)
    real = rng.normal(0, 2, (4, 3, 3, 1)).astype(np.float32)
    fake = rng.normal(0, 2, (4, 3, 3, 1)).astype(np.float32)
    u = _update(
        batch={"image": tf.zeros((4, 8, 8, 1))},
        real_out={"logits": tf.constant(real)},
        fake_out={"logits": tf.constant(fake)},
    )
    term = terms.ConditionalAdversarial(losses.NON_SATURATING)
    assert term.d_scale == 0.5
    expected_d = 0.5 * np.mean(_softplus(-real.astype(np.float64)) + _softplus(fake))
    assert float(term.discriminator_loss(u)) == pytest.approx(expected_d, rel=1e-5)
    assert float(u.logs["d_loss"]) == pytest.approx(expected_d, rel=1e-5)  # what D minimises
    g = term.generator_loss(u)
    assert float(g) == pytest.approx(np.mean(_softplus(-fake.astype(np.float64))), rel=1e-5)
    assert float(u.logs["d_real_acc"]) == pytest.approx((real > 0).mean(), abs=1e-6)
    assert float(u.logs["d_fake_acc"]) == pytest.approx((fake < 0).mean(), abs=1e-6)


# -- the two-domain kind (CycleGAN) -------------------------------------------------------------


def _translation(global_batch=2):
    zeros, ones = tf.zeros((2, 4, 4, 1)), tf.ones((2, 4, 4, 1))
    return terms.Translation(
        global_batch=global_batch,
        real={"a": zeros, "b": ones},
        fake={"a": zeros, "b": ones},
        rec={"a": zeros + 0.5, "b": zeros},  # L1 0.5 and 1
        same={"a": zeros + 0.2, "b": ones - 0.4},  # L1 0.2 and 0.4
        real_out={"a": {"logits": tf.ones((2, 3, 3, 1))}, "b": {"logits": tf.zeros((2, 3, 3, 1))}},
        fake_out={"a": {"logits": tf.zeros((2, 3, 3, 1))}, "b": {"logits": tf.ones((2, 3, 3, 1))}},
    )


def test_cycle_identity_and_domain_adversarial_terms_known_answers():
    t = _translation()
    assert float(terms.CycleConsistency(10.0).generator_loss(t)) == pytest.approx(15.0)
    assert float(terms.IdentityMapping(5.0).generator_loss(t)) == pytest.approx(3.0)
    assert float(t.logs["cycle_loss"]) == pytest.approx(15.0)
    assert float(t.logs["identity_loss"]) == pytest.approx(3.0)
    l2 = terms.CycleConsistency(1.0, terms.l2_per_example)
    assert float(l2.generator_loss(_translation())) == pytest.approx(0.25 + 1.0)
    # No identity images (identity weight 0): the identity term adds nothing.
    assert terms.IdentityMapping(5.0).generator_loss(terms.Translation(2, real={})) is None
    # Least squares at the authors' scale: the generator's side is (D - 1)^2, not half of it:
    # fakes judged 0 (into A) cost 1, judged 1 (into B) cost 0.
    adversarial = terms.DomainAdversarial(losses.LEAST_SQUARES, generator_scale=2.0)
    assert float(adversarial.generator_loss(t)) == pytest.approx(1.0)
    # A's discriminator is right on both (real 1, fake 0): 0; B's is wrong on both: 0.5 + 0.5.
    assert float(adversarial.discriminator_loss(t, "a")) == pytest.approx(0.0)
    assert float(adversarial.discriminator_loss(t, "b")) == pytest.approx(1.0)
    assert float(t.logs["d_loss"]) == pytest.approx(1.0)
    # A replica holding 2 of a global batch of 4 adds its share: half of the loss.
    half = terms.CycleConsistency(10.0).generator_loss(_translation(global_batch=4))
    assert float(half) == pytest.approx(7.5)


def test_feature_matching_compares_batch_means_of_each_map():
    """DiscoGAN's get_fm_loss: mean over a map's entries of (E_batch real - E_batch fake)^2,
    summed over the maps (every output named f1, f2, ...) and the domains."""
    real = np.array([[1.0, 3.0], [3.0, 5.0]], np.float32)  # batch mean (2, 4)
    fake = np.array([[0.0, 0.0], [2.0, 0.0]], np.float32)  # batch mean (1, 0)
    outputs = {"logits": tf.zeros((2, 1)), "f1": tf.constant(real), "f2": tf.constant(real)}
    t = terms.Translation(
        global_batch=2,
        real={"b": tf.zeros((2, 1))},
        real_out={"b": outputs},
        fake_out={"b": {**outputs, "f1": tf.constant(fake)}},  # f2 matches: 0
    )
    term = terms.DomainFeatureMatching(0.9)
    assert term.needs_real_outputs
    # f1: ((2 - 1)^2 + (4 - 0)^2) / 2 = 8.5
    assert float(term.generator_loss(t)) == pytest.approx(0.9 * 8.5)
    assert float(terms.DomainFeatureMatching(1.0, outputs=("f2",)).generator_loss(t)) == 0.0
    # The real maps are constants: only the fakes receive a gradient.
    fake_var = tf.Variable(fake)
    with tf.GradientTape() as tape:
        t.fake_out["b"]["f1"] = fake_var * 1.0
        loss = term.generator_loss(t)
    np.testing.assert_allclose(tape.gradient(loss, fake_var), 0.9 * -np.array([[1, 4], [1, 4]]) / 2)


def test_curriculum_weighs_a_term_by_the_step_and_keeps_its_discriminator_side():
    t = _translation()
    term = terms.Curriculum(terms.CycleConsistency(10.0), before=0.01, after=0.5, steps=3)
    t.step = tf.constant(2, tf.int64)
    assert float(term.generator_loss(t)) == pytest.approx(0.01 * 15.0)
    t.step = tf.constant(3, tf.int64)
    assert float(term.generator_loss(t)) == pytest.approx(0.5 * 15.0)
    adversarial = terms.Curriculum(terms.DomainAdversarial(losses.LEAST_SQUARES), 0.1, 0.2, 3)
    assert float(adversarial.discriminator_loss(t, "b")) == pytest.approx(1.0)  # unscaled
    assert terms.Curriculum(terms.IdentityMapping(5.0), 1.0, 1.0, 0).needs_identity
    t.step = None
    with pytest.raises(ValueError, match="needs the step"):
        term.generator_loss(t)


def test_critic_clipping_and_the_halved_domain_discriminator():
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    critic.set_weights([np.array([[0.5, -0.5, 0.001]] * 2, np.float32), np.ones(3, np.float32)])
    terms.CriticClipping(0.01).after_discriminator_update(critic)
    assert max(float(np.abs(w).max()) for w in critic.get_weights()) == pytest.approx(0.01)
    assert float(critic.get_weights()[0][0, 2]) == pytest.approx(0.001)  # inside: untouched
    halved = terms.DomainAdversarial(losses.LEAST_SQUARES, d_scale=0.5)
    assert float(halved.discriminator_loss(_translation(), "b")) == pytest.approx(0.5)
