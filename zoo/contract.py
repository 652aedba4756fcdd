"""What a family declares about its networks, once, for everything that trains, samples,
evaluates and ships them.

A family's ``contract(model_config)`` says:

* which **networks** it builds (any number, by name) and which trainer kind trains them;
* what each **generator input** is: drawn by the trainer (``normal`` noise, a uniform
  ``class``, a uniform ``code`` in [-1, 1]) or read from the **data** batch (an image to
  translate, say); an export variant may take a ``class`` input as class ``weights`` instead
  (``with_class_weights``);
* which networks the trainer **updates**, each with its own optimizer (``train.g_lr`` for the
  generators, ``train.d_lr`` for the rest, unless a kind says otherwise);
* what **ships**: the artifacts a run writes (``generator``, ``classifier``, ...) and the
  network each is made from.

The trainer, sampling, evaluation, export calibration and the run folder all read this one
declaration instead of guessing from tensor names. Nothing here imports TensorFlow.

A run of a family with ``data`` inputs keeps a sample of real inputs in its folder
(``calibration.npz``, one array per batch key), so that export can check parity and calibrate
int8 on real data without the training code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

import numpy as np

Kind = Literal["normal", "class", "code", "data", "scalar", "weights"]
CALIBRATION_FILE = "calibration.npz"  # the run folder's real examples of the data inputs


@dataclasses.dataclass(frozen=True)
class Input:
    """One input of a generator.

    Args:
        kind: ``normal`` (standard normal noise), ``class`` (an int32 class index drawn
            uniformly from ``classes``), ``code`` (float32 uniform in [-1, 1], InfoGAN's
            continuous codes), ``data`` (read from the batch under ``key``) or ``scalar`` (a
            float32 of rank 0, one value for the whole batch, drawn uniformly in [0, 1]:
            StyleGAN2's truncation ``psi``) or ``weights`` (float32 class weights [N,
            classes] in place of a ``class`` input, ``zoo.class_weights``: each row drawn as
            ``(1 - t) e_p + t e_q``, classes p, q and t uniform, every fourth row one-hot:
            the classes, and the mixtures of two that interpolation feeds).
        classes: the number of classes of a ``class`` or ``weights`` input.
        key: the batch key of a ``data`` input (``image`` for the real images).
    """

    kind: Kind
    classes: int | None = None
    key: str | None = None

    def __post_init__(self):
        if self.kind in ("class", "weights") and not self.classes:
            raise ValueError(f"a {self.kind!r} input needs classes")
        if self.kind == "data" and not self.key:
            raise ValueError("a 'data' input needs the batch key it reads")


def normal() -> Input:
    return Input("normal")


def uniform_class(classes: int) -> Input:
    return Input("class", classes=classes)


def uniform_code() -> Input:
    return Input("code")


def from_data(key: str = "image") -> Input:
    return Input("data", key=key)


def scalar() -> Input:
    return Input("scalar")


def class_weights(classes: int) -> Input:
    return Input("weights", classes=classes)


@dataclasses.dataclass(frozen=True)
class Contract:
    """A family's declaration (see the module docstring).

    Args:
        kind: the trainer kind (``adversarial``, or one a test or plug-in registers).
        inputs: the shipped generator's inputs by name, in its input order.
        updates: the networks the trainer updates, each with its own optimizer, mapped to the
            learning-rate group (``generator`` or ``discriminator``) whose rate it uses.
        ships: artifact name -> network it is made from (``generator.keras`` ships the network
            named by ``ships["generator"]``).
        labels: whether the data's labels train something (a conditional discriminator, an
            auxiliary classifier, a semi-supervised classifier), so that the data is checked for
            no more classes than the model has.
        labelled: semi-supervised: the batches carry ``labelled_image``/``labelled_label``,
            drawn from a few labelled examples (``data.labelled`` must be set, and only then).
        ema: the networks of which the trainer keeps an exponential moving average (with
            ``train.ema_decay``), shipped instead of the raw weights.
        target: the batch key of the real images a translation family's discriminator judges
            (``image``; CartoonGAN's unpaired cartoons: ``image_b``).
        drawn: inputs of the *training* generator that the trainer draws and what ships does
            not take (StyleGAN2's per-layer noise and style-mixing latent), by name.
        options: inputs that only an export variant's generator takes (``Family.variants``:
            StyleGAN2's truncation ``psi``), by name.
    """

    kind: str
    inputs: Mapping[str, Input]
    updates: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: {"generator": "generator", "discriminator": "discriminator"}
    )
    ships: Mapping[str, str] = dataclasses.field(default_factory=lambda: {"generator": "generator"})
    labels: bool = False
    labelled: bool = False
    ema: tuple[str, ...] = ("generator",)
    target: str = "image"
    drawn: Mapping[str, Input] = dataclasses.field(default_factory=dict)
    options: Mapping[str, Input] = dataclasses.field(default_factory=dict)

    def spec(self, name: str) -> Input:
        """The declaration of generator input ``name``: shipped, drawn in training only, or
        taken by an export variant only."""
        for declared in (self.inputs, self.drawn, self.options):
            if name in declared:
                return declared[name]
        raise KeyError(name)

    def taking(self, names) -> Contract:
        """This contract for a generator that takes ``names`` (an export variant's, with its
        noise or truncation inputs), each declared as ``spec`` finds it."""
        return dataclasses.replace(self, inputs={name: self.spec(name) for name in names})

    def with_class_weights(self) -> Contract:
        """This contract for a generator that takes each ``class`` input as class ``weights``
        (the ``class_weights`` export variant, ``zoo.class_weights``)."""
        inputs = {
            name: class_weights(spec.classes) if spec.kind == "class" else spec
            for name, spec in self.inputs.items()
        }
        return dataclasses.replace(self, inputs=inputs)

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(self.updates)

    @property
    def num_classes(self) -> int | None:
        """The classes of the generator's ``class`` input (or its class ``weights``), if it
        has one."""
        kinds = ("class", "weights")
        return next((i.classes for i in self.inputs.values() if i.kind in kinds), None)

    @property
    def data_keys(self) -> tuple[str, ...]:
        """The batch keys the generator reads from the data."""
        return tuple(i.key for i in self.inputs.values() if i.kind == "data")

    def example_inputs(
        self,
        shapes: Mapping[str, tuple],
        batch: int,
        rng: np.random.Generator,
        data: Mapping[str, np.ndarray] | None = None,
        classes: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """A batch of generator inputs drawn as in training (for sampling, evaluation and
        export checks): ``shapes`` are the inputs' shapes without the batch dimension; a
        ``data`` input takes rows of ``data[key]`` (real examples), cycled to ``batch``; a
        ``class`` input takes ``classes`` when given (balanced labels, say) instead of a draw,
        and a ``weights`` input their one-hot rows."""
        feeds = {}
        for name, spec in self.inputs.items():
            shape = (batch, *shapes[name])
            if spec.kind == "scalar":  # rank 0: one value for the batch
                feeds[name] = np.asarray(rng.uniform(0, 1), np.float32)
            elif spec.kind == "normal":
                feeds[name] = rng.standard_normal(shape).astype(np.float32)
            elif spec.kind == "class":
                drawn = classes if classes is not None else rng.integers(0, spec.classes, batch)
                feeds[name] = np.asarray(drawn, np.int32)
            elif spec.kind == "code":
                feeds[name] = rng.uniform(-1, 1, shape).astype(np.float32)
            elif spec.kind == "weights":
                feeds[name] = _two_class_weights(spec.classes, batch, rng, classes)
            else:
                if data is None or spec.key not in data or not len(data[spec.key]):
                    raise ValueError(f"the input {name!r} needs real examples of {spec.key!r}")
                rows = np.arange(batch) % len(data[spec.key])
                feeds[name] = np.asarray(data[spec.key])[rows]
        return feeds

    def describe(self) -> dict[str, str]:
        """What each input is, in words (the model card's ``input_distribution``)."""
        return {name: _words(spec) for name, spec in self.inputs.items()}


def _words(spec: Input) -> str:
    """What input ``spec`` is, in words."""
    words = {
        "normal": "standard normal, float32",
        "code": "uniform in [-1, 1], float32",
        "scalar": "float32 of rank 0, one value for the whole batch, in [0, 1]",
        "class": f"int32 class index in [0, {spec.classes}); values outside are clipped to the "
        "nearest class",
        "weights": f"float32 class weights [N, {spec.classes}], used as given (not clipped or "
        "normalised): the one-hot row e_c is class c (the int32 label c of the export without "
        "this variant), (1 - t) e_p + t e_q mixes the embeddings of classes p and q",
    }
    if spec.kind in words:
        return words[spec.kind]
    return f"real examples of the data's {spec.key!r} (float32 in [-1, 1] for images)"


def _two_class_weights(
    classes: int, batch: int, rng: np.random.Generator, given: np.ndarray | None = None
) -> np.ndarray:
    """``batch`` rows of class weights ``(1 - t) e_p + t e_q``: p and q uniform classes, t
    uniform in [0, 1], every fourth row one-hot (t = 0); with ``given`` classes, their one-hot
    rows."""
    eye = np.eye(classes, dtype=np.float32)
    if given is not None:
        return eye[np.asarray(given, np.int64)]
    p, q = rng.integers(0, classes, batch), rng.integers(0, classes, batch)
    t = rng.uniform(0, 1, (batch, 1)).astype(np.float32)
    t[::4] = 0.0
    return ((1 - t) * eye[p] + t * eye[q]).astype(np.float32)


@dataclasses.dataclass
class AdversarialObjective:
    """The ``objective`` section of an adversarial family: what its losses are and weigh.

    Families add their own weights by subclassing (``WGANGPObjective`` adds ``gp_weight``);
    a key a family does not declare is a one-line error for that family.

    Args:
        loss: the adversarial loss pair (``zoo.losses``).
        d_steps: discriminator updates per generator update, each on its own real batch.
        augment: DiffAugment policy for every image the discriminators see (``zoo.augment``:
            a comma-separated subset of color, translation, cutout; ``None``: none), real and
            generated alike, by the trainer of every kind that augments (adversarial, paired,
            cycle, progressive).
        ada_target: ADA (Karras et al. 2020): apply ``augment`` to each image with a
            probability p that starts at 0 and moves so that the mean sign of the
            discriminator's outputs on real images, r_t, stays near this target (the authors'
            0.6); ``None``: always apply it (p = 1).
        ada_interval: steps between two adjustments of p (the authors' 4).
        ada_kimg: thousands of real images (steps times the global batch) in which p can
            move by 1 (the authors' 500).
        r1_weight: weight (gamma) of the R1 penalty on the discriminator's gradient at real
            images (``zoo.terms.R1``; 0: none). Adversarial kind only.
        r1_every: apply R1 every this many steps, its weight multiplied to match (StyleGAN2's
            lazy regularization: 16).
        pack: PacGAN (Lin et al. 2018): the discriminator judges ``pack`` samples at once,
            stacked along the channels, all real or all generated (1: one at a time). For a
            discriminator that reads an image alone and gives one logit (adversarial and
            progressive families: gan, dcgan, wgan, wgan_gp, lsgan, sngan, stylegan2, progan).
    """

    loss: str = "non_saturating"
    d_steps: int = 1
    augment: str | None = None
    ada_target: float | None = None
    ada_interval: int = 4
    ada_kimg: float = 500.0
    r1_weight: float = 0.0
    r1_every: int = 1
    pack: int = 1

    def validate(self) -> None:
        from zoo.augment import parse_policy

        if self.d_steps < 1:
            raise ValueError(f"objective.d_steps must be positive, got {self.d_steps}")
        if self.pack < 1:
            raise ValueError(f"objective.pack must be positive (1: no packing), got {self.pack}")
        if self.r1_every < 1:
            raise ValueError(f"objective.r1_every must be positive, got {self.r1_every}")
        parse_policy(self.augment)
        self._validate_ada()
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_weight") and value < 0:
                raise ValueError(f"objective.{field.name} must be 0 or more, got {value}")

    def _validate_ada(self) -> None:
        from zoo.augment import parse_policy
        from zoo.losses import get_loss, list_losses

        if self.ada_interval < 1:
            raise ValueError(f"objective.ada_interval must be positive, got {self.ada_interval}")
        if not self.ada_kimg > 0:
            raise ValueError(f"objective.ada_kimg must be positive, got {self.ada_kimg}")
        if self.ada_target is None:
            if (self.ada_interval, self.ada_kimg) != (4, 500):
                raise ValueError(
                    "objective.ada_interval and objective.ada_kimg tune ADA, which is off; set "
                    "objective.ada_target (the authors': 0.6) too, or leave them at 4 and 500"
                )
            return
        if not 0 <= self.ada_target <= 1:
            raise ValueError(
                f"objective.ada_target must be in [0, 1] or none, got {self.ada_target}"
            )
        if not parse_policy(self.augment):
            raise ValueError(
                "objective.ada_target adapts the probability of objective.augment's policy; "
                "set objective.augment too (a comma-separated subset of color, translation, "
                "cutout)"
            )
        if self.loss in list_losses() and get_loss(self.loss).threshold is None:
            with_threshold = [n for n in list_losses() if get_loss(n).threshold is not None]
            raise ValueError(
                f"objective.ada_target reads the sign of the discriminator's outputs on real "
                f"images, which a {self.loss} critic's outputs have no threshold for; use "
                f"objective.loss={' or '.join(with_threshold)}, or objective.ada_target=none"
            )


@dataclasses.dataclass
class PairedObjective(AdversarialObjective):
    """The ``objective`` of a paired family (pix2pix, pix2pixHD, SRGAN, ESRGAN): one
    discriminator update per step, on that step's translation."""

    def validate(self) -> None:
        super().validate()
        if self.d_steps != 1:
            raise ValueError(
                f"objective.d_steps must be 1 for a paired family (one discriminator update on "
                f"the generator's output of the step), got {self.d_steps}"
            )


@dataclasses.dataclass
class ContentObjective(PairedObjective):
    """A paired objective with a generator-only warm-up and a content loss on a feature
    network's maps (SRGAN, ESRGAN, CartoonGAN; ``zoo.terms.FeatureDistance``).

    Args:
        warmup_steps: steps of the warm-up terms alone, the generator only.
        content_weight: the content loss's weight.
        content_network: ``vgg19`` (ImageNet weights from Keras' cache), ``digits`` (the
            project's digit classifier, offline) or ``pixels`` (the images themselves).
        content_layer: the network's layer whose maps are compared.
    """

    warmup_steps: int = 0
    content_weight: float = 1.0
    content_network: str = "vgg19"
    content_layer: str = "block5_conv4"

    def validate(self) -> None:
        super().validate()
        if self.warmup_steps < 0:
            raise ValueError(f"objective.warmup_steps must be 0 or more, got {self.warmup_steps}")
        if self.content_network not in ("vgg19", "digits", "pixels"):
            raise ValueError(
                "objective.content_network must be vgg19, digits or pixels, got "
                f"{self.content_network!r}"
            )


@dataclasses.dataclass
class TwoDomainObjective(AdversarialObjective):
    """The ``objective`` of a two-domain family (the ``cycle`` kind: CycleGAN, DiscoGAN,
    DualGAN, Ganilla): its history pool and learning-rate schedule.

    Args:
        pool_size: generated images kept per direction for the discriminators (CycleGAN's 50;
            0: none).
        lr_constant_steps: steps at the full learning rate (``None``: half of
            ``train.steps``, CycleGAN's 100 of 200 epochs).
        lr_decay_steps: steps of the linear decay to 0 that follows (``None``: the rest of
            ``train.steps``; 0: no decay, the rate stays constant). A run resumed with more
            ``train.steps`` than it started with changes a schedule derived from them; set
            both to keep it.
    """

    pool_size: int = 50
    lr_constant_steps: int | None = None
    lr_decay_steps: int | None = None

    def validate(self) -> None:
        super().validate()
        if self.pool_size < 0:
            raise ValueError(f"objective.pool_size must be 0 or more, got {self.pool_size}")
        for field in ("lr_constant_steps", "lr_decay_steps"):
            value = getattr(self, field)
            if value is not None and value < 0:
                raise ValueError(f"objective.{field} must be 0 or more or none, got {value}")
