"""Translation families (pix2pix, cyclegan): their held-out examples with the true
translation, the generator applied to them, and how close it comes.

The truth is known when the run's data is a view of its images (``data.pair`` for a paired
family, ``data.domain_views`` for a two-domain one, see ``training.views``): the held-out
``eval.split`` is viewed as the generator's input and as its target. ``training.evaluate``
scores a run with it and ``training.sample --split`` writes the triplets.
"""

from __future__ import annotations

import numpy as np


def held_out_translations(config, contract) -> dict | None:
    """For a family that translates a view of the data (``data.pair``, or ``data.domains`` with
    ``data.domain_views``), the held-out ``eval.split`` as generator inputs (``sources``, by
    batch key), the true translations (``truth``) and the digits' ``labels``; ``None`` for
    other families or data whose true translation is not known."""
    from training.data import load_split
    from training.views import view

    data, model = config.data, config.model
    keys = contract.data_keys
    if len(keys) != 1 or not (data.pair or data.domains):
        return None
    images, labels = load_split(data, config.eval.split, model.image_size, model.channels)
    if data.pair:
        source, truth = view(data.pair, images), images
    else:
        views = data.domain_views or ["none"] * len(data.domains)
        source, truth = view(views[0], images), view(views[1], images)
    return {"sources": {keys[0]: np.asarray(source)}, "truth": np.asarray(truth), "labels": labels}


def translate(generator, contract, sources: dict, seed: int, batch_size: int = 500) -> np.ndarray:
    """The generator's output for each row of ``sources`` (its data inputs by batch key), other
    inputs drawn as in training."""
    rng = np.random.default_rng(seed)
    shapes = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in generator.inputs}
    num = len(next(iter(sources.values())))
    out = []
    for i in range(0, num, batch_size):
        chunk = {key: rows[i : i + batch_size] for key, rows in sources.items()}
        feeds = contract.example_inputs(shapes, len(next(iter(chunk.values()))), rng, chunk)
        args = [feeds[name] for name in shapes]
        out.append(np.asarray(generator(args if len(args) > 1 else args[0], training=False)))
    return np.concatenate(out)


def translation_metrics(fake, truth, labels, extractor) -> dict:
    """How close translations are to the true ones: mean absolute error and PSNR (images scaled
    to [0, 1]), and, with a digit classifier, the share of translations read as the digit they
    were made from, next to the same share for the true translations (the ceiling)."""
    error = (fake.astype(np.float64) - truth) / 2.0  # [0, 1] scale
    mse = np.mean(error**2, axis=(1, 2, 3))
    result = {
        "l1": float(np.mean(np.abs(error))),
        "psnr": float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10)))),
    }
    if extractor is not None and extractor.name == "mnist_cnn":
        result["digit_accuracy"] = float(np.mean(np.argmax(extractor(fake)[1], 1) == labels))
        result["truth_digit_accuracy"] = float(np.mean(np.argmax(extractor(truth)[1], 1) == labels))
    return result
