"""The pieces every kind shares: ``Update`` (what one update computed), ``Term`` (a piece of
an objective), the per-example distances and reductions, and the terms of the ``adversarial``
kind (the loss pair, the semi-supervised discriminator, penalties, clipping, auxiliary heads,
drift)."""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable, Mapping

import keras
import tensorflow as tf

from zoo.losses import (
    LossPair,
    feature_matching,
    gradient_penalty,
    reduce_loss,
    semi_supervised_logit,
)


@dataclasses.dataclass
class Update:
    """What one discriminator or generator update computed, on this replica.

    ``real_out`` and ``fake_out`` are the discriminator's outputs by name; ``critic(x)`` is its
    real-vs-fake logit on images ``x`` conditioned like the real batch (for penalties);
    ``draw(stream, shape)`` gives uniform [0, 1) noise of this replica's rows from a named
    stream (for a penalty's interpolation weights); ``discriminate(images)`` runs the
    discriminator on other images (a labelled batch); ``generate(inputs)`` runs the generator
    on inputs by name (StarGAN's reconstruction; ``None`` where the kind offers none). Terms
    add to ``logs``; what a term computes in ``prepare_generator`` (outside the generator's
    tape) goes in ``prepared``.
    """

    global_batch: tf.Tensor
    batch: dict
    real_out: dict
    fake_in: dict
    fake: tf.Tensor
    fake_out: dict
    critic: Callable[[tf.Tensor], tf.Tensor]
    draw: Callable[[str, list[int]], tf.Tensor]
    discriminate: Callable[[tf.Tensor], dict]
    logs: dict
    prepared: dict = dataclasses.field(default_factory=dict)  # from prepare_generator
    step: tf.Tensor | None = None  # the steps done before this one (for ``Lazy`` terms)
    generate: Callable[[dict], tf.Tensor] | None = None
    generator: keras.Model | None = None  # the training generator (StyleGAN2's path length)
    state: dict = dataclasses.field(default_factory=dict)  # the terms' variables, by name

    @property
    def real(self) -> tf.Tensor:
        return self.batch["image"]

    def log(self, name: str, value: tf.Tensor) -> None:
        self.logs[name] = self.logs.get(name, 0.0) + value


class Term:
    """A piece of the objective; each method returns a weighted, globally reduced loss or
    ``None`` when the term has nothing to add to that network. ``log_names``: what it logs
    (a ``Lazy`` term logs them on the steps it skips too, as 0). ``state``: scalar variables
    the term keeps across steps, by name and initial value (StyleGAN2's running path-length
    mean); the trainer creates, checkpoints and hands them over in ``Update.state``."""

    log_names: tuple[str, ...] = ()
    state: Mapping[str, float] = types.MappingProxyType({})

    def discriminator_loss(self, update: Update) -> tf.Tensor | None:
        return None

    def prepare_generator(self, update: Update) -> None:
        """Runs before the generator's tape (e.g. feature matching's real features)."""
        return None  # (a body of its own: AutoGraph cannot convert a docstring-only method)

    def generator_loss(self, update: Update) -> tf.Tensor | None:
        return None

    def after_discriminator_update(self, discriminator: keras.Model) -> None:
        """Runs after each discriminator update (e.g. WGAN's weight clipping)."""
        return None

    def real_signs(self, real_out: dict) -> tf.Tensor | None:
        """[B]: each real example's mean sign of the discriminator's real-vs-fake output about
        the pair's threshold (what ADA's r_t averages), or ``None`` when the term reads no such
        output."""
        return None


def mean_signs(logits: tf.Tensor, threshold: float) -> tf.Tensor:
    """[B]: the mean of sign(``logits`` - ``threshold``) over each example's entries (the one
    logit, or the patches of a PatchGAN's map)."""
    flat = tf.reshape(tf.cast(logits, tf.float32), [tf.shape(logits)[0], -1])
    return tf.reduce_mean(tf.sign(flat - threshold), axis=1)


