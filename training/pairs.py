"""Real pairs and photo crops, for the paired families (pix2pix, pix2pixHD, SRGAN, ESRGAN).

``data.pair=given`` reads each training pair from the data instead of making the source from
the image (``training.views``):

* a folder (``data.source=folder``) with ``A/`` and ``B/`` subfolders whose files match by
  name (relative path without the extension), or of side-by-side images, A on the left half
  and B on the right (the format of the pix2pix datasets: facades, maps, edges2shoes);
  ``data.pair_direction=AB`` translates A into B, ``BA`` the other way;
* a TFDS dataset whose examples hold both images: ``data.pair_keys=lr,hr`` names the
  source's and the target's features (``div2k``).

The source is brought to the generator's input size (``image_size / model.scale`` for a
super-resolution family) and the target to ``image_size``. Bad pairs are one-line errors before
anything is written: a name in A without its match in B (or the reverse), a pair whose sizes
are not in the ratio of the first pair's (equal for pix2pix, 4x for 4x super-resolution), a
side-by-side image of odd width, an empty folder.

``data.crops=true`` trains on random crops of the model's size instead of whole images resized
(each crop drawn from (seed, position in the stream), so a resumed run draws the same ones);
a held-out split is tiled into crops, in order. With given pairs the source's crop is the
target's, scaled.

The photographs of scikit-image (``data.dataset=skimage_photos``, ``training.sources``) are
trained on with ``data.crops``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from training import views
from training.sections import DataConfig, first_line
from training.sources import (
    IMAGE_EXTENSIONS,
    DataError,
    Source,
    check_images,
    decode_image,
    open_source,
    ready_tfds_builder,
    to_model_format,
)


def source_size(model) -> int:
    """The size of a paired generator's input: the image's, divided by a super-resolution
    family's ``scale``."""
    return model.image_size // getattr(model, "scale", 1)


# -- crops ---------------------------------------------------------------------------------


def _at_least(image: tf.Tensor, size: int) -> tf.Tensor:
    """``image`` enlarged (bilinear) so that its shorter side is at least ``size``."""
    shape = tf.shape(image)
    short = tf.minimum(shape[0], shape[1])
    factor = tf.maximum(1.0, tf.cast(size, tf.float32) / tf.cast(short, tf.float32))
    new = tf.cast(tf.math.ceil(tf.cast(shape[:2], tf.float32) * factor), tf.int32)
    resized = tf.cast(tf.image.resize(tf.cast(image, tf.float32), new), image.dtype)
    return tf.cond(short < size, lambda: resized, lambda: image)


