"""The two-domain kind: unpaired translation with cycle consistency (CycleGAN, and the
families that share its shape: DiscoGAN, DualGAN, Ganilla).

``CycleTrainer.train_step`` is the authors' ``CycleGANModel.optimize_parameters`` (Zhu et al.
2017; github.com/junyanz/pytorch-CycleGAN-and-pix2pix, ``models/cycle_gan_model.py``):

1. translate each domain's real images into the other domain and back (and, for the identity
   loss, each domain's images through the generator into it);
2. update both generators together on the family's terms (``zoo.terms``' two-domain pieces:
   adversarial in each direction, cycle, identity);
3. update each domain's discriminator on its real images against a history of translations
   into it (``ImagePool``), taken from the fakes of step 1 as the authors' code does;
4. the EMA of the generators, when the run keeps one;
5. ADA's probability of augmenting, when adaptive (``Trainer.finish_augmentation``).

With ``objective.augment`` every image a discriminator sees is augmented, real, translated (in
the generators' update) or from the history pool (in its own), each call with draws of its own
(the domains are unpaired: nothing to keep aligned). With ADA one p serves both directions:
r_t is the mean sign over both discriminators' outputs on their real images.

A family whose critics train more often than its generators (DualGAN's ``n_critic``:
``objective.d_steps``) gives each step ``d_steps`` batches: the first ``d_steps - 1`` update
the discriminators alone, on fakes of the current generators (step 3 without the generators'
update), and the last one runs steps 1-4; so ``d_steps`` discriminator updates, each on its own
batch, come between two generator updates.

Networks are named as ``zoo.cyclegan.build`` names them: ``generator`` (A -> B),
``generator_ba`` (B -> A), ``discriminator`` (judges B), ``discriminator_a`` (judges A).
Batches carry ``image_a`` and ``image_b``.

**The history pool under tf.distribute.** The authors' pool is one sequence of queries, one
image after the other. Each replica holds a slice of the global batch, so a pool per replica
would see other images (and other random draws) on 2 replicas than on 1. Here every replica
gathers the global batch of fakes (an all-gather: replica r holds rows r*n..(r+1)*n, as the
distributed dataset splits a batch), runs the same query on it with the same stateless draws
(the run seed's ``pool_a``/``pool_b`` streams, counted by the step), and keeps its own rows of
the answer. The pool's variables are mirrored and written by the first replica's (identical)
value, so the pool is the same on any number of replicas, and a step equals the one-device
step. The pool and its fill count are checkpointed (``checkpoint_parts``), so a resumed run
continues with the pool it had.

**The learning-rate schedule** (sec. 7.1: constant for 100 epochs, then linearly to 0 over
100) is computed from the step in the graph: each optimizer's rate is set to its base rate
times ``linear_decay(step)`` at the start of every step. The base rates are variables,
checkpointed; ``scale_learning_rates`` scales them (what a rollback after a divergence must
call, instead of scaling ``optimizer.learning_rate``, which the next step overwrites).
"""

from __future__ import annotations

import functools

import tensorflow as tf

from training.trainers.base import Trainer, total_loss
from zoo.terms import Translation

# domain -> (the generator that translates into it, the discriminator that judges it)
DOMAINS = {"a": ("generator_ba", "discriminator_a"), "b": ("generator", "discriminator")}
GENERATORS = ("generator", "generator_ba")
DISCRIMINATORS = ("discriminator", "discriminator_a")


def linear_decay(step, constant_steps: int, decay_steps: int) -> tf.Tensor:
    """The learning-rate factor of (0-based) ``step``: 1 for the first ``constant_steps``, then
    1 - (step + 1 - constant_steps) / (decay_steps + 1), which reaches 1 / (decay_steps + 1) at
    the last step and is never below 0 (the authors' ``lambda_rule`` of
    ``models/networks.py``, with steps for epochs)."""
    step = tf.cast(step, tf.float32)
    late = tf.maximum(0.0, step + 1.0 - float(constant_steps)) / (float(decay_steps) + 1.0)
    return tf.maximum(0.0, 1.0 - late)


