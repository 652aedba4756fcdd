"""The paired kind: a generator that translates a ``source`` into an image, trained against a
conditional discriminator on (source, image) pairs (pix2pix; next pix2pixHD, SRGAN, ESRGAN).

``PairedTrainer.train_step`` is the algorithm of Isola et al. 2017 (sec. 3.3, and the authors'
``Pix2PixModel.optimize_parameters``):

1. G(source), once: one dropout draw and one batch-norm update per step, recorded on the
   generator's tape (the authors' ``forward()``, whose output both updates use);
2. one discriminator update on (source, real image) against (source, G(source)), G's output
   held fixed (``detach()``);
3. one generator update, against the updated discriminator: the adversarial term plus lambda
   times L1 (and whatever other pieces the family lists);
4. the EMA of the generator, when kept;
5. ADA's probability of augmenting, when adaptive (``Trainer.finish_augmentation``).

**Augmentation** (``objective.augment``, ``objective.ada_target``): every pair the
discriminator sees, real or generated, is augmented, both images of a pair with the same draws
(the same shift, cutout and colour change of the source and of the image), so that the pair
stays aligned. One update's real and generated pairs of an example also share their draws
(index 0 in the discriminator's update, 1 in the generator's): the discriminator compares
like with like, and pix2pixHD's feature matching compares maps of equally transformed real and
generated pairs, pixel for pixel. A discriminator that reads the image alone (SRGAN,
CartoonGAN) sees the image augmented.

The objective is a list of ``zoo.terms.Term``s (``Family.terms(objective)``): the trainer
sums their ``discriminator_loss`` in step 2 and their ``generator_loss`` in step 3, each
reading a ``zoo.terms.Update`` whose ``batch`` holds the ``source`` and the real ``image``,
``fake`` G's output and ``real_out``/``fake_out`` the discriminator's outputs by name on the
real and the fake pair. pix2pix is ``[ConditionalAdversarial(NON_SATURATING, 0.5),
L1Reconstruction(100)]`` (``zoo.terms``); pix2pixHD adds a feature-matching piece (reading
the discriminators' intermediate outputs, real ones prepared in ``prepare_generator``), SRGAN
a content piece (``FeatureDistance``: a frozen feature network on ``fake`` and ``real``, which
``from_config`` builds from ``training.features.content_network``).

**Warm-up.** A family whose objective has ``warmup_steps`` (SRGAN's SRResNet phase, ESRGAN's
PSNR-oriented phase) first trains the generator alone on its warm-up terms
(``Family.terms(objective, warmup=True)``: a pixel loss): step 1 and step 3 without a
discriminator. The discriminator and its optimizer are untouched until the adversarial phase.
The phase is a Python choice made when the step is traced (``train_step(batch, phase)``; the
project's loop asks ``phase_at(step)`` and never runs an execution across the boundary),
because an optimizer's update cannot sit inside a ``tf.cond`` under ``MirroredStrategy``.

The discriminator is fed by input name: ``source`` and ``image``. A family whose targets are
not paired with its sources (CartoonGAN: photos and cartoons, ``data.domains``) names the
batch key of its real images in its contract (``Contract.target``); its discriminator reads
the ``image`` alone. Under ``tf.distribute``
each replica computes its share of the global batch's losses (``zoo.losses.reduce_loss``), so
a step on two replicas is the step on one device, up to what is per replica by design: batch
norm's statistics and Keras' dropout masks (each replica draws its own with the same seed).

How well a trained translator does on held-out pairs is measured by ``training.evaluate``
(``held_out_translations``, ``translation_metrics``): L1, PSNR and the share of translations
the digit classifier reads as the right digit, on the family's ``eval.split``.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from training.sections import ConfigError
from training.trainers.base import Trainer, total_loss
from zoo.terms import Update


class PairedTrainer(Trainer):
    """Trains ``networks["generator"]`` (input ``source``) against a conditional
    ``networks["discriminator"]`` (inputs ``source`` and ``image``).

    Args:
        networks, contract, seed, ema_decay, ship, augment, ada_target, ada_interval,
            ada_kimg: see ``Trainer`` (and the module's docstring: pairs augmented alike).
        terms: the objective's pieces (``Family.terms(objective)``).

    Example:
        >>> family = zoo.get_family("pix2pix")
        >>> config = family.model_config()
        >>> trainer = PairedTrainer(family.build(config), family.contract(config),
        ...                         terms=family.terms(Pix2PixObjective()))
        >>> trainer.compile({"generator": keras.optimizers.Adam(2e-4, 0.5),
        ...                  "discriminator": keras.optimizers.Adam(2e-4, 0.5)})
        >>> trainer.fit(dataset_of_source_and_image, steps_per_epoch=100)
    """

    augments = True

    def __init__(
        self, networks, contract, terms: list, warmup_terms=(), warmup_steps: int = 0, **kwargs
    ):
        super().__init__(networks, contract, **kwargs)
        self.terms = list(terms)
        self.warmup_terms, self.warmup_steps = list(warmup_terms), warmup_steps
        if warmup_steps and not self.warmup_terms:
            raise ValueError("warmup_steps needs the terms of the warm-up")

    def phase_at(self, step: int) -> str | None:
        """``warmup`` before ``warmup_steps``, then ``adversarial`` (``None``: one phase)."""
        if not self.warmup_steps:
            return None
        return "warmup" if step < self.warmup_steps else "adversarial"

    def phase_boundaries(self) -> tuple[int, ...]:
        return (self.warmup_steps,) if self.warmup_steps else ()

    @classmethod
    def from_config(cls, family, networks, contract, config, **kwargs):
        """The trainer of ``family``'s networks for an experiment ``config``, with its
        objective's pieces; the data must give each image a ``source`` (``data.pair``)."""
        if contract.target != "image":  # unpaired: a domain of sources, one of targets
            if len(config.data.domains or ()) != 2:
                raise ConfigError(
                    f"{config.family} translates unpaired images of two domains: set "
                    "data.domains to the two splits (or folders) of sources and targets"
                )
        elif not getattr(config.data, "pair", None):
            raise ConfigError(
                f"{config.family} translates a source into an image: set data.pair to the view "
                "the source is (edges, bold, thin, low_res4), or given (pairs in the data)"
            )
        else:
            _check_source_size(networks["generator"], config)
        objective = config.objective
        warmup_steps = getattr(objective, "warmup_steps", 0)
        terms = family.terms(objective)
        warmup_terms = family.terms(objective, warmup=True) if warmup_steps else []
        _bind_feature_networks([*terms, *warmup_terms])
        kwargs = {**cls.augment_options(objective), **kwargs}
        return cls(
            networks,
            contract,
            terms=terms,
            warmup_terms=warmup_terms,
            warmup_steps=warmup_steps,
            **kwargs,
        )

    def train_step(self, batch, phase: str | None = None):
        """One discriminator and one generator update on ``batch`` (``source``, ``image``;
        or a sequence of that one batch, as a kind that reads several per step takes them);
        in the ``warmup`` phase, one generator update on the warm-up terms. ``phase=None``
        (Keras' ``fit``) is the adversarial phase."""
        if isinstance(batch, list | tuple):
            (batch,) = batch
        if self.contract.target != "image":  # the real images under the contract's key
            batch = {**batch, "image": batch[self.contract.target]}
        local = tf.shape(batch["image"])[0]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        inputs = self.generator_inputs(local, 0, batch)
        logs: dict = {}
        if phase == "warmup":
            return self._warmup_step(batch, inputs, local * replicas, logs)

        # 1. G(source), once, on the generator's tape.
        with tf.GradientTape() as g_tape:
            fake = self.run_generator(inputs)
        update = self._update(batch, inputs, fake, local * replicas, logs)

        # 2. The discriminator: (source, real) is real, (source, G(source)) is fake.
        self.start_augmentation()
        self.share_augmentation(0)  # one draw per example for its pairs in this update
        with tf.GradientTape() as d_tape:
            update.real_out = self.discriminate(inputs["source"], batch["image"])
            update.fake_out = self.discriminate(inputs["source"], tf.stop_gradient(fake))
            loss = total_loss(term.discriminator_loss(update) for term in self.terms)
            objective = self.objective("discriminator", loss)
        self.apply("discriminator", d_tape, objective)
        self.observe_reals(update.real_out)
        for term in self.terms:
            term.after_discriminator_update(self.discriminator)

        # 3. The generator, against the updated discriminator: adversarial + lambda * L1.
        self.share_augmentation(1)
        for term in self.terms:
            term.prepare_generator(update)
        with g_tape:  # the same tape, which holds G's forward pass of step 1
            update.fake_out = self.discriminate(inputs["source"], fake)
            loss = total_loss(term.generator_loss(update) for term in self.terms)
            objective = self.objective("generator", loss)
        self.apply("generator", g_tape, objective)

        # 4. EMA of the generator.
        self.update_ema()
        self.finish_augmentation(local * replicas, logs)  # 5. ADA's p
        return self.global_logs(logs)

    def _warmup_step(self, batch, inputs, global_batch, logs):
        """The generator alone on the warm-up terms (a pixel loss), then its EMA."""
        with tf.GradientTape() as tape:
            fake = self.run_generator(inputs)
            update = self._update(batch, inputs, fake, global_batch, logs)
            for term in self.warmup_terms:
                term.prepare_generator(update)
            loss = total_loss(term.generator_loss(update) for term in self.warmup_terms)
            objective = self.objective("generator", loss)
        self.apply("generator", tape, objective)
        self.update_ema()
        return self.global_logs(logs)

    def _update(self, batch, inputs, fake, global_batch, logs) -> Update:
        source = inputs["source"]
        return Update(
            global_batch=global_batch,
            batch=batch,
            real_out={},
            fake_in=inputs,
            fake=fake,
            fake_out={},
            critic=lambda images: self.discriminate(source, images)["logits"],
            draw=functools.partial(self._uniform, local_batch=tf.shape(source)[0]),
            discriminate=functools.partial(self.discriminate, source),
            logs=logs,
        )

    def discriminate(self, source, images) -> dict:
        """The discriminator's outputs by name on the pair (``source``, ``images``), both
        augmented with the same draws (the source only if the discriminator reads it)."""
        if self.augment:
            draws = self.augment_draws(tf.shape(images)[0])
            images = self.augment_images(images, draws)
            if "source" in self._discriminator_inputs():
                source = self.augment_images(source, draws)
        return self.call_network(self.discriminator, {"source": source, "image": images})

    def _discriminator_inputs(self) -> list[str]:
        return [t.name.split(":")[0] for t in self.discriminator.inputs]

    def _uniform(self, stream, shape, local_batch, index=0):
        return self.draw("uniform", shape, local_batch, stream, index)


def _check_source_size(generator, config) -> None:
    """A source of another size than the generator takes (``low_res4`` for a same-size
    translator) would fail at the first step in TensorFlow's words: say it now."""
    from training import views
    from training.pairs import source_size

    expected = tuple(generator.inputs[0].shape[1:])
    size, channels = config.model.image_size, config.model.channels
    if config.data.pair == "given":  # brought to the generator's input size by the pipeline
        got = (source_size(config.model), source_size(config.model), channels)
    else:
        probe = np.zeros((1, size, size, channels), np.float32)
        got = tuple(views.view(config.data.pair, probe).shape[1:])
    if got != expected:
        raise ConfigError(
            f"data.pair={config.data.pair} gives sources of shape {got}, but the "
            f"{config.family} generator takes {expected}; use a view of the image's size "
            "(edges, bold, thin)"
        )


def _bind_feature_networks(terms) -> None:
    """Builds the frozen network of each content term (``zoo.terms.FeatureDistance``)."""
    from training.features import ExtractorError, content_network
    from zoo.terms import FeatureDistance

    for term in terms:
        if isinstance(term, FeatureDistance) and term.features is None:
            try:
                term.features = content_network(term.network, term.layer, term.before_activation)
            except ExtractorError as err:
                raise ConfigError(f"objective.content_network: {err}") from None
