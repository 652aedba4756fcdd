"""Evaluate a run's generator, or compare two image sets, with FID, KID, IS, PR and SWD; a
run's generator also with its perceptual path length (PPL), and a Stacked MNIST run's with the
modes it covers (``modes``: ``training.modes``, over 26,000 samples at least).

    python -m training.evaluate runs/dcgan-XXXX                      # writes metrics.json there
    python -m training.evaluate runs/dcgan-XXXX --metrics fid,kid --num-samples 5000
    python -m training.evaluate runs/stylegan2-XXXX --metrics ppl --ppl-space w --ppl-paths 10000
    python -m training.evaluate runs/dcgan-XXXX --metrics fid,modes      # a Stacked MNIST run
    python -m training.evaluate --real DIR_OR_NPZ --fake DIR_OR_NPZ  # no run folder needed
    python -m training.evaluate --baselines     # MNIST half vs half, and vs pixel-shuffled MNIST

Real images for a run come from its own ``data`` config; generated ones from ``z`` drawn from a
standard normal with a fixed seed. Every number is labelled with the extractor that produced it.
A translation family (pix2pix, cyclegan) whose data is a view of the images (``data.pair``,
``data.domain_views``) translates the held-out ``eval.split`` instead, and is compared with the
true translations: the distribution metrics, plus L1, PSNR and how often the digit classifier
reads a translation as the digit it was made from. A two-domain run that ships the way back
(CycleGAN's ``generator_ba.keras``) is scored in that direction too (B -> A: the held-out B views
translated and compared with their A views), with the cycle-reconstruction L1 of both directions
(A -> B -> A against the held-out A views, B -> A -> B against the B views).

``--extractor auto`` uses the digit classifier (mnist_cnn) only for digits: MNIST runs, or
``--real``/``--fake`` sets that are both 28x28 grayscale. Anything else gets InceptionV3 when
its weights are available. A run with neither gets no FID, KID, IS or PR (a note says so) and
the metrics that need no extractor (SWD); ``--real``/``--fake`` with neither is an error.

PPL (``training.path_length``) walks latent paths of the generator in ``z`` (every family with
noise) or, with ``--ppl-space w``, in StyleGAN2's ``w``; it is not in the default ``--metrics``
(10,000 paths are 20,000 images more to make and read).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training import metrics as m  # noqa: E402
from training.host import tune_allocator  # noqa: E402
from training.modes import SAMPLES as MODES_SAMPLES  # noqa: E402
from training.modes import stacked_modes  # noqa: E402
from training.path_length import PATHS  # noqa: E402
from training.translation import (  # noqa: E402
    DIRECTIONS,
    bicubic,
    directions,
    domain_metrics,
    domain_names,
    held_out_translations,
    reverse_metrics,
    summary_lines,
    translate,
    translation_metrics,
)
from zoo.errors import GanzooError  # noqa: E402

METRICS = ("fid", "kid", "is", "pr", "swd", "ppl", "modes")
DEFAULT_METRICS = ("fid", "kid", "is", "pr", "swd")  # PPL on request: it is slower than all five
NEEDS_EXTRACTOR = ("fid", "kid", "is", "pr", "ppl")  # SWD compares pixels
GENERATOR_ONLY = ("ppl",)  # measured on a run's generator, not between two image sets
KID_SUBSETS = 100


class EvaluationError(GanzooError, RuntimeError):
    """Inputs that cannot be evaluated, with what to do about it."""


def compute(
    real_images: np.ndarray,
    fake_images: np.ndarray,
    extractor,
    which: tuple[str, ...] = DEFAULT_METRICS,
    fit: str = "resize",
) -> dict:
    """The metrics ``which`` between two image sets in [-1, 1] ([N, H, W, C]). With no
    ``extractor`` (``None``) only the metrics that need none (SWD) can be asked for. PPL is not
    a comparison of two sets (``evaluate_run`` measures it on the generator)."""
    result: dict = {
        "extractor": extractor.name if extractor is not None else None,
        "num_real": len(real_images),
        "num_fake": len(fake_images),
    }
    which = tuple(w for w in which if w not in GENERATOR_ONLY)
    if extractor is None:
        needing = [w for w in which if w in NEEDS_EXTRACTOR]
        if needing:
            raise EvaluationError(f"{', '.join(needing)} need a feature extractor")
    else:
        fake_features, fake_probs = extractor(fake_images)
        if len(real_images):
            real_features, _ = extractor(real_images)
    if "fid" in which:
        result["fid"] = m.fid(real_features, fake_features)
    if "kid" in which:
        mean, std = m.kid(real_features, fake_features, subsets=KID_SUBSETS)
        result["kid"] = {
            "mean": mean,
            "std": std,
            "subsets": KID_SUBSETS,
            "subset_size": m.kid_subset_size(len(real_features), len(fake_features)),
        }
    if "is" in which:
        mean, std = m.inception_score(fake_probs)
        result["is"] = {"mean": mean, "std": std}
    if "pr" in which:
        precision, recall = m.precision_recall(real_features, fake_features)
        result["precision"], result["recall"] = precision, recall
    if "swd" in which:
        result["swd"] = m.swd(real_images, fake_images)
    if "modes" in which:  # Stacked MNIST, the digit classifier per channel (``fit``: data.fit)
        result["modes"] = stacked_modes(fake_images, fit)
    if extractor is not None:
        result.update(class_balance(fake_probs))
    return result


CONFIDENT = 0.9  # the class probability above which a sample counts as clearly one class


def class_balance(probabilities: np.ndarray) -> dict:
    """Share of samples per predicted class and its entropy over log(classes) (1 = uniform),
    the mode-collapse signal; and the share of samples that the classifier reads as one class
    with probability >= 0.9 (for digits: how many samples are clearly digits)."""
    classes = probabilities.shape[1]
    shares = np.bincount(np.argmax(probabilities, axis=1), minlength=classes) / len(probabilities)
    nonzero = shares[shares > 0]
    entropy = max(0.0, float(-(nonzero * np.log(nonzero)).sum() / math.log(classes)))
    confident = float(np.mean(np.max(probabilities, axis=1) >= CONFIDENT))
    return {
        "class_shares": shares.round(4).tolist(),
        "class_entropy": entropy,
        "confident": confident,
    }


def classifier_accuracy(path: Path, config) -> float:
    """Accuracy of the classifier saved at ``path`` on the run's held-out ``eval.split``."""
    import keras

    import zoo.layers  # noqa: F401  (registers the custom layers the classifier uses)
    from training.data import load_split

    classifier = keras.saving.load_model(path, compile=False)
    m = config.model
    images, labels = load_split(config.data, config.eval.split, m.image_size, m.channels)
    logits = np.concatenate(
        [np.asarray(classifier(images[i : i + 1000])) for i in range(0, len(images), 1000)]
    )
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def generate(
    generator, num: int, seed: int, contract, batch_size: int = 500, real=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``num`` images, with inputs as the family's ``contract`` declares them (noise as in
    training, ``real`` examples for inputs read from the data), and for a generator with a
    class input the labels asked for (cycling over the classes, so balanced)."""
    from training.sample import input_names

    rng = np.random.default_rng(seed)
    shapes = input_names(generator)
    classes = contract.num_classes
    labels = np.arange(num, dtype=np.int32) % classes if classes else None
    out = []
    for i in range(0, num, batch_size):
        n = min(batch_size, num - i)
        given = labels[i : i + n] if labels is not None else None
        feeds = contract.example_inputs(shapes, n, rng, real, classes=given)
        args = [feeds[name] for name in shapes]
        out.append(np.asarray(generator(args if len(args) > 1 else args[0], training=False)))
    return np.concatenate(out), labels


def real_images(config, num: int, seed: int) -> np.ndarray:
    """``num`` images from the run's data source, at the model's size and channels."""
    from training.data import make_dataset

    ds, _ = make_dataset(
        config.data,
        config.model.image_size,
        config.model.channels,
        seed=seed,
        global_batch_size=min(num, 500),
    )
    images = np.concatenate([b["image"].numpy() for b in ds.take(math.ceil(num / 500))])
    return images[:num]


def evaluate_run(
    run_dir,
    which=DEFAULT_METRICS,
    num_samples=10000,
    extractor_name="auto",
    weights=None,
    seed=0,
    ppl_paths=PATHS,
    ppl_space="z",
    ppl_sampling="full",
    out=None,
) -> dict:
    """The metrics ``which`` of a run's generator against its data, written to the run's
    ``metrics.json`` (to ``out`` instead when given). With ``extractor_name="auto"`` and no
    extractor that fits the run's images, the metrics that need one are left out and
    ``result["note"]`` says why. ``ppl`` walks ``ppl_paths`` latent paths in ``ppl_space``
    (``training.path_length``)."""
    import tensorflow as tf

    import zoo
    from training.config import load
    from training.features import default_extractor, get_extractor, no_extractor_note
    from training.path_length import latent_inputs, perceptual_path_length
    from training.sample import load_generator
    from zoo.contract import CALIBRATION_FILE

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "generator.keras").is_file():
        raise EvaluationError(
            f"{run_dir} is not a trained run folder (needs config.yaml and generator.keras)"
        )
    config = load(run_dir / "config.yaml")
    family = zoo.get_family(config.family)
    contract = family.contract(config.model)
    if "ppl" in which:  # one-line errors before anything is loaded or generated
        latent_inputs(contract, config.family)
        if ppl_space == "w" and family.w_space is None:
            having = [f for f in zoo.list_families() if zoo.get_family(f).w_space is not None]
            raise EvaluationError(
                f"--ppl-space w needs a mapping network (z -> w) and {config.family} has none "
                f"(families with one: {', '.join(having)}); use --ppl-space z"
            )
    note = None
    if extractor_name == "auto":
        name = default_extractor(config.data, weights)
    else:
        name = extractor_name
    skipped = [w for w in which if w in NEEDS_EXTRACTOR] if name is None else []
    if skipped:
        which = tuple(w for w in which if w not in NEEDS_EXTRACTOR)
        what = f"no {', '.join(w.upper() for w in skipped)} for {run_dir}"
        note = no_extractor_note(what, weights, "--extractor inception --weights PATH")
        if not which:
            raise EvaluationError(
                f"{note}; nothing else was asked for (SWD needs no extractor: --metrics swd)"
            )
    extractor = get_extractor(name, weights, config.data.fit) if name else None
    generator = load_generator(run_dir, config.family)
    classes = contract.num_classes
    real = None
    if contract.data_keys:  # inputs read from the data: the run's own real examples
        with np.load(run_dir / CALIBRATION_FILE) as arrays:
            real = {key: arrays[key] for key in arrays.files}
    start = time.perf_counter()
    held_out = held_out_translations(config, contract)
    if held_out is not None and domain_names(config):  # into each domain (StarGAN)
        num = min(num_samples, len(held_out["labels"]))
        sources = {key: rows[:num] for key, rows in held_out["sources"].items()}
        fake = translate(generator, contract, sources, seed, classes=held_out["classes"][:num])
        result = compute(held_out["truth"][:num], fake, extractor, which)
        result["translation"] = {
            "split": config.eval.split,
            **domain_metrics(generator, contract, config, extractor, num, seed),
        }
        labels = None
    elif held_out is not None:  # translate held-out examples and compare with the truth
        num = min(num_samples, len(held_out["labels"]))
        sources = {key: rows[:num] for key, rows in held_out["sources"].items()}
        fake, labels = translate(generator, contract, sources, seed), None
        truth = held_out["truth"][:num]
        result = compute(truth, fake, extractor, which)
        result["translation"] = {
            "split": config.eval.split,
            **translation_metrics(fake, truth, held_out["labels"][:num], extractor),
        }
        (source,) = sources.values()
        if source.shape == truth.shape:  # the baseline of changing nothing
            identity = translation_metrics(source, truth, None, None)
            result["translation"] |= {f"identity_{k}": v for k, v in identity.items()}
        elif source.shape[1] < truth.shape[1]:  # super-resolution: bicubic upsampling
            up = bicubic(source, truth.shape[1])
            plain = translation_metrics(up, truth, held_out["labels"][:num], extractor)
            plain.pop("truth_digit_accuracy", None)
            result["translation"] |= {f"bicubic_{k}": v for k, v in plain.items()}
        backward_file = run_dir / f"{DIRECTIONS['BA'][0]}.keras"
        if "BA" in directions(contract) and backward_file.exists():  # the way back, both cycles
            backward = load_generator(run_dir, config.family, DIRECTIONS["BA"][0])
            labels_held_out = held_out["labels"][:num]
            result["translation"] |= reverse_metrics(
                generator, backward, contract, source, truth, labels_held_out, extractor, seed, fake
            )
    elif any(w not in GENERATOR_ONLY for w in which):
        count = max(num_samples, MODES_SAMPLES) if "modes" in which else num_samples
        fake, labels = generate(generator, count, seed, contract, real=real)
        others = tuple(w for w in which if w != "modes")
        real_set = real_images(config, num_samples, seed + 1) if others else fake[:0]
        result = compute(real_set, fake[:num_samples], extractor, others)
        if "modes" in which:  # over MODES_SAMPLES samples at least, as the papers count
            result["modes"] = stacked_modes(fake, config.data.fit)
        fake = fake[:num_samples]
        labels = labels[:num_samples] if labels is not None else None
    else:  # PPL alone: no sample set to compare
        result = {"extractor": extractor.name if extractor is not None else None}
        labels = None
    if "ppl" in which:
        parts = family.w_space(generator) if ppl_space == "w" else None
        begin = time.perf_counter()
        result["ppl"] = perceptual_path_length(
            generator, contract, extractor, ppl_paths, ppl_space, ppl_sampling, seed, parts
        )
        result["ppl"]["seconds"] = round(time.perf_counter() - begin, 1)
    if note:
        result["note"] = note
    if labels is not None and extractor is not None and extractor.classes == classes:
        predicted = np.argmax(extractor(fake)[1], axis=1)
        if not contract.labels:
            # an unsupervised code: which value became which class is learnt, not given
            result["code_accuracy"] = m.code_accuracy(labels, predicted, classes)
        else:
            # conditional: how often the extractor's classifier sees the class asked for
            result["class_accuracy"] = float(np.mean(predicted == labels))
    if (run_dir / "classifier.keras").is_file():  # a semi-supervised run's classifier
        result["classifier_accuracy"] = classifier_accuracy(run_dir / "classifier.keras", config)
        result["classifier_split"] = config.eval.split
    result["seconds"] = round(time.perf_counter() - start, 1)
    state = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    result["step"] = int(state.model_checkpoint_path.rsplit("-", 1)[1]) if state else None
    # ``out`` instead of the run's metrics.json, which the export's model card reads: a PPL
    # alone written there would drop the run's FID
    destination = Path(out) if out else run_dir / "metrics.json"
    destination.write_text(json.dumps(result, indent=2) + "\n")
    return result


def baselines(extractor, which=("fid", "kid"), seed: int = 0) -> dict[str, dict]:
    """Reference points on the vendored MNIST (5,000 vs 5,000 images): two halves of the data
    (what a perfect generator would score) and the data against itself with every image's
    pixels shuffled by one fixed permutation (no digit structure left)."""
    from training.data import load_vendored_mnist

    images = load_vendored_mnist()[0][..., None].astype(np.float32) / 127.5 - 1.0
    order = np.random.default_rng(seed).permutation(len(images))
    half_a, half_b = images[order[:5000]], images[order[5000:]]
    pixels = np.random.default_rng(seed + 1).permutation(28 * 28)
    shuffled = half_b.reshape(5000, -1)[:, pixels].reshape(half_b.shape)
    return {
        "mnist_half_a_vs_half_b": compute(half_a, half_b, extractor, which),
        "mnist_vs_pixel_shuffled_mnist": compute(half_a, shuffled, extractor, which),
    }


def load_images(path: str | Path) -> np.ndarray:
    """A folder of images or an .npz (first array, or 'images'), as floats in [-1, 1]."""
    path = Path(path)
    if path.suffix == ".npz":
        try:
            with np.load(path) as data:
                images = data["images"] if "images" in data else data[data.files[0]]
        except (
            OSError,
            ValueError,
            EOFError,
            IndexError,
            AttributeError,
            zipfile.BadZipFile,
        ) as err:
            why = str(err).strip().splitlines()[0][:120] if str(err).strip() else "no arrays"
            raise EvaluationError(
                f"{path} cannot be read as an .npz of images ({type(err).__name__}: {why})"
            ) from None
    elif path.is_dir():
        images = _load_folder(path)
    else:
        raise EvaluationError(f"{path} is neither a folder of images nor an .npz file")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or not len(images):
        raise EvaluationError(
            f"{path} holds an array of shape {images.shape}; expected images [N, H, W] or "
            "[N, H, W, C] with 1 or 3 channels"
        )
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    return images.astype(np.float32)


def _load_folder(path: Path) -> np.ndarray:
    """The images under ``path`` as uint8 [N, H, W] (all grayscale) or [N, H, W, 3]. Each file
    is decoded in full and closed at once, so a damaged file is named here (not met later in
    a NumPy or PIL traceback) and a large folder does not run out of file handles."""
    from PIL import Image

    from training.sources import IMAGE_EXTENSIONS

    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise EvaluationError(f"{path} holds no images")
    arrays, first_of_size = [], {}
    for file in files:
        try:
            with Image.open(file) as image:
                # Palette images (GIF) would otherwise give palette indices, not pixels.
                arrays.append(np.asarray(image.convert("L" if image.mode in ("L", "1") else "RGB")))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            why = str(err).strip().splitlines()[0][:120] if str(err).strip() else "unreadable"
            raise EvaluationError(
                f"{file} cannot be read as an image ({type(err).__name__}: {why}); remove or "
                "replace it"
            ) from None
        first_of_size.setdefault(arrays[-1].shape[:2], file)
    if len(first_of_size) > 1:
        (a, file_a), (b, file_b) = list(first_of_size.items())[:2]
        raise EvaluationError(
            f"{path} mixes image sizes: {a[1]}x{a[0]} (e.g. {file_a}) and {b[1]}x{b[0]} (e.g. "
            f"{file_b}); the metrics compare sets of one size, so resize them to one size first"
        )
    if any(a.ndim == 3 for a in arrays):  # one mode for all: grayscale ones as gray RGB
        arrays = [np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a for a in arrays]
    return np.stack(arrays)


def auto_extractor_for_images(real: np.ndarray, fake: np.ndarray, weights=None) -> str:
    """``--extractor auto`` for two image sets: mnist_cnn only when both are 28x28 grayscale
    (digits, as far as their shape can tell), else InceptionV3 when its weights are available,
    else an error asking for ``--extractor``."""
    from training.features import inception_weights

    if real.shape[1:] == fake.shape[1:] == (28, 28, 1):
        return "mnist_cnn"
    if inception_weights(weights).is_file():
        return "inception"
    shapes = " and ".join(f"{x.shape[2]}x{x.shape[1]}x{x.shape[3]}" for x in (real, fake))
    raise EvaluationError(
        f"--extractor auto uses the digit classifier only for 28x28 grayscale images (these are "
        f"{shapes}) and the InceptionV3 weights are not at {inception_weights(weights)}; pass "
        "--extractor inception --weights PATH, or --extractor mnist_cnn to score them as digits"
    )


def check_ppl_options(paths: int, space: str, sampling: str) -> None:
    """A one-line ``EvaluationError`` for PPL options that are not accepted."""
    from training.path_length import SAMPLINGS, SPACES

    if space not in SPACES:
        raise EvaluationError(f"unknown --ppl-space {space!r}; accepted: {', '.join(SPACES)}")
    if sampling not in SAMPLINGS:
        raise EvaluationError(
            f"unknown --ppl-sampling {sampling!r}; accepted: {', '.join(SAMPLINGS)}"
        )
    if paths < 1:
        raise EvaluationError("--ppl-paths must be at least 1")


def summary(result: dict) -> str:
    x = f"({result['extractor']})"
    parts = []
    if "note" in result:
        parts.append(f"note: {result['note']}")
    if "fid" in result:
        parts.append(f"FID {x} {result['fid']:.3f}")
    if "kid" in result:
        kid = result["kid"]
        parts.append(
            f"KID {x} {kid['mean']:.5f} ± {kid['std']:.5f} (std over {kid['subsets']} random "
            f"subsets of {kid['subset_size']})"
        )
    if "is" in result:
        parts.append(f"IS {x} {result['is']['mean']:.3f} ± {result['is']['std']:.3f}")
    if "precision" in result:
        parts.append(f"precision {x} {result['precision']:.3f}, recall {result['recall']:.3f}")
    if "swd" in result:
        parts.append("SWD x1e3 " + ", ".join(f"{k[4:]} {v:.2f}" for k, v in result["swd"].items()))
    if "ppl" in result:
        ppl = result["ppl"]
        parts.append(
            f"PPL {x} {ppl['space']} {ppl['sampling']} {ppl['mean']:.4g} ± {ppl['sem']:.2g} "
            f"(standard error; {ppl['paths']:,} paths, epsilon {ppl['epsilon']:g}, "
            f"{ppl['features']} features, mean of the 1st-99th percentiles)"
        )
    if "modes" in result:
        modes = result["modes"]
        parts.append(
            f"Stacked MNIST modes {modes['modes']} of 1000, KL(generated || uniform) "
            f"{modes['kl']:.3f} ({modes['samples']:,} samples, {modes['extractor']})"
        )
    if "class_entropy" in result:
        parts.append(f"class entropy {x} {result['class_entropy']:.3f}")
    if "confident" in result:
        what = "digits" if result["extractor"] == "mnist_cnn" else "samples"
        parts.append(
            f"confident {what} {x} {result['confident']:.3f} (share of samples read as one "
            f"class with probability >= {CONFIDENT})"
        )
    if "class_accuracy" in result:
        parts.append(
            f"class accuracy {x} {result['class_accuracy']:.3f} (samples classified "
            "as the class they were generated for)"
        )
    if "translation" in result:
        parts += summary_lines(result["translation"])
    if "classifier_accuracy" in result:
        parts.append(
            f"classifier accuracy {result['classifier_accuracy']:.4f} on held-out "
            f"{result['classifier_split']} (the run's classifier.keras)"
        )
    if "code_accuracy" in result:
        parts.append(
            f"code accuracy {x} {result['code_accuracy']:.3f} (samples classified as the class "
            "matched to their categorical code value, the best one-to-one matching; "
            "1/classes for a code that is ignored)"
        )
    return "\n".join(parts)


def main(argv=None) -> int:
    tune_allocator()
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", nargs="?", help="run folder to evaluate")
    parser.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        help=f"comma-separated: {', '.join(METRICS)} (default: {','.join(DEFAULT_METRICS)})",
    )
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument(
        "--ppl-paths", type=int, default=PATHS, help=f"paths for ppl (default {PATHS:,})"
    )
    parser.add_argument("--ppl-space", default="z", help="z, or w (a mapping network's)")
    parser.add_argument("--ppl-sampling", default="full", help="full (t in [0, 1]) or end (t = 0)")
    parser.add_argument("--extractor", default="auto", help="mnist_cnn, inception or auto")
    parser.add_argument("--weights", help="extractor weights file")
    parser.add_argument("--real", help="folder or .npz of real images (with --fake)")
    parser.add_argument("--fake", help="folder or .npz of generated images (with --real)")
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="reference numbers on the vendored MNIST (see README)",
    )
    parser.add_argument(
        "--out", help="where to write the metrics JSON (a run's: instead of RUN/metrics.json)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from training.features import get_extractor

    which = tuple(w.strip() for w in args.metrics.split(",") if w.strip())
    try:
        unknown = [w for w in which if w not in METRICS]
        if unknown or not which:
            raise EvaluationError(
                f"unknown metric {unknown[0] if unknown else args.metrics!r}; "
                f"accepted: {', '.join(METRICS)}"
            )
        if args.num_samples < 2:
            raise EvaluationError("--num-samples must be at least 2")
        if "ppl" in which:
            check_ppl_options(args.ppl_paths, args.ppl_space, args.ppl_sampling)
        if "ppl" in which and not (args.run_dir and not (args.real or args.fake)):
            raise EvaluationError(
                "ppl measures a run's generator (its latent paths): give a run folder, or leave "
                "ppl out of --metrics"
            )
        if args.baselines:
            name = "mnist_cnn" if args.extractor == "auto" else args.extractor
            extractor = get_extractor(name, args.weights)
            for label, result in baselines(extractor, which, args.seed).items():
                print(f"{label}:\n  " + summary(result).replace("\n", "\n  "))
            return 0
        if args.run_dir and not (args.real or args.fake):
            result = evaluate_run(
                args.run_dir,
                which,
                args.num_samples,
                args.extractor,
                args.weights,
                args.seed,
                args.ppl_paths,
                args.ppl_space,
                args.ppl_sampling,
                args.out,
            )
            where = args.out or Path(args.run_dir) / "metrics.json"
        elif args.real and args.fake and not args.run_dir:
            real, fake = load_images(args.real), load_images(args.fake)
            if "swd" in which and real.shape[1:] != fake.shape[1:]:
                shapes = " and ".join(
                    f"{x.shape[2]}x{x.shape[1]}x{x.shape[3]}" for x in (real, fake)
                )
                raise EvaluationError(
                    f"SWD compares images of one size and these are {shapes}; resize one set, "
                    "or leave swd out of --metrics"
                )
            name = args.extractor
            if name == "auto" and any(w in NEEDS_EXTRACTOR for w in which):
                name = auto_extractor_for_images(real, fake, args.weights)
            extractor = get_extractor(name, args.weights) if name != "auto" else None
            result = compute(real, fake, extractor, which)
            where = None
        else:
            raise EvaluationError("give a run folder, or --real and --fake (not both)")
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        where = args.out
    print(summary(result))
    if where:
        print(f"metrics: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
