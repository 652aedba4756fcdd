"""The sections of an experiment config that every family shares: ``data``, ``train``,
``eval`` and ``runtime`` (``model`` and ``objective`` are the family's own dataclasses), each a
dataclass with its defaults and its own ``validate``; and ``ConfigError``, what a value that is
not accepted raises. ``training.config`` resolves them into an ``ExperimentConfig``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from zoo.errors import GanzooError


class ConfigError(GanzooError, ValueError):
    """A configuration key or value that is not accepted."""


def first_line(err: BaseException) -> str:
    """The first line of an error, without TensorFlow's ``{{function_node ...}}`` and
    ``[Op:...]`` wrapping."""
    text = str(err).strip()
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:\w+\]", "", text)
    return text.splitlines()[0] if text else type(err).__name__


# Views of an image a pipeline can make (implemented in ``training.views``).
VIEWS = ("none", "edges", "bold", "thin", "low_res4", "cartoon")


@dataclasses.dataclass
class DataConfig:
    """Where the real images come from and how they are batched.

    Args:
        dataset: a tensorflow-datasets name (``mnist``, ``fashion_mnist``, ``cifar10``,
            ``celeb_a``, ...); ignored when ``source`` is ``folder``.
        source: ``auto`` uses the TFDS copy when it is prepared or can be downloaded, and for
            ``mnist`` falls back to the MNIST test set vendored in ganzoo when offline;
            ``tfds`` and ``vendored`` force one of those; ``folder`` reads images from ``path``.
        path: folder of images (searched recursively; subfolders become class labels).
        tfds_data_dir: TFDS data directory (default: TFDS' own, ``~/tensorflow_datasets``).
        split: split to train on, with TFDS' slicing (``train``, ``test[:8000]``); the
            vendored MNIST is the test set, so there ``train`` and ``test`` are all of it.
        labelled: semi-supervised training (sgan) with this many labelled examples, the first
            ``labelled / classes`` of each class in the split (``None``: all labels, or none).
        batch_size: global batch size, split evenly over the replicas.
        shuffle_buffer: examples in the shuffle buffer.
        download_timeout: seconds to wait for the TFDS download host before treating the
            machine as offline.
        cache: keep the decoded, resized images after the first epoch: ``memory``, or a file
            path prefix for datasets larger than memory (``None``: decode every epoch).
        mixed_sizes: image folders whose images differ in size: ``resize`` center-crops each
            to a square and resizes it to the model's size; ``reject`` stops with the sizes
            found (to catch a folder that mixes datasets).
        pair: paired translation from a view of each image (``training.views``: ``edges``,
            ``bold``, ``thin``, ``low_res4``): batches carry that view as ``source`` next to
            ``image``, the target; ``given``: the data holds both (``training.pairs``: A/ + B/
            or side-by-side folders, TFDS features); ``None``: no source.
        domains: two-domain translation: each domain's split (``trainA,trainB``,
            ``test[:4000],test[4000:8000]``), or with ``source=folder`` its subfolder of
            ``path``. Batches carry ``image_a``, ``image_b``, ... (each domain shuffled on its
            own) and no ``image`` or ``label``; ``split`` is then unused.
        domain_views: a view applied to each domain's images (``none``: as they are), one per
            domain (``None``: none for every domain).
        domain_labels: multi-domain translation (StarGAN): batches carry ``image`` and
            ``label``, the index of the image's domain in ``domains``, with the same number of
            images of each domain (``batch_size`` must be a multiple of their count).
        pair_keys: with ``pair=given`` from TFDS, the source's and the target's image features
            (``lr,hr`` for ``div2k``).
        pair_direction: with ``pair=given`` from a folder, ``AB`` translates A (``A/``, or the
            left half of a side-by-side image) into B, ``BA`` the other way.
        crops: train on random crops of the model's size instead of whole images resized;
            held-out splits are tiled into such crops (``training.pairs``).
        fit: how an image reaches the model's size after its center square is cropped:
            ``resize`` (antialiased); ``pad`` puts a smaller image in the middle of a black
            (-1) canvas, unscaled (MNIST's 28x28 digits at 32x32: 2 pixels each side, as
            the ProGAN and StyleGAN papers pad them), and resizes only larger images down.
            Evaluation crops a padded run's images back before the 28x28 digit classifier.
    """

    dataset: str = "mnist"
    source: Literal["auto", "tfds", "vendored", "folder"] = "auto"
    path: str | None = None
    tfds_data_dir: str | None = None
    split: str = "train"
    labelled: int | None = None
    batch_size: int = 64
    shuffle_buffer: int = 10000
    download_timeout: float = 3.0
    cache: str | None = None
    mixed_sizes: Literal["resize", "reject"] = "resize"
    pair: str | None = None
    domains: list[str] | None = None
    domain_views: list[str] | None = None
    domain_labels: bool = False
    pair_keys: list[str] | None = None
    pair_direction: Literal["AB", "BA"] = "AB"
    crops: bool = False
    fit: Literal["resize", "pad"] = "resize"

    def validate(self) -> None:
        _positive(self, "data", "batch_size", "shuffle_buffer", "download_timeout")
        if self.pair == "given":
            if self.source in ("folder",) and self.pair_keys:
                raise ConfigError(
                    "data.pair_keys names TFDS features; a folder's pairs are A/ + B/"
                )
            if self.source != "folder" and not self.pair_keys:
                raise ConfigError(
                    "data.pair=given reads pairs from a folder (data.source=folder) or from two "
                    "features of a TFDS dataset (data.pair_keys=SOURCE,TARGET, e.g. lr,hr)"
                )
        elif self.pair_keys:
            raise ConfigError("data.pair_keys needs data.pair=given")
        for view in [
            "none" if self.pair in (None, "given") else self.pair,
            *(self.domain_views or []),
        ]:
            if view not in VIEWS:
                raise ConfigError(f"data view {view!r} is not one of {', '.join(VIEWS)}")
        if self.domain_views is not None and len(self.domain_views) != len(self.domains or []):
            raise ConfigError(
                f"data.domain_views has {len(self.domain_views)} views for "
                f"{len(self.domains or [])} data.domains; give one per domain"
            )
        if self.domains is not None:
            if len(self.domains) < 2:
                raise ConfigError("data.domains needs two domains or more (e.g. trainA,trainB)")
            if self.pair or self.labelled:
                raise ConfigError("data.domains cannot be combined with data.pair or labelled")
            if self.domain_labels and self.batch_size % len(self.domains):
                raise ConfigError(
                    f"data.batch_size={self.batch_size} must be a multiple of the "
                    f"{len(self.domains)} data.domains (the same number of images of each)"
                )
        elif self.domain_labels:
            raise ConfigError("data.domain_labels needs data.domains (one split or folder each)")
        if self.labelled is not None and self.labelled < 1:
            raise ConfigError(f"data.labelled must be positive or none, got {self.labelled}")
        if self.source == "folder" and not self.path:
            raise ConfigError("data.source=folder needs data.path (a folder of images)")


@dataclasses.dataclass
class TrainConfig:
    """How the GAN learns.

    Args:
        steps: generator updates in total.
        optimizer: ``adam`` or ``rmsprop`` (WGAN), for every network.
        g_lr, d_lr: learning rates of the generator and the discriminator.
        beta_1, beta_2: Adam moment decays (DCGAN uses beta_1 = 0.5).
        ema_decay: keep an exponential moving average of the generator's weights with this
            decay and ship it (``None``: no EMA).
        ema_rampup: ramp the EMA's half-life up: at most this fraction of the steps done so
            far (StyleGAN2-ADA: 0.05; ``None``: the full decay from the first step).
        log_every: steps between scalar summaries.
        sample_every: steps between sample grids (TensorBoard and PNG).
        checkpoint_every: steps between checkpoints (one is always written at the end).
        keep_checkpoints: checkpoints to keep (``None``: keep all).
        backup_every: steps between backups of the training state (``checkpoints/backup``,
            only the newest is kept), what a killed process resumes from: 1 loses no
            step, at the cost of a write per step.
        num_samples: images in a sample grid (a square number fills the grid).
        on_nonfinite: a NaN or Inf loss or weight: ``stop`` the run, or ``rollback`` to the
            newest good checkpoint and continue with the learning rates times
            ``rollback_lr_factor``, at most ``max_rollbacks`` times.
    """

    steps: int = 2000
    optimizer: Literal["adam", "rmsprop"] = "adam"
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    ema_decay: float | None = None
    ema_rampup: float | None = None
    log_every: int = 50
    sample_every: int = 250
    checkpoint_every: int = 500
    keep_checkpoints: int | None = 5
    backup_every: int | None = 100
    num_samples: int = 64
    on_nonfinite: Literal["stop", "rollback"] = "stop"
    rollback_lr_factor: float = 0.5
    max_rollbacks: int = 3

    def validate(self) -> None:
        _positive(
            self,
            "train",
            "steps",
            "g_lr",
            "d_lr",
            "log_every",
            "sample_every",
            "checkpoint_every",
            "num_samples",
        )
        for field in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, field) < 1.0:
                raise ConfigError(f"train.{field} must be in [0, 1), got {getattr(self, field)}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in (0, 1) or none, got {self.ema_decay}")
        if self.ema_rampup is not None and (self.ema_rampup <= 0 or self.ema_decay is None):
            raise ConfigError(
                f"train.ema_rampup must be positive and needs train.ema_decay, got "
                f"{self.ema_rampup} with ema_decay {self.ema_decay}"
            )
        if self.backup_every is not None and self.backup_every < 1:
            raise ConfigError(
                f"train.backup_every must be positive or none, got {self.backup_every}"
            )
        if not 0.0 < self.rollback_lr_factor < 1.0:
            raise ConfigError(
                f"train.rollback_lr_factor must be in (0, 1), got {self.rollback_lr_factor}"
            )
        if self.max_rollbacks < 0:
            raise ConfigError(f"train.max_rollbacks must be 0 or more, got {self.max_rollbacks}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise ConfigError(
                f"train.keep_checkpoints must be positive or none, got {self.keep_checkpoints}"
            )


@dataclasses.dataclass
class RuntimeConfig:
    """Where and how the training runs.

    Args:
        strategy: ``auto`` (MirroredStrategy over all GPUs when there are several, one device
            otherwise), ``one_device``, ``mirrored`` (all GPUs, or all CPU devices when there is
            no GPU), ``multi_worker`` (MultiWorkerMirroredStrategy configured by TF_CONFIG) or
            ``tpu`` (TPUStrategy on the TPU named by ``tpu``).
        seed: seeds weights, noise and data order; the same seed gives the same run.
        devices: devices for ``mirrored`` (e.g. ``/gpu:0,/gpu:1``); ``None`` for all.
        virtual_cpus: split the host CPU into this many logical devices, to try distributed
            training on a machine without GPUs.
        tpu: the TPU for ``strategy=tpu`` (a name or ``grpc://`` address; ``None``: the one
            the environment names, as on a Cloud TPU VM).
        mixed_precision: ``none`` (float32), ``mixed_float16`` (GPUs; with loss scaling),
            ``mixed_bfloat16`` (TPUs, recent CPUs), or ``auto``: mixed_float16 on GPUs,
            mixed_bfloat16 on TPUs and on CPUs with native bfloat16 (AVX512_BF16, AMX), none
            on other CPUs. Weights, losses and the networks' outputs
            stay float32.
        jit_compile: compile each replica's step with XLA; ``None`` (auto): on GPUs only (on
            this project's CPU XLA made the DCGAN step slower; TPUs always compile).
        steps_per_execution: training steps run in one ``tf.function`` call; more of them
            hide the Python overhead of small models. Logging, samples, checkpoints and
            evaluations still happen at their exact steps.
    """

    strategy: Literal["auto", "one_device", "mirrored", "multi_worker", "tpu"] = "auto"
    seed: int = 0
    devices: list[str] | None = None
    virtual_cpus: int | None = None
    tpu: str | None = None
    mixed_precision: Literal["none", "auto", "mixed_float16", "mixed_bfloat16"] = "none"
    jit_compile: bool | None = None
    steps_per_execution: int = 1

    def validate(self) -> None:
        if self.virtual_cpus is not None and self.virtual_cpus < 1:
            raise ConfigError(f"runtime.virtual_cpus must be positive, got {self.virtual_cpus}")
        _positive(self, "runtime", "steps_per_execution")


@dataclasses.dataclass
class EvalConfig:
    """Sample quality measured while training.

    Args:
        every: steps between evaluations (``None``: none). Each writes ``eval/*`` scalars to
            TensorBoard and keeps the best generator by ``metric`` in ``checkpoints/best/`` and
            ``generator_best.keras``.
        metric: ``kid`` or ``fid`` (lower is better) to choose the best checkpoint, or
            ``accuracy`` (higher is better): the held-out accuracy of a semi-supervised
            discriminator's classifier (sgan), measured on ``split``.
        num_samples: generated images (from a fixed latent batch) and real images compared.
        extractor: ``auto`` (``mnist_cnn`` for MNIST digits, never for an image folder;
            ``inception`` for other images when its weights are available; otherwise no
            evaluation, with a note), ``mnist_cnn`` or ``inception``.
        weights: the extractor's weights file (``None``: its default).
        split: held-out split of the dataset for ``accuracy``.
    """

    every: int | None = None
    metric: Literal["kid", "fid", "accuracy"] = "kid"
    num_samples: int = 1000
    extractor: Literal["auto", "mnist_cnn", "inception"] = "auto"
    weights: str | None = None
    split: str = "test"

    def validate(self) -> None:
        if self.every is not None and self.every < 1:
            raise ConfigError(f"eval.every must be positive or none, got {self.every}")
        if self.num_samples < 2:
            raise ConfigError(f"eval.num_samples must be at least 2, got {self.num_samples}")


def _positive(section: Any, name: str, *fields: str) -> None:
    for field in fields:
        value = getattr(section, field)
        if value <= 0:
            raise ConfigError(f"{name}.{field} must be positive, got {value}")
