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
        self.seed = seed
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

    def call(self, z, training=False):
        return self.sampler(z, training=training)

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
        logs = {}

        # 1. Discriminator updates.
        d_loss_sum = real_acc_sum = fake_acc_sum = gp_sum = 0.0
        for i, batch in enumerate(batches):
            real = batch["image"] if isinstance(batch, dict) else batch
            local = tf.shape(real)[0]
            global_batch = local * replicas
            fake = self.generator(self.noise(local, i), training=True)
            with tf.GradientTape() as tape:
                real_logits = self.discriminator(real, training=True)
                fake_logits = self.discriminator(fake, training=True)
                d_loss = reduce_loss(self.loss_pair.d_loss(real_logits, fake_logits), global_batch)
                if self.gp_weight:
                    weights_shape = [1] * (len(real.shape) - 1)
                    eps = self._draw(tf.random.stateless_uniform, weights_shape, local, i, 1)
                    gp = reduce_loss(
                        gradient_penalty(self.discriminator, real, fake, eps), global_batch
                    )
                    d_loss_total = d_loss + self.gp_weight * gp
                else:
                    d_loss_total = d_loss
            grads = tape.gradient(d_loss_total, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(
                zip(grads, self.discriminator.trainable_variables, strict=True)
            )
            if self.clip_value is not None:
                for var in self.discriminator.trainable_variables:
                    var.assign(tf.clip_by_value(var, -self.clip_value, self.clip_value))
            d_loss_sum += d_loss
            if self.gp_weight:
                gp_sum += gp
            threshold = self.loss_pair.threshold
            if threshold is not None:
                real_acc_sum += _accuracy(real_logits > threshold, global_batch)
                fake_acc_sum += _accuracy(fake_logits < threshold, global_batch)
        logs["d_loss"] = d_loss_sum / self.d_steps
        if self.loss_pair.threshold is not None:
            logs["d_real_acc"] = real_acc_sum / self.d_steps
            logs["d_fake_acc"] = fake_acc_sum / self.d_steps
        if self.gp_weight:
            logs["gp"] = gp_sum / self.d_steps

        # 2. Generator update.
        local = tf.shape(batches[-1]["image"] if isinstance(batches[-1], dict) else batches[-1])[0]
        with tf.GradientTape() as tape:
            fake = self.generator(self.noise(local, self.d_steps), training=True)
            fake_logits = self.discriminator(fake, training=True)
            g_loss = reduce_loss(self.loss_pair.g_loss(fake_logits), local * replicas)
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(
            zip(grads, self.generator.trainable_variables, strict=True)
        )
        logs["g_loss"] = g_loss

        # 3. EMA of the generator.
        if self.generator_ema is not None:
            self._update_ema()
        # Each value is this replica's share; summing over replicas gives the global mean.
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
