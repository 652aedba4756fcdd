"""Feature extractors for the metrics, chosen by name.

    mnist_cnn   ganzoo's digit classifier (``training/classifier.py``), 128-d features and 10
                class probabilities at 28x28 grayscale. Works offline; only meaningful for
                digits, so ``auto`` picks it only for MNIST runs (``default_extractor``).
    inception   Keras' InceptionV3 at 299x299: 2048-d pool features and 1000 ImageNet class
                probabilities, with cached or user-supplied ImageNet weights.

Numbers from different extractors are not comparable, and Keras' InceptionV3 is not the
TF1 graph that published FIDs use, so ganzoo labels every number with its extractor.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo.errors import GanzooError

INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_FILE
)
EXTRACTORS = ("mnist_cnn", "inception")


class ExtractorError(GanzooError, RuntimeError):
    """An extractor that cannot be built, with what to do about it."""


@dataclasses.dataclass
class Extractor:
    """Maps images in [-1, 1] to (features [N, d], class probabilities [N, classes]).

    Images of another size are resized to ``size``; with ``fit="pad"`` (a run trained on
    padded images, ``data.fit=pad``) larger ones are center-cropped instead, which undoes the
    padding exactly."""

    name: str
    model: keras.Model  # image at ``size`` -> (features, logits)
    size: int
    channels: int
    classes: int
    fit: str = "resize"

    def __call__(self, images: np.ndarray, batch_size: int = 250) -> tuple[np.ndarray, np.ndarray]:
        features, probabilities = [], []
        for start in range(0, len(images), batch_size):
            batch = self._prepare(tf.convert_to_tensor(images[start : start + batch_size]))
            f, logits = self.model(batch, training=False)
            features.append(np.asarray(f, np.float64))
            probabilities.append(np.asarray(tf.nn.softmax(logits), np.float64))
        return np.concatenate(features), np.concatenate(probabilities)

    def _prepare(self, images: tf.Tensor) -> tf.Tensor:
        if images.dtype == tf.uint8:
            images = tf.cast(images, tf.float32) / 127.5 - 1.0
        images = tf.cast(images, tf.float32)
        if images.shape[-1] != self.channels:
            images = (
                tf.image.grayscale_to_rgb(images)
                if self.channels == 3
                else tf.reduce_mean(images, axis=-1, keepdims=True)
            )
        height, width = images.shape[1], images.shape[2]
        if self.fit == "pad" and height >= self.size and width >= self.size:
            top, left = (height - self.size) // 2, (width - self.size) // 2
            images = images[:, top : top + self.size, left : left + self.size]
        elif height != self.size or width != self.size:
            images = tf.image.resize(images, (self.size, self.size), antialias=True)
        return images


def get_extractor(name: str, weights: str | Path | None = None, fit: str = "resize") -> Extractor:
    """The extractor ``name`` (``EXTRACTORS``); ``fit`` is the run's ``data.fit``."""
    if name == "mnist_cnn":
        from training.classifier import FEATURES, load_classifier

        try:
            classifier = load_classifier(weights)
        except (OSError, ValueError) as err:
            raise ExtractorError(f"mnist_cnn weights cannot be loaded: {err}") from None
        model = keras.Model(
            classifier.inputs, [classifier.get_layer(FEATURES).output, classifier.output]
        )
        return Extractor("mnist_cnn", model, 28, 1, 10, fit)
    if name == "inception":
        path = inception_weights(weights)
        if not path.is_file():
            raise ExtractorError(
                f"InceptionV3 weights not found at {path}; on a machine with internet download "
                f"{INCEPTION_URL} and pass it with --weights PATH (or copy it to "
                f"~/.keras/models/), or use --extractor mnist_cnn for digits"
            )
        net = keras.applications.InceptionV3(include_top=True, weights=None)
        try:
            net.load_weights(str(path))
        except (OSError, ValueError) as err:
            raise ExtractorError(f"{path} is not InceptionV3 weights: {err}") from None
        # The top applies softmax; take its input logits through a linear copy of the layer.
        pool = net.get_layer("avg_pool").output
        top = net.get_layer("predictions")
        logits = keras.layers.Dense(1000, name="logits")(pool)
        model = keras.Model(net.inputs, [pool, logits])
        model.get_layer("logits").set_weights(top.get_weights())
        return Extractor("inception", model, 299, 3, 1000, fit)
    raise ExtractorError(f"unknown extractor {name!r}; accepted: {', '.join(EXTRACTORS)}")


VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_FILE
CONTENT_NETWORKS = ("digits", "vgg19", "pixels")
_VGG_BGR_MEAN = (103.939, 116.779, 123.68)  # keras.applications.vgg19's "caffe" preprocessing


