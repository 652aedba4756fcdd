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

import keras
import tensorflow as tf

from zoo.losses import LossPair, gradient_penalty, reduce_loss


class GANTrainer(keras.Model):
    """Trains ``generator`` against ``discriminator``.

    Args:
        generator: maps ``z`` [batch, latent_dim] to images.
        discriminator: maps images to logits.
        loss: the adversarial loss pair.
        latent_dim: size of ``z``.
        d_steps: discriminator updates per generator update.
        ema_decay: decay of the generator's weight EMA (``None``: no EMA).
        gp_weight: weight of the WGAN-GP gradient penalty added to the discriminator loss
            (0: none).
        num_classes: classes of a conditional generator (one with a ``label`` input); fakes
            get uniformly drawn labels. The discriminator is conditioned the way its structure
            says: a second ``label`` input (cGAN), or a second output of class logits trained
            with cross-entropy on real and fake images (ACGAN, weighted by ``aux_weight``).
        clip_value: clip every discriminator weight to [-c, c] after its update, as WGAN
            does (``None``: no clipping).
        seed: base of every random draw.

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
        seed: int = 0,
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
        self.seed = seed
        self._d_takes_labels = len(discriminator.inputs) == 2
        self._d_classifies = len(discriminator.outputs) == 2
        if (self._d_takes_labels or self._d_classifies or len(generator.inputs) == 2) and not (
            num_classes
        ):
            raise ValueError("conditional networks need num_classes")
        self.generator_ema = None
        if ema_decay is not None:
            self.generator_ema = keras.models.clone_model(generator)
            self.generator_ema.set_weights(generator.get_weights())
            self.generator_ema.trainable = False
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
    def step(self) -> tf.Variable:
        """Generator updates done so far."""
        return self.g_optimizer.iterations

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample from and ship: the EMA one when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def call(self, inputs, training=False):
        """The shipped generator on ``z`` (or ``[z, label]`` when conditional)."""
        return self.sampler(inputs, training=training)

    def generate(self, z, labels=None, training=False):
        """Images from the shipped generator; ``labels`` for a conditional one."""
        return self.sampler([z, labels] if self.num_classes else z, training=training)

    def _g(self, z, labels, training=True):
        return self.generator([z, labels] if self.num_classes else z, training=training)

    def _d(self, images, labels, training=True):
        """(adversarial output, class logits or None)."""
        out = self.discriminator(
            [images, labels] if self._d_takes_labels else images, training=training
        )
        return (out[0], out[1]) if self._d_classifies else (out, None)

    def _labels(self, batch_size, stream: int):
        if not self.num_classes:
            return None

        def uniform(shape, seed):
            return tf.random.stateless_uniform(
                shape, seed, minval=0, maxval=self.num_classes, dtype=tf.int32
            )

        return self._draw(uniform, [], batch_size, stream, 2)

    def _aux_loss(self, logits, labels, global_batch):
        per_example = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        return self.aux_weight * reduce_loss(per_example, global_batch)

    def noise(self, batch_size: tf.Tensor, stream: int) -> tf.Tensor:
        """This replica's share of a global batch of ``z`` for draw ``stream`` of this step."""
        return self._draw(tf.random.stateless_normal, [self.latent_dim], batch_size, stream, 0)

    def _draw(self, sampler, shape, batch_size, stream: int, salt: int) -> tf.Tensor:
        """Every replica draws the same global batch (same seed) and keeps its own rows, so a
        draw does not depend on the number of replicas."""
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx else 1
        replica = ctx.replica_id_in_sync_group if ctx else 0
        counter = tf.cast(self.step, tf.int64) * (self.d_steps + 1) + stream
        seed = tf.stack([tf.constant(self.seed + salt, tf.int64), counter])
        values = sampler([batch_size * replicas, *shape], seed=seed)
        return values[replica * batch_size : (replica + 1) * batch_size]

    def train_step(self, data):
        """One generator update; ``data`` is a sequence of ``d_steps`` batches."""
        batches = list(data) if isinstance(data, list | tuple) else [data]
        if len(batches) != self.d_steps:
            raise ValueError(f"train_step needs {self.d_steps} batches, got {len(batches)}")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        threshold = self.loss_pair.threshold
        sums = {"d_loss": 0.0, "d_real_acc": 0.0, "d_fake_acc": 0.0, "gp": 0.0, "d_aux_acc": 0.0}

        # 1. Discriminator updates.
        for i, batch in enumerate(batches):
            real = batch["image"] if isinstance(batch, dict) else batch
            real_labels = batch["label"] if isinstance(batch, dict) and self.num_classes else None
            local = tf.shape(real)[0]
            global_batch = local * replicas
            fake_labels = self._labels(local, i)
            fake = self._g(self.noise(local, i), fake_labels)
            with tf.GradientTape() as tape:
                real_out, real_class = self._d(real, real_labels)
                fake_out, fake_class = self._d(fake, fake_labels)
                d_loss = reduce_loss(self.loss_pair.d_loss(real_out, fake_out), global_batch)
                total = d_loss
                if self._d_classifies:
                    total += self._aux_loss(real_class, real_labels, global_batch)
                    total += self._aux_loss(fake_class, fake_labels, global_batch)
                if self.gp_weight:
                    weights_shape = [1] * (len(real.shape) - 1)
                    eps = self._draw(tf.random.stateless_uniform, weights_shape, local, i, 1)
                    gp = reduce_loss(
                        gradient_penalty(
                            lambda x, labels=real_labels: self._d(x, labels)[0], real, fake, eps
                        ),
                        global_batch,
                    )
                    total += self.gp_weight * gp
                    sums["gp"] += gp
            grads = tape.gradient(total, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(
                zip(grads, self.discriminator.trainable_variables, strict=True)
            )
            if self.clip_value is not None:
                for var in self.discriminator.trainable_variables:
                    var.assign(tf.clip_by_value(var, -self.clip_value, self.clip_value))
            sums["d_loss"] += d_loss
            if threshold is not None:
                sums["d_real_acc"] += _accuracy(real_out > threshold, global_batch)
                sums["d_fake_acc"] += _accuracy(fake_out < threshold, global_batch)
            if self._d_classifies:
                predicted = tf.argmax(real_class, axis=-1, output_type=tf.int32)
                sums["d_aux_acc"] += _accuracy(predicted == real_labels, global_batch)

        # 2. Generator update.
        local = tf.shape(real)[0]
        fake_labels = self._labels(local, self.d_steps)
        with tf.GradientTape() as tape:
            fake = self._g(self.noise(local, self.d_steps), fake_labels)
            fake_out, fake_class = self._d(fake, fake_labels)
            g_loss = reduce_loss(self.loss_pair.g_loss(fake_out), local * replicas)
            total = g_loss
            if self._d_classifies:
                total += self._aux_loss(fake_class, fake_labels, local * replicas)
        grads = tape.gradient(total, self.generator.trainable_variables)
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
        if self._d_classifies:
            logs["d_aux_acc"] = sums["d_aux_acc"] / self.d_steps
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
