"""Input pipelines: batches of ``{"image": float32 in [-1, 1], "label": int32}``.

Sources (``data.source``):
    tfds      a tensorflow-datasets dataset, from its cache or downloaded when possible;
    vendored  the MNIST test set shipped in ``training/assets/mnist`` (md5-checked), so that a
              fresh install trains offline;
    folder    a user's images, searched recursively; each first-level subfolder is a class;
    auto      tfds when the dataset is prepared or its download host answers; for ``mnist``,
              the vendored copy when the machine is offline; for other datasets a one-line
              error that says how to prepare the data offline.

Every pipeline has the same deterministic order for a given seed, and ``make_dataset`` can
start ``skip`` examples in, before decoding, which is how a resumed run sees exactly the batches
it would have seen.

Splits use TFDS' slicing syntax (``test[:8000]``, ``test[8000:]``), for the vendored copy too.
With ``data.labelled`` (semi-supervised training) batches carry no ``label``; they carry
``labelled_image`` and ``labelled_label`` instead, drawn from the first ``labelled / classes``
examples of each class in the split.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from training import views
from training.sections import DataConfig, first_line
from zoo.errors import GanzooError

log = logging.getLogger(__name__)

VENDORED_MNIST = Path(__file__).parent / "assets" / "mnist"
_MNIST_FILES = {  # name -> (md5, IDX header bytes)
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 16),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 8),
}
# TFDS downloads most datasets (and its prepared copies) from Google Cloud Storage.
DOWNLOAD_HOST = ("storage.googleapis.com", 443)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class DataError(GanzooError, RuntimeError):
    """A dataset that cannot be read, with what to do about it."""


@dataclasses.dataclass
class Source:
    """Undecoded examples plus what the log should say about them."""

    examples: tf.data.Dataset  # elements: (encoded or raw image, label)
    decode: Callable[[tf.Tensor], tf.Tensor]  # (element image) -> uint8 [H, W, C]
    description: str
    size: int | None
    classes: list[str] | None = None  # class names, when the source knows them


def make_dataset(
    config: DataConfig,
    image_size: int,
    channels: int,
    seed: int,
    skip: int = 0,
    global_batch_size: int | None = None,
    num_classes: int | None = None,
) -> tuple[tf.data.Dataset, str]:
    """An endless, shuffled, batched dataset and a one-line description of its source.

    Args:
        config: the ``data`` section of the experiment config.
        image_size, channels: what the model expects; images are resized and converted.
        seed: shuffle seed; the same seed gives the same order.
        skip: examples to skip from the start of the endless stream (for resuming).
        global_batch_size: defaults to ``config.batch_size``.
        num_classes: the classes a model that learns from the labels has; a source with more
            is an error (its extra labels would train nothing, or fail in a loss at step 1).
    """
    if config.cache not in (None, "memory"):
        _check_cache_prefix(config.cache)
    if config.domains:
        return _domains_dataset(config, image_size, channels, seed, skip, global_batch_size)
    source = open_source(config, channels, seed)
    batch = global_batch_size or config.batch_size
    ds = source.examples
    if source.size is not None and source.size < batch:
        raise DataError(
            f"{source.description} has {source.size} images, fewer than data.batch_size={batch}"
        )
    if num_classes is not None and source.classes and len(source.classes) > num_classes:
        shown = ", ".join(source.classes[:6]) + (", ..." if len(source.classes) > 6 else "")
        raise DataError(
            f"{source.description.split(',')[0]} has {len(source.classes)} classes ({shown}) "
            f"but model.num_classes={num_classes}; set model.num_classes={len(source.classes)} "
            "or train on fewer class folders"
        )

    def preprocess(image, label):
        image = _to_model_format(source.decode(image), image_size, channels)
        example = {"image": image, "label": tf.cast(label, tf.int32)}
        if config.pair:
            example["source"] = views.view(config.pair, image)
        return example

    decode = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if config.cache:  # decode once; the shuffle order depends on the seed only, not on this
        ds = ds.map(preprocess, **decode)
        ds = ds.cache("" if config.cache == "memory" else config.cache)
    ds = ds.shuffle(config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    if skip:
        ds = ds.skip(skip)
    if not config.cache:
        ds = ds.map(preprocess, **decode)
    ds = ds.batch(batch, drop_remainder=True)
    description = source.description
    if config.labelled:
        images, labels = labelled_examples(source, config.labelled, image_size, channels)
        labelled = tf.data.Dataset.from_tensor_slices((images, labels))
        labelled = labelled.shuffle(len(labels), seed=seed + 1, reshuffle_each_iteration=True)
        labelled = labelled.repeat().skip(skip).batch(batch, drop_remainder=True)
        ds = tf.data.Dataset.zip(ds, labelled).map(
            lambda unlabelled, lab: {
                "image": unlabelled["image"],
                "labelled_image": lab[0],
                "labelled_label": lab[1],
            }
        )
        description += f"; {len(labels)} of them labelled ({len(labels) // _classes(labels)}/class)"
    return ds.prefetch(tf.data.AUTOTUNE), description


def _domains_dataset(config, image_size, channels, seed, skip, global_batch_size):
    """Batches of ``image_a``, ``image_b``, ...: one stream per domain (``data.domains``), each
    from its own split or subfolder, shuffled with its own seed and viewed as
    ``data.domain_views`` says, so that no pairs are seen; all skip ``skip`` examples to
    resume."""
    streams, described = {}, []
    domain_views = config.domain_views or ["none"] * len(config.domains)
    for i, (domain, view) in enumerate(zip(config.domains, domain_views, strict=True)):
        name = chr(ord("a") + i)
        if config.source == "folder":
            folder = Path(config.path) / domain
            if not folder.is_dir():
                raise DataError(f"data.domains: {folder} is not a folder (domain {name})")
            one = dataclasses.replace(config, path=str(folder), domains=None, domain_views=None)
        else:
            one = dataclasses.replace(config, split=domain, domains=None, domain_views=None)
        ds, description = make_dataset(
            one, image_size, channels, seed + 7919 * i, skip, global_batch_size
        )
        streams[name] = ds.map(lambda b, v=view: views.view(v, b["image"]))
        shown = "" if view == "none" else f", {view}"
        described.append(f"{name.upper()}: {description.split(',')[0]}{shown}")
    zipped = tf.data.Dataset.zip(streams).map(
        lambda batches: {f"image_{name}": images for name, images in batches.items()}
    )
    return zipped.prefetch(tf.data.AUTOTUNE), "domains " + "; ".join(described)


def _check_cache_prefix(prefix: str) -> None:
    """A file cache is written after the first epoch: a folder that is missing or read-only
    would fail then, with TensorFlow's traceback, not now."""
    folder = Path(prefix).expanduser().parent
    if not folder.is_dir():
        raise DataError(
            f"data.cache={prefix}: the folder {folder} does not exist; create it, or use "
            "data.cache=memory"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"data.cache={prefix}: the folder {folder} is not writable")


