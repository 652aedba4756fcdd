"""Input pipelines: batches of ``{"image": float32 in [-1, 1], "label": int32}``.

The images come from a source (``training.sources``: TFDS, the vendored MNIST, a folder,
scikit-image's photographs); given pairs and random crops are ``training.pairs``'.

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
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from training import pairs, views
from training.sections import DataConfig
from training.sources import (  # noqa: F401  (DataError, load_vendored_mnist: the data API)
    DataError,
    Source,
    load_vendored_mnist,
    open_source,
    split_slice,
    to_model_format,
)


def make_dataset(
    config: DataConfig,
    image_size: int,
    channels: int,
    seed: int,
    skip: int = 0,
    global_batch_size: int | None = None,
    num_classes: int | None = None,
    source_size: int | None = None,
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
        source_size: the size of a given pair's source (``data.pair=given``; default
            ``image_size``; a super-resolution family's is smaller).
    """
    if config.cache not in (None, "memory"):
        _check_cache_prefix(config.cache)
    if config.domains:
        if config.domain_labels and num_classes is not None and num_classes != len(config.domains):
            raise DataError(
                f"data.domains has {len(config.domains)} domains but model.num_classes="
                f"{num_classes}; set model.num_classes={len(config.domains)} (one class per domain)"
            )
        return _domains_dataset(config, image_size, channels, seed, skip, global_batch_size)
    batch = global_batch_size or config.batch_size
    if config.pair == "given" or config.crops:
        return pairs.crops_or_pairs_dataset(
            config, image_size, channels, seed, skip, batch, source_size or image_size
        )
    source = open_source(config, channels, seed)
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
        image = to_model_format(source.decode(image), image_size, channels, config.fit)
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
        images, labels = labelled_examples(
            source, config.labelled, image_size, channels, config.fit
        )
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
    resume. With ``data.domain_labels``, batches of ``image`` and ``label`` (the domain's
    index) instead, each domain's share of the batch and of ``skip`` its own."""
    streams, described = {}, []
    domain_views = config.domain_views or ["none"] * len(config.domains)
    if config.domain_labels:  # one share of each batch per domain, each share's skip its own
        share = len(config.domains)
        global_batch_size = (global_batch_size or config.batch_size) // share
        skip //= share
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
    if config.domain_labels:  # the domains' shares, one after the other, labelled
        zipped = tf.data.Dataset.zip(streams).map(_labelled_domains)
    else:
        zipped = tf.data.Dataset.zip(streams).map(
            lambda batches: {f"image_{name}": images for name, images in batches.items()}
        )
    return zipped.prefetch(tf.data.AUTOTUNE), "domains " + "; ".join(described)


def _labelled_domains(batches: dict) -> dict:
    """``image``: every domain's share of the batch, in domain order; ``label``: the index of
    each image's domain."""
    names = sorted(batches)
    images = tf.concat([batches[n] for n in names], axis=0)
    labels = [tf.fill([tf.shape(batches[n])[0]], i) for i, n in enumerate(names)]
    return {"image": images, "label": tf.concat(labels, axis=0)}


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
    source: Source, num: int, image_size: int, channels: int, fit: str = "resize"
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
    images = _decoded(source, chosen, image_size, channels, fit)
    return images, labels[chosen].astype(np.int32)


def load_split(
    config: DataConfig, split: str, image_size: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every example of ``split`` in order, at the model's format: images and int32 labels (a
    held-out set to measure a classifier on)."""
    source = open_source(dataclasses.replace(config, split=split), channels)
    if config.crops:  # each image tiled into crops of the model's size, in order
        images, labels = [], []
        for image, label in source.examples.map(
            lambda x, y: (source.decode(x), y)
        ).as_numpy_iterator():
            for tile in pairs.tiles(image, image_size):
                images.append(to_model_format(tile, image_size, channels).numpy())
                labels.append(label)
        return np.stack(images), np.asarray(labels, np.int32)
    ds = source.examples.map(
        lambda image, label: (
            to_model_format(source.decode(image), image_size, channels, config.fit),
            label,
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    images, labels = [], []
    for x, y in ds.batch(1000).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def _decoded(
    source: Source, indices: np.ndarray, image_size: int, channels: int, fit: str
) -> np.ndarray:
    wanted = tf.constant(indices, tf.int64)
    ds = source.examples.enumerate().filter(lambda i, _: tf.reduce_any(tf.equal(i, wanted)))
    ds = ds.map(lambda _, ex: to_model_format(source.decode(ex[0]), image_size, channels, fit))
    return np.stack(list(ds.as_numpy_iterator()))
