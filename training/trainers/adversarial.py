"""The adversarial pair: one generator against one discriminator (today's ten families).

``AdversarialTrainer.train_step`` is Goodfellow et al.'s algorithm 1, with the family's
objective made of terms (``zoo.terms``: the loss pair, a gradient penalty, an auxiliary
classifier, mutual information, semi-supervised learning, weight clipping):

1. ``d_steps`` discriminator updates, each on its own real batch and freshly drawn fakes;
2. one generator update on fresh fakes;
3. the EMA of the generator;
4. ADA's probability of augmenting, when adaptive (``Trainer.finish_augmentation``).
"""

from __future__ import annotations

import functools

import tensorflow as tf

from training.trainers.base import AUGMENT_CALLS, Trainer, total_loss
from zoo.losses import get_loss
from zoo.terms import R1, Adversarial, Lazy, Term, Update

# The adversarial kind draws its noise with the seeds it had before named streams existed
# (run seed + a salt per stream), so that every result published for these families is
# reproduced bit for bit. New kinds use the base's named streams.
_LEGACY_SALTS = {"z": 0, "gp": 1, "label": 2, "code": 3, "augment": 4}


class AdversarialTrainer(Trainer):
    """Trains ``networks["generator"]`` against ``networks["discriminator"]``.

    The discriminator is fed by input name: ``image``, and any other input (a cGAN's ``label``)
    from the real batch for real images and from the generator's drawn inputs for fakes. Its
    outputs are read by name by the terms (``logits``, ``class_logits``, ``code_logits``, ...).

    Args:
        networks, contract, seed, ema_decay, ship: see ``Trainer``.
        terms: the objective (``Family.terms(objective)``).
        d_steps: discriminator updates per generator update.
        augment, ada_target, ada_interval, ada_kimg: see ``Trainer``: every image the
            discriminator sees, real, generated or a penalty's, is augmented, each call of the
            step with draws of its own from the stateless stream ``augment``.

    Example:
        >>> trainer = AdversarialTrainer(
        ...     {"generator": g, "discriminator": d}, family.contract(config.model),
        ...     terms=[Adversarial(NON_SATURATING)])
        >>> trainer.compile({"generator": keras.optimizers.Adam(2e-4, 0.5),
        ...                  "discriminator": keras.optimizers.Adam(2e-4, 0.5)})
        >>> trainer.fit(batches_per_step(dataset, trainer.d_steps), steps_per_epoch=100)
    """

    augments = True
    packs = True

    def __init__(
        self,
        networks,
        contract,
        terms: list[Term],
        d_steps: int = 1,
        **kwargs,
    ):
        super().__init__(networks, contract, **kwargs)
        self.terms, self.d_steps = list(terms), d_steps
        self.draws_per_step = d_steps + 1
        # The terms' variables (a running mean, ...): the same on every replica (each computes
        # the same global value), checkpointed with the networks.
        self.term_state = {
            name: tf.Variable(
                float(value),
                trainable=False,
                name=name,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            for term in self.terms
            for name, value in term.state.items()
        }

    @classmethod
    def from_config(cls, family, networks, contract, config, **kwargs):
        """The trainer of ``family``'s networks for an experiment ``config``: its objective's
        terms (the loss pair alone when the family lists none; R1 when weighted), discriminator
        steps and DiffAugment policy (with ADA)."""
        objective = config.objective
        terms = family.terms(objective) if family.terms else [Adversarial(get_loss(objective.loss))]
        if objective.r1_weight:
            terms.append(Lazy(R1(objective.r1_weight), objective.r1_every))
        kwargs = {**cls.augment_options(objective), **kwargs}
        return cls(networks, contract, terms=terms, d_steps=objective.d_steps, **kwargs)

    @property
    def batches_per_step(self) -> int:
        return self.d_steps

    def optimizer_key(self, name):
        # The names checkpoints have always used, so that earlier runs still resume.
        return {"generator": "g_optimizer", "discriminator": "d_optimizer"}.get(name, name)

    def stream_seed(self, stream, index):
        if stream not in _LEGACY_SALTS:  # streams of later families: the base's named streams
            return super().stream_seed(stream, index)
        per_step = AUGMENT_CALLS if stream == "augment" else self.draws_per_step
        counter = tf.cast(self.step, tf.int64) * per_step + index
        return tf.stack([tf.constant(self.seed + _LEGACY_SALTS[stream], tf.int64), counter])

    def train_step(self, data):
        """One generator update; ``data`` is a sequence of ``d_steps`` batches (or one batch
        when ``d_steps`` is 1)."""
        batches = list(data) if isinstance(data, list | tuple) else [data]
        if len(batches) != self.d_steps:
            raise ValueError(f"train_step needs {self.d_steps} batches, got {len(batches)}")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        d_logs: dict = {}
        self.start_augmentation()

        # 1. Discriminator updates, each on its own real batch and fresh fakes.
        for i, batch in enumerate(batches):
            update = self._update(batch, i, replicas, d_logs)
            with tf.GradientTape() as tape:
                update.real_out = self.discriminate(batch["image"], batch)
                update.fake_out = self.discriminate(update.fake, update.fake_in)
                loss = total_loss(term.discriminator_loss(update) for term in self.terms)
                objective = self.objective("discriminator", loss)
            self.apply("discriminator", tape, objective)
            self.observe_reals(update.real_out)
            for term in self.terms:
                term.after_discriminator_update(self.discriminator)

        # 2. Generator update (against the last real batch, for feature matching).
        g_logs: dict = {}
        update = self._update(batch, self.d_steps, replicas, g_logs, draw_fakes=False)
        for term in self.terms:
            term.prepare_generator(update)
        with tf.GradientTape() as tape:
            update.fake = self.run_generator(update.fake_in)
            update.fake_out = self.discriminate(update.fake, update.fake_in)
            loss = total_loss(term.generator_loss(update) for term in self.terms)
            objective = self.objective("generator", loss)
        self.apply("generator", tape, objective)

        # 3. EMA of the generator.
        self.update_ema()

        logs = {"d_loss": d_logs.pop("d_loss") / self.d_steps, "g_loss": g_logs.pop("g_loss")}
        logs.update({name: value / self.d_steps for name, value in d_logs.items()})
        for name, value in g_logs.items():  # the generator's own (StarGAN's ``rec``)
            logs.setdefault(name, value)
        self.finish_augmentation(tf.shape(batch["image"])[0] * replicas, logs)  # 4. ADA's p
        return self.global_logs(logs)

    def _update(self, batch, index, replicas, logs, draw_fakes=True) -> Update:
        local = tf.shape(batch["image"])[0]
        fake_in = self.generator_inputs(local, index, batch)
        labels = {k: v for k, v in batch.items() if k != "image"}
        return Update(
            global_batch=local * replicas // self.pack,  # the discriminator's outputs
            batch=batch,
            real_out={},
            fake_in=fake_in,
            fake=self.run_generator(fake_in) if draw_fakes else None,
            fake_out={},
            critic=functools.partial(self._critic, conditions=labels),
            draw=functools.partial(self._uniform, local_batch=local, index=index),
            discriminate=functools.partial(self.discriminate, conditions={}),
            logs=logs,
            step=self.step,
            generate=self.run_generator,
            generator=self.generator,
            state=self.term_state,
        )

    def checkpoint_parts(self) -> dict:
        parts = super().checkpoint_parts()
        if self.term_state:  # only then: earlier runs' checkpoints have no such part
            parts["terms"] = tf.Module(name="terms")
            parts["terms"].state = dict(self.term_state)
        return parts

    def discriminate(self, images, conditions) -> dict:
        """The discriminator's outputs by name on ``images``, with its other inputs (a
        ``label``) taken by name from ``conditions``; augmented by the DiffAugment policy, with
        draws of their own for each call of the step."""
        images = self.pack_images(self.augment_images(images))
        return self.call_network(self.discriminator, {**conditions, "image": images})

    def _uniform(self, stream, shape, local_batch, index):
        return self.draw("uniform", shape, local_batch, stream, index)

    def _critic(self, images, conditions):
        adversarial = next(t for t in self.terms if isinstance(t, Adversarial))
        return adversarial.logit(self.discriminate(images, conditions))


def batches_per_step(dataset: tf.data.Dataset, n: int) -> tf.data.Dataset:
    """Groups a dataset of batches into tuples of ``n`` consecutive batches (what one step of a
    trainer with ``n`` discriminator updates takes), for ``fit``; the identity for ``n = 1``."""
    if n == 1:
        return dataset
    return tf.data.Dataset.zip(tuple(dataset.shard(n, i) for i in range(n)))
