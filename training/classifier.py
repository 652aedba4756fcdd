"""The digit classifier behind ganzoo's offline metrics (``--extractor mnist_cnn``).

A small convnet trained on the MNIST copy vendored in ganzoo: images 0-7999 for training,
8000-9999 held out. Its 128-d penultimate layer gives the features for FID, KID and
precision/recall, its softmax the class probabilities for the Inception Score and the
mode-collapse signal. The weights are versioned in ``training/assets/mnist_cnn.weights.h5``;
this command reproduces them (deterministic on a CPU for a given TF version):

    python -m training.classifier            # trains, prints held-out accuracy, writes weights
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from training.host import tune_allocator  # noqa: E402

WEIGHTS = Path(__file__).parent / "assets" / "mnist_cnn.weights.h5"
TRAIN, HELD_OUT = slice(0, 8000), slice(8000, 10000)
FEATURES = "features"


def build_classifier() -> keras.Model:
    """[batch, 28, 28, 1] images in [-1, 1] -> 10 class logits; layer ``features`` is 128-d."""
    image = keras.Input((28, 28, 1), name="image")
    x = image
    for i, filters in enumerate((32, 64)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}a")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}b")(x)
        x = layers.MaxPooling2D(name=f"pool{i}")(x)
        x = layers.Dropout(0.25, name=f"drop{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name=FEATURES)(x)
    x = layers.Dropout(0.5, name="drop_features")(x)
    logits = layers.Dense(10, name="logits")(x)
    return keras.Model(image, logits, name="mnist_cnn")


def train_classifier(epochs: int = 30, seed: int = 0) -> tuple[keras.Model, float]:
    """Trains on the vendored digits 0-7999; returns the model and its held-out accuracy."""
    from training.data import load_vendored_mnist

    keras.utils.set_random_seed(seed)
    images, labels = load_vendored_mnist()
    x = images[..., None].astype(np.float32) / 127.5 - 1.0
    model = build_classifier()
    augment = keras.Sequential(
        [
            layers.RandomTranslation(0.1, 0.1, fill_value=-1.0, seed=seed),
            layers.RandomRotation(0.04, fill_value=-1.0, seed=seed),
        ],
        name="augment",
    )
    inputs = keras.Input((28, 28, 1))
    trainable = keras.Model(inputs, model(augment(inputs)))
    steps = epochs * (len(x[TRAIN]) // 128)
    trainable.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    trainable.fit(x[TRAIN], labels[TRAIN], batch_size=128, epochs=epochs, verbose=2, shuffle=True)
    accuracy = accuracy_on(model, x[HELD_OUT], labels[HELD_OUT])
    return model, accuracy


def accuracy_on(model: keras.Model, x: np.ndarray, labels: np.ndarray) -> float:
    predicted = np.argmax(model.predict(x, batch_size=500, verbose=0), axis=1)
    return float(np.mean(predicted == labels))


def load_classifier(path: str | Path | None = None) -> keras.Model:
    model = build_classifier()
    model.load_weights(path or WEIGHTS)
    return model


def main(argv=None) -> int:
    tune_allocator()
    parser = argparse.ArgumentParser(
        prog="python -m training.classifier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default=str(WEIGHTS), help="weights file to write")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model, accuracy = train_classifier(args.epochs, args.seed)
    print(f"held-out accuracy (vendored MNIST 8000-9999): {accuracy:.4f}")
    model.save_weights(args.out)
    print(f"weights: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