def random_crop(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """A ``size`` x ``size`` crop of ``image`` [H, W, C] at a place drawn from ``seed`` [2]."""
    image = _at_least(image, size)
    return tf.image.stateless_random_crop(image, (size, size, tf.shape(image)[2]), seed)


def random_pair_crop(source, target, size: int, scale: int, seed):
    """Aligned crops: ``size`` pixels of ``target`` and the ``size / scale`` pixels of
    ``source`` that cover the same place (``target`` is ``scale`` times ``source``)."""
    small = size // scale
    shape = tf.shape(source)
    limit = tf.stack([shape[0] - small + 1, shape[1] - small + 1])
    corner = tf.random.stateless_uniform([2], seed, 0, tf.int32.max, tf.int32) % limit
    source = source[corner[0] : corner[0] + small, corner[1] : corner[1] + small]
    target = target[
        corner[0] * scale : corner[0] * scale + size, corner[1] * scale : corner[1] * scale + size
    ]
    return source, target


def tiles(image: np.ndarray, size: int) -> np.ndarray:
    """The non-overlapping ``size`` x ``size`` tiles of ``image`` [H, W, C], row by row (the
    right and bottom remainders left out)."""
    rows, cols = image.shape[0] // size, image.shape[1] // size
    return np.stack(
        [
            image[r * size : (r + 1) * size, c * size : (c + 1) * size]
            for r in range(rows)
            for c in range(cols)
        ]
    )


# -- given pairs ---------------------------------------------------------------------------


def pairs_source(config: DataConfig, channels: int, seed: int = 0):
    """The ``Source`` of given pairs: each element's image is (source, target), encoded or
    decoded, and ``decode`` gives both as uint8 [H, W, C]."""

    if config.source == "folder":
        return _folder_pairs(Path(config.path), channels, config.pair_direction)
    builder, how = ready_tfds_builder(config)
    return _tfds_pairs(builder, config, channels, seed, how)


def _tfds_pairs(builder, config: DataConfig, channels: int, seed: int, how: str):
    import tensorflow_datasets as tfds

    features = builder.info.features
    keys = config.pair_keys or []
    missing = [k for k in keys if k not in features]
    if len(keys) != 2 or missing:
        images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
        raise DataError(
            f"data.pair_keys must name the source's and the target's image features of "
            f"{config.dataset} (it has {', '.join(images) or 'none'}), got {','.join(keys)}"
        )
    try:
        ds = builder.as_dataset(
            split=config.split,
            shuffle_files=True,
            read_config=tfds.ReadConfig(shuffle_seed=seed),
            decoders={k: tfds.decode.SkipDecoding() for k in keys},
        )
    except (ValueError, KeyError) as err:
        raise DataError(
            f"{config.dataset} cannot read split {config.split!r}: {first_line(err)}"
        ) from None
    size = (
        builder.info.splits[config.split].num_examples
        if config.split in builder.info.splits
        else None
    )
    size = size if isinstance(size, int) and size > 0 else None

    def decode(pair):
        return tuple(tf.io.decode_image(x, channels, expand_animations=False) for x in pair)

    return Source(
        examples=ds.map(lambda ex: ((ex[keys[0]], ex[keys[1]]), tf.constant(0))),
        decode=decode,
        description=f"{config.dataset}[{config.split}] from TFDS, pairs {keys[0]} -> {keys[1]}, "
        f"{size or 'unknown number of'} pairs ({how})",
        size=size,
    )


def _folder_pairs(root: Path, channels: int, direction: str):

    if not root.is_dir():
        raise DataError(f"data.path {root} is not a folder")

    def images(folder):
        return sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )

    a_dir, b_dir = root / "A", root / "B"
    if a_dir.is_dir() or b_dir.is_dir():
        if not (a_dir.is_dir() and b_dir.is_dir()):
            raise DataError(
                f"data.path {root} has {'A/' if a_dir.is_dir() else 'B/'} but not the other; "
                "pairs need A/ and B/"
            )
        a = {p.relative_to(a_dir).with_suffix(""): p for p in images(a_dir)}
        b = {p.relative_to(b_dir).with_suffix(""): p for p in images(b_dir)}
        if not a and not b:
            raise DataError(
                f"data.path {root}: A/ and B/ hold no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        for one, other, name in ((a, b, "A"), (b, a, "B")):
            alone = sorted(str(k) for k in set(one) - set(other))
            if alone:
                raise DataError(
                    f"data.path {root}: {len(alone)} image(s) in {name}/ have no match of the same "
                    f"name in {'B' if name == 'A' else 'A'}/ (e.g. {', '.join(alone[:3])})"
                )
        names = sorted(a)
        pairs = [(a[n], b[n]) for n in names]
        _check_pair_sizes(root, pairs, channels)
        first, second = (0, 1) if direction == "AB" else (1, 0)
        examples = tf.data.Dataset.from_tensor_slices(
            (
                (
                    [str(p[first]) for p in pairs],
                    [str(p[second]) for p in pairs],
                ),
                np.zeros(len(pairs), np.int32),
            )
        )

        def decode(paths):
            return tuple(decode_image(tf.io.read_file(p), channels) for p in paths)

        what = f"A/ + B/ pairs, {direction[0]} -> {direction[1]}"
    else:
        found = images(root)
        if not found:
            raise DataError(f"data.path {root} holds no images and no A/ + B/ subfolders")
        paths, sizes, bad = check_images(found, channels)
        if bad:
            raise DataError(
                f"data.path {root}: {bad[0][0].relative_to(root)} cannot be decoded ({bad[0][1]})"
            )
        odd = [p for p in paths if sizes[p][0] % 2]
        if odd:
            raise DataError(
                f"data.path {root}: {odd[0].relative_to(root)} is {sizes[odd[0]][0]} pixels "
                "wide; a side-by-side pair (A on the left, B on the right) has an even width"
            )
        pairs = [((w // 2, h), (w // 2, h)) for w, h in (sizes[p] for p in paths)]
        examples = tf.data.Dataset.from_tensor_slices(
            ([str(p) for p in paths], np.zeros(len(paths), np.int32))
        )
        swap = direction == "BA"

        def decode(path):
            image = decode_image(tf.io.read_file(path), channels)
            half = tf.shape(image)[1] // 2
            left, right = image[:, :half], image[:, half:]
            return (right, left) if swap else (left, right)

        what = f"side-by-side pairs, {'right -> left' if swap else 'left -> right'}"
    return Source(
        examples=examples,
        decode=decode,
        description=f"image folder {root}, {len(pairs)} {what}",
        size=len(pairs),
    )


def _check_pair_sizes(root: Path, pairs: list, channels: int) -> None:
    """Every pair decodes, and B's size is A's times the first pair's ratio."""

    flat = [p for pair in pairs for p in pair]
    _, sizes, bad = check_images(flat, channels)
    if bad:
        raise DataError(
            f"data.path {root}: {bad[0][0].relative_to(root)} cannot be decoded ({bad[0][1]})"
        )
    ratio = None
    for a, b in pairs:
        (wa, ha), (wb, hb) = sizes[a], sizes[b]
        this = (wb / wa, hb / ha)
        ratio = ratio or this
        if this != ratio:
            raise DataError(
                f"data.path {root}: the pair {a.relative_to(root)} ({wa}x{ha}) and "
                f"{b.relative_to(root)} ({wb}x{hb}) is not in the size ratio of the first pair "
                f"({ratio[0]:g}x); pairs must have equal sizes (or one scale factor)"
            )


# -- pipelines ---------------------------------------------------------------------------


def crops_or_pairs_dataset(config, image_size, channels, seed, skip, batch, source_size):
    """``make_dataset`` for given pairs and random crops (``training.pairs``): the decoded
    images (cached when asked), shuffled and repeated, then numbered before ``skip``, so that
    each crop is drawn from (seed, its place in the stream) and a resumed run draws the same."""

    source = pairs_source(config, channels, seed) if config.pair == "given" else None
    source = source or open_source(config, channels, seed)
    if not config.crops and source.size is not None and source.size < batch:
        raise DataError(
            f"{source.description} has {source.size} images, fewer than data.batch_size={batch}"
        )
    scale = max(image_size // source_size, 1)

    def finish(index, decoded, label):
        crop_seed = tf.stack([tf.constant(seed, tf.int64), index])
        if config.pair == "given":
            src, image = decoded
            if config.crops:
                src, image = random_pair_crop(src, image, image_size, scale, crop_seed)
            example = {
                "image": to_model_format(image, image_size, channels),
                "source": to_model_format(src, source_size, channels),
            }
        else:
            if config.crops:
                decoded = random_crop(decoded, image_size, crop_seed)
            image = to_model_format(decoded, image_size, channels)
            example = {"image": image}
            if config.pair:
                example["source"] = views.view(config.pair, image)
        example["label"] = tf.cast(label, tf.int32)
        return example

    options = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = source.examples.map(lambda image, label: (source.decode(image), label), **options)
    if config.cache:
        ds = ds.cache("" if config.cache == "memory" else config.cache)
    ds = ds.shuffle(config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.enumerate()
    if skip:
        ds = ds.skip(skip)
    ds = ds.map(lambda index, example: finish(index, *example), **options)
    ds = ds.batch(batch, drop_remainder=True)
    how = ", random crops" if config.crops else ""
    return ds.prefetch(tf.data.AUTOTUNE), source.description + how


def load_pairs(
    config: DataConfig, split: str, image_size: int, channels: int, source_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The given pairs of ``split`` in order, at the model's format: (sources, targets); with
    ``data.crops`` each pair is tiled into aligned crops."""

    source = pairs_source(dataclasses.replace(config, split=split), channels)
    scale = max(image_size // source_size, 1)
    sources, targets = [], []
    for src, image in source.examples.map(lambda x, _: source.decode(x)).as_numpy_iterator():
        if config.crops:
            small = tiles(src, source_size)
            large = tiles(image[: src.shape[0] * scale, : src.shape[1] * scale], image_size)
            count = min(len(small), len(large))
            sources += [to_model_format(t, source_size, channels) for t in small[:count]]
            targets += [to_model_format(t, image_size, channels) for t in large[:count]]
        else:
            sources.append(to_model_format(src, source_size, channels))
            targets.append(to_model_format(image, image_size, channels))
    if not targets:
        raise DataError(f"{source.description}: split {split!r} gives no pair")
    return np.stack(sources), np.stack(targets)
