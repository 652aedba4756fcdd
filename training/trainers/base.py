"""What every kind of GAN trainer shares; a kind subclasses ``Trainer`` and writes
``train_step``.

The base owns what must be right once for every kind and every ``tf.distribute`` strategy:

* **named networks and optimizers**, as the family's contract declares them
  (``zoo.contract.Contract``): ``trainer.generator``, ``trainer.optimizers["discriminator"]``;
* **noise streams**: every draw is stateless, seeded by ``(runtime.seed, stream name)`` and
  counted by the step, drawn for the *global* batch and sliced per replica, so a step computes
  the same on any number of replicas and a resumed run draws what it would have drawn;
* **the update of one network** (``objective`` inside the tape, ``apply`` after it): the
  network's own ``losses`` (kernel regularizers, ...) are added once per global batch (each
  replica adds its share, since the optimizer sums the replicas' gradients), and the loss is
  scaled for float16 mixed precision by a ``LossScaleOptimizer``;
* **what the discriminator sees** (a kind with ``augments``): DiffAugment of every image it
  judges, gated by ADA's adaptive probability (``augment_draws``, ``augment_images``,
  ``observe_reals``, ``finish_augmentation``; see ``augmentation.py``);
* **EMA** of the networks the contract names, **what ships** (``shipped``), **what is
  checkpointed** (``checkpoint_parts``) and the **logs**, returned as global values on every
  replica, so the project's loop and Keras' ``fit`` read them alike.

Losses go through ``zoo.losses.reduce_loss`` (sum over the replica's examples / global batch).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from training.trainers.augmentation import AdaptiveProbability
from zoo.augment import DRAWS, diff_augment, gated_augment, parse_policy
from zoo.contract import Contract

# Room for this many augmented discriminator calls per step in the ``augment`` stream (each
# call draws its own augmentation: real and fake images of each update, penalties' images).
AUGMENT_CALLS = 64


def feed(network: keras.Model, feeds: Mapping, training: bool):
    """``network`` called on ``feeds``, its inputs by name (one tensor, or a list in the
    network's input order)."""
    args = [feeds[t.name.split(":")[0]] for t in network.inputs]
    return network(args if len(args) > 1 else args[0], training=training)


def total_loss(losses) -> tf.Tensor:
    """The sum of an objective's losses for one network, in the terms' order (a term that
    returns ``None`` adds nothing); an objective with no loss for the network is an error."""
    total = None
    for loss in losses:
        if loss is not None:
            total = loss if total is None else total + loss
    if total is None:
        raise ValueError("the objective has no term with a loss for this network")
    return total


def stream_key(seed: int, stream: str) -> int:
    """A stable 63-bit number for (run seed, stream name): independent streams for different
    names and seeds (seed 1's ``z`` is not seed 0's ``gp``)."""
    digest = hashlib.sha256(f"{seed}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class Trainer(keras.Model):
    """Base of the trainer kinds: a ``keras.Model`` over a family's named networks.

    Args:
        networks: the family's networks by name (``generator``, ``discriminator``, ...).
        contract: the family's declaration: generator inputs, updated networks, what ships.
        seed: the run seed, base of every noise stream.
        ema_decay: keep an exponential moving average of the contract's ``ema`` networks with
            this decay, and ship it (``None``: no EMA).
        ema_rampup: ramp the EMA's half-life up with the run (StyleGAN2-ADA's ``ema_rampup``):
            at most this fraction of the steps done so far, so that the average forgets the
            untrained start (``None``: the decay from the first step).
        ship: ``ship(artifact, network) -> model``, the family's wrapper of what ships
            (``None``: the network itself).
        augment: the DiffAugment policy of every image the discriminator sees (``zoo.augment``;
            ``None``: none); only for a kind that ``augments``.
        ada_target, ada_interval, ada_kimg: ADA's adaptive probability of applying ``augment``
            (``AdaptiveProbability``; ``ada_target=None``: always applied).

    A subclass writes ``train_step(data)``, where ``data`` is one batch (a dict), or a tuple of
    ``batches_per_step`` batches when it reads more than one per step; it may set
    ``draws_per_step`` (how many times per step one stream is drawn) and ``counter`` (the
    network whose optimizer counts the steps).
    """

    draws_per_step = 1
    counter = "generator"
    batches_per_step = 1  # data batches one train_step takes (a sequence when more than 1)
    augments = False  # whether the kind's discriminators see what ``augment_images`` makes
    packs = False  # whether the kind's discriminator sees what ``pack_images`` makes (PacGAN)

    def __init__(
        self,
        networks: Mapping[str, keras.Model],
        contract: Contract,
        seed: int = 0,
        ema_decay: float | None = None,
        ema_rampup: float | None = None,
        ship: Callable[[str, keras.Model], keras.Model] | None = None,
        augment: str | None = None,
        ada_target: float | None = None,
        ada_interval: int = 4,
        ada_kimg: float = 500.0,
        pack: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pack > 1 and not self.packs:
            raise ValueError(f"{type(self).__name__} does not pack the discriminator's images")
        self.pack = pack
        self.augment = parse_policy(augment)
        if (self.augment or ada_target is not None) and not self.augments:
            raise ValueError(f"{type(self).__name__} does not augment the discriminator's images")
        if ada_target is not None and not self.augment:
            raise ValueError("ada_target adapts the probability of a DiffAugment policy: give one")
        self.ada = None
        if ada_target is not None:
            self.ada = AdaptiveProbability(ada_target, ada_interval, ada_kimg)
        # This step's augmentation: which call of the step this is, the signs seen so far. Per
        # thread: MirroredStrategy traces each replica's step in a thread of its own, and they
        # interleave at every cross-replica merge (a shared counter gave replicas other draws).
        self._augmenting = threading.local()
        missing = [n for n in contract.networks if n not in networks]
        if missing:
            raise ValueError(f"the family built no network named {', '.join(missing)}")
        self.contract, self.seed, self.ema_decay = contract, seed, ema_decay
        self.ema_rampup = ema_rampup
        self.network_names = tuple(networks)
        for name, network in networks.items():
            setattr(self, name, network)
        generator = networks.get("generator")
        names = [t.name.split(":")[0] for t in generator.inputs] if generator is not None else []
        declared = {**contract.inputs, **contract.drawn}
        if unknown := [n for n in names if n not in declared]:
            raise ValueError(
                f"generator inputs {unknown} are not declared in the family's contract "
                f"({', '.join(declared)})"
            )
        self.ema = {}
        if ema_decay is not None:
            for name in contract.ema:
                clone = keras.models.clone_model(networks[name])
                clone.set_weights(networks[name].get_weights())
                clone.trainable = False
                self.ema[name] = clone
        self._shipped = {
            artifact: (ship or (lambda _, net: net))(artifact, self.ema.get(net, self.net(net)))
            for artifact, net in contract.ships.items()
        }
        # Only wraps prebuilt networks: nothing left to build (Keras 3's fit checks this).
        self.built = True

    @classmethod
    def from_config(cls, family, networks, contract, config, **kwargs):
        """The kind's trainer for an experiment ``config`` (``kwargs``: seed, ema_decay, ship):
        a kind reads the family's objective here."""
        return cls(networks, contract, **kwargs)

    @staticmethod
    def augment_options(objective) -> dict:
        """The trainer's augmentation arguments from an ``objective`` section (none when it
        has no ``augment`` key, or it is not set), and its packing (``pack``) when above 1."""
        options = {"pack": objective.pack} if getattr(objective, "pack", 1) > 1 else {}
        if not getattr(objective, "augment", None):
            return options
        keys = ("augment", "ada_target", "ada_interval", "ada_kimg")
        return options | {key: getattr(objective, key) for key in keys if hasattr(objective, key)}

    def pack_images(self, images):
        """PacGAN (Lin et al. 2018): each ``pack`` consecutive images of this replica's batch
        side by side in the channels, one input of the discriminator: [b, H, W, C] ->
        [b / pack, H, W, pack * C], image k of a pack in channels k * C to (k + 1) * C. The
        identity without packing."""
        if self.pack == 1:
            return images
        _, height, width, channels = images.shape
        packed = tf.reshape(images, [-1, self.pack, height, width, channels])
        packed = tf.transpose(packed, [0, 2, 3, 1, 4])
        return tf.reshape(packed, [-1, height, width, self.pack * channels])

    def net(self, name: str) -> keras.Model:
        return getattr(self, name)

    def phase_at(self, step: int) -> str | None:
        """The phase of the step after ``step`` steps, passed to ``train_step(data, phase)``
        (``None``: the kind has one phase, and ``train_step`` takes only ``data``). A phase is
        chosen when the step is traced, so that it can leave a network's update out."""
        return None

    def phase_boundaries(self) -> tuple[int, ...]:
        """The steps at which the phase changes: no execution of several steps crosses one."""
        return ()

    @property
    def networks(self) -> dict[str, keras.Model]:
        return {name: self.net(name) for name in self.network_names}

    @property
    def generator_ema(self) -> keras.Model | None:
        return self.ema.get("generator")

    # -- optimizers and steps -------------------------------------------------------------

    def compile(self, optimizers: Mapping[str, keras.Optimizer], **kwargs):
        """One optimizer per updated network (``contract.updates``). ``fit`` does not compile
        the step with XLA unless asked (``jit_compile=True``): XLA's normal sampler draws other
        numbers from the same seed, and the project's loop leaves XLA to
        ``runtime.jit_compile``."""
        super().compile(**{"jit_compile": False, **kwargs})
        if set(optimizers) != set(self.contract.updates):
            raise ValueError(
                f"optimizers for {sorted(optimizers)}; the contract updates "
                f"{sorted(self.contract.updates)}"
            )
        self.optimizers = dict(optimizers)
        # Slot variables now (inside the caller's strategy scope), so that a checkpoint can be
        # restored before the first step.
        for name, optimizer in self.optimizers.items():
            optimizer.build(self.net(name).trainable_variables)

    def learning_rates(self) -> dict[str, tf.Tensor]:
        """The rate each optimizer uses now, by network (logged to TensorBoard). A kind that
        schedules its rates (decay, warm-up) returns the scheduled values."""
        return {name: opt.learning_rate for name, opt in self.optimizers.items()}

    def scale_learning_rates(self, factor: float) -> None:
        """Multiplies every learning rate by ``factor`` (the loop's rollback after a divergence);
        a kind that schedules its rates scales the base of the schedule instead."""
        for optimizer in self.optimizers.values():
            optimizer.learning_rate.assign(optimizer.learning_rate * factor)

    @property
    def step(self) -> tf.Variable:
        """Steps done so far: the iterations of the ``counter`` network's optimizer (saved in
        every checkpoint, it is also the whole RNG state a resume needs)."""
        return self.optimizers[self.counter].iterations

    def objective(self, name: str, loss: tf.Tensor) -> tf.Tensor:
        """What network ``name`` differentiates, computed inside its tape: ``loss`` plus the
        network's own losses (regularizers; a global quantity, so each replica adds its
        share), scaled for float16 loss scaling (the identity otherwise)."""
        network = self.net(name)
        if network.losses:
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            loss = loss + tf.add_n([tf.cast(x, tf.float32) for x in network.losses]) / replicas
        return self.optimizers[name].scale_loss(loss)

    def apply(self, name: str, tape: tf.GradientTape, objective: tf.Tensor) -> None:
        """One optimizer step of network ``name`` on the gradient of ``objective``."""
        variables = self.net(name).trainable_variables
        grads = tape.gradient(objective, variables)
        self.optimizers[name].apply_gradients(zip(grads, variables, strict=True))

    def apply_jointly(self, names, tape: tf.GradientTape, loss: tf.Tensor) -> None:
        """One optimizer step of each network in ``names``, all minimising ``loss`` (CycleGAN's
        two generators): one gradient computation for all their variables, where a step per
        network would build the backward graph once for each. Each network's own losses
        (``objective``) depend on its variables only, so the joint gradient is each network's
        gradient. Under float16 loss scaling every optimizer scales by its own factor, so the
        networks are stepped one by one (``objective`` and ``apply``, inside ``tape``)."""
        if any(isinstance(self.optimizers[n], keras.optimizers.LossScaleOptimizer) for n in names):
            with tape:
                objectives = {name: self.objective(name, loss) for name in names}
            for name in names:
                self.apply(name, tape, objectives[name])
            return
        with tape:
            total = loss
            for name in names:
                total = self.objective(name, total)  # adds the network's own losses
        variables = {name: self.net(name).trainable_variables for name in names}
        grads = tape.gradient(total, [v for name in names for v in variables[name]])
        start = 0
        for name in names:
            count = len(variables[name])
            self.optimizers[name].apply_gradients(
                zip(grads[start : start + count], variables[name], strict=True)
            )
            start += count

    def update_ema(self) -> None:
        """EMA of the trained weights; non-trainable state (batch-norm statistics) is copied."""
        if not self.ema:
            return
        decay = self.ema_decay_now()
        for name, ema in self.ema.items():
            for average, var in zip(ema.weights, self.net(name).weights, strict=True):
                if var.trainable:
                    average.assign(decay * average + (1.0 - decay) * var)
                else:
                    average.assign(var)

    def ema_decay_now(self) -> tf.Tensor:
        """The EMA's decay at this step: ``ema_decay``, or with ``ema_rampup`` r the decay of a
        half-life of min(h, r * steps done before this one) steps, h the half-life of
        ``ema_decay`` (StyleGAN2-ADA's ``ema_beta``: 0 on the first step, the EMA is the
        network)."""
        decay = tf.constant(self.ema_decay, tf.float32)
        if not self.ema_rampup:
            return decay
        half_life = math.log(0.5) / math.log(self.ema_decay)
        done = tf.cast(self.step, tf.float32) - 1.0  # the generator's optimizer counted this one
        ramped = tf.maximum(tf.minimum(half_life, done * self.ema_rampup), 1e-8)
        return tf.pow(0.5, 1.0 / ramped)

    # -- noise ----------------------------------------------------------------------------

    def stream_seed(self, stream: str, index: int) -> tf.Tensor:
        """The stateless seed of draw ``index`` of this step from ``stream`` (``augment``:
        room for ``AUGMENT_CALLS`` draws per step)."""
        per_step = AUGMENT_CALLS if stream == "augment" else self.draws_per_step
        counter = tf.cast(self.step, tf.int64) * per_step + index
        return tf.stack([tf.constant(stream_key(self.seed, stream), tf.int64), counter])

    def draw(self, kind: str, shape, local_batch, stream: str, index: int = 0, classes=None):
        """This replica's rows of a global batch of noise: ``normal``, ``uniform`` in [0, 1),
        ``code`` (uniform in [-1, 1]) or ``class`` (int32 uniform in [0, classes)). Every
        replica draws the same global batch and keeps its own rows, so a draw does not depend
        on the number of replicas. (Under XLA the normal sampler is another implementation:
        the same seed gives other values, so a run is reproducible with the same jit setting.)
        """
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx else 1
        replica = ctx.replica_id_in_sync_group if ctx else 0
        seed = self.stream_seed(stream, index)
        full = [local_batch * replicas, *shape]
        if kind == "normal":
            values = tf.random.stateless_normal(full, seed)
        elif kind == "uniform":
            values = tf.random.stateless_uniform(full, seed)
        elif kind == "code":
            values = tf.random.stateless_uniform(full, seed, -1.0, 1.0)
        elif kind == "class":
            values = tf.random.stateless_uniform(full, seed, 0, classes, tf.int32)
        else:
            raise ValueError(f"unknown noise kind {kind!r}")
        return values[replica * local_batch : (replica + 1) * local_batch]

    def generator_inputs(self, local_batch, index: int, batch: dict | None = None, name=None):
        """The inputs of generator ``name`` (default ``generator``) by name: drawn as the
        contract says (``index``: which draw of this step), or taken from ``batch``."""
        network = self.net(name or "generator")
        inputs = {}
        for tensor in network.inputs:
            input_name = tensor.name.split(":")[0]
            spec = self.contract.spec(input_name)
            if spec.kind == "data":
                inputs[input_name] = batch[spec.key]
            else:
                shape = list(tensor.shape[1:])
                inputs[input_name] = self.draw(
                    spec.kind, shape, local_batch, input_name, index, spec.classes
                )
        return inputs

    @staticmethod
    def call_network(network: keras.Model, feeds: Mapping, training: bool = True):
        """``network`` on the feeds named like its inputs; outputs by name (a dict)."""
        out = feed(network, feeds, training)
        outputs = list(network.output_names)
        return dict(zip(outputs, out if len(outputs) > 1 else [out], strict=True))

    def run_generator(self, inputs: Mapping, name: str = "generator", training: bool = True):
        """The output of generator ``name`` on its inputs by name."""
        return feed(self.net(name), inputs, training)

    # -- what the discriminator sees ----------------------------------------------------

    def start_augmentation(self) -> None:
        """Called at the start of every step (trace) of a kind that augments: the first call's
        draws, no signs seen yet, and the steps done before this one."""
        state = self._augmenting
        state.calls, state.shared = 0, None
        state.signs, state.count = tf.constant(0.0), tf.constant(0.0)
        state.step = tf.identity(self.step) if self.ada is not None else None

    def share_augmentation(self, index: int | None) -> None:
        """Until the next call, every ``augment_draws`` gives draw ``index`` of the step (the
        same draws for the same example: the paired kind's real and generated pairs of one
        update); ``None``: each call its own draws again."""
        self._augmenting.shared = index

    def augment_draws(self, local_batch) -> tf.Tensor:
        """This replica's rows of uniform [global batch, DRAWS (+ 1 for ADA's gate)] values of
        the ``augment`` stream: the next call's draw of the step, or the shared one."""
        state = self._augmenting
        index = getattr(state, "shared", None)
        if index is None:  # (outside a step: the step's first draw)
            index = getattr(state, "calls", 0)
            state.calls = index + 1
        if index >= AUGMENT_CALLS:
            raise ValueError(f"more than {AUGMENT_CALLS} augmented discriminator calls in a step")
        width = DRAWS + (1 if self.ada is not None else 0)
        return self.draw("uniform", [width], local_batch, "augment", index)

    def augment_images(self, images: tf.Tensor, draws: tf.Tensor | None = None) -> tf.Tensor:
        """``images`` as the discriminator sees them: the policy with ``draws`` (default: the
        next call's), each image with ADA's probability p when ADA is on; the images
        themselves without a policy."""
        if not self.augment:
            return images
        if draws is None:
            draws = self.augment_draws(tf.shape(images)[0])
        if self.ada is None:
            return diff_augment(images, self.augment, draws)
        return gated_augment(images, self.augment, draws, self.ada.p)

    def observe_reals(self, outputs, terms=None) -> None:
        """ADA: adds the signs of a discriminator's outputs on this replica's real images to
        the step's, read by the first of ``terms`` (default ``self.terms``) that has a
        real-vs-fake output (``real_signs``); nothing without ADA."""
        if self.ada is None:
            return
        for term in self.terms if terms is None else terms:
            signs = term.real_signs(outputs)
            if signs is not None:
                state = self._augmenting
                state.signs = state.signs + tf.reduce_sum(tf.stop_gradient(signs))
                state.count = state.count + tf.cast(tf.size(signs), tf.float32)
                return
        raise ValueError(
            "objective.ada_target reads the sign of a real-vs-fake output, and no term of this "
            "objective has one; use an adversarial loss other than wasserstein"
        )

    def finish_augmentation(self, global_batch, logs: dict) -> None:
        """ADA, at the end of a step: the step's signs summed over the replicas, p moved when
        an interval ends (``AdaptiveProbability.update``), and this replica's shares of
        ``ada_p`` (p after the step) and ``ada_r_t`` (the step's mean sign) added to
        ``logs``. Nothing without ADA."""
        if self.ada is None:
            return
        state = self._augmenting
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx else 1
        both = tf.stack([state.signs, state.count])
        if replicas > 1:
            both = ctx.all_reduce(tf.distribute.ReduceOp.SUM, both)
        p = self.ada.update(both[0], both[1], state.step, global_batch)
        logs["ada_p"] = p / replicas
        logs["ada_r_t"] = state.signs / tf.maximum(both[1], 1.0)

    # -- what ships, what is saved, what is logged ----------------------------------------

    @property
    def shipped(self) -> dict[str, keras.Model]:
        """Artifact name -> the model it is written from (EMA weights when kept, wrapped by the
        family's ``ship``)."""
        return dict(self._shipped)

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample from and ship."""
        return self._shipped["generator"]

    def generate(self, feeds: Mapping[str, np.ndarray], training: bool = False):
        """Images of the shipped generator from inputs by name."""
        return feed(self.sampler, feeds, training)

    def optimizer_key(self, name: str) -> str:
        return f"{name}_optimizer"

    def checkpoint_parts(self) -> dict:
        """Everything a resume needs, by checkpoint name: networks, optimizers (with their step
        counters and learning rates), EMA networks, and the RNG state of layers that draw."""
        parts = dict(self.networks)
        parts.update({self.optimizer_key(n): opt for n, opt in self.optimizers.items()})
        parts.update({f"{n}_ema": ema for n, ema in self.ema.items()})
        # Layers that draw (Gaussian noise, dropout) keep their RNG state in a variable that
        # Keras does not list among the weights.
        rng = [
            v
            for network in self.networks.values()
            for v in network.variables
            if "seed_generator_state" in v.path
        ]
        if rng:
            parts["rng"] = tf.Module(name="rng")
            parts["rng"].states = rng
        if self.ada is not None:  # only then: runs without ADA keep their checkpoints' parts
            parts["augment"] = tf.Module(name="augment")
            parts["augment"].state = dict(self.ada.state)
        return parts

    def watched_weights(self) -> list:
        """The weights checked for NaN/Inf after every execution."""
        weights = [w for network in self.networks.values() for w in network.weights]
        return weights + [w for ema in self.ema.values() for w in ema.weights]

    @staticmethod
    def global_logs(shares: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Each replica's share of a log (summing to the global value) -> the global value, on
        every replica (one all-reduce), which the loop and Keras' ``fit`` read alike."""
        names = list(shares)
        stacked = tf.stack([tf.cast(shares[n], tf.float32) for n in names])
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            stacked = ctx.all_reduce(tf.distribute.ReduceOp.SUM, stacked)
        return {name: stacked[i] for i, name in enumerate(names)}
