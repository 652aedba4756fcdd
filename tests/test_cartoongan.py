"""CartoonGAN: edge smoothing, the edge-promoting loss, the initialization phase on unpaired
data, and the procedural cartoons of the photo preset; on the tiny preset, sharing the
session's trained run."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from training import views
from training.loop import build_session, open_run, train
from training.sections import ConfigError
from zoo import cartoongan, losses, terms


def _step_edge(size=16):
    """A dark left half and a bright right half, [1, size, size, 1] in [-1, 1]."""
    image = -np.ones((1, size, size, 1), np.float32)
    image[..., size // 2 :, :] = 1.0
    return image


def test_edge_smoothing_blurs_only_around_edges():
    flat = np.full((1, 16, 16, 3), 0.3, np.float32)
    np.testing.assert_allclose(terms.edge_smooth(flat), flat, atol=1e-6)  # no edge: unchanged
    image = _step_edge()
    smoothed = terms.edge_smooth(image).numpy()[0, 0, :, 0]
    # Columns 5-10 lie within the 5x5 dilation of the edge (columns 7-8): the Gaussian there
    # gives (1 + 4 + 6 + 4 + 1) / 16 shares of both sides; columns further out are untouched.
    expected = np.convolve(np.pad(image[0, 0, :, 0], 2, mode="reflect"), [1, 4, 6, 4, 1], "valid")
    np.testing.assert_allclose(smoothed[5:11], expected[5:11] / 16, atol=1e-6)
    np.testing.assert_array_equal(smoothed[:4], -1.0)
    np.testing.assert_array_equal(smoothed[12:], 1.0)


def test_edge_promoting_loss_calls_smoothed_cartoons_fake():
    """D(real) = 1, D(fake) = 0, D(smoothed) = 0.5 with least squares: 0 + 0 + 0.5 * 0.25;
    the smoothed images are the real batch's, and the fake half is the pair's."""
    real = _step_edge()
    calls = []

    def discriminate(images):
        calls.append(np.asarray(images))
        return {"logits": tf.fill([1, 4, 4, 1], 0.5)}

    update = terms.Update(
        global_batch=1,
        batch={"image": tf.constant(real)},
        real_out={"logits": tf.ones([1, 4, 4, 1])},
        fake_in={},
        fake=tf.zeros_like(real),
        fake_out={"logits": tf.zeros([1, 4, 4, 1])},
        critic=None,
        draw=None,
        discriminate=discriminate,
        logs={},
    )
    term = terms.EdgePromotingAdversarial(losses.LEAST_SQUARES)
    assert float(term.discriminator_loss(update)) == pytest.approx(0.5 * 0.25)
    np.testing.assert_allclose(calls[0], terms.edge_smooth(real), atol=1e-6)
    assert float(update.logs["d_edge_acc"]) == 0.0  # 0.5 is not below the threshold
    # The pair's halves: d_loss(real, fake) = d_loss(real, x) - d_fake(x) + d_fake(fake).
    for pair in (losses.NON_SATURATING, losses.LEAST_SQUARES, losses.WASSERSTEIN, losses.HINGE):
        r, f, x = tf.constant([[0.3, -1.0]]), tf.constant([[2.0, 0.1]]), tf.constant([[0.7, 0.2]])
        np.testing.assert_allclose(
            pair.d_loss(r, f), pair.d_loss(r, x) - pair.d_fake(x) + pair.d_fake(f), atol=1e-6
        )


def test_initialization_phase_trains_the_generator_alone_on_content(trained_runs):
    """Tiny: one step of content alone, then the GAN; the content is against the photo."""
    session, _ = open_run(trained_runs("cartoongan"))
    trainer = session.trainer
    assert [type(t) for t in trainer.warmup_terms] == [terms.FeatureDistance]
    assert trainer.warmup_terms[0].against == "source" and trainer.warmup_steps == 1
    assert int(trainer.optimizers["generator"].iterations.numpy()) == 2
    assert int(trainer.optimizers["discriminator"].iterations.numpy()) == 1  # after the phase
    assert trainer.contract.target == "image_b"
    pieces = cartoongan.terms(cartoongan.CartoonGANObjective())
    assert isinstance(pieces[0], terms.EdgePromotingAdversarial)
    assert pieces[0].pair is losses.LEAST_SQUARES
    content = pieces[1]
    assert (content.weight, content.distance, content.layer) == (10.0, "l1", "block4_conv4")
    assert content.before_activation and content.network == "vgg19"


def test_resume_is_exact_across_the_end_of_initialization(trained_runs, tmp_path):
    train(tiny_config("cartoongan", "train.steps=1"), tmp_path / "resumed")
    train(tiny_config("cartoongan", "train.steps=2"), tmp_path / "resumed", resume=True)
    a = open_run(trained_runs("cartoongan"))[0].trainer
    b = open_run(tmp_path / "resumed")[0].trainer
    for name in ("generator", "discriminator"):
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)


def test_unpaired_data_is_required():
    with pytest.raises(ConfigError, match="unpaired images of two domains: set data.domains"):
        build_session(tiny_config("cartoongan", "data.domains=none", "data.domain_views=none"))


def test_procedural_cartoons_are_flat_colours_and_black_lines():
    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal(0, 0.5, (1, 32, 32, 3)), -1, 1).astype(np.float32)
    photo[:, :, 16:] += 0.8  # a strong edge down the middle
    cartoon = views.view("cartoon", np.clip(photo, -1, 1)).numpy()
    levels = np.array([-1.0, -1 / 3, 1 / 3, 1.0])
    assert np.abs(cartoon[..., None] - levels).min(axis=-1).max() < 1e-5  # 4 levels, no other
    assert (cartoon[0, :, 15:17] == -1.0).all(axis=-1).any()  # a line along the edge
