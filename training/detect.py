"""A patch-based fake-image detector: Chai et al. 2020, "What makes fake images detectable?
Understanding properties that generalize" (ECCV; arXiv:2008.10588; the authors' code:
github.com/chail/patch-forensics).

    python -m training.detect train --real test[:8000] --fake runs/dcgan-XXXX --out det/dcgan
    python -m training.detect eval --detector det/dcgan --real test[8000:] \\
        --fake runs/dcgan-XXXX --fake runs/stylegan2-YYYY --fake runs/cgan-ZZZZ --heatmaps heat

**The detector** is a fully convolutional classifier cut short, so that each output logit sees
one patch of the image: two 3x3 convolutions (the second with stride 2), ``--depth`` more 3x3
convolutions (default 2), all ``valid`` and ReLU, then a 1x1 convolution to one logit per patch.
Its receptive field is ``5 + 4 * depth`` pixels (``receptive_field``: 13 at the default depth,
patches with a stride of 2 px: 8x8 patches on a 28x28 digit, 10x10 on 32x32); ``--depth`` is
the authors' choice of the block to truncate at. Each patch's logit is trained with the
sigmoid cross-entropy against its image's label (fake 1, real 0), averaged over patches and
images, with Adam (lr 1e-3, beta1 0.9) on batches of half reals and half fakes, reals and
fakes flipped left-right at random. An image's score is the mean of its patches' fake
probabilities (the authors' average after the softmax); ``eval`` gives the average precision
(``average_precision``, scikit-learn's definition, in NumPy) and the accuracy at 0.5 of those
scores, with fakes as the positive class, and the patch-level AP (every patch labelled with its
image's label). ``--heatmaps`` draws, per fake source, the fakes the detector finds most and
least fake and the reals it finds most fake, each as [image | fake probability per patch |
both], the patches' probabilities placed at their patches' centres and interpolated to the
image's pixels (``heatmap``), and the mean map over all fakes and all reals.

**Reals are formatted as the fakes' run formats its data** (its dataset, image size, channels
and ``data.fit``, through training's pipeline), or the detector learns the preprocessing rather
than the generator; ``eval`` formats the reals for each fake source in that source's format,
and the detector, being fully convolutional, scores 28x28 digits and 32x32 padded ones alike.
``--real`` is a split (``test[8000:]``, or ``DATASET:SPLIT``) of the run's dataset (MNIST's for
fakes from a folder) or a folder of images. Fakes are a run folder's or an export folder's
samples (``train`` draws latents of ``--seed`` 0, ``eval`` of 1: held out; conditional
generators get balanced classes), or a folder or ``.npz`` of images. Reals and fakes both pass
through 8 bits, as the authors' PNG files did. Details: ``training.detect_data``.

**Where we differ from the authors**, at digit scale: (1) four 3x3 layers of 32-64 filters
and a 1x1 one rather than ResNet or Xception truncated at an early block: the same shape of
model (no global pooling, a 1x1 convolution to the logits) at a scale that trains in seconds
on two CPU cores. Their main model, Xception cut after block 2, sees 43-px patches of 299-px
faces (19 px after block 1; counted from their layer definitions as their ``utils/rfutil.py``
counts); ours sees 13 px of 28, a larger share of the image, since a digit's strokes are 2-3 px
wide and a 5-px patch (``--depth 0``) sees little more than one stroke;
(2) ``valid`` padding, so every patch is whole and the receptive field is exact (the authors'
padded layers let border patches see padding); (3) no batch normalization: with it, a patch's
training-mode output depends on the other images in the half-real, half-fake batch; (4) one
logit with a sigmoid instead of two with a softmax (the same model: softmax([a, b])[1] is
sigmoid(b - a)); (5) a fixed number of steps, not early stopping on a validation split; (6) the
positive class of AP is fake (the authors' ``average_precision_score`` took P(real), real
positive; their number is ``ap_real`` in the JSON); (7) heatmaps on an absolute 0-1 scale, not
normalised per image (a map of 0.5s everywhere would look like a find), and the patch
probabilities placed at their patches' centres instead of the whole map resized.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training.detect_data import (  # noqa: E402
    DetectError,
    FakeSet,
    ImageFormat,
    load_fakes,
    load_reals,
)
from training.grids import save_png  # noqa: E402
from training.host import tune_allocator  # noqa: E402
from zoo.errors import GanzooError  # noqa: E402

DETECTOR_FILE, SETTINGS_FILE = "detector.keras", "detector.json"
FITS = ("resize", "pad")
BATCH = 500  # images scored at a time


# -- the model --------------------------------------------------------------------------------


def _convs(depth: int) -> list[tuple[int, int]]:
    """(kernel, stride) of each 3x3 layer before the 1x1 logits."""
    return [(3, 1), (3, 2)] + [(3, 1)] * depth


def receptive_field(depth: int) -> tuple[int, int]:
    """(receptive field, stride) in pixels of one output logit: patch (i, j) is rows
    ``[stride i, stride i + field)`` and the same columns."""
    field, stride = 1, 1
    for kernel, step in _convs(depth):
        field += (kernel - 1) * stride
        stride *= step
    return field, stride


def build_detector(channels: int, depth: int = 2, width: int = 64):
    """The truncated fully convolutional classifier: images [N, H, W, channels] of any size at
    least its receptive field -> one logit per patch [N, h, w, 1]."""
    import keras

    inputs = keras.Input((None, None, channels), name="image")
    x = inputs
    for i, (kernel, stride) in enumerate(_convs(depth)):
        filters = width // 2 if i == 0 else width
        x = keras.layers.Conv2D(filters, kernel, stride, activation="relu", name=f"conv{i}")(x)
    logits = keras.layers.Conv2D(1, 1, name="patch_logits")(x)
    return keras.Model(inputs, logits, name="patch_detector")


def patch_probabilities(model, images: np.ndarray) -> np.ndarray:
    """Each patch's fake probability, [N, h, w]."""
    import tensorflow as tf

    out = [
        tf.sigmoid(model(images[i : i + BATCH], training=False))[..., 0].numpy()
        for i in range(0, len(images), BATCH)
    ]
    return np.concatenate(out)


