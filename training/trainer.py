"""The adversarial trainer every family with a generator and a discriminator reuses.

``GANTrainer.train_step`` does, in order:

1. ``d_steps`` discriminator updates, each on its own real batch and fresh fakes;
2. one generator update;
3. the generator's EMA update, when ``ema_decay`` is set.

What differs between families is a parameter, not a copy of this step: the loss pair, the
number of D steps, EMA. The step is written once for every ``tf.distribute`` strategy:

* per-example losses go through ``zoo.losses.reduce_loss`` (sum / global batch), because Keras'
  TF optimizer sums the replicas' gradients;
* noise is drawn for the *global* batch from a stateless seed that depends only on
  ``(seed, step)``, and each replica takes its slice. So a step on N replicas computes exactly
  what it computes on one device, and the step counter (the generator optimizer's
  ``iterations``, saved in every checkpoint) is the whole RNG state a resume needs.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from zoo.losses import (
    LossPair,
    feature_matching,
    gradient_penalty,
    reduce_loss,
    semi_supervised_logit,
)


class GANTrainer(keras.Model):
    """Trains ``generator`` against ``discriminator``.

    What the networks take and give is read from their named inputs and outputs, so that one
    step serves every family:

    * generator inputs: ``z`` (standard normal), ``label`` (a class, uniform over
      ``num_classes``; for InfoGAN the categorical code) and ``code`` (InfoGAN's continuous
      codes, uniform in [-1, 1]);
    * discriminator inputs: ``image``, and ``label`` for a conditional discriminator (cGAN);
    * discriminator outputs: ``logits`` (real vs fake), ``class_logits`` (ACGAN's auxiliary
      classifier, trained on real and fake labels), ``code_logits`` and ``code`` (InfoGAN's Q
      head, trained on the fakes' codes: the mutual-information term, weighted by
      ``info_weight``). A discriminator with ``class_logits`` but no ``logits`` is a
      semi-supervised (K+1)-class classifier (SGAN): its real-vs-fake logit is
      ``logsumexp(class_logits)`` (Salimans et al. 2016, sec. 5), it adds cross-entropy on the
      batch's ``labelled_image``/``labelled_label``, and its ``features`` output replaces the
      generator's adversarial loss by feature matching.

    Args:
        generator, discriminator: the networks, as described above.
        loss: the adversarial loss pair.
        latent_dim: size of ``z``.
        d_steps: discriminator updates per generator update.
        ema_decay: decay of the generator's weight EMA (``None``: no EMA).
        gp_weight: weight of the WGAN-GP gradient penalty added to the discriminator loss
            (0: none).
        clip_value: clip every discriminator weight to [-c, c] after its update, as WGAN
            does (``None``: no clipping).
        num_classes: classes of the ``label`` input or of ``class_logits``.
        aux_weight: weight of ACGAN's class cross-entropy.
        info_weight: weight of InfoGAN's categorical code term; the continuous codes' term
            (a unit-variance Gaussian log-likelihood) is weighted by ``info_weight *
            continuous_weight``.
        continuous_weight: see ``info_weight`` (Chen et al. use 0.1 or less).
        seed: base of every random draw.
        ship: wraps the (EMA) generator into the model that is sampled from and shipped
            (``zoo.registry.Family.ship``); ``None``: the generator itself.

    Example:
        >>> trainer = GANTrainer(g, d, zoo.losses.NON_SATURATING, latent_dim=100)
        >>> trainer.compile(d_optimizer=keras.optimizers.Adam(2e-4, 0.5),
        ...                 g_optimizer=keras.optimizers.Adam(2e-4, 0.5))
        >>> logs = strategy.run(trainer.train_step, args=((batch,),))
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        loss: LossPair,
        latent_dim: int,
        d_steps: int = 1,
        ema_decay: float | None = None,
        gp_weight: float = 0.0,
        clip_value: float | None = None,
        num_classes: int | None = None,
        aux_weight: float = 1.0,
        info_weight: float = 1.0,
        continuous_weight: float = 0.1,
        seed: int = 0,
        ship: Callable[[keras.Model], keras.Model] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.loss_pair = loss
        self.latent_dim = latent_dim
        self.d_steps = d_steps
        self.ema_decay = ema_decay
        self.gp_weight = gp_weight
        self.clip_value = clip_value
        self.num_classes = num_classes
        self.aux_weight = aux_weight
        self.info_weight = info_weight
        self.continuous_weight = continuous_weight
        self.seed = seed
        self._g_inputs = [(t.name.split(":")[0], t.shape[1:]) for t in generator.inputs]
        self._d_inputs = [t.name.split(":")[0] for t in discriminator.inputs]
        self._d_outputs = list(discriminator.output_names)
        known = {"z", "label", "code"}
        if unknown := [n for n, _ in self._g_inputs if n not in known]:
            raise ValueError(f"generator inputs {unknown} are not among {sorted(known)}")
        outputs = set(self._d_outputs)
        self.semi_supervised = "class_logits" in outputs and "logits" not in outputs
        if "logits" not in outputs and not self.semi_supervised:
            raise ValueError(f"discriminator outputs {self._d_outputs} have no 'logits'")
        uses_classes = "label" in self._d_inputs or "class_logits" in outputs
        if (uses_classes or self.conditional) and not num_classes:
            raise ValueError("conditional networks need num_classes")
        self.generator_ema = None
        if ema_decay is not None:
            self.generator_ema = keras.models.clone_model(generator)
            self.generator_ema.set_weights(generator.get_weights())
            self.generator_ema.trainable = False
        trained = self.generator_ema if self.generator_ema is not None else generator
        self._sampler = ship(trained) if ship is not None else trained
        # Only wraps prebuilt networks: nothing left to build (Keras 3's fit checks this).
        self.built = True

    def compile(self, d_optimizer: keras.Optimizer, g_optimizer: keras.Optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Create the slot variables now (inside the caller's strategy scope), so that a
        # checkpoint can be restored before the first step.
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    @property
    def conditional(self) -> bool:
        """Whether the generator takes a ``label`` (a class, or InfoGAN's categorical code)."""
        return any(name == "label" for name, _ in self._g_inputs)

    @property
    def learns_from_labels(self) -> bool:
        """Whether the data's labels train something: cGAN's discriminator input, ACGAN's class
        head, a semi-supervised classifier (InfoGAN's code is drawn, not read from the data)."""
        return "label" in self._d_inputs or "class_logits" in self._d_outputs

    @property
    def classifier(self) -> keras.Model:
        """A semi-supervised discriminator's classifier: image -> class logits, sharing its
        weights (what an SGAN run ships besides the generator)."""
        if not self.semi_supervised:
            raise AttributeError("only a semi-supervised discriminator has a classifier")
        d = self.discriminator
        return keras.Model(d.inputs[0], d.get_layer("class_logits").output, name="classifier")

    @property
    def step(self) -> tf.Variable:
        """Generator updates done so far."""
        return self.g_optimizer.iterations

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample from and ship: the EMA one when there is one, wrapped by
        the family's ``ship`` when it has one."""
        return self._sampler

    def call(self, inputs, training=False):
        """The shipped generator on its inputs (``z``, or ``[z, label, ...]``)."""
        return self.sampler(inputs, training=training)

    def generate(self, z, labels=None, codes=None, training=False):
        """Images from the shipped generator: ``labels`` for a conditional one, ``codes``
        (default zeros) for continuous codes."""
        given = {"z": z, "label": labels, "code": codes}
        args = []
        for name, shape in self._g_inputs:
            value = given[name]
            if value is None and name == "code":
                value = np.zeros((len(z), *shape), np.float32)
            args.append(value)
        return self.sampler(args if len(args) > 1 else args[0], training=training)

    def fake_inputs(self, batch_size: tf.Tensor, stream: int) -> dict[str, tf.Tensor]:
        """This replica's share of a global batch of generator inputs for draw ``stream``."""

        def uniform_class(shape, seed):
            return tf.random.stateless_uniform(shape, seed, 0, self.num_classes, tf.int32)

        def uniform_code(shape, seed):
            return tf.random.stateless_uniform(shape, seed, -1.0, 1.0)

        draws = {"z": (tf.random.stateless_normal, 0), "label": (uniform_class, 2)}
        draws["code"] = (uniform_code, 3)
        return {
            name: self._draw(draws[name][0], list(shape), batch_size, stream, draws[name][1])
            for name, shape in self._g_inputs
        }

    def _draw(self, sampler, shape, batch_size, stream: int, salt: int) -> tf.Tensor:
        """Every replica draws the same global batch (same seed) and keeps its own rows, so a
        draw does not depend on the number of replicas."""
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx else 1
        replica = ctx.replica_id_in_sync_group if ctx else 0
        counter = tf.cast(self.step, tf.int64) * (self.d_steps + 1) + stream
        seed = tf.stack([tf.constant(self.seed + salt, tf.int64), counter])
        # (Under XLA, runtime.jit_compile, the normal sampler is another implementation: the
        # same seed gives other values, so a run is reproducible with the same jit setting.)
        values = sampler([batch_size * replicas, *shape], seed=seed)
        return values[replica * batch_size : (replica + 1) * batch_size]

    def _g(self, inputs, training=True):
        args = [inputs[name] for name, _ in self._g_inputs]
        return self.generator(args if len(args) > 1 else args[0], training=training)

    def _d(self, images, labels, training=True) -> dict[str, tf.Tensor]:
        """The discriminator's outputs by name, plus ``adversarial``: the real-vs-fake logit."""
        feeds = {"image": images, "label": labels}
        args = [feeds[name] for name in self._d_inputs]
        out = self.discriminator(args if len(args) > 1 else args[0], training=training)
        out = dict(zip(self._d_outputs, out if len(self._d_outputs) > 1 else [out], strict=True))
        if self.semi_supervised:
            out["adversarial"] = semi_supervised_logit(out["class_logits"])
        else:
            out["adversarial"] = out["logits"]
        return out

    def _cross_entropy(self, labels, logits, global_batch):
        per_example = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        return reduce_loss(per_example, global_batch)

    def _info_loss(self, out, fake_in, global_batch):
        """InfoGAN's L_I: the Q head's negative log-likelihood of the codes the fakes were made
        from (a lower bound on their mutual information with the images, up to a constant)."""
        loss = 0.0
        if "code_logits" in out:
            loss += self._cross_entropy(fake_in["label"], out["code_logits"], global_batch)
        if "code" in out:
            squared = 0.5 * tf.reduce_sum(tf.square(out["code"] - fake_in["code"]), axis=-1)
            loss += self.continuous_weight * reduce_loss(squared, global_batch)
        return self.info_weight * loss

    def _has_info_head(self) -> bool:
        return "code_logits" in self._d_outputs or "code" in self._d_outputs

    def train_step(self, data):
        """One generator update; ``data`` is a sequence of ``d_steps`` batches."""
        batches = list(data) if isinstance(data, list | tuple) else [data]
        if len(batches) != self.d_steps:
            raise ValueError(f"train_step needs {self.d_steps} batches, got {len(batches)}")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        threshold = self.loss_pair.threshold
        names = ["d_loss", "d_real_acc", "d_fake_acc", "gp", "d_aux_acc", "info"]
        names += ["d_sup_loss", "d_sup_acc"]
        sums = dict.fromkeys(names, 0.0)
        d_labels = "label" in self._d_inputs or (
            "class_logits" in self._d_outputs and not self.semi_supervised
        )

        # 1. Discriminator updates.
        for i, batch in enumerate(batches):
            real = batch["image"] if isinstance(batch, dict) else batch
            real_labels = batch["label"] if d_labels else None
            local = tf.shape(real)[0]
            global_batch = local * replicas
            fake_in = self.fake_inputs(local, i)
            fake = self._g(fake_in)
            fake_labels = fake_in.get("label")
            with tf.GradientTape() as tape:
                real_out = self._d(real, real_labels)
                fake_out = self._d(fake, fake_labels)
                d_loss = reduce_loss(
                    self.loss_pair.d_loss(real_out["adversarial"], fake_out["adversarial"]),
                    global_batch,
                )
                # Salimans et al.'s unsupervised loss is the mean over the real and the fake
                # half of the (K+1)-class problem: half the sum that d_loss is.
                total = 0.5 * d_loss if self.semi_supervised else d_loss
                if "class_logits" in self._d_outputs and not self.semi_supervised:
                    aux = self._cross_entropy(real_labels, real_out["class_logits"], global_batch)
                    aux += self._cross_entropy(fake_labels, fake_out["class_logits"], global_batch)
                    total += self.aux_weight * aux
                if self._has_info_head():
                    info = self._info_loss(fake_out, fake_in, global_batch)
                    total += info
                    sums["info"] += info
                if self.semi_supervised:
                    labelled = self._d(batch["labelled_image"], None)["class_logits"]
                    sup = self._cross_entropy(batch["labelled_label"], labelled, global_batch)
                    total += sup
                    sums["d_sup_loss"] += sup
                    predicted = tf.argmax(labelled, axis=-1, output_type=tf.int32)
                    correct = predicted == batch["labelled_label"]
                    sums["d_sup_acc"] += _accuracy(correct, global_batch)
                if self.gp_weight:
                    weights_shape = [1] * (len(real.shape) - 1)
                    eps = self._draw(tf.random.stateless_uniform, weights_shape, local, i, 1)
                    gp = reduce_loss(
                        gradient_penalty(
                            lambda x, labels=real_labels: self._d(x, labels)["adversarial"],
                            real,
                            fake,
                            eps,
                        ),
                        global_batch,
                    )
                    total += self.gp_weight * gp
                    sums["gp"] += gp
                # The identity, except under float16 loss scaling (the optimizer is then a
                # LossScaleOptimizer: it unscales, and skips a step whose gradients overflowed).
                # Inside the tape, or the gradient of the scaled loss is None.
                scaled = self.d_optimizer.scale_loss(total)
            grads = tape.gradient(scaled, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(
                zip(grads, self.discriminator.trainable_variables, strict=True)
            )
            if self.clip_value is not None:
                for var in self.discriminator.trainable_variables:
                    var.assign(tf.clip_by_value(var, -self.clip_value, self.clip_value))
            sums["d_loss"] += d_loss
            if threshold is not None:
                sums["d_real_acc"] += _accuracy(real_out["adversarial"] > threshold, global_batch)
                sums["d_fake_acc"] += _accuracy(fake_out["adversarial"] < threshold, global_batch)
            if "class_logits" in self._d_outputs and not self.semi_supervised:
                predicted = tf.argmax(real_out["class_logits"], axis=-1, output_type=tf.int32)
                sums["d_aux_acc"] += _accuracy(predicted == real_labels, global_batch)

        # 2. Generator update (against the last real batch, for feature matching).
        local = tf.shape(real)[0]
        global_batch = local * replicas
        fake_in = self.fake_inputs(local, self.d_steps)
        fake_labels = fake_in.get("label")
        if self.semi_supervised:
            real_features = self._d(real, None)["features"]
        with tf.GradientTape() as tape:
            fake = self._g(fake_in)
            fake_out = self._d(fake, fake_labels)
            if self.semi_supervised:
                g_loss = feature_matching(real_features, fake_out["features"], global_batch)
            else:
                g_loss = reduce_loss(self.loss_pair.g_loss(fake_out["adversarial"]), global_batch)
            total = g_loss
            if "class_logits" in self._d_outputs and not self.semi_supervised:
                total += self.aux_weight * self._cross_entropy(
                    fake_labels, fake_out["class_logits"], global_batch
                )
            if self._has_info_head():
                total += self._info_loss(fake_out, fake_in, global_batch)
            scaled = self.g_optimizer.scale_loss(total)
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(
            zip(grads, self.generator.trainable_variables, strict=True)
        )

        # 3. EMA of the generator.
        if self.generator_ema is not None:
            self._update_ema()

        # Each value is this replica's share; summing over replicas gives the global mean.
        logs = {"d_loss": sums["d_loss"] / self.d_steps, "g_loss": g_loss}
        if threshold is not None:
            logs["d_real_acc"] = sums["d_real_acc"] / self.d_steps
            logs["d_fake_acc"] = sums["d_fake_acc"] / self.d_steps
        if self.gp_weight:
            logs["gp"] = sums["gp"] / self.d_steps
        if "class_logits" in self._d_outputs and not self.semi_supervised:
            logs["d_aux_acc"] = sums["d_aux_acc"] / self.d_steps
        if self._has_info_head():
            logs["info"] = sums["info"] / self.d_steps
        if self.semi_supervised:
            logs["d_sup_loss"] = sums["d_sup_loss"] / self.d_steps
            logs["d_sup_acc"] = sums["d_sup_acc"] / self.d_steps
        return logs

    def _update_ema(self):
        decay = tf.constant(self.ema_decay, tf.float32)
        for ema, var in zip(self.generator_ema.weights, self.generator.weights, strict=True):
            if var.trainable:
                ema.assign(decay * ema + (1.0 - decay) * var)
            else:  # batch-norm statistics are copied, not averaged
                ema.assign(var)


def _accuracy(correct: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    return reduce_loss(tf.reshape(tf.cast(correct, tf.float32), [-1]), global_batch)
