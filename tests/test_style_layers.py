"""StyleGAN2's building blocks (zoo.style_layers): known answers, and the portable (Keras-only)
form of each equal to the layer."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.checkpoints import portable_copy
from zoo import style_layers as sl


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_equalized_runtime_scale_is_sqrt_2_over_fan_in_for_leaky_relu_layers():
    """A leaky-ReLU layer's effective weight is N(0, 1) * sqrt(2 / fan_in) (He's constant,
    Karras et al. 2018 sec. 4.1): 1 / sqrt(fan_in) on the kernel, sqrt(2) after the
    activation, which leaky ReLU lets through; the mapping's lr_mul scales kernel and bias."""
    x = _rng().standard_normal((5, 12)).astype("float32")
    for lr_mul in (1.0, 0.01):
        layer = sl.EqualizedDense(7, "lrelu", lr_mul=lr_mul)
        y = np.asarray(layer(x))
        kernel = np.asarray(layer.kernel) * lr_mul  # stored / lr_mul, N(0, 1) in effect
        assert kernel.std() == pytest.approx(1.0, abs=0.2)
        pre = x @ (kernel * math.sqrt(2.0 / 12))
        np.testing.assert_allclose(y, np.where(pre > 0, pre, 0.2 * pre), rtol=1e-5, atol=1e-6)
    conv = sl.EqualizedConv2D(4, 3)
    images = _rng(1).standard_normal((2, 6, 6, 3)).astype("float32")
    out = np.asarray(conv(images))
    pre = tf.nn.conv2d(images, np.asarray(conv.kernel) * math.sqrt(2.0 / 27), 1, "SAME").numpy()
    np.testing.assert_allclose(out, np.where(pre > 0, pre, 0.2 * pre), rtol=1e-5, atol=1e-5)


def test_demodulated_output_channels_have_unit_norm_for_unit_variance_input():
    """Karras et al. 2020, eq. 3: the modulated, demodulated weights w''_ijk = s_i w_ijk d_j
    have unit L2 norm for every output channel of every example, so an input of i.i.d. unit
    variance gives outputs of unit variance, whatever the styles' scale."""
    layer = sl.ModulatedConv2D(6, 3)
    x = _rng(2).standard_normal((3, 64, 64, 5)).astype("float32")
    styles = (_rng(3).standard_normal((3, 5)) * [[0.1], [1.0], [30.0]]).astype("float32")
    y = np.asarray(layer([x, styles]))
    kernel = np.asarray(layer.kernel)  # [3, 3, in, out]
    modulated = styles[:, None, None, :, None] * kernel[None]  # [N, 3, 3, in, out]
    d = 1.0 / np.sqrt((modulated**2).sum(axis=(1, 2, 3)) + 1e-8)  # [N, out]
    norms = ((modulated * d[:, None, None, None, :]) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    inner = y[:, 2:-2, 2:-2, :]  # away from the zero padding
    np.testing.assert_allclose(inner.std(axis=(1, 2)), 1.0, atol=0.08)
    # without demodulation it is the plain convolution of the modulated input
    plain = sl.ModulatedConv2D(6, 3, demodulate=False)
    out = np.asarray(plain([x, styles]))
    ref = tf.nn.conv2d(x * styles[:, None, None, :], np.asarray(plain.kernel), 1, "SAME")
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-3)


def _upfirdn_reference(x, up, down):
    """NumPy upfirdn2d of one [H, W] image with the [1, 3, 3, 1] filter (the authors'
    ``upsample2d``: gain up^2, pad (2, 1); ``downsample2d``: pad (1, 1))."""
    f = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float64)
    f = f / f.sum() * up * up
    if up > 1:
        z = np.zeros((x.shape[0] * up, x.shape[1] * up))
        z[::up, ::up] = x
        x, pad = z, (2, 1)
    else:
        pad = (1, 1)
    x = np.pad(x, (pad, pad))
    h, w = x.shape[0] - 3, x.shape[1] - 3
    out = np.array([[(x[i : i + 4, j : j + 4] * f).sum() for j in range(w)] for i in range(h)])
    return out[::down, ::down]


def test_fir_resampling_matches_upfirdn_and_keeps_constants():
    x = _rng(4).standard_normal((2, 8, 8, 3)).astype("float32")
    up, down = np.asarray(sl.Upsample2D()(x)), np.asarray(sl.Downsample2D()(x))
    assert up.shape == (2, 16, 16, 3) and down.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(up[1, :, :, 2], _upfirdn_reference(x[1, :, :, 2], 2, 1), atol=1e-5)
    np.testing.assert_allclose(down[0, :, :, 1], _upfirdn_reference(x[0, :, :, 1], 1, 2),
                               atol=1e-5)  # fmt: skip
    ones = np.ones((1, 8, 8, 1), "float32")
    np.testing.assert_allclose(np.asarray(sl.Upsample2D()(ones))[0, 2:-2, 2:-2], 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(sl.Downsample2D()(ones))[0, 1:-1, 1:-1], 1.0, rtol=1e-6)


