"""The terms of the ``paired`` kind (pix2pix, pix2pixHD, SRGAN, ESRGAN): each reads an
``Update`` whose ``batch`` holds the ``source`` and the real ``image``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from zoo.losses import NON_SATURATING, LossPair, global_mean, reduce_loss
from zoo.terms.core import (
    Adversarial,
    Term,
    accuracy,
    l1_per_example,
    l2_per_example,
    mean_signs,
)


@dataclasses.dataclass
class ConditionalAdversarial(Adversarial):
    """pix2pix's conditional GAN loss L_cGAN(G, D) (Isola et al. 2017, eq. 1) on the
    discriminator's map of ``logits`` on (source, image) pairs: the pair's per-example losses
    average over the patches (the authors' BCE-with-logits mean over the map), the
    discriminator's scaled by ``d_scale`` (0.5: "we divide the objective by 2 while optimizing
    D", sec. 3.3). Logs as ``Adversarial``, the accuracies a share of patches.

    For pix2pixHD's several discriminators, one instance per scale reads its own ``output``."""

    d_scale: float = 0.5
    log_names = ("d_loss", "d_real_acc", "d_fake_acc", "g_loss")


@dataclasses.dataclass
class L1Reconstruction(Term):
    """``weight`` times L_L1(G) = E ||y - G(x)||_1 (Isola et al. 2017, eq. 3), the mean
    absolute difference per pixel between the generator's output and the target (the authors'
    ``nn.L1Loss``, a mean over pixels and channels), averaged over the global batch. Logs the
    unweighted distance as ``l1``."""

    weight: float = 100.0
    log_names = ("l1",)

    @staticmethod
    def distance(x, y):
        return l1_per_example(x, y)

    def generator_loss(self, update):
        distance = reduce_loss(self.distance(update.fake, update.real), update.global_batch)
        update.log(self.log_names[0], distance)
        return self.weight * distance


@dataclasses.dataclass
class MSEReconstruction(L1Reconstruction):
    """``weight`` times the mean squared difference per pixel between the generator's output
    and the target: SRResNet's pixel-wise MSE loss (Ledig et al. 2017, eq. 4), the whole
    objective of SRGAN's warm-up. Logs the unweighted distance as ``mse``."""

    weight: float = 1.0
    log_names = ("mse",)

    @staticmethod
    def distance(x, y):
        return l2_per_example(x, y)


@dataclasses.dataclass
class FeatureDistance(Term):
    """A content (perceptual) loss: ``weight`` times the distance between a frozen feature
    network's maps of the generator's output and of the target. SRGAN's VGG loss is the mean
    squared distance of VGG19's ``conv5_4`` maps after the ReLU (Ledig et al. 2017, eq. 5);
    ESRGAN's perceptual loss the mean absolute distance of the same maps *before* the ReLU
    (Wang et al. 2018, sec. 3.3). Logs the unweighted distance as ``content``.

    Args:
        weight: the term's weight.
        distance: ``l2`` (mean squared) or ``l1`` (mean absolute), per map entry.
        network: which feature network (``training.features.CONTENT_NETWORKS``).
        layer: the layer of ``network`` whose maps are compared.
        before_activation: compare the layer's maps before its activation.
        against: compare with the maps of the ``target`` (SRGAN, ESRGAN) or of the generator's
            own ``source`` (CartoonGAN's content loss: the photo's semantics kept, eq. 3).

    ``features`` (images in [-1, 1] -> maps) is bound by the trainer, which builds the network
    (the zoo does not load weights).
    """

    weight: float = 1.0
    distance: str = "l2"
    network: str = "vgg19"
    layer: str = "block5_conv4"
    before_activation: bool = False
    features: Callable[[tf.Tensor], tf.Tensor] | None = None
    against: str = "target"
    log_names = ("content",)

    def __post_init__(self):
        if self.distance not in ("l1", "l2"):
            raise ValueError(f"a feature distance is l1 or l2, got {self.distance!r}")
        if self.against not in ("target", "source"):
            raise ValueError(
                f"a feature distance is against target or source, got {self.against!r}"
            )

    def _features(self, images):
        if self.features is None:
            raise ValueError("FeatureDistance.features is not bound to a network")
        return self.features(images)

    def prepare_generator(self, update):
        reference = update.real if self.against == "target" else update.fake_in["source"]
        update.prepared["content_real"] = tf.stop_gradient(self._features(reference))

    def generator_loss(self, update):
        per_example = l1_per_example if self.distance == "l1" else l2_per_example
        fake = self._features(update.fake)
        distance = reduce_loss(
            per_example(fake, update.prepared["content_real"]), update.global_batch
        )
        update.log("content", distance)
        return self.weight * distance


@dataclasses.dataclass
class RelativisticAverage(Adversarial):
    """The relativistic average GAN (Jolicoeur-Martineau 2018) as ESRGAN uses it (Wang et al.
    2018, eq. 1-2): the discriminator estimates whether a real image is more realistic than the
    fakes on average, D_Ra(x_r, x_f) = sigmoid(C(x_r) - E[C(x_f)]), and the generator gets
    gradients from both the real and the fake images:

        L_D = -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))]
        L_G = -E[log(1 - D_Ra(x_r, x_f))] - E[log D_Ra(x_f, x_r)]

    i.e. the non-saturating pair on the centred logits, with the roles swapped for G. The means
    E[.] are over the *global* batch (``zoo.losses.global_mean``, all-reduced), so two replicas
    compute one device's loss. In the generator update the real logits are recomputed by the
    updated discriminator and held fixed (the authors' ``pred_d_real.detach()``). Logs the
    share of real images scored above the fakes' mean (``d_real_acc``) and of fakes below the
    reals' mean (``d_fake_acc``).
    """

    pair: LossPair = NON_SATURATING
    log_names = ("d_loss", "d_real_acc", "d_fake_acc", "g_loss")

    def _centred(self, real, fake, global_batch):
        real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
        return real - global_mean(fake, global_batch), fake - global_mean(real, global_batch)

    def discriminator_loss(self, update):
        real, fake = self._centred(
            self.logit(update.real_out), self.logit(update.fake_out), update.global_batch
        )
        loss = self.d_scale * reduce_loss(self.pair.d_loss(real, fake), update.global_batch)
        update.log("d_loss", loss)
        update.log("d_real_acc", accuracy(real > 0, update.global_batch))
        update.log("d_fake_acc", accuracy(fake < 0, update.global_batch))
        return loss

    def prepare_generator(self, update):
        real = self.logit(update.discriminate(update.real))
        update.prepared["relativistic_real"] = tf.stop_gradient(real)

    def generator_loss(self, update):
        real, fake = self._centred(
            update.prepared["relativistic_real"],
            self.logit(update.fake_out),
            update.global_batch,
        )
        loss = reduce_loss(self.pair.d_loss(fake, real), update.global_batch)  # roles swapped
        update.log("g_loss", loss)
        return self.g_weight * loss


def logit_maps(outputs: dict) -> list[str]:
    """The names of a discriminator's logit maps, one per scale: ``logits``, ``logits_s1``,
    ... (pix2pixHD's multi-scale discriminator; a single discriminator has ``logits``)."""
    return sorted(name for name in outputs if name.startswith("logits"))


def feature_maps(outputs: dict) -> list[list[str]]:
    """A discriminator's intermediate maps grouped by scale: outputs named ``s{k}_f{j}``
    (scale k, layer j), in order."""
    scales: dict[int, list[tuple[int, str]]] = {}
    for name in outputs:
        if name.startswith("s") and "_f" in name:
            k, j = name[1:].split("_f")
            scales.setdefault(int(k), []).append((int(j), name))
    return [[name for _, name in sorted(scales[k])] for k in sorted(scales)]


@dataclasses.dataclass
class MultiScaleAdversarial(Term):
    """pix2pixHD's adversarial loss over its discriminators of several scales (Wang et al.
    2018, eq. 2 summed over k): the loss pair on each discriminator's map (``logit_maps``)
    summed, the discriminator's side scaled by ``d_scale`` and the generator's by ``g_weight``
    (pix2pixHD sets them so that the sums are the authors' ``0.5 (real + fake)`` and
    ``MSE(fake, 1)``). Logs the summed ``d_loss`` and ``g_loss``, and the share of patches each
    side gets right, averaged over the scales."""

    pair: LossPair
    d_scale: float = 0.5
    g_weight: float = 1.0
    log_names = ("d_loss", "d_real_acc", "d_fake_acc", "g_loss")

    def discriminator_loss(self, update):
        names = logit_maps(update.real_out)
        total = 0.0
        for name in names:
            real, fake = update.real_out[name], update.fake_out[name]
            total += reduce_loss(self.pair.d_loss(real, fake), update.global_batch)
            if self.pair.threshold is not None:
                right = accuracy(real > self.pair.threshold, update.global_batch)
                update.log("d_real_acc", right / len(names))
                right = accuracy(fake < self.pair.threshold, update.global_batch)
                update.log("d_fake_acc", right / len(names))
        loss = self.d_scale * total
        update.log("d_loss", loss)
        return loss

    def real_signs(self, real_out):
        if self.pair.threshold is None:
            return None
        names = logit_maps(real_out)  # each scale's map weighs alike
        return tf.add_n([mean_signs(real_out[n], self.pair.threshold) for n in names]) / len(names)

    def generator_loss(self, update):
        loss = 0.0
        for name in logit_maps(update.fake_out):
            loss += reduce_loss(self.pair.g_loss(update.fake_out[name]), update.global_batch)
        loss = self.g_weight * loss
        update.log("g_loss", loss)
        return loss


@dataclasses.dataclass
class DiscriminatorFeatureMatching(Term):
    """pix2pixHD's feature matching loss (Wang et al. 2018, eq. 4): the L1 distance between
    the discriminators' intermediate maps (``feature_maps``) on the real pair and on the
    generated pair, each map weighted as the authors' code does (``4 / (n_layers + 1)`` per
    map, ``1 / num_D`` per scale) and the sum times ``weight`` (lambda = 10). The real maps
    are computed by the updated discriminator before the generator's tape and held fixed
    (``detach()``). Logs the unweighted sum as ``feature_matching``."""

    weight: float = 10.0
    log_names = ("feature_matching",)

    def prepare_generator(self, update):
        real = update.discriminate(update.real)
        update.prepared["fm_real"] = {
            name: tf.stop_gradient(real[name]) for scale in feature_maps(real) for name in scale
        }

    def generator_loss(self, update):
        total, scales = 0.0, feature_maps(update.fake_out)
        for names in scales:
            for name in names:  # the authors' 4 / (n_layers + 1): their maps but the last
                distance = l1_per_example(update.fake_out[name], update.prepared["fm_real"][name])
                weight = 4.0 / len(names) / len(scales)
                total += weight * reduce_loss(distance, update.global_batch)
        update.log("feature_matching", total)
        return self.weight * total


def edge_smooth(images: tf.Tensor, threshold: float = 100.0) -> tf.Tensor:
    """CartoonGAN's edge-smoothed images (Chen et al. 2018, sec. 3.2.1: "detect edge pixels
    using a standard Canny edge detector, dilate the edge regions, and apply a Gaussian
    smoothing in the dilated edge regions"), with the sizes of the reference implementations'
    ``edge_promoting.py`` (Canny thresholds 100 and 200 on 0-255 grey, a 5x5 dilation, a 5x5
    Gaussian [1, 4, 6, 4, 1] / 16, reflection padding). ``images`` [N, H, W, C] in [-1, 1].

    The edge pixels are those whose Sobel gradient (L1 norm, OpenCV's Canny default) on the
    0-255 grey image exceeds Canny's low ``threshold``: Canny's non-maximum suppression thins
    an edge to one pixel and its hysteresis drops weak pixels away from strong ones, both of
    which the 5x5 dilation that follows mostly covers. TensorFlow has no Canny.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    dilated = tf.nn.max_pool2d(tf.cast(edge_pixels(images, threshold), tf.float32), 5, 1, "SAME")
    return tf.where(dilated > 0.0, gaussian_blur(images), images)


def edge_pixels(images: tf.Tensor, threshold: float) -> tf.Tensor:
    """[N, H, W, 1] booleans: where the Sobel gradient (L1 norm) of the 0-255 grey image of
    ``images`` (in [-1, 1]) exceeds ``threshold``."""
    pixels = (tf.convert_to_tensor(images, tf.float32) + 1.0) * 127.5
    if pixels.shape[-1] == 3:  # OpenCV's BGR2GRAY weights, on RGB
        grey = tf.reduce_sum(pixels * tf.constant([0.299, 0.587, 0.114]), -1, keepdims=True)
    else:
        grey = tf.reduce_mean(pixels, -1, keepdims=True)
    sobel = tf.image.sobel_edges(grey)  # [N, H, W, 1, 2], reflection padded
    return tf.reduce_sum(tf.abs(sobel), axis=-1) > threshold


def gaussian_blur(images: tf.Tensor) -> tf.Tensor:
    """Each channel of ``images`` [N, H, W, C] blurred by the 5x5 Gaussian [1, 4, 6, 4, 1] / 16
    (OpenCV's ``getGaussianKernel(5, 0)``), reflection padded."""
    images = tf.convert_to_tensor(images, tf.float32)
    taps = tf.constant([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    kernel = tf.tensordot(taps, taps, axes=0)[:, :, tf.newaxis, tf.newaxis]
    kernel = tf.tile(kernel, [1, 1, images.shape[-1], 1])
    padded = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")


@dataclasses.dataclass
class EdgePromotingAdversarial(Adversarial):
    """CartoonGAN's edge-promoting adversarial loss (Chen et al. 2018, eq. 2): the
    discriminator learns to tell real cartoons (the target images) from both the generator's
    output and the cartoons with their edges smoothed (``edge_smooth``), so that clear edges
    are what makes a cartoon real:

        L_adv = E[log D(c)] + E[log(1 - D(e))] + E[log(1 - D(G(p)))]

    with the pair's fake half (``LossPair.d_fake``) on the edge-smoothed images; the generator's
    side is the pair's on its output. Logs as ``Adversarial``, and ``d_edge_acc``, the share
    of edge-smoothed images (or patches) the discriminator calls fake."""

    def discriminator_loss(self, update):
        if self.pair.d_fake is None:
            raise ValueError(f"the {self.pair.name} pair has no fake half for the smoothed images")
        loss = super().discriminator_loss(update)
        smoothed = tf.stop_gradient(edge_smooth(update.real))
        edge = self.logit(update.discriminate(smoothed))
        edge_loss = self.d_scale * reduce_loss(self.pair.d_fake(edge), update.global_batch)
        update.log("d_loss", edge_loss)
        if self.pair.threshold is not None:
            update.log("d_edge_acc", accuracy(edge < self.pair.threshold, update.global_batch))
        return loss + edge_loss