def _classes(labels: np.ndarray) -> int:
    return len(np.unique(labels))


def labelled_examples(
    source: Source, num: int, image_size: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``num / classes`` examples of each class, in the split's order (the same
    subset on every machine): float32 images in [-1, 1] and int32 labels."""
    labels = np.fromiter(source.examples.map(lambda _, label: label).as_numpy_iterator(), np.int64)
    classes = np.unique(labels)
    per_class = num // len(classes)
    if per_class < 1 or num % len(classes):
        raise DataError(
            f"data.labelled={num} must be a positive multiple of the {len(classes)} classes"
        )
    chosen = np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in classes]))
    if len(chosen) < num:
        raise DataError(f"{source.description} has fewer than {per_class} images of some class")
    images = _decoded(source, chosen, image_size, channels)
    return images, labels[chosen].astype(np.int32)


def load_split(
    config: DataConfig, split: str, image_size: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every example of ``split`` in order, at the model's format: images and int32 labels (a
    held-out set to measure a classifier on)."""
    source = open_source(dataclasses.replace(config, split=split), channels)
    ds = source.examples.map(
        lambda image, label: (_to_model_format(source.decode(image), image_size, channels), label),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    images, labels = [], []
    for x, y in ds.batch(1000).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def _decoded(source: Source, indices: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    wanted = tf.constant(indices, tf.int64)
    ds = source.examples.enumerate().filter(lambda i, _: tf.reduce_any(tf.equal(i, wanted)))
    ds = ds.map(lambda _, ex: _to_model_format(source.decode(ex[0]), image_size, channels))
    return np.stack(list(ds.as_numpy_iterator()))


def split_slice(split: str) -> tuple[str, slice]:
    """``"test[100:200]"`` -> ("test", slice(100, 200)); a plain name takes the whole split."""
    match = re.fullmatch(r"(\w+)(?:\[(-?\d*):(-?\d*)\])?", split.strip())
    if not match:
        raise DataError(
            f"data.split={split!r} is not a split name or a slice like test[:8000] or test[8000:]"
        )
    name, start, stop = match.groups()
    return name, slice(int(start) if start else None, int(stop) if stop else None)


def open_source(config: DataConfig, channels: int, seed: int = 0) -> Source:
    """The examples that ``config`` names, choosing the source when ``source`` is ``auto``."""
    if config.source == "folder":
        return _folder_source(Path(config.path), channels, config.mixed_sizes)
    if config.source == "vendored":
        if config.dataset != "mnist":
            raise DataError(
                f"data.source=vendored has only mnist, not {config.dataset!r}; use source=tfds "
                "or source=folder"
            )
        return _vendored_mnist_source("data.source=vendored", config.split)
    builder = _tfds_builder(config)
    if _is_prepared(builder):
        return _tfds_source(builder, config, channels, seed, "prepared TFDS copy")
    reachable, why = host_reachable(DOWNLOAD_HOST, config.download_timeout)
    if reachable:
        log.info("data: downloading and preparing %s with TFDS", config.dataset)
        builder.download_and_prepare()
        return _tfds_source(builder, config, channels, seed, "downloaded by TFDS")
    if config.source == "auto" and config.dataset == "mnist":
        return _vendored_mnist_source(f"TFDS copy not prepared and {why}", config.split)
    raise DataError(
        f"dataset {config.dataset!r} is not prepared in {builder.data_dir_root} and {why}; "
        f"prepare it on a machine with internet (`tfds build {config.dataset}`), copy "
        f"~/tensorflow_datasets/{config.dataset} here (or set data.tfds_data_dir), "
        "or train on your own images with data.source=folder data.path=DIR"
    )


def host_reachable(address: tuple[str, int], timeout: float) -> tuple[bool, str]:
    """Whether a TCP connection to ``address`` opens within ``timeout`` seconds, and why not."""
    try:
        socket.create_connection(address, timeout=timeout).close()
        return True, ""
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else err.strerror or str(err)
        return False, f"the download host {address[0]} is unreachable ({reason})"


def load_vendored_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The vendored MNIST test set: uint8 images [10000, 28, 28] and labels [10000]."""
    arrays = []
    for name, (md5, header) in _MNIST_FILES.items():
        path = VENDORED_MNIST / name
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise DataError(f"vendored MNIST file {path} cannot be read: {err.strerror}") from None
        if hashlib.md5(raw).hexdigest() != md5:
            raise DataError(
                f"vendored MNIST file {path} is corrupt (md5 differs from {md5}); reinstall ganzoo"
            )
        arrays.append(np.frombuffer(gzip.decompress(raw), np.uint8, offset=header))
    images, labels = arrays
    return images.reshape(-1, 28, 28), labels


def _vendored_mnist_source(why: str, split: str = "train") -> Source:
    """The vendored MNIST test set; ``split`` slices it (``test[:8000]``); ``train`` and
    ``test`` both name the whole of it, since it is the only split shipped."""
    images, labels = load_vendored_mnist()
    name, part = split_slice(split)
    if name not in ("train", "test"):
        raise DataError(f"the vendored MNIST has the split 'test' only (sliceable), not {name!r}")
    images, labels = images[part], labels[part]
    if not len(images):
        raise DataError(f"data.split={split!r} selects no image of the vendored MNIST (10000)")
    examples = tf.data.Dataset.from_tensor_slices((images[..., None], labels.astype(np.int32)))
    what = "the MNIST test set" + (f" [{split.split('[', 1)[1]}" if "[" in split else "")
    return Source(
        examples=examples,
        decode=lambda image: image,
        description=f"mnist: {what} vendored in ganzoo, {len(images)} images ({why})",
        size=len(images),
        classes=[str(digit) for digit in range(10)],
    )


def _tfds_builder(config: DataConfig):
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(config.dataset, data_dir=config.tfds_data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise DataError(
            f"unknown TFDS dataset {config.dataset!r}; see tfds.list_builders() for the names, "
            "or use data.source=folder"
        ) from None


def _is_prepared(builder) -> bool:
    # TFDS logs a warning for every version folder it looks at that is not there yet.
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        return builder.is_prepared()
    finally:
        absl_logger.setLevel(level)


def _tfds_source(builder, config: DataConfig, channels: int, seed: int, how: str) -> Source:
    import tensorflow_datasets as tfds

    try:
        ds = builder.as_dataset(
            split=config.split,
            shuffle_files=True,
            read_config=tfds.ReadConfig(shuffle_seed=seed),
            decoders={"image": tfds.decode.SkipDecoding()},
        )
    except (ValueError, KeyError) as err:
        raise DataError(
            f"{config.dataset} cannot read split {config.split!r}: {first_line(err)}"
        ) from None
    has_label = "label" in builder.info.features
    label_names = getattr(builder.info.features["label"], "names", None) if has_label else None
    examples = ds.map(lambda ex: (ex["image"], ex["label"] if has_label else tf.constant(0)))
    try:
        size = builder.info.splits[config.split].num_examples
    except (KeyError, ValueError):
        size = None
    size = size if isinstance(size, int) else None  # unknown until prepared (e.g. mock data)
    return Source(
        examples=examples,
        decode=lambda data: tf.io.decode_image(data, channels, expand_animations=False),
        description=f"{config.dataset}[{config.split}] from TFDS, {size or 'unknown number of'} "
        f"images ({how})",
        size=size,
        classes=list(label_names) if label_names else None,
    )


def _folder_source(root: Path, channels: int, mixed_sizes: str = "resize") -> Source:
    if not root.is_dir():
        raise DataError(f"data.path {root} is not a folder")
    found = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not found:
        raise DataError(
            f"data.path {root} holds no images ({', '.join(IMAGE_EXTENSIONS)}, searched "
            "recursively)"
        )
    paths, sizes, skipped = check_images(found, channels)
    if skipped:
        shown = "; ".join(f"{p.relative_to(root)} ({why})" for p, why in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        log.warning(
            "data: skipped %d of %d images that cannot be decoded: %s%s",
            len(skipped),
            len(found),
            shown,
            more,
        )
    if not paths:
        raise DataError(f"data.path {root}: none of its {len(found)} images can be decoded")
    distinct = sorted(set(sizes.values()), key=lambda wh: -list(sizes.values()).count(wh))
    if len(distinct) > 1 and mixed_sizes == "reject":
        odd = next(p for p in paths if sizes[p] != distinct[0])
        raise DataError(
            f"data.path {root} mixes image sizes ({', '.join(f'{w}x{h}' for w, h in distinct[:4])}"
            f"{', ...' if len(distinct) > 4 else ''}; e.g. {odd.relative_to(root)} is "
            f"{sizes[odd][0]}x{sizes[odd][1]}) and data.mixed_sizes=reject; set "
            "data.mixed_sizes=resize to center-crop and resize each image"
        )
    classes = sorted({p.relative_to(root).parts[0] for p in paths if p.parent != root})
    index = {name: i for i, name in enumerate(classes)}
    labels = [index.get(p.relative_to(root).parts[0], 0) for p in paths]
    examples = tf.data.Dataset.from_tensor_slices(
        ([str(p) for p in paths], np.asarray(labels, np.int32))
    )
    return Source(
        examples=examples,
        decode=lambda path: decode_image(tf.io.read_file(path), channels),
        classes=classes or None,
        description=f"image folder {root}, {len(paths)} images in {max(len(classes), 1)} classes"
        + (f" ({len(skipped)} undecodable skipped)" if skipped else "")
        + (f", {len(distinct)} sizes resized" if len(distinct) > 1 else ""),
        size=len(paths),
    )


def decode_image(data: tf.Tensor, channels: int) -> tf.Tensor:
    """An encoded PNG, JPEG, GIF or BMP -> uint8 [H, W, channels] (the first frame of an
    animation). TensorFlow decodes GIF and BMP only to 3 (or 4) channels: those are decoded
    to RGB and then converted, so that every accepted format works for grayscale models."""
    if channels != 1:
        return tf.io.decode_image(data, channels, expand_animations=False)
    rgb_only = tf.strings.regex_full_match(tf.strings.substr(data, 0, 2), "GI|BM")
    return tf.cond(
        rgb_only,
        lambda: tf.image.rgb_to_grayscale(tf.io.decode_image(data, 3, expand_animations=False)),
        lambda: tf.io.decode_image(data, 1, expand_animations=False),
    )


def check_images(
    paths: list[Path], channels: int = 3
) -> tuple[list[Path], dict[Path, tuple[int, int]], list]:
    """Decodes every image once, with the decoder training uses: (the readable paths, their
    (width, height), and the unreadable ones with why), so that a file that cannot be decoded
    is skipped up front, not a crash hours into a run."""
    decode = tf.function(
        lambda data: tf.shape(decode_image(data, channels)),
        input_signature=[tf.TensorSpec([], tf.string)],
    )
    good, sizes, bad = [], {}, []
    for path in paths:
        try:
            height, width, _ = decode(tf.constant(path.read_bytes())).numpy().tolist()
        except (OSError, tf.errors.OpError) as err:
            bad.append((path, first_line(err)))
            continue
        sizes[path] = (width, height)
        good.append(path)
    return good, sizes, bad


def _to_model_format(image: tf.Tensor, size: int, channels: int) -> tf.Tensor:
    """uint8 [H, W, C] -> float32 [size, size, channels] in [-1, 1], center-cropped square."""
    have = image.shape[-1]
    if have != channels:  # encoded images are decoded with the right channel count already
        image = (
            tf.image.grayscale_to_rgb(image)
            if channels == 3
            else tf.image.rgb_to_grayscale(image[..., :3])
        )
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    image = tf.image.crop_to_bounding_box(
        image, (shape[0] - side) // 2, (shape[1] - side) // 2, side, side
    )
    image = tf.cast(image, tf.float32)
    image = tf.image.resize(image, (size, size), antialias=True)
    image = tf.ensure_shape(image, (size, size, channels))
    return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)