def content_network(name: str, layer: str, before_activation: bool, weights=None):
    """A frozen feature network for a content (perceptual) loss: ``images`` [N, H, W, C] in
    [-1, 1] -> the maps of ``layer`` (before its activation when ``before_activation``).

    ``digits``: the project's digit classifier (offline; 28x28 grey, other sizes resized
    bilinearly). ``vgg19``: Keras' VGG19 with ImageNet weights from ``weights`` or Keras'
    cache (downloaded there when the host answers), fed as
    ``keras.applications.vgg19.preprocess_input`` expects (grey images repeated to RGB).
    ``pixels``: the images themselves (the paper's SRGAN-MSE; ``layer`` unused). A network
    that cannot be built is a one-line ``ExtractorError``."""
    if name == "pixels":
        return lambda images: tf.cast(images, tf.float32)
    if name == "digits":
        from training.classifier import load_classifier

        try:
            base = load_classifier()
        except (OSError, ValueError) as err:
            raise ExtractorError(f"the digit classifier cannot be loaded: {err}") from None
        size, channels = 28, 1
    elif name == "vgg19":
        path = Path(weights) if weights else Path.home() / ".keras" / "models" / VGG19_FILE
        if not path.is_file() and not weights:
            path = _download_vgg19(path)
        if not path.is_file():
            raise ExtractorError(
                f"VGG19 weights not found at {path}; on a machine with internet download "
                f"{VGG19_URL} to ~/.keras/models/, or use objective.content_network=digits "
                "for digits"
            )
        base = keras.applications.VGG19(include_top=False, weights=None)
        try:
            base.load_weights(str(path))
        except (OSError, ValueError) as err:
            raise ExtractorError(f"{path} is not VGG19 weights: {err}") from None
        size, channels = None, 3
    else:
        raise ExtractorError(
            f"unknown content network {name!r}; accepted: {', '.join(CONTENT_NETWORKS)}"
        )
    convolutions = [x.name for x in base.layers if isinstance(x, keras.layers.Conv2D)]
    if layer not in convolutions:
        raise ExtractorError(
            f"{name} has no convolution {layer!r}; its convolutions: {', '.join(convolutions)}"
        )
    conv = base.get_layer(layer)
    output = conv.output
    if before_activation:  # the same convolution, linear (ESRGAN's maps before the ReLU)
        linear = keras.layers.Conv2D.from_config(
            {**conv.get_config(), "activation": "linear", "name": f"{layer}_linear"}
        )
        output = linear(conv.input)
        linear.set_weights(conv.get_weights())
    model = keras.Model(base.inputs, output, name=f"{name}_{layer}")
    model.trainable = False

    def features(images):
        images = tf.cast(images, tf.float32)
        if images.shape[-1] != channels:
            images = (
                tf.repeat(images, 3, axis=-1)
                if channels == 3
                else tf.reduce_mean(images, axis=-1, keepdims=True)
            )
        if size is not None and (images.shape[1] != size or images.shape[2] != size):
            images = tf.image.resize(images, (size, size))
        if name == "vgg19":
            images = (images[..., ::-1] + 1.0) * 127.5 - tf.constant(_VGG_BGR_MEAN)
        return model(images, training=False)

    return features


def _download_vgg19(path: Path) -> Path:
    """Keras' ImageNet VGG19 weights, downloaded into Keras' cache when their host answers
    within 3 s (never TensorFlow's minute-long retries); ``path`` unchanged otherwise."""
    from training import sources

    reachable, _ = sources.host_reachable(sources.DOWNLOAD_HOST, 3.0)
    if reachable:
        return Path(keras.utils.get_file(VGG19_FILE, VGG19_URL, cache_subdir="models"))
    return path


def inception_weights(weights: str | Path | None = None) -> Path:
    """Where the InceptionV3 weights are looked for: ``weights``, or Keras' own cache."""
    return Path(weights) if weights else Path.home() / ".keras" / "models" / INCEPTION_FILE


def is_digits(data) -> bool:
    """Whether a run's ``data`` config (a ``DataConfig``) is MNIST, from TFDS or the vendored
    copy: the only images the digit classifier's features mean anything for. An image folder
    keeps the default ``dataset: mnist`` however unlike digits its images are."""
    return data.source != "folder" and data.dataset == "mnist"


def default_extractor(data, weights: str | Path | None = None) -> str | None:
    """The extractor ``auto`` means for a run's ``data`` config: ``mnist_cnn`` for MNIST digits;
    for anything else ``inception`` when its weights are available (at ``weights`` or in
    Keras' cache), otherwise ``None``: no extractor fits, and scoring other images with the
    digit classifier would give numbers that look like FIDs but measure nothing."""
    if is_digits(data):
        return "mnist_cnn"
    return "inception" if inception_weights(weights).is_file() else None


def no_extractor_note(what: str, weights: str | Path | None, option: str) -> str:
    """Why ``what`` gets no FID/KID and how to get them, in one line; ``option`` is how the
    caller passes weights (``eval.weights=PATH``, ``--weights PATH``)."""
    return (
        f"{what}: the digit classifier (mnist_cnn) scores only MNIST digits and the InceptionV3 "
        f"weights are not at {inception_weights(weights)}; download {INCEPTION_URL} to "
        f"~/.keras/models/ or pass it with {option}"
    )