class ImagePool(tf.Module):
    """A history of ``size`` generated images (Shrivastava et al. 2017; the authors'
    ``util/image_pool.py``), as variables: ``images`` and ``count``, how many are stored.

    ``query(images, draws)`` answers image by image, in order: while the pool is not full, the
    image is stored and returned; once full, with probability 0.5 (``draws[i, 0] < 0.5``) a
    stored image (slot ``floor(draws[i, 1] * size)``) is returned and the new one takes its
    place, otherwise the new image is returned. ``draws`` [n, 2] are uniform in [0, 1) (drawn
    by the caller, statelessly). Size 0: the images themselves.
    """

    def __init__(self, size: int, shape, name: str):
        super().__init__(name=name)
        self.size = size
        only_first = tf.VariableAggregation.ONLY_FIRST_REPLICA  # every replica writes the same
        self.images = tf.Variable(
            tf.zeros([max(size, 1), *shape]),
            trainable=False,
            aggregation=only_first,
            name="images",
        )
        self.count = tf.Variable(0, trainable=False, aggregation=only_first, name="count")

    def query(self, images: tf.Tensor, draws: tf.Tensor) -> tf.Tensor:
        images = tf.stop_gradient(tf.cast(images, tf.float32))
        if self.size == 0:
            return images
        n = tf.shape(images)[0]
        slots = tf.minimum(tf.cast(draws[:, 1] * self.size, tf.int32), self.size - 1)

        def one(i, pool, count, answers):
            image = images[i]
            filling = count < self.size
            swap = tf.logical_and(tf.logical_not(filling), draws[i, 0] < 0.5)
            slot = tf.where(filling, count, slots[i])
            answer = tf.where(swap, pool[slot], image)
            store = tf.logical_or(filling, swap)
            stored = tf.where(store, image, pool[slot])
            pool = tf.tensor_scatter_nd_update(pool, [[slot]], stored[tf.newaxis])
            count = count + tf.cast(filling, count.dtype)
            return i + 1, pool, count, answers.write(i, answer)

        _, pool, count, answers = tf.while_loop(
            lambda i, *_: i < n,
            one,
            (
                tf.constant(0),
                self.images.read_value(),
                self.count.read_value(),
                tf.TensorArray(tf.float32, size=n, element_shape=images.shape[1:]),
            ),
        )
        self.images.assign(pool)
        self.count.assign(count)
        return answers.stack()


