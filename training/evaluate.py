"""Evaluate a run's generator, or compare two image sets, with FID, KID, IS, PR and SWD.

    python -m training.evaluate runs/dcgan-XXXX                      # writes metrics.json there
    python -m training.evaluate runs/dcgan-XXXX --metrics fid,kid --num-samples 5000
    python -m training.evaluate --real DIR_OR_NPZ --fake DIR_OR_NPZ  # no run folder needed
    python -m training.evaluate --baselines     # MNIST half vs half, and vs pixel-shuffled MNIST

Real images for a run come from its own ``data`` config; generated ones from ``z`` drawn from a
standard normal with a fixed seed. Every number is labelled with the extractor that produced it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training import metrics as m  # noqa: E402

METRICS = ("fid", "kid", "is", "pr", "swd")


class EvaluationError(RuntimeError):
    """Inputs that cannot be evaluated, with what to do about it."""


def compute(
    real_images: np.ndarray,
    fake_images: np.ndarray,
    extractor,
    which: tuple[str, ...] = METRICS,
) -> dict:
    """The metrics ``which`` between two image sets in [-1, 1] ([N, H, W, C])."""
    result: dict = {
        "extractor": extractor.name,
        "num_real": len(real_images),
        "num_fake": len(fake_images),
    }
    real_features, _ = extractor(real_images)
    fake_features, fake_probs = extractor(fake_images)
    if "fid" in which:
        result["fid"] = m.fid(real_features, fake_features)
    if "kid" in which:
        mean, std = m.kid(real_features, fake_features)
        result["kid"] = {"mean": mean, "std": std}
    if "is" in which:
        mean, std = m.inception_score(fake_probs)
        result["is"] = {"mean": mean, "std": std}
    if "pr" in which:
        precision, recall = m.precision_recall(real_features, fake_features)
        result["precision"], result["recall"] = precision, recall
    if "swd" in which:
        result["swd"] = m.swd(real_images, fake_images)
    result.update(class_balance(fake_probs))
    return result


def class_balance(probabilities: np.ndarray) -> dict:
    """Share of samples per predicted class and its entropy over log(classes) (1 = uniform),
    the mode-collapse signal."""
    classes = probabilities.shape[1]
    shares = np.bincount(np.argmax(probabilities, axis=1), minlength=classes) / len(probabilities)
    nonzero = shares[shares > 0]
    entropy = max(0.0, float(-(nonzero * np.log(nonzero)).sum() / math.log(classes)))
    return {"class_shares": shares.round(4).tolist(), "class_entropy": entropy}


def classifier_accuracy(path: Path, config) -> float:
    """Accuracy of the classifier saved at ``path`` on the run's held-out ``eval.split``."""
    import keras

    import zoo  # noqa: F401  (registers the custom layers the classifier uses)
    from training.data import load_split

    classifier = keras.saving.load_model(path, compile=False)
    m = config.model
    images, labels = load_split(config.data, config.eval.split, m.image_size, m.channels)
    logits = np.concatenate(
        [np.asarray(classifier(images[i : i + 1000])) for i in range(0, len(images), 1000)]
    )
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def code_purity(codes: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    """Share of samples whose predicted class is the most frequent one among the samples of
    their code value: 1.0 when each code value makes a single class (InfoGAN's categorical
    code), about 1/classes when the code is ignored."""
    counts = np.zeros((int(codes.max()) + 1, classes), np.int64)
    np.add.at(counts, (codes, predicted), 1)
    return float(counts.max(axis=1).sum() / len(codes))


def generate(
    generator, num: int, seed: int, num_classes: int | None = None, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray | None]:
    """``num`` images, and for a generator with a ``label`` input the labels asked for (cycling
    over the classes, so balanced). ``z`` is standard normal and continuous codes (InfoGAN's
    ``code``) uniform in [-1, 1], as in training."""
    from training.sample import input_names

    rng = np.random.default_rng(seed)
    names = input_names(generator)
    labels = np.arange(num, dtype=np.int32) % num_classes if "label" in names else None
    out = []
    for i in range(0, num, batch_size):
        n = min(batch_size, num - i)
        feeds = {
            "z": rng.standard_normal((n, *names["z"])).astype(np.float32),
            "label": labels[i : i + n] if labels is not None else None,
            "code": rng.uniform(-1, 1, (n, *names.get("code", ()))).astype(np.float32),
        }
        args = [feeds[name] for name in names]
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
    run_dir, which=METRICS, num_samples=10000, extractor_name="auto", weights=None, seed=0
) -> dict:
    import keras
    import tensorflow as tf

    from training.config import load
    from training.features import default_extractor, get_extractor

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "generator.keras").is_file():
        raise EvaluationError(
            f"{run_dir} is not a trained run folder (needs config.yaml and generator.keras)"
        )
    config = load(run_dir / "config.yaml")
    name = default_extractor(config.data.dataset) if extractor_name == "auto" else extractor_name
    extractor = get_extractor(name, weights)
    generator = keras.saving.load_model(run_dir / "generator.keras", compile=False)
    classes = getattr(config.model, "num_classes", None)
    start = time.perf_counter()
    fake, labels = generate(generator, num_samples, seed, classes)
    result = compute(real_images(config, num_samples, seed + 1), fake, extractor, which)
    if labels is not None and extractor.classes == classes:
        predicted = np.argmax(extractor(fake)[1], axis=1)
        if getattr(config.model, "d_labels", None) == "info":
            # an unsupervised code: which value became which class is learnt, not given
            result["code_purity"] = code_purity(labels, predicted, classes)
        else:
            # conditional: how often the extractor's classifier sees the class asked for
            result["class_accuracy"] = float(np.mean(predicted == labels))
    if (run_dir / "classifier.keras").is_file():  # a semi-supervised run's classifier
        result["classifier_accuracy"] = classifier_accuracy(run_dir / "classifier.keras", config)
        result["classifier_split"] = config.eval.split
    result["seconds"] = round(time.perf_counter() - start, 1)
    state = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    result["step"] = int(state.model_checkpoint_path.rsplit("-", 1)[1]) if state else None
    (run_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
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
        with np.load(path) as data:
            images = data["images"] if "images" in data else data[data.files[0]]
    elif path.is_dir():
        from PIL import Image

        from training.data import IMAGE_EXTENSIONS

        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise EvaluationError(f"{path} holds no images")
        opened = [Image.open(f) for f in files]
        # one mode for all (palette GIFs would otherwise give indices, not pixels)
        mode = "L" if all(im.mode in ("L", "1") for im in opened) else "RGB"
        images = np.stack([np.asarray(im.convert(mode)) for im in opened])
    else:
        raise EvaluationError(f"{path} is neither a folder of images nor an .npz file")
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    return images.astype(np.float32)


def summary(result: dict) -> str:
    x = f"({result['extractor']})"
    parts = []
    if "fid" in result:
        parts.append(f"FID {x} {result['fid']:.3f}")
    if "kid" in result:
        parts.append(f"KID {x} {result['kid']['mean']:.5f} ± {result['kid']['std']:.5f}")
    if "is" in result:
        parts.append(f"IS {x} {result['is']['mean']:.3f} ± {result['is']['std']:.3f}")
    if "precision" in result:
        parts.append(f"precision {x} {result['precision']:.3f}, recall {result['recall']:.3f}")
    if "swd" in result:
        parts.append("SWD x1e3 " + ", ".join(f"{k[4:]} {v:.2f}" for k, v in result["swd"].items()))
    parts.append(f"class entropy {x} {result['class_entropy']:.3f}")
    if "class_accuracy" in result:
        parts.append(
            f"class accuracy {x} {result['class_accuracy']:.3f} (samples classified "
            "as the class they were generated for)"
        )
    if "classifier_accuracy" in result:
        parts.append(
            f"classifier accuracy {result['classifier_accuracy']:.4f} on held-out "
            f"{result['classifier_split']} (the run's classifier.keras)"
        )
    if "code_purity" in result:
        parts.append(
            f"code purity {x} {result['code_purity']:.3f} (samples classified as the most "
            "common class of their categorical code value)"
        )
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", nargs="?", help="run folder to evaluate")
    parser.add_argument(
        "--metrics", default=",".join(METRICS), help="comma-separated: " + ", ".join(METRICS)
    )
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--extractor", default="auto", help="mnist_cnn, inception or auto")
    parser.add_argument("--weights", help="extractor weights file")
    parser.add_argument("--real", help="folder or .npz of real images (with --fake)")
    parser.add_argument("--fake", help="folder or .npz of generated images (with --real)")
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="reference numbers on the vendored MNIST (see README)",
    )
    parser.add_argument("--out", help="where to write the metrics JSON")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from training.config import ConfigError
    from training.data import DataError
    from training.features import ExtractorError, get_extractor

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
        if args.baselines:
            name = "mnist_cnn" if args.extractor == "auto" else args.extractor
            extractor = get_extractor(name, args.weights)
            for label, result in baselines(extractor, which, args.seed).items():
                print(f"{label}:\n  " + summary(result).replace("\n", "\n  "))
            return 0
        if args.run_dir and not (args.real or args.fake):
            result = evaluate_run(
                args.run_dir, which, args.num_samples, args.extractor, args.weights, args.seed
            )
            where = Path(args.run_dir) / "metrics.json"
        elif args.real and args.fake and not args.run_dir:
            name = "mnist_cnn" if args.extractor == "auto" else args.extractor
            result = compute(
                load_images(args.real),
                load_images(args.fake),
                get_extractor(name, args.weights),
                which,
            )
            where = None
        else:
            raise EvaluationError("give a run folder, or --real and --fake (not both)")
    except (EvaluationError, ExtractorError, ConfigError, DataError) as err:
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
