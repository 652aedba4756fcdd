"""Views of an image: what a paired or two-domain family reads next to (or instead of) the
image itself, made from the image so that the true translation is known and can be measured.

``data.pair=edges`` gives each batch a ``source`` (the edge map of each ``image``) for a paired
family (pix2pix: edges -> digit); ``data.domain_views=none,bold`` makes a two-domain family's
domain B the bold-stroke version of its digits (CycleGAN: strokes -> bold strokes). The same
function makes the held-out truth that evaluation compares a translation with.

Images are float32 in [-1, 1] with a dark background (-1), as the pipelines give them; a view
keeps that range. Morphology is grey-scale, with flat structuring elements (max and min pools).
"""

from __future__ import annotations

import tensorflow as tf

from training.sections import VIEWS


def _dilate(images: tf.Tensor, size: int) -> tf.Tensor:
    return tf.nn.max_pool2d(images, size, 1, "SAME")


def _erode(images: tf.Tensor, size: int) -> tf.Tensor:
    return -tf.nn.max_pool2d(-images, size, 1, "SAME")


def _edges(images):
    """The morphological gradient (3x3 dilation minus 3x3 erosion): bright along each stroke's
    outline, dark inside wide strokes and in the background."""
    return _dilate(images, 3) - _erode(images, 3) - 1.0


def _cartoon(images):
    """A procedural cartoon of a photograph: blurred (5x5 Gaussian, twice), each channel
    posterized to 4 levels (flat colour regions), and black lines where the blurred image has
    strong edges (Sobel L1 gradient over 200 on 0-255 grey): CartoonGAN's and GANILLA's
    photo presets learn this style from other photos than the ones they translate."""
    from zoo.terms.paired import edge_pixels, gaussian_blur

    smooth = gaussian_blur(gaussian_blur(images))
    levels = 3.0  # steps between the 4 levels
    flat = tf.round((smooth + 1.0) / 2.0 * levels) / levels * 2.0 - 1.0
    return tf.where(edge_pixels(smooth, 200.0), -1.0, flat)


def _low_res4(images):
    """4x area downsampling (28 -> 7, 32 -> 8): the input of a 4x super-resolution family."""
    return tf.nn.avg_pool2d(images, 4, 4, "VALID")


_FUNCTIONS = {
    "none": lambda images: images,
    "edges": _edges,
    "bold": lambda images: _dilate(images, 3),  # strokes 2 pixels wider
    "thin": lambda images: _erode(images, 2),  # strokes 1 pixel narrower
    "low_res4": _low_res4,
    "cartoon": _cartoon,
}
assert tuple(_FUNCTIONS) == VIEWS  # the config lists the names without importing TensorFlow


def view(name: str, images) -> tf.Tensor:
    """View ``name`` of one image [H, W, C] or a batch [N, H, W, C] (float32 in [-1, 1])."""
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown view {name!r}; views: {', '.join(VIEWS)}")
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank == 3:
        return _FUNCTIONS[name](images[tf.newaxis])[0]
    return _FUNCTIONS[name](images)