class CycleTrainer(Trainer):
    """Trains two generators and two discriminators on unpaired images of two domains.

    Args:
        networks, contract, seed, ema_decay, ship, augment, ada_target, ada_interval,
            ada_kimg: see ``Trainer``.
        terms: the objective's pieces (``zoo.terms.TwoDomainTerm``s), summed.
        pool_size: generated images kept per domain for its discriminator (0: none).
        schedule: (constant steps, decay steps) of ``linear_decay``; ``None``: a constant rate.
        d_steps: discriminator updates per generator update, each on its own batch.

    Example:
        >>> family = zoo.get_family("cyclegan")
        >>> trainer = CycleTrainer(family.build(model), family.contract(model),
        ...                        terms=family.terms(objective), pool_size=50,
        ...                        schedule=(100_000, 100_000))
        >>> trainer.compile({name: keras.optimizers.Adam(2e-4, 0.5)
        ...                  for name in trainer.contract.updates})
    """

    augments = True

    def __init__(
        self, networks, contract, terms, pool_size: int = 50, schedule=None, d_steps=1, **kwargs
    ):
        super().__init__(networks, contract, **kwargs)
        self.terms, self.schedule = list(terms), schedule
        if d_steps < 1:
            raise ValueError(f"d_steps must be 1 or more, got {d_steps}")
        self.d_steps = self.batches_per_step = self.draws_per_step = d_steps
        # Kept in a plain dict of tf.Modules (not Keras layers): checkpointed by
        # ``checkpoint_parts``, not listed among the networks' weights.
        self._pools = {
            domain: ImagePool(pool_size, self.net(into).output_shape[1:], f"pool_{domain}")
            for domain, (into, _) in DOMAINS.items()
        }
        self.base_rates: dict[str, tf.Variable] = {}

    @classmethod
    def from_config(cls, family, networks, contract, config, **kwargs):
        """The family's terms, pool size and schedule for an experiment ``config``; the
        schedule's lengths default to halves of ``train.steps``; no decay steps (explicitly 0,
        or none left after the constant ones): a constant rate."""
        objective, steps = config.objective, config.train.steps
        if family.terms is None:
            raise ValueError(f"family {family.name!r} declares no terms for the two-domain kind")
        constant = objective.lr_constant_steps
        constant = steps // 2 if constant is None else constant
        decay = objective.lr_decay_steps
        decay = steps - constant if decay is None else decay
        kwargs = {**cls.augment_options(objective), **kwargs}
        return cls(
            networks,
            contract,
            terms=family.terms(objective),
            pool_size=objective.pool_size,
            schedule=(constant, decay) if decay > 0 else None,
            d_steps=objective.d_steps,
            **kwargs,
        )

    def compile(self, optimizers, **kwargs):
        """As ``Trainer.compile``; each optimizer's rate at compile time becomes its base rate,
        which the schedule multiplies."""
        super().compile(optimizers, **kwargs)
        self.base_rates = {
            name: tf.Variable(
                float(opt.learning_rate.numpy()), trainable=False, name=f"{name}_base_lr"
            )
            for name, opt in self.optimizers.items()
        }

    @property
    def pools(self) -> dict[str, ImagePool]:
        return dict(self._pools)

    def learning_rate_factor(self, step) -> tf.Tensor:
        if self.schedule is None:
            return tf.constant(1.0)
        return linear_decay(step, *self.schedule)

    def set_learning_rates(self, step) -> None:
        """Each optimizer's rate for ``step`` (at the start of every step, in the graph): its
        base rate times the schedule's factor."""
        factor = self.learning_rate_factor(step)
        for name, opt in self.optimizers.items():
            opt.learning_rate.assign(self.base_rates[name] * factor)

    def scale_learning_rates(self, factor: float) -> None:
        """Scales every base rate (and the current rates) by ``factor``: a rollback's lower
        rates, which the schedule keeps multiplying."""
        for name, opt in self.optimizers.items():
            self.base_rates[name].assign(self.base_rates[name] * factor)
            opt.learning_rate.assign(opt.learning_rate * factor)

    def train_step(self, data):
        """One update of the four networks on a batch of ``image_a`` and ``image_b``; with
        ``d_steps`` > 1, a sequence of ``d_steps`` batches, the first ones for the
        discriminators alone."""
        batches = list(data) if isinstance(data, list | tuple) else [data]
        if len(batches) != self.d_steps:
            raise ValueError(f"train_step needs {self.d_steps} batches, got {len(batches)}")
        batch = batches[-1]
        real = {"a": batch["image_a"], "b": batch["image_b"]}
        local = tf.shape(real["a"])[0]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        # This step's learning rates and random draws, before any update moves the counter.
        self.set_learning_rates(self.step)
        self.start_augmentation()
        draws = [
            {d: self._pool_draws(d, local * replicas, i) for d in DOMAINS}
            for i in range(self.d_steps)
        ]
        d_logs: dict = {}  # the discriminators' logs, summed over their updates
        for index, extra in enumerate(batches[:-1]):  # the critics' extra updates
            t = Translation(local * replicas, {"a": extra["image_a"], "b": extra["image_b"]})
            t.step = self.step
            for domain, (into, _) in DOMAINS.items():
                t.fake[domain] = self.translate(into, t.real[_other(domain)])
            self._update_discriminators(t, draws[index + 1], index + 1, d_logs)
        t = Translation(global_batch=local * replicas, real=real, step=self.step)

        # 1-2. Generators: A -> B -> A and B -> A -> B (and the identity images), judged by
        # each domain's discriminator; both generators minimise the sum of the terms.
        with tf.GradientTape(persistent=True) as tape:
            for domain, (into, _) in DOMAINS.items():
                t.fake[domain] = self.translate(into, real[_other(domain)])
            for domain, (into, judge) in DOMAINS.items():
                t.rec[domain] = self.translate(into, t.fake[_other(domain)])
                if any(term.needs_identity for term in self.terms):
                    t.same[domain] = self.translate(into, real[domain])
                if any(term.needs_real_outputs for term in self.terms):
                    t.real_out[domain] = self.judge(judge, real[domain])
                t.fake_out[domain] = self.judge(judge, t.fake[domain])
            g_loss = total_loss(term.generator_loss(t) for term in self.terms)
        self.apply_jointly(GENERATORS, tape, g_loss)
        del tape

        # 3. Discriminators: each domain's real images against its history of fakes.
        self._update_discriminators(t, draws[0], 0, d_logs)

        # 4. EMA of the generators.
        self.update_ema()
        # the generators' logs, then the discriminators' as their mean over the updates
        logs = {**t.logs, **{name: value / self.d_steps for name, value in d_logs.items()}}
        self.finish_augmentation(local * replicas, logs)  # 5. ADA's p
        return self.global_logs(logs)

    def _update_discriminators(self, t: Translation, draws: dict, index: int, logs: dict) -> None:
        """Each domain's discriminator on its real images against its history of ``t.fake``
        (queried with ``draws``, by domain); ``index``: which update of the step this is (a
        penalty's own draws); the terms' logs are added to ``logs``."""
        history = {d: self.history(d, t.fake[d], draws[d]) for d in DOMAINS}
        generators_logs, t.logs = t.logs, logs
        t.fake_out, t.real_out, t.judged = {}, {}, history
        t.critics = {
            domain: functools.partial(self._logits, judge) for domain, (_, judge) in DOMAINS.items()
        }
        local = tf.shape(t.real["a"])[0]
        t.draw = functools.partial(self._uniform, local_batch=local, index=index)
        with tf.GradientTape(persistent=True) as tape:
            objectives = {}
            for domain, (_, judge) in DOMAINS.items():
                t.real_out[domain] = self.judge(judge, t.real[domain])
                t.fake_out[domain] = self.judge(judge, history[domain])
                loss = total_loss(term.discriminator_loss(t, domain) for term in self.terms)
                objectives[judge] = self.objective(judge, loss)
        for judge in DISCRIMINATORS:
            self.apply(judge, tape, objectives[judge])
            for term in self.terms:
                term.after_discriminator_update(self.net(judge))
        del tape
        for domain in DOMAINS:
            self.observe_reals(t.real_out[domain])
        t.logs = generators_logs

    def judge(self, judge: str, images: tf.Tensor) -> dict:
        """Discriminator ``judge``'s outputs by name on ``images``, augmented (draws of their
        own for each call of the step)."""
        return self.call_network(self.net(judge), {"image": self.augment_images(images)})

    def _logits(self, judge, images):
        return self.judge(judge, images)["logits"]

    def _uniform(self, stream, shape, local_batch, index):
        return self.draw("uniform", shape, local_batch, stream, index)

    def history(self, domain: str, fakes: tf.Tensor, draws: tf.Tensor) -> tf.Tensor:
        """This replica's rows of the pool's answer to the global batch of ``fakes``."""
        return self._own_rows(self._pools[domain].query(_global(fakes), draws))

    def translate(self, generator: str, images: tf.Tensor) -> tf.Tensor:
        """``images`` through generator ``generator`` (its one input, ``source``)."""
        return self.run_generator({"source": images}, name=generator)

    def _pool_draws(self, domain: str, global_batch, index: int = 0) -> tf.Tensor:
        """[global batch, 2] uniforms for the pool of ``domain``: the same on every replica
        (the whole global batch's, from the run's ``pool_<domain>`` stream at this step)."""
        seed = self.stream_seed(f"pool_{domain}", index)
        return tf.random.stateless_uniform(tf.stack([global_batch, 2]), seed)

    @staticmethod
    def _own_rows(images: tf.Tensor) -> tf.Tensor:
        """This replica's rows of a global batch."""
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            return images
        local = tf.shape(images)[0] // ctx.num_replicas_in_sync
        start = ctx.replica_id_in_sync_group * local
        return images[start : start + local]

    def checkpoint_parts(self) -> dict:
        """The base's parts, the history pools (images and fill counts) and the base learning
        rates (a rollback lowers them)."""
        parts = super().checkpoint_parts()
        parts["image_pools"] = tf.Module(name="image_pools")
        parts["image_pools"].pools = dict(self._pools)
        parts["base_learning_rates"] = tf.Module(name="base_learning_rates")
        parts["base_learning_rates"].rates = dict(self.base_rates)
        return parts


def _other(domain: str) -> str:
    return "a" if domain == "b" else "b"


def _global(images: tf.Tensor) -> tf.Tensor:
    """The global batch of ``images`` on every replica (replica r's rows at r*n..(r+1)*n)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return images
    return ctx.all_gather(images, axis=0)
