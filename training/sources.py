"""Where a run's images come from (``data.source``): each source is a ``Source`` of (encoded or
raw image, label) examples and the function that decodes one to uint8 [H, W, C].

    tfds      a tensorflow-datasets dataset, from its cache or downloaded when possible;
    vendored  the MNIST test set shipped in ``training/assets/mnist`` (md5-checked), so that a
              fresh install trains offline;
    folder    a user's images, searched recursively; each first-level subfolder is a class;
    auto      tfds when the dataset is prepared or its download host answers; for ``mnist``,
              the vendored copy when the machine is offline; for other datasets a one-line
              error that says how to prepare the data offline.

``data.dataset=skimage_photos`` is the colour photographs inside scikit-image (offline; split
``train`` is six of them, ``test`` holds chelsea and coffee out). ``data.dataset=stacked_mnist``
is Stacked MNIST (offline): three MNIST digits drawn independently as the three channels of one
image, 1,000 modes (``stacked_mnist_source``). ``training.data`` turns a source
into batches; ``to_model_format`` brings one image to the model's size, channels and range.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import logging
import re
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

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
    if config.dataset == PHOTOS_DATASET and config.source in ("auto", "vendored"):
        return _photos_source(config.split, channels)
    if config.dataset == STACKED_DATASET and config.source in ("auto", "vendored"):
        return stacked_mnist_source(config.split)
    if config.source == "vendored":
        if config.dataset != "mnist":
            raise DataError(
                f"data.source=vendored has only mnist, not {config.dataset!r}; use source=tfds "
                "or source=folder"
            )
        return _vendored_mnist_source("data.source=vendored", config.split)
    builder, how = ready_tfds_builder(config)
    if builder is None:  # offline, mnist: the vendored copy
        return _vendored_mnist_source(how, config.split)
    return _tfds_source(builder, config, channels, seed, how)


def ready_tfds_builder(config: DataConfig):
    """(the TFDS builder of ``config.dataset``, prepared, and how), downloading it when its
    host answers within ``data.download_timeout``; (None, why) for ``mnist`` offline with
    ``source=auto`` (the vendored copy); otherwise a one-line ``DataError`` that says how to
    prepare the data offline."""
    builder = _tfds_builder(config)
    if _is_prepared(builder):
        return builder, "prepared TFDS copy"
    reachable, why = host_reachable(DOWNLOAD_HOST, config.download_timeout)
    if reachable:
        log.info("data: downloading and preparing %s with TFDS", config.dataset)
        builder.download_and_prepare()
        return builder, "downloaded by TFDS"
    if config.source == "auto" and config.dataset == "mnist" and config.pair != "given":
        return None, f"TFDS copy not prepared and {why}"
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


STACKED_DATASET = "stacked_mnist"
STACKED_SIZE = 60_000  # images in the stacked set (VEEGAN's 25,600 and PacGAN's 128,000 are others)


def stacked_pool(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The vendored digits Stacked MNIST draws from for ``split`` (``train``: 0-7999, ``test``:
    8000-9999, or a slice of the vendored set): uint8 [N, 28, 28] and int32 labels [N]."""
    split = {"train": "test[:8000]", "test": "test[8000:]"}.get(split, split)
    images, labels = load_vendored_mnist()
    name, part = split_slice(split)
    if name not in ("train", "test"):
        raise DataError(f"stacked_mnist draws from the vendored MNIST's 'test' split, not {name!r}")
    if not len(images[part]):
        raise DataError(f"data.split={split!r} selects no digit of the vendored MNIST (10000)")
    return images[part], labels[part].astype(np.int32)


def stacked_mnist_source(split: str = "train", size: int = STACKED_SIZE) -> Source:
    """Stacked MNIST (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN): ``size`` images
    whose three channels are three digits drawn independently and uniformly from ``split`` of
    the vendored MNIST (default the training pool, digits 0-7999), label ``100 * first + 10 *
    second + third`` (one of 1,000 modes). The draws are fixed (seed 0), so the set is the same
    everywhere, as a dataset; the run's seed shuffles it. Split ``train`` is the pool 0-7999,
    ``test`` the held-out 8000-9999, and a slice (``test[:4000]``) indexes the vendored set."""
    split = {"train": "test[:8000]", "test": "test[8000:]"}.get(split, split)
    pool, pool_labels = stacked_pool(split)
    picks = np.random.default_rng(0).integers(0, len(pool), size=(size, 3)).astype(np.int32)
    stacked_labels = pool_labels[picks] @ np.array([100, 10, 1], np.int32)
    digits = tf.constant(pool)

    def decode(indices):  # [3] pool indices -> uint8 [28, 28, 3]
        return tf.transpose(tf.gather(digits, indices), [1, 2, 0])

    return Source(
        examples=tf.data.Dataset.from_tensor_slices((picks, stacked_labels)),
        decode=decode,
        description=f"stacked_mnist: {size} images of 3 digits each from the vendored MNIST "
        f"{split} ({len(pool)} digits), 1000 modes",
        size=size,
        classes=[f"{mode:03d}" for mode in range(1000)],
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


def to_model_format(image: tf.Tensor, size: int, channels: int, fit: str = "resize") -> tf.Tensor:
    """uint8 [H, W, C] -> float32 [size, size, channels] in [-1, 1], center-cropped square,
    then resized to ``size`` (``fit="resize"``) or, when smaller, padded with black to it in
    the middle (``fit="pad"``; the ``data.fit`` option)."""
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

    def resize():
        return tf.image.resize(image, (size, size), antialias=True)

    if fit == "pad":
        offset = (size - side) // 2
        image = tf.cond(
            side <= size,
            lambda: tf.image.pad_to_bounding_box(image, offset, offset, size, size),
            resize,
        )
    else:
        image = resize()
    image = tf.ensure_shape(image, (size, size, channels))
    return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)


PHOTOS = {
    "train": ("astronaut", "rocket", "motorcycle_left", "hubble_deep_field", "ihc", "retina"),
    "test": ("chelsea", "coffee"),
}
PHOTOS_DATASET = "skimage_photos"


def photo_paths(split: str) -> list[Path]:
    """The files of the photographs of ``split`` (``train`` or ``test``, or a slice of one:
    ``train[:3]``) inside scikit-image."""
    name, rows = split_slice(split) if "[" in split else (split, slice(None))
    if name not in PHOTOS or not PHOTOS[name][rows]:
        raise DataError(
            f"{PHOTOS_DATASET} has the splits train ({len(PHOTOS['train'])} photos) and test "
            f"({len(PHOTOS['test'])}), or slices of them such as train[:3], not {split!r}"
        )
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"{PHOTOS_DATASET} are the photographs inside scikit-image, which is not installed; "
            "pip install scikit-image"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    paths = []
    for photo in PHOTOS[name][rows]:
        found = [folder / f"{photo}{ext}" for ext in (".png", ".jpg")]
        found = [p for p in found if p.is_file()]
        if not found:
            raise DataError(f"scikit-image's photo {photo!r} is not in {folder}; reinstall it")
        paths.append(found[0])
    return paths


def _photos_source(split: str, channels: int) -> Source:
    paths = photo_paths(split)
    examples = tf.data.Dataset.from_tensor_slices(
        ([str(p) for p in paths], np.zeros(len(paths), np.int32))
    )
    names = ", ".join(p.stem for p in paths)
    return Source(
        examples=examples,
        decode=lambda path: decode_image(tf.io.read_file(path), channels),
        description=f"{PHOTOS_DATASET}[{split}]: {len(paths)} photographs from scikit-image "
        f"({names})",
        size=len(paths),
    )