def accuracy(correct: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    """This replica's share of the global batch's mean share of ``correct``: each example's
    share of its entries (the patches of a PatchGAN's map; the one entry of a logit or a
    label), averaged over the global batch."""
    flat = tf.reshape(tf.cast(correct, tf.float32), [tf.shape(correct)[0], -1])
    return reduce_loss(tf.reduce_mean(flat, axis=1), global_batch)


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    per_example = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return reduce_loss(per_example, global_batch)


def l1_per_example(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference of each example [B] (``torch.nn.L1Loss`` once averaged over
    the batch)."""
    diff = tf.abs(tf.cast(x, tf.float32) - tf.cast(y, tf.float32))
    return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)


def l2_per_example(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of each example [B] (DiscoGAN's reconstruction distance)."""
    diff = tf.square(tf.cast(x, tf.float32) - tf.cast(y, tf.float32))
    return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)


@dataclasses.dataclass
class Adversarial(Term):
    """The adversarial loss pair on the discriminator's ``logits`` output (Goodfellow et al.
    2014, and the pairs of ``zoo.losses``); logs ``d_loss`` (scaled: what the discriminator
    minimises), ``g_loss`` and, for a pair with a real/fake threshold, the share of real and
    fake images (or patches) the discriminator gets right.

    Args:
        pair: the loss pair (``zoo.losses``).
        d_scale: the factor of the discriminator's loss (1; pix2pix halves it).
        output: the discriminator's output the pair reads (pix2pixHD's discriminator of each
            scale has its own).
        g_weight: the weight of the generator's loss in its objective (1; SRGAN's perceptual
            loss adds it times 1e-3 to the content loss); ``g_loss`` logs it unweighted.
    """

    pair: LossPair
    d_scale: float = 1.0
    output: str = "logits"
    g_weight: float = 1.0

    def logit(self, outputs: dict) -> tf.Tensor:
        return outputs[self.output]

    def real_signs(self, real_out):
        if self.pair.threshold is None:  # a critic: no real/fake boundary
            return None
        return mean_signs(self.logit(real_out), self.pair.threshold)

    def discriminator_loss(self, update):
        real, fake = self.logit(update.real_out), self.logit(update.fake_out)
        loss = self.d_scale * reduce_loss(self.pair.d_loss(real, fake), update.global_batch)
        update.log("d_loss", loss)
        if self.pair.threshold is not None:
            update.log("d_real_acc", accuracy(real > self.pair.threshold, update.global_batch))
            update.log("d_fake_acc", accuracy(fake < self.pair.threshold, update.global_batch))
        return loss

    def generator_loss(self, update):
        loss = reduce_loss(self.pair.g_loss(self.logit(update.fake_out)), update.global_batch)
        update.log("g_loss", loss)
        return self.g_weight * loss


@dataclasses.dataclass
class SemiSupervised(Adversarial):
    """Salimans et al. 2016, sec. 3.1 and 5: the discriminator is a K-class classifier whose
    logsumexp is the real-vs-fake logit. Its loss is the unsupervised loss (the mean over the
    real and fake halves of the (K+1)-class problem: half the pair's sum) plus cross-entropy on
    the batch's ``labelled_image``/``labelled_label``; the generator matches the mean of the
    discriminator's ``features`` on real data (feature matching) instead of fooling it."""

    def logit(self, outputs):
        return semi_supervised_logit(outputs["class_logits"])

    def discriminator_loss(self, update):
        unsupervised = 0.5 * super().discriminator_loss(update)
        batch = update.batch
        labelled = update.discriminate(batch["labelled_image"])["class_logits"]
        supervised = cross_entropy(batch["labelled_label"], labelled, update.global_batch)
        update.log("d_sup_loss", supervised)
        predicted = tf.argmax(labelled, axis=-1, output_type=tf.int32)
        update.log("d_sup_acc", accuracy(predicted == batch["labelled_label"], update.global_batch))
        return unsupervised + supervised

    def prepare_generator(self, update):
        update.prepared["real_features"] = update.discriminate(update.real)["features"]

    def generator_loss(self, update):
        real_features = update.prepared["real_features"]
        loss = feature_matching(real_features, update.fake_out["features"], update.global_batch)
        update.log("g_loss", loss)
        return loss


@dataclasses.dataclass
class GradientPenalty(Term):
    """WGAN-GP's penalty on the critic's gradient norm at random interpolates (Gulrajani et al.
    2017, alg. 1), ``weight`` times ``zoo.losses.gradient_penalty``; logs ``gp``."""

    weight: float = 10.0
    log_names = ("gp",)

    def discriminator_loss(self, update):
        real = update.real
        eps = update.draw("gp", [1] * (len(real.shape) - 1))
        per_example = gradient_penalty(update.critic, real, update.fake, eps)
        penalty = reduce_loss(per_example, update.global_batch)
        update.log("gp", penalty)
        return self.weight * penalty


@dataclasses.dataclass
class R1(Term):
    """The R1 penalty on the discriminator's gradient at real images, ``weight / 2`` times
    ``||grad D(x)||^2`` (Mescheder et al. 2018, eq. 9; StyleGAN2's ``r1_gamma`` is ``weight``);
    logs ``r1`` (the unweighted squared norm). Wrap it in ``Lazy`` for StyleGAN2's every-16."""

    weight: float = 10.0
    log_names = ("r1",)

    def discriminator_loss(self, update):
        real = tf.convert_to_tensor(update.real)
        with tf.GradientTape() as tape:
            tape.watch(real)
            scores = tf.reduce_sum(tf.cast(update.critic(real), tf.float32))
        grads = tf.cast(tape.gradient(scores, real), tf.float32)
        squared = tf.reduce_sum(tf.reshape(grads, [tf.shape(grads)[0], -1]) ** 2, axis=1)
        penalty = reduce_loss(squared, update.global_batch)
        update.log("r1", penalty)
        return 0.5 * self.weight * penalty


@dataclasses.dataclass
class WeightClipping(Term):
    """WGAN's Lipschitz constraint: every discriminator weight clipped to [-c, c] after each
    update (Arjovsky et al. 2017, alg. 1)."""

    clip_value: float = 0.01

    def after_discriminator_update(self, discriminator):
        clip_weights(discriminator, self.clip_value)


def clip_weights(network: keras.Model, clip_value: float) -> None:
    """Every trainable weight of ``network`` clipped to [-clip_value, clip_value]."""
    for var in network.trainable_variables:
        var.assign(tf.clip_by_value(var, -clip_value, clip_value))


@dataclasses.dataclass
class AuxiliaryClassifier(Term):
    """ACGAN's L_C (Odena et al. 2017): the cross-entropy of the discriminator's
    ``class_logits`` on the labels of the real batch and of the fakes, added to both networks'
    losses with ``weight``; logs the head's accuracy on real images as ``d_aux_acc``.

    With ``on_fakes=False`` the discriminator learns the classes of real images only, and the
    generator is scored on its fakes: StarGAN's domain classification loss (Choi et al. 2018,
    eq. 2-3: L_cls^r for D, L_cls^f for G)."""

    weight: float = 1.0
    on_fakes: bool = True

    def discriminator_loss(self, update):
        logits = update.real_out["class_logits"]
        labels = update.batch["label"]
        loss = cross_entropy(labels, logits, update.global_batch)
        if self.on_fakes:
            fake_labels = update.fake_in["label"]
            loss += cross_entropy(fake_labels, update.fake_out["class_logits"], update.global_batch)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        update.log("d_aux_acc", accuracy(predicted == labels, update.global_batch))
        return self.weight * loss

    def generator_loss(self, update):
        logits = update.fake_out["class_logits"]
        return self.weight * cross_entropy(update.fake_in["label"], logits, update.global_batch)


@dataclasses.dataclass
class MutualInformation(Term):
    """InfoGAN's L_I (Chen et al. 2016): the Q head's negative log-likelihood of the codes the
    fakes were made from, a lower bound on their mutual information with the images up to a
    constant: cross-entropy of ``code_logits`` for the categorical code ``label``, and a
    unit-variance Gaussian for the continuous ``code`` weighted by ``continuous_weight``. Added
    to both networks with ``weight``; logs the discriminator's as ``info``."""

    weight: float = 1.0
    continuous_weight: float = 0.1

    def _loss(self, update):
        out, codes, loss = update.fake_out, update.fake_in, 0.0
        if "code_logits" in out:
            loss += cross_entropy(codes["label"], out["code_logits"], update.global_batch)
        if "code" in out:
            squared = 0.5 * tf.reduce_sum(tf.square(out["code"] - codes["code"]), axis=-1)
            loss += self.continuous_weight * reduce_loss(squared, update.global_batch)
        return self.weight * loss

    def discriminator_loss(self, update):
        loss = self._loss(update)
        update.log("info", loss)
        return loss

    def generator_loss(self, update):
        return self._loss(update)


@dataclasses.dataclass
class Drift(Term):
    """ProGAN's drift penalty, ``weight`` * D(x)^2 on the critic's logits for real images
    (Karras et al. 2018, sec. A.1: epsilon_drift = 0.001; ``loss.py`` of the authors' code):
    it keeps a Wasserstein critic's output near zero, which the loss alone leaves free to
    drift. Logs the unweighted mean ``drift``."""

    weight: float = 0.001
    log_names = ("drift",)

    def discriminator_loss(self, update):
        real = tf.cast(update.real_out["logits"], tf.float32)
        squared = tf.reduce_mean(tf.reshape(real, [tf.shape(real)[0], -1]) ** 2, axis=1)
        drift = reduce_loss(squared, update.global_batch)
        update.log("drift", drift)
        return self.weight * drift


@dataclasses.dataclass
class DomainReconstruction(Term):
    """StarGAN's reconstruction loss (Choi et al. 2018, eq. 4): ``weight`` times the L1
    distance between each real image and its translation to the drawn target domain translated
    back to the image's own domain, G(G(x, c), c'), the mean absolute difference per pixel
    (the authors' ``torch.mean(torch.abs(x_real - x_reconst))``). Gradients flow through both
    passes of the generator. Logs the unweighted distance as ``rec``.

    Args:
        weight: lambda_rec (10).
        image_input, label_input: the generator's inputs of the image and of the target
            domain; the real batch's ``label`` is each image's own domain.
    """

    weight: float = 10.0
    image_input: str = "source"
    label_input: str = "label"
    log_names = ("rec",)

    def generator_loss(self, update):
        if update.generate is None:
            raise ValueError("DomainReconstruction needs the generator (Update.generate)")
        back = update.generate(
            {
                **update.fake_in,
                self.image_input: update.fake,
                self.label_input: update.batch["label"],
            }
        )
        distance = reduce_loss(l1_per_example(back, update.real), update.global_batch)
        update.log("rec", distance)
        return self.weight * distance


@dataclasses.dataclass
class PathLength(Term):
    """StyleGAN2's path-length regularisation (Karras et al. 2020, sec. 3.2; the authors'
    ``loss.py``): for w of the examples (every ``batch_shrink``-th one, mixed as in training)
    and images y = g(w), the length of J_w^T y_noise with y_noise ~ N(0, I) / sqrt(H W),
    pulled towards its running mean a (decay ``decay``):
    ``weight * (||J_w^T y_noise|| - a)^2``, every ``every`` steps (its loss times ``every``,
    as ``Lazy``). Logs ``pl`` (the unweighted penalty, times ``every`` on the steps it runs)
    and ``pl_mean``.

    The generator is a style generator with nested ``mapping`` and ``synthesis`` models and a
    ``style_mix`` layer (``zoo.stylegan2``). The mean of the lengths is over the global batch
    (all-reduced), and the running mean is set outside the step's ``tf.cond`` (an update of a
    replicated variable cannot run in a branch under ``MirroredStrategy``).
    """

    weight: float = 2.0
    every: int = 4
    batch_shrink: int = 2
    decay: float = 0.01
    log_names = ("pl", "pl_mean")
    state = types.MappingProxyType({"pl_mean": 0.0})

    def generator_loss(self, update):
        generator, shrink = update.generator, self.batch_shrink
        names = [t.name.split(":")[0] for t in generator.inputs]
        rows = {name: update.fake_in[name][::shrink] for name in names}
        count = tf.shape(rows[names[0]])[0]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        pl_batch = count * replicas  # rows taken from every replica's batch alike
        synthesis = generator.get_layer("synthesis")
        _, h, w, c = synthesis.output.shape
        uniform = update.draw("pl_noise", [h, w, c])[::shrink]
        y_noise = tf.math.ndtri(tf.clip_by_value(uniform, 1e-7, 1.0 - 1e-7)) / math.sqrt(h * w)

        def lengths():
            mapping = generator.get_layer("mapping")
            with tf.GradientTape() as tape:
                w_z = mapping(rows["z"], training=True)
                w_mix = mapping(rows["z_mix"], training=True)
                ws = generator.get_layer("style_mix")([w_z, w_mix, rows["mix"]])
                tape.watch(ws)
                noise = [rows[n] for n in names if n.startswith("noise")]
                images = tf.cast(synthesis([ws, *noise], training=True), tf.float32)
                out = tf.reduce_sum(images * y_noise)
            grads = tf.cast(tape.gradient(out, ws), tf.float32)
            return tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1))

        due = tf.equal(tf.math.floormod(tf.cast(update.step, tf.int64), self.every), 0)
        length = tf.cond(due, lengths, lambda: tf.zeros([count]))
        mean = tf.reduce_sum(tf.stop_gradient(length)) / tf.cast(pl_batch, tf.float32)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            mean = ctx.all_reduce(tf.distribute.ReduceOp.SUM, mean)
        running = update.state["pl_mean"]
        new = tf.where(due, running + self.decay * (mean - running), running)
        running.assign(new)
        penalty = reduce_loss(tf.square(length - new), pl_batch)
        penalty = tf.where(due, penalty * float(self.every), 0.0)
        update.log("pl", penalty)
        update.log("pl_mean", new / float(replicas))
        return self.weight * penalty