def test_style_mix_takes_the_second_latent_from_the_crossover_on():
    w, w_mix = np.zeros((4, 3), "float32"), np.ones((4, 3), "float32")
    # draws in [-1, 1]: (mix?, crossover); num_ws 6 -> crossover 1 + floor(u * 5)
    draws = np.array([[-1.0, -1.0], [-1.0, 1.0], [-1.0, 0.0], [1.0, -1.0]], "float32")
    ws = np.asarray(sl.StyleMix(6, prob=0.9)([w, w_mix, draws]))
    assert ws.shape == (4, 6, 3)
    first_mixed = [int(np.argmax(row[:, 0] > 0)) if row.max() > 0 else 6 for row in ws]
    assert first_mixed == [1, 5, 3, 6]  # u=0 -> 1; u=1 -> 5 (the last); u=.5 -> 3; not mixed
    none = np.asarray(sl.StyleMix(6, prob=0.0)([w, w_mix, draws]))
    assert (none == 0).all()


def test_tracked_average_moves_towards_the_batch_mean_and_truncates_to_it():
    layer = sl.TrackedAverage(decay=0.9)
    w = _rng(5).standard_normal((8, 4)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(w, training=False)), w)
    np.testing.assert_array_equal(np.asarray(layer.w_avg), 0.0)
    layer(w, training=True)
    np.testing.assert_allclose(np.asarray(layer.w_avg), 0.1 * w.mean(axis=0), rtol=1e-5)
    avg = np.asarray(layer.w_avg)
    zero = np.asarray(layer([w, np.float32(0.0)]))
    np.testing.assert_allclose(zero, np.broadcast_to(avg, w.shape), rtol=1e-6)
    half = np.asarray(layer([w, np.full((8, 1), 0.5, "float32")]))
    np.testing.assert_allclose(half, avg + 0.5 * (w - avg), rtol=1e-5, atol=1e-6)


def test_tracked_average_on_two_replicas_is_the_global_batch_mean():
    w = _rng(6).standard_normal((8, 4)).astype("float32")
    w[4:] += 3.0  # the halves' means differ from the whole batch's
    strategy = tf.distribute.MirroredStrategy(  # as training.strategy builds it over CPUs
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        layer = sl.TrackedAverage(decay=0.5)
        layer.build((None, 4))
    data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(w).batch(8))
    tf.function(lambda x: strategy.run(lambda v: layer(v, training=True), (x,)))(next(iter(data)))
    copies = strategy.experimental_local_results(layer.w_avg.value)
    assert len(copies) == 2
    for copy in copies:
        np.testing.assert_allclose(np.asarray(copy), 0.5 * w.mean(axis=0), rtol=1e-5)


def test_noise_is_added_times_its_strength_and_ships_as_the_constant_buffer():
    layer = sl.NoiseInjection(seed=3)
    x = _rng(7).standard_normal((2, 4, 4, 5)).astype("float32")
    noise = _rng(8).standard_normal((2, 4, 4, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer([x, noise])), x)  # strength starts at 0
    layer.strength.assign(0.5)
    np.testing.assert_allclose(np.asarray(layer([x, noise])), x + 0.5 * noise, rtol=1e-6)
    const = np.asarray(layer.const)
    np.testing.assert_allclose(np.asarray(layer(x)), x + 0.5 * const, rtol=1e-6)


def test_portable_forms_compute_exactly_what_the_layers_compute(tmp_path):
    """Each block's ``portable()`` (Keras layers and operations with its weights) gives the
    layer's output bit for bit, and a model of them loads without ganzoo's classes."""
    x = keras.Input((8, 8, 4))
    s = keras.Input((6,))
    styles = sl.EqualizedDense(4, bias_init=1.0, lr_mul=0.5)(s)
    y = sl.ModulatedConv2D(5, 3)([x, styles])
    y = sl.NoiseInjection(seed=1)(y)
    y = sl.BiasActivation("lrelu")(y)
    y = sl.Upsample2D()(y)
    y = sl.EqualizedConv2D(3, 3, gain=0.5)(y)
    y = sl.Downsample2D()(y)
    model = keras.Model([x, s], y)
    for layer in model.layers:  # move everything off its initial value
        for weight in layer.weights:
            if weight.trainable:
                weight.assign(weight + 0.1 * _rng(9).standard_normal(weight.shape))
    copy = portable_copy(model)
    feeds = [_rng(10).standard_normal((3, 8, 8, 4)).astype("float32"),
             _rng(11).standard_normal((3, 6)).astype("float32")]  # fmt: skip
    np.testing.assert_array_equal(np.asarray(copy(feeds)), np.asarray(model(feeds)))
    copy.save(tmp_path / "m.keras")
    config = (tmp_path / "m.keras").read_bytes()
    assert b"ganzoo" not in config
