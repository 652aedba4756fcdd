"""The progressive kind: an adversarial pair whose training changes with the step, in the graph.

``ProgressiveTrainer.train_step`` is the adversarial algorithm with two additions that are
functions of the step, computed inside the step's graph (so that a run resumed anywhere, in
the middle of ProGAN's fade-in say, continues exactly as if it had not stopped):

0. every **schedule** (``zoo.terms.Schedule``) sets what it drives from the step: ProGAN's level
   of detail, which decides how much of each resolution the networks use, and blurs the real
   images to it;
1. ``d_steps`` discriminator updates, each on its own real batch and fresh fakes, with the
   objective's terms; a ``zoo.terms.Lazy`` term runs only on the steps where
   ``step % every == 0``, its loss scaled by ``every`` (StyleGAN2's lazy R1, every 16 steps);
2. one generator update on fresh fakes (a lazy term likewise: StyleGAN2's path length, every 4);
3. the EMA of the generator;
4. ADA's probability of augmenting, when adaptive (``Trainer.finish_augmentation``).

With ``objective.augment`` every image the discriminator sees (the real images after the
schedules' blur, fakes, a penalty's interpolates) is augmented, each call with draws of its own.

The kind reads from the family's ``terms(objective)`` a list of terms and schedules; the noise
comes from the base's named streams (``z`` for the generator's inputs, ``gp`` for a penalty's
interpolation weights), drawn for the global batch, so a step is the same on any number of
replicas; every loss is reduced over the global batch (``zoo.losses.reduce_loss``).
"""

from __future__ import annotations

import functools

import tensorflow as tf

from training.trainers.base import Trainer, total_loss
from zoo.losses import get_loss
from zoo.terms import Adversarial, Schedule, Term, Update


class ProgressiveTrainer(Trainer):
    """Trains ``networks["generator"]`` against ``networks["discriminator"]`` with schedules
    and terms on their own intervals.

    Args:
        networks, contract, seed, ema_decay, ship, augment, ada_target, ada_interval,
            ada_kimg: see ``Trainer``.
        terms: the objective's terms (``zoo.terms.Term``, ``Lazy`` ones included) and schedules
            (``zoo.terms.Schedule``), as ``Family.terms(objective)`` lists them.
        d_steps: discriminator updates per generator update.

    Example:
        >>> family = zoo.get_family("progan")
        >>> trainer = ProgressiveTrainer(family.build(model), family.contract(model),
        ...                              terms=family.terms(objective))
        >>> trainer.compile({"generator": keras.optimizers.Adam(1e-3, 0.0, 0.99),
        ...                  "discriminator": keras.optimizers.Adam(1e-3, 0.0, 0.99)})
    """

    augments = True
    packs = True

    def __init__(self, networks, contract, terms: list, d_steps: int = 1, **kwargs):
        super().__init__(networks, contract, **kwargs)
        unknown = [p for p in terms if not isinstance(p, Term | Schedule)]
        if unknown:
            raise ValueError(f"not a term or a schedule of zoo.terms: {unknown}")
        self.terms = [p for p in terms if isinstance(p, Term)]
        self.schedules = [p for p in terms if isinstance(p, Schedule)]
        for schedule in self.schedules:
            schedule.bind(self.networks)
        self.d_steps = d_steps
        self.draws_per_step = d_steps + 1

    @classmethod
    def from_config(cls, family, networks, contract, config, **kwargs):
        """The trainer of ``family``'s networks for an experiment ``config``: its objective's
        terms and schedules (the loss pair alone when the family lists none)."""
        objective = config.objective
        terms = family.terms(objective) if family.terms else [Adversarial(get_loss(objective.loss))]
        kwargs = {**cls.augment_options(objective), **kwargs}
        return cls(networks, contract, terms=terms, d_steps=objective.d_steps, **kwargs)

    @property
    def batches_per_step(self) -> int:
        return self.d_steps

    def train_step(self, data):
        """One generator update; ``data`` is a sequence of ``d_steps`` batches (or one batch
        when ``d_steps`` is 1)."""
        batches = list(data) if isinstance(data, list | tuple) else [data]
        if len(batches) != self.d_steps:
            raise ValueError(f"train_step needs {self.d_steps} batches, got {len(batches)}")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        step = tf.cast(self.step, tf.int64)  # steps done before this one
        self.start_augmentation()

        # 0. Schedules: what the step number decides (ProGAN's level of detail).
        shown = {}
        for schedule in self.schedules:
            for name, value in schedule.start_step(step).items():
                shown[name] = tf.cast(value, tf.float32) / replicas  # a share (global_logs)

        # 1. Discriminator updates, each on its own real batch and fresh fakes.
        d_logs: dict = {}
        for i, batch in enumerate(batches):
            real = batch["image"]
            for schedule in self.schedules:
                real = schedule.real_images(real, step)
            batch = {**batch, "image": real}
            update = self._update(batch, i, replicas, step, d_logs)
            with tf.GradientTape() as tape:
                update.real_out = self.discriminate(real, _conditions(batch))
                update.fake_out = self.discriminate(update.fake, update.fake_in)
                loss = total_loss(term.discriminator_loss(update) for term in self.terms)
                objective = self.objective("discriminator", loss)
            self.apply("discriminator", tape, objective)
            self.observe_reals(update.real_out)
            for term in self.terms:
                term.after_discriminator_update(self.discriminator)

        # 2. Generator update (fresh fakes; the last real batch for terms that read one).
        g_logs: dict = {}
        update = self._update(batch, self.d_steps, replicas, step, g_logs, draw_fakes=False)
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
        logs.update(g_logs)
        logs.update(shown)
        self.finish_augmentation(tf.shape(batch["image"])[0] * replicas, logs)  # 4. ADA's p
        return self.global_logs(logs)

    def _update(self, batch, index, replicas, step, logs, draw_fakes=True) -> Update:
        local = tf.shape(batch["image"])[0]
        fake_in = self.generator_inputs(local, index, batch)
        return Update(
            global_batch=local * replicas // self.pack,  # the discriminator's outputs
            batch=batch,
            real_out={},
            fake_in=fake_in,
            fake=self.run_generator(fake_in) if draw_fakes else None,
            fake_out={},
            critic=functools.partial(self._critic, conditions=_conditions(batch)),
            draw=functools.partial(self._uniform, local_batch=local, index=index),
            discriminate=functools.partial(self.discriminate, conditions={}),
            logs=logs,
            step=step,
        )

    def discriminate(self, images, conditions) -> dict:
        """The discriminator's outputs by name on ``images`` (augmented, with draws of their
        own for each call of the step), its other inputs (a ``label``) taken by name from
        ``conditions``."""
        images = self.pack_images(self.augment_images(images))
        return self.call_network(self.discriminator, {**conditions, "image": images})

    def _uniform(self, stream, shape, local_batch, index):
        return self.draw("uniform", shape, local_batch, stream, index)

    def _critic(self, images, conditions):
        adversarial = next(t for t in self.terms if isinstance(t, Adversarial))
        return adversarial.logit(self.discriminate(images, conditions))


def _conditions(batch: dict) -> dict:
    """The discriminator's inputs other than the image, from a real batch (a cGAN's label)."""
    return {key: value for key, value in batch.items() if key != "image"}