def average_precision(labels, scores) -> float:
    """scikit-learn's ``average_precision_score``: sum over the distinct score thresholds,
    highest first, of (R_n - R_(n-1)) P_n; tied scores are one threshold. ``labels`` 1 is the
    positive class."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, np.float64).ravel()
    if labels.shape != scores.shape or not labels.any():
        raise ValueError("average precision needs one score per label and a positive label")
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # each threshold's last
    true_pos = np.cumsum(labels)[last]
    precision = true_pos / (last + 1)
    recall = true_pos / true_pos[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _check_size(fmt: ImageFormat, depth: int, what: str) -> None:
    field = receptive_field(depth)[0]
    if fmt.size < field:
        raise DetectError(
            f"{what} gives {fmt.size}x{fmt.size} images, smaller than the detector's "
            f"{field}-pixel receptive field (--depth {depth}); lower --depth"
        )


# -- train ------------------------------------------------------------------------------------


def train_detector(
    real: np.ndarray,
    fake: np.ndarray,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    depth: int = 2,
    width: int = 64,
    flip: bool = True,
    log=print,
):
    """(model, last logged loss and patch accuracy): ``steps`` Adam steps on batches of
    ``batch_size // 2`` reals and as many fakes, each epoch of either in a new order."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = build_detector(real.shape[-1], depth, width)
    optimizer = keras.optimizers.Adam(lr, beta_1=0.9, beta_2=0.999)
    half = batch_size // 2
    labels = tf.constant(np.r_[np.zeros(half), np.ones(half)], tf.float32)[:, None, None]

    @tf.function
    def step(images):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)[..., 0]
            target = tf.broadcast_to(labels, tf.shape(logits))
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(target, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        right = tf.cast(tf.equal(logits > 0, target > 0.5), tf.float32)
        return loss, tf.reduce_mean(right)

    rng = np.random.default_rng(seed)
    streams = [_stream(len(real), half, rng), _stream(len(fake), half, rng)]
    every, start, sums, last = max(1, steps // 10), time.perf_counter(), np.zeros(2), {}
    for n in range(1, steps + 1):
        batch = np.concatenate([real[next(streams[0])], fake[next(streams[1])]])
        if flip:
            turn = rng.random(len(batch)) < 0.5
            batch[turn] = batch[turn, :, ::-1]
        sums += [float(v) for v in step(tf.constant(batch))]
        if n % every == 0 or n == steps:
            count = n % every or every
            last = {"loss": sums[0] / count, "patch_accuracy": sums[1] / count}
            rate = n / (time.perf_counter() - start)
            log(f"step {n}/{steps} loss={last['loss']:.4f} "
                f"patch_acc={last['patch_accuracy']:.4f} ({rate:.1f} steps/s)")  # fmt: skip
            sums[:] = 0
    return model, last


def _stream(size: int, take: int, rng: np.random.Generator):
    """Index batches of ``take``, each epoch a new permutation of ``range(size)``."""
    order, at = rng.permutation(size), 0
    while True:
        if at + take > size:
            order, at = np.r_[order[at:], rng.permutation(size)], 0
        yield order[at : at + take]
        at += take


def train(args) -> dict:
    out = Path(args.out)
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / SETTINGS_FILE).is_file())
    ):
        raise DetectError(f"--out {out} holds other files; choose a new or empty folder")
    if args.batch_size < 2 or args.batch_size % 2:
        raise DetectError("--batch-size must be even and at least 2 (half reals, half fakes)")
    for name in ("num", "depth", "width"):
        if getattr(args, name) < (0 if name == "depth" else 1):
            raise DetectError(f"--{name} must be positive")
    fakes = load_fakes(args.fake, args.num, args.seed, args.fit)
    _check_size(fakes.format, args.depth, f"--fake {args.fake}")
    real, what = load_reals(args.real, fakes.format, fakes.data, args.num)
    num = min(len(real), len(fakes.images))
    real, fake = real[:num], fakes.images[:num]
    steps = (
        args.steps if args.steps is not None else math.ceil(args.epochs * 2 * num / args.batch_size)
    )
    if steps < 1:
        raise DetectError("--steps (or --epochs) must be positive")
    field, stride = receptive_field(args.depth)
    patches = (fakes.format.size - field) // stride + 1
    print(f"real: {what}, {num} images at {fakes.format}")
    print(f"fake: {args.fake} ({fakes.family or fakes.kind}), {num} images")
    print(
        f"detector: {len(_convs(args.depth)) + 1} conv layers, receptive field {field} px, "
        f"stride {stride}: {patches}x{patches} patches per image; {steps} steps"
    )
    begin = time.perf_counter()
    model, last = train_detector(
        real, fake, steps, args.batch_size, args.lr, args.seed, args.depth, args.width,
        not args.no_flip,
    )  # fmt: skip
    seconds = time.perf_counter() - begin
    scores = patch_probabilities(model, np.concatenate([real, fake])).mean(axis=(1, 2))
    truth = np.r_[np.zeros(num), np.ones(num)]
    settings = {
        "paper": "Chai et al. 2020, arXiv:2008.10588",
        "receptive_field": field,
        "stride": stride,
        "depth": args.depth,
        "width": args.width,
        "image_size": fakes.format.size,
        "channels": fakes.format.channels,
        "fit": fakes.format.fit,
        "positive": "fake",
        "score": "mean over patches of sigmoid(patch logit)",
        "trained_on": {
            "real": {"spec": args.real, "what": what, "num": num},
            "fake": {
                "spec": args.fake,
                "path": str(Path(args.fake).resolve()),
                "kind": fakes.kind,
                "family": fakes.family,
                "seed": fakes.seed,
                "num": num,
            },
        },
        "steps": steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "flip": not args.no_flip,
        "final": last,
        "train_ap": average_precision(truth, scores),
        "train_accuracy": float(np.mean((scores > 0.5) == truth)),
        "seconds": round(seconds, 1),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / DETECTOR_FILE)
        (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    except OSError as err:
        raise DetectError(f"--out {out} is not writable ({err.strerror or err})") from None
    print(f"done: {steps} steps in {seconds:.0f}s; detector: {out / DETECTOR_FILE}")
    return settings


# -- eval -------------------------------------------------------------------------------------


def load_detector(folder: str | Path):
    """(model, settings) of a ``train --out`` folder."""
    from training.sample import load_keras_file

    folder = Path(folder)
    if not (folder / DETECTOR_FILE).is_file() or not (folder / SETTINGS_FILE).is_file():
        raise DetectError(
            f"--detector {folder} holds no {DETECTOR_FILE} and {SETTINGS_FILE}; train one with: "
            f"python -m training.detect train --real SPLIT --fake RUN --out {folder}"
        )
    try:
        settings = json.loads((folder / SETTINGS_FILE).read_text())
    except (OSError, ValueError) as err:
        raise DetectError(f"--detector {folder}: {SETTINGS_FILE} cannot be read ({err})") from None
    model = load_keras_file(folder / DETECTOR_FILE, "train it again", DetectError)
    return model, settings


def score_source(model, settings: dict, fakes: FakeSet, real: np.ndarray) -> tuple[dict, dict]:
    """(the row of ``eval``'s table, the patch maps [N, h, w] of ``real`` and ``fake``)."""
    maps = {
        "real": patch_probabilities(model, real),
        "fake": patch_probabilities(model, fakes.images),
    }
    scores = {k: v.mean(axis=(1, 2)) for k, v in maps.items()}
    truth = np.r_[np.zeros(len(real)), np.ones(len(fakes.images))]
    both = np.r_[scores["real"], scores["fake"]]
    patches = maps["real"][0].size
    trained = settings["trained_on"]["fake"]
    row = {
        "fake": fakes.name,
        "kind": fakes.kind,
        "family": fakes.family,
        "format": str(fakes.format),
        "num_real": len(real),
        "num_fake": len(fakes.images),
        "ap": average_precision(truth, both),
        "accuracy": float(np.mean((both > 0.5) == truth)),
        "ap_real": average_precision(1 - truth, 1 - both),
        "patch_ap": average_precision(
            np.repeat(truth, patches), np.r_[maps["real"].ravel(), maps["fake"].ravel()]
        ),
        "mean_score_real": float(scores["real"].mean()),
        "mean_score_fake": float(scores["fake"].mean()),
        # a folder of images has no seed: the same folder is the same fakes
        "seen_in_training": str(Path(fakes.name).resolve()) == trained["path"]
        and fakes.seed == trained["seed"],
    }
    return row, maps


def table(rows: list[dict]) -> str:
    lines = [
        "| fake | family | format | AP | acc@0.5 | N (each) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['fake']} | {r['family'] or r['kind']} | {r['format']} | {r['ap']:.4f} | "
            f"{r['accuracy']:.4f} | {r['num_fake']} |"
        )
    return "\n".join(lines)


def evaluate(args) -> dict:
    model, settings = load_detector(args.detector)
    if args.num < 1:
        raise DetectError("--num must be positive")
    fit = args.fit or settings["fit"]
    cached, rows = {}, []
    if args.real == settings["trained_on"]["real"]["spec"]:
        print(f"warning: --real {args.real} is what the detector trained on", file=sys.stderr)
    for index, spec in enumerate(args.fake):
        fakes = load_fakes(spec, args.num, args.seed, fit)
        if fakes.format.channels != settings["channels"]:
            raise DetectError(
                f"--fake {spec} gives {fakes.format.channels}-channel images; the detector in "
                f"{args.detector} reads {settings['channels']}-channel ones"
            )
        _check_size(fakes.format, settings["depth"], f"--fake {spec}")
        key = (repr(fakes.data), fakes.format)
        if key not in cached:
            cached[key] = load_reals(args.real, fakes.format, fakes.data, args.num)[0]
        real = cached[key]
        num = min(len(real), len(fakes.images))  # as many of each: AP depends on the share
        fakes.images = fakes.images[:num]
        row, maps = score_source(model, settings, fakes, real[:num])
        if row["seen_in_training"]:
            how = "" if fakes.seed is None else f" with --seed {args.seed}"
            print(f"warning: --fake {spec}{how} gives the fakes the detector trained on",
                  file=sys.stderr)  # fmt: skip
        if args.heatmaps:
            folder = Path(args.heatmaps) / f"{index}-{_slug(spec)}"
            row["heatmaps"] = str(folder)
            write_heatmaps(folder, real[:num], fakes.images, maps, settings, args.heatmap_count)
        rows.append(row)
    return {
        "detector": str(args.detector),
        "trained_on": settings["trained_on"],
        "real": args.real,
        "seed": args.seed,
        "sources": rows,
    }


# -- heatmaps ---------------------------------------------------------------------------------


def heatmap(patches: np.ndarray, size: int, field: int, stride: int) -> np.ndarray:
    """A patch map [h, w] -> [size, size]: each patch's value at its patch's centre, linear
    in between, the nearest centre's value beyond the outermost ones."""
    h, w = patches.shape
    pixels = np.arange(size)
    ys, xs = stride * np.arange(h) + (field - 1) / 2, stride * np.arange(w) + (field - 1) / 2
    rows = np.stack([np.interp(pixels, xs, row) for row in patches])  # [h, size]
    return np.stack([np.interp(pixels, ys, col) for col in rows.T], axis=1)


def _jet(values: np.ndarray) -> np.ndarray:
    """[...] in [0, 1] -> uint8 [..., 3]: the jet colour map (blue 0, red 1)."""
    rgb = np.clip(1.5 - np.abs(4 * values[..., None] - np.array([3.0, 2.0, 1.0])), 0, 1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def panel(image: np.ndarray, patches: np.ndarray, settings: dict, zoom: int = 4) -> np.ndarray:
    """uint8 [image | fake-probability map | both], enlarged ``zoom`` times."""
    size = image.shape[0]
    pixels = np.clip((image + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    pixels = np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels
    heat = _jet(heatmap(patches, size, settings["receptive_field"], settings["stride"]))
    both = (0.5 * pixels + 0.5 * heat + 0.5).astype(np.uint8)
    gap = np.full((size, 1, 3), 255, np.uint8)
    row = np.concatenate([pixels, gap, heat, gap, both], axis=1)
    return np.repeat(np.repeat(row, zoom, axis=0), zoom, axis=1)


def write_heatmaps(folder: Path, real, fake, maps: dict, settings: dict, count: int) -> None:
    """``fake_easiest_NN.png`` / ``fake_hardest_NN.png`` (the fakes scored most and least
    fake), ``real_hardest_NN.png`` (the reals scored most fake), ``fake_mean.png`` and
    ``real_mean.png`` (the mean patch map over the set, on the set's mean image), and
    ``scores.json`` (each file's image index and score, and the mean maps)."""
    folder.mkdir(parents=True, exist_ok=True)
    scores = {k: v.mean(axis=(1, 2)) for k, v in maps.items()}
    images = {"real": real, "fake": fake}
    written = {}
    picks = {
        "fake_easiest": np.argsort(-scores["fake"], kind="stable")[:count],
        "fake_hardest": np.argsort(scores["fake"], kind="stable")[:count],
        "real_hardest": np.argsort(-scores["real"], kind="stable")[:count],
    }
    for name, chosen in picks.items():
        which = name.split("_")[0]
        for n, i in enumerate(chosen):
            file = f"{name}_{n:02d}.png"
            save_png(panel(images[which][i], maps[which][i], settings), folder / file)
            written[file] = {"index": int(i), "score": float(scores[which][i])}
    for which in ("fake", "real"):
        mean = maps[which].mean(axis=0)
        average = images[which].mean(axis=0)
        save_png(panel(average, mean, settings), folder / f"{which}_mean.png")
        written[f"{which}_mean.png"] = {"score": float(mean.mean()), "patches": mean.tolist()}
    (folder / "scores.json").write_text(json.dumps(written, indent=2) + "\n")


def _slug(spec: str) -> str:
    parts = Path(spec).resolve().parts[-2:]
    keep = parts if parts[-1].startswith("export") else parts[-1:]
    return re.sub(r"[^\w.-]+", "_", "_".join(keep))


# -- command line -----------------------------------------------------------------------------


def main(argv=None) -> int:
    tune_allocator()
    parser = argparse.ArgumentParser(
        prog="python -m training.detect",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit_help = "fit of reals for fakes that do not say (folders, exports outside a run)"
    t = sub.add_parser("train", help="train a detector on reals vs one generator's samples")
    t.add_argument("--real", required=True, help="split (test[:8000], mnist:test[:8000]) or DIR")
    t.add_argument("--fake", required=True, help="run folder, export folder, image folder, .npz")
    t.add_argument("--out", required=True, help="folder for detector.keras and detector.json")
    t.add_argument("--num", type=int, default=4000, help="images of each class (4000)")
    t.add_argument("--steps", type=int, help="training steps (default 1000)")
    t.add_argument("--epochs", type=float, help="or passes over the 2 x --num images")
    t.add_argument("--batch-size", type=int, default=64, help="half reals, half fakes (64)")
    t.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (1e-3)")
    t.add_argument("--seed", type=int, default=0, help="weights, order, fakes' latents (0)")
    t.add_argument("--depth", type=int, default=2, help="3x3 layers after the stride (2: 13 px)")
    t.add_argument("--width", type=int, default=64, help="filters per layer (64)")
    t.add_argument("--fit", choices=FITS, default="resize", help=fit_help + " (resize)")
    t.add_argument("--no-flip", action="store_true", help="no random left-right flips")
    e = sub.add_parser("eval", help="average precision on held-out reals vs other sources")
    e.add_argument("--detector", required=True, help="a train --out folder")
    e.add_argument("--real", required=True, help="held-out split (test[8000:]) or DIR")
    e.add_argument("--fake", required=True, action="append", help="a fake source (repeatable)")
    e.add_argument(
        "--num", type=int, default=2000, help="reals and fakes per source, as many of each (2000)"
    )
    e.add_argument("--seed", type=int, default=1, help="the fakes' latents (1; train uses 0)")
    e.add_argument("--fit", choices=FITS, help=fit_help + " (the detector's)")
    e.add_argument("--out", help="results JSON (default DETECTOR/eval.json)")
    e.add_argument("--heatmaps", help="folder for per-patch heatmaps of each source")
    e.add_argument("--heatmap-count", type=int, default=4, help="images of each kind (4)")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            if args.steps is not None and args.epochs is not None:
                raise DetectError("give --steps or --epochs, not both")
            if args.steps is None and args.epochs is None:
                args.steps = 1000
            train(args)
            return 0
        result = evaluate(args)
        out = Path(args.out) if args.out else Path(args.detector) / "eval.json"
        try:
            out.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as err:
            raise DetectError(f"--out {out} is not writable ({err.strerror or err})") from None
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table(result["sources"]))
    print(f"results: {out}" + (f"; heatmaps: {args.heatmaps}" if args.heatmaps else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
