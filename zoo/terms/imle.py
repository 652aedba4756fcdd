"""IMLE-GAN's generator terms (Yu et al. 2020, "Inclusive GAN"; the authors' ``training/loss.py``
``G_logistic_ns_rec_interp_arb_pathreg`` and the search of ``training/training_loop.py``):
each real image pulls its nearest generated image (implicit maximum likelihood estimation,
Li & Malik 2018), and images generated between two matched latents are pulled towards both
real images, each by how close the latent is to its own.

The search runs in the graph, every generator update, and is the same on any number of
replicas: each replica generates its rows of one global pool of candidate latents, the
candidates' features are gathered from every replica (``all_gather``, no gradient through the
search), each replica's real images find their nearest candidate in the whole pool, and the
matched latents are generated again, locally and with gradient, for the loss. The pieces
(``image_features``, ``nearest``, ``slerp``, ``percentile``) are functions of their own, tested
with known answers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from zoo.terms.core import Term, l2_per_example

# The seed of the fixed random projection of ``IMLE.projection`` (the authors draw theirs once
# and keep it in a file that every later run reads; ours is the same in every run too).
PROJECTION_SEED = 1991


def image_features(images: tf.Tensor, projection: tf.Tensor | None = None) -> tf.Tensor:
    """[N, H, W, C] images -> [N, D] float32 features of the search: the pixels, flattened
    (the authors' default, ``--init-proj-dim`` unset), or their product with a fixed
    [H W C, D] ``projection`` (``--init-proj-dim D``)."""
    flat = tf.reshape(tf.cast(images, tf.float32), [tf.shape(images)[0], -1])
    return flat if projection is None else tf.matmul(flat, projection)


def random_projection(dim: int, width: int) -> np.ndarray:
    """The fixed [dim, width] projection of the search, N(0, (1 / width)^2) entries as the
    authors' ``projector`` (float32; drawn from ``PROJECTION_SEED``, the same in every run)."""
    rng = np.random.default_rng(PROJECTION_SEED)
    return rng.normal(0.0, 1.0 / width, (dim, width)).astype(np.float32)


def squared_distances(queries: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
    """[N, D], [M, D] -> [N, M] squared Euclidean distances (``|q|^2 - 2 q.c + |c|^2``,
    floored at 0)."""
    q2 = tf.reduce_sum(tf.square(queries), axis=1, keepdims=True)
    c2 = tf.reduce_sum(tf.square(candidates), axis=1)
    cross = tf.matmul(queries, candidates, transpose_b=True)
    return tf.maximum(q2 - 2.0 * cross + c2[tf.newaxis, :], 0.0)


def nearest(queries: tf.Tensor, candidates: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Each query's nearest candidate: (int32 indices [N], squared distances [N]); of equally
    near candidates, the first."""
    distances = squared_distances(queries, candidates)
    return tf.argmin(distances, axis=1, output_type=tf.int32), tf.reduce_min(distances, axis=1)


def slerp(a: tf.Tensor, b: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
    """[N, D] latents from ``a`` (t = 0) to ``b`` (t = 1), ``t`` [N, 1]: the direction moves
    along the great circle (the authors' ``slerp``), the length linearly from |a| to |b|.

    The authors' ``slerp`` returns unit vectors, which StyleGAN2's mapping network does not
    see (it normalizes z first); a DCGAN generator reads z as it is, and unit vectors are far
    from the N(0, I) it is trained on, whose length is about sqrt(D). Where two latents point
    the same way the result is ``a``'s direction, where the authors' divides by 0."""
    a, b, t = tf.cast(a, tf.float32), tf.cast(b, tf.float32), tf.cast(t, tf.float32)
    length_a = tf.norm(a, axis=-1, keepdims=True)
    length_b = tf.norm(b, axis=-1, keepdims=True)
    unit_a, unit_b = a / tf.maximum(length_a, 1e-12), b / tf.maximum(length_b, 1e-12)
    cosine = tf.clip_by_value(tf.reduce_sum(unit_a * unit_b, axis=-1, keepdims=True), -1.0, 1.0)
    angle = t * tf.acos(cosine)
    across = unit_b - cosine * unit_a
    across = across / tf.maximum(tf.norm(across, axis=-1, keepdims=True), 1e-12)
    direction = unit_a * tf.cos(angle) + across * tf.sin(angle)
    return direction * ((1.0 - t) * length_a + t * length_b)


def percentile(values: tf.Tensor, q: float) -> tf.Tensor:
    """The ``q``-th percentile of ``values`` [N], interpolated linearly between the two nearest
    order statistics (``numpy.percentile``'s default, which the authors call)."""
    ordered = tf.sort(tf.reshape(tf.cast(values, tf.float32), [-1]))
    last = tf.shape(ordered)[0] - 1
    position = q / 100.0 * tf.cast(last, tf.float32)
    low = tf.cast(tf.floor(position), tf.int32)
    high = tf.minimum(low + 1, last)
    fraction = position - tf.cast(low, tf.float32)
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def all_rows(x: tf.Tensor) -> tf.Tensor:
    """The global batch of ``x`` on every replica, replica r's rows at r n .. (r + 1) n (the
    rows of one device's batch, in its order)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_gather(x, axis=0)


def global_sum(x: tf.Tensor) -> tf.Tensor:
    """The sum of ``x`` over every replica's entries, on every replica."""
    total = tf.reduce_sum(tf.cast(x, tf.float32))
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return total
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, total)


def standard_normal(uniform: tf.Tensor) -> tf.Tensor:
    """N(0, 1) values from uniform [0, 1) ones (the inverse CDF; ``PathLength`` draws so too):
    a term's draws come from the trainer's uniform streams (``Update.draw``)."""
    return tf.math.ndtri(tf.clip_by_value(uniform, 1e-7, 1.0 - 1e-7))


@dataclasses.dataclass
class IMLE(Term):
    """The IMLE and interpolation terms of the generator (Yu et al. 2020, sec. 3; the authors'
    ``loss_NN_rec_lpips`` and ``loss_NN_interp_lpips``).

    Before the generator's tape (``prepare_generator``), for this replica's b real images:

    1. a pool of ``candidates`` latents per real image of the global batch, N(0, I) from the
       trainer's stream ``imle_z`` (this replica draws its rows of the global pool), generated
       by the training generator;
    2. each real image's nearest candidate by the squared distance of their features
       (``image_features``: pixels, or a fixed random ``projection``), searched among the
       candidates of *every* replica (gathered; the search has no gradient);
    3. the matched latent turned by ``perturbation`` of its angle towards a fresh N(0, I)
       latent (stream ``imle_perturb``; the authors' ``knn_perturb_factor``);
    4. which real images the terms reconstruct (the authors' minority sampling): all of them;
       those whose data ``label`` is in ``classes`` (a subgroup, the authors'
       ``--attr-interesting``); or those whose nearest-candidate distance is at most the
       ``percentile``-th of the global batch's (``--dist-thres-percentile``).

    In the generator's tape (``generator_loss``), with d the mean squared pixel difference:

    * ``imle``: d(G(z_i), x_i) averaged over the selected real images of the global batch;
    * ``imle_interp``: consecutive real images (2k, 2k + 1) are pairs (the authors pair two
      shuffled batches); for t uniform (stream ``imle_t``) and z_t = slerp(z_2k+1, z_2k, t),
      ``(1 - t) d(G(z_t), x_2k+1) + t d(G(z_t), x_2k)``, averaged over the pairs of which both
      images are selected;

    and returns ``weight * imle + interpolation_weight * imle_interp`` (the authors' 2.5 and
    0.4 x 2.5). Both are logged unweighted. A step whose global batch has nothing selected
    adds 0. The pairs are the same on any number of replicas when each replica's batch is even.

    The generator has one input, its noise (``Update.fake_in``); ``Update.generate`` runs it.
    """

    weight: float = 2.5
    interpolation_weight: float = 1.0
    candidates: int = 10
    perturbation: float = 0.05
    projection: int | None = None
    classes: tuple[int, ...] | None = None
    percentile: float = 100.0
    log_names = ("imle", "imle_interp")

    def __post_init__(self):
        if self.candidates < 1:
            raise ValueError(f"IMLE needs at least one candidate per image, got {self.candidates}")
        if self.classes is not None and self.percentile < 100.0:
            raise ValueError("IMLE selects by classes or by percentile, not both")

    def _noise_input(self, update) -> str:
        if len(update.fake_in) != 1:
            raise ValueError(
                f"IMLE generates from one noise input; this generator takes "
                f"{', '.join(update.fake_in)}"
            )
        return next(iter(update.fake_in))

    def prepare_generator(self, update):
        name = self._noise_input(update)
        dim = int(update.fake_in[name].shape[-1])
        real = update.real
        local = tf.shape(real)[0]
        # 1. This replica's rows of the global pool: `candidates` latents per real image.
        pool_z = standard_normal(update.draw("imle_z", [self.candidates, dim]))
        pool_z = tf.reshape(pool_z, [local * self.candidates, dim])
        pool = tf.stop_gradient(update.generate({name: pool_z}))
        # 2. The nearest candidate of each real image, among every replica's candidates.
        projection = None
        if self.projection is not None:
            size = int(np.prod(real.shape[1:]))
            projection = tf.constant(random_projection(size, self.projection))
        candidates = all_rows(image_features(pool, projection))
        index, distance = nearest(image_features(real, projection), candidates)
        matched = tf.gather(all_rows(pool_z), index)
        # 3. Perturbed towards a fresh latent.
        if self.perturbation:
            fresh = standard_normal(update.draw("imle_perturb", [dim]))
            matched = slerp(matched, fresh, tf.fill([local, 1], float(self.perturbation)))
        # 4. The real images the terms reconstruct.
        selected = self._selected(update, distance)
        t = update.draw("imle_t", [1])[0::2]  # one per pair: the first image's draw
        pairs = local // 2
        both = selected[0 : 2 * pairs : 2] * selected[1 : 2 * pairs : 2]
        update.prepared["imle"] = {
            "input": name,
            "index": index,  # in the global pool (replica r's candidates from r b c on)
            "latents": tf.stop_gradient(matched),
            "selected": selected,
            "count": global_sum(selected),
            "t": t[:pairs],
            "pairs": both,
            "pair_count": global_sum(both),
        }

    def _selected(self, update, distance) -> tf.Tensor:
        """[b] float32: 1 for the real images the terms reconstruct, 0 for the others."""
        if self.classes is not None:
            labels = update.batch.get("label")
            if labels is None:
                raise ValueError("IMLE's classes select by the data's labels; the batch has none")
            wanted = tf.constant(list(self.classes), tf.int32)
            member = tf.reduce_any(tf.equal(tf.cast(labels, tf.int32)[:, None], wanted), axis=1)
            return tf.cast(member, tf.float32)
        if self.percentile < 100.0:
            threshold = percentile(all_rows(distance), self.percentile)
            return tf.cast(distance <= threshold, tf.float32)
        return tf.ones_like(distance)

    def generator_loss(self, update):
        prepared = update.prepared["imle"]
        name, latents = prepared["input"], prepared["latents"]
        real = tf.cast(update.real, tf.float32)
        reconstructed = update.generate({name: latents})
        distance = l2_per_example(reconstructed, real)
        imle = tf.reduce_sum(prepared["selected"] * distance) / tf.maximum(prepared["count"], 1.0)
        update.log("imle", imle)
        loss = self.weight * imle
        if not self.interpolation_weight:
            return loss
        pairs = tf.shape(prepared["t"])[0]
        first, second = latents[0 : 2 * pairs : 2], latents[1 : 2 * pairs : 2]
        t = prepared["t"]
        between = update.generate({name: slerp(second, first, t)})
        t = t[:, 0]
        interp = (1.0 - t) * l2_per_example(between, real[1 : 2 * pairs : 2]) + t * (
            l2_per_example(between, real[0 : 2 * pairs : 2])
        )
        interp = tf.reduce_sum(prepared["pairs"] * interp) / tf.maximum(prepared["pair_count"], 1.0)
        update.log("imle_interp", interp)
        return loss + self.interpolation_weight * interp
