"""Project real images into a generator's latent space: the first step of iGAN's editing.

    python -m training.project runs/dcgan-XXXX my_digit.png another.png
    python -m training.project runs/stylegan2-XXXX digit.png --space w+ --steps 300
    python -m training.project runs/stylegan2-XXXX/export digit.png      # SavedModel gradients
    python -m training.project runs/dcgan-XXXX/export digit.png --backend onnx   # no gradients

For each image (resized to the generator's size, grey or colour as it makes them) it finds the
latent whose image is closest, and writes into ``--out`` (default ``RUN/projections``):
``NAME.png`` (the reconstruction), ``NAME.npy`` (the latent, which ``python -m training.sample
--interpolate / --arithmetic / --mix`` read), ``NAME_steps.png`` (the image, then the
reconstruction at evenly spaced steps of the optimisation) and ``projection.json`` (losses, PSNR,
the class used, the settings). Then edit on the generator's manifold (Zhu et al. 2016, iGAN):
interpolate towards another image's latent, change the class, mix styles (docs/latent.md).

**What is optimised** (``--space``): ``z`` (every family), or for StyleGAN2 ``w`` (one ``w``
for every layer) or ``w+`` (a ``w`` per layer: closer reconstructions, further from what the
generator draws; Abdal et al. 2019). ``w`` is parameterised as ``w_mean + w_rms u`` with ``u``
optimised, ``w_mean`` and ``w_rms`` the mean and RMS spread of the mapping's ``w`` over 1,000
seeds (as the authors' projector estimates them), so one learning rate suits ``z`` and ``w``.
Starts (``--starts``): for ``z``, draws of the prior; for ``w``/``w+``, ``w_mean`` and then
the ``w`` of random seeds. All starts of all images run as one batch; each image keeps its best
start by final loss. A conditional generator gets ``--class``, or by default the class the digit
classifier reads in the image (for a 10-class digit run; class 0 otherwise).

**The loss**: per image, the pixel MSE on the [-1, 1] scale plus ``--feature-weight`` (0.1) times
the squared difference of the digit classifier's ``conv1b`` maps (``training.features.
content_network("digits", ...)``), divided by the target's mean squared map so that it is
unitless: a perceptual term that prefers the right strokes over the right grey levels. It is used
only for digit runs (the classifier knows nothing else); other runs use the pixel loss alone.

**How** (``--backend``): with gradients, Adam (``--lr`` 0.05, cosine decay to 0 over
``--steps``) through the generator: the run folder's Keras model, or an export folder's
SavedModel (TensorFlow runs it, none of ganzoo's model code), the default for an export folder.
ONNX Runtime has no gradients, so ``--backend onnx`` estimates them instead with antithetic
evolution strategies (Salimans et al. 2017): each step renders ``u +- sigma eps`` for 8 pairs of
Gaussian directions (sigma 0.1) and feeds the estimate to the same Adam. It needs ONNX Runtime
and the classifier only, costs 16 renders per latent per step (about a millisecond each for the
digit generators in ONNX Runtime) and converges in the latent's dimension: well for StyleGAN2's
``w`` and small ``z``, slower for a 100-d ``z``; give it more ``--steps``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training import latent  # noqa: E402
from training.grids import image_grid, save_png  # noqa: E402
from training.host import tune_allocator  # noqa: E402
from zoo.errors import GanzooError  # noqa: E402

SPACES = ("z", "w", "w+")
MAPPING_SEEDS = 1000  # seeds of the w_mean and w_rms estimate
ES_PAIRS, ES_SIGMA = 8, 0.1
FEATURE_LAYER = "conv1b"


class ProjectError(GanzooError, ValueError):
    """Images or options that cannot be projected."""


@dataclasses.dataclass
class Projection:
    """What ``project`` found, per image: its latent, reconstruction, class, the losses of its
    best start at the first and last step, the PSNR of the reconstruction (dB, on the [-1, 1]
    scale, peak-to-peak 2) and snapshots of the optimisation [N, S, H, W, C]."""

    latents: list[latent.Point]
    images: np.ndarray
    labels: np.ndarray | None
    loss_start: np.ndarray
    loss_final: np.ndarray
    psnr: np.ndarray
    snapshots: np.ndarray
    method: str


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """PSNR per image of [N, H, W, C] images in [-1, 1] (peak-to-peak 2), capped at 100 dB."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2, axis=(1, 2, 3))
    return 10 * np.log10(4.0 / np.maximum(mse, 4e-10))


def read_images(paths, shape: tuple) -> np.ndarray:
    """Image files (PNG, JPEG, ...) as [N, H, W, C] float32 in [-1, 1] at the generator's
    ``shape``: converted to grey or RGB, resized bilinearly."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = shape
    out = []
    for file in paths:
        try:
            with Image.open(file) as image:
                image = image.convert("L" if channels == 1 else "RGB")
                image = image.resize((width, height), Image.BILINEAR)
                pixels = np.asarray(image, np.float32)
        except (OSError, UnidentifiedImageError) as err:
            why = "not found" if not Path(file).exists() else f"not an image ({type(err).__name__})"
            raise ProjectError(f"{file}: {why}") from None
        out.append(pixels.reshape(height, width, channels) / 127.5 - 1.0)
    return np.stack(out).astype(np.float32)


def classify(images: np.ndarray) -> np.ndarray:
    """The digit the classifier (mnist_cnn) reads in each image."""
    from training.features import get_extractor

    return get_extractor("mnist_cnn")(images)[1].argmax(axis=1).astype(np.int32)


class _Loss:
    """Per-image loss against ``targets`` (see the module docstring), in TensorFlow."""

    def __init__(self, targets: np.ndarray, feature_weight: float):
        import tensorflow as tf

        self.targets = tf.constant(targets)
        self.weight = feature_weight
        self.features = None
        if feature_weight > 0:
            from training.features import content_network

            self.features = content_network("digits", FEATURE_LAYER, before_activation=False)
            maps = self.features(self.targets)
            self.target_maps = maps
            self.scale = tf.reduce_mean(tf.square(maps), axis=[1, 2, 3]) + 1e-8

    def __call__(self, images, rows):
        """Losses of ``images`` against the targets of ``rows`` (an index per image)."""
        import tensorflow as tf

        targets = tf.gather(self.targets, rows)
        loss = tf.reduce_mean(tf.square(images - targets), axis=[1, 2, 3])
        if self.features is not None:
            maps = tf.gather(self.target_maps, rows)
            diff = tf.reduce_mean(tf.square(self.features(images) - maps), axis=[1, 2, 3])
            loss += self.weight * diff / tf.gather(self.scale, rows)
        return loss


def check_space(gen: latent.LatentGenerator, space: str) -> None:
    """A one-line ``ProjectError`` unless ``gen`` can be projected into ``space``."""
    if space not in SPACES:
        raise ProjectError(f"--space {space!r}; accepted: {', '.join(SPACES)}")
    if space != "z" and not gen.styles:
        raise ProjectError(
            f"--space {space} is StyleGAN2's w; a {gen.family} generator is projected in z"
        )


class _Space:
    """The optimised ``u`` and how it becomes an image: ``z = u``; ``w = w_mean + w_rms u``
    broadcast to every layer; ``w+``: ``ws = w_mean + w_rms u`` per layer. ``labels`` are the
    images' classes, rendered rows pick theirs by image index."""

    def __init__(self, gen: latent.LatentGenerator, space: str, labels: np.ndarray | None):
        check_space(gen, space)
        self.gen, self.space, self.labels = gen, space, labels
        if space == "z":
            self.shape, self.anchor, self.scale = (gen.latent_dim,), 0.0, 1.0
        else:
            z = np.stack([latent.seed_z(s, gen.latent_dim) for s in range(MAPPING_SEEDS)])
            w = gen.mapping(z)[:, 0]
            self.anchor = w.mean(axis=0)
            self.scale = float(np.sqrt(np.mean((w - self.anchor) ** 2)))
            self.shape = (gen.ws_shape[1],) if space == "w" else gen.ws_shape

    def starts(self, num: int, starts: int, seed: int) -> np.ndarray:
        """Starting ``u`` [num * starts, *shape]: start s of every image is the same."""
        rng = np.random.default_rng(seed)
        if self.space == "z":
            u = rng.standard_normal((starts, *self.shape))
        else:
            z = rng.standard_normal((starts, self.gen.latent_dim)).astype(np.float32)
            w = (self.gen.mapping(z)[:, 0] - self.anchor) / self.scale
            w[0] = 0.0  # w_mean itself
            u = w if self.space == "w" else np.repeat(w[:, None], self.gen.ws_shape[0], axis=1)
        return np.tile(u.astype(np.float32), (num, *([1] * len(self.shape))))

    def point(self, u: np.ndarray) -> latent.Point:
        if self.space == "z":
            return latent.Point("z", u.astype(np.float32), "projection")
        return latent.Point("ws", self._ws_np(u[None])[0], "projection")

    def _ws_np(self, u: np.ndarray) -> np.ndarray:
        ws = self.anchor + self.scale * u
        if self.space == "w":
            ws = np.repeat(ws[:, None], self.gen.ws_shape[0], axis=1)
        return ws.astype(np.float32)

    def render_np(self, u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if self.space == "z":
            labels = None if self.labels is None else self.labels[rows]
            return self.gen.images(u, labels)
        return self.gen.synthesis(self._ws_np(u))

    def render_tf(self, functions, u, rows):
        import tensorflow as tf

        generate, _, synthesis = functions
        if self.space == "z":
            labels = None if self.labels is None else tf.gather(self.labels, rows)
            return generate(u, labels) if not self.gen.styles else synthesis(functions[1](u))
        ws = self.anchor + self.scale * u
        if self.space == "w":
            ws = tf.repeat(ws[:, None], self.gen.ws_shape[0], axis=1)
        return synthesis(ws)


def project(
    gen: latent.LatentGenerator,
    targets: np.ndarray,
    labels: np.ndarray | None = None,
    space: str = "z",
    steps: int = 200,
    starts: int = 4,
    lr: float = 0.05,
    feature_weight: float = 0.1,
    seed: int = 0,
    snapshots: int = 8,
    progress: bool = True,
) -> Projection:
    """Finds each target's latent (see the module docstring): Adam on the generator's
    gradients when it has them (``tf_functions``), on evolution-strategy estimates otherwise."""
    if steps < 1 or starts < 1 or snapshots < 2:
        raise ProjectError("--steps and --starts must be at least 1")
    if tuple(targets.shape[1:]) != gen.image_shape:
        raise ProjectError(
            f"images of shape {list(targets.shape[1:])}; the generator makes "
            f"{list(gen.image_shape)}"
        )
    if gen.num_classes:
        if labels is None:
            digits = gen.digits and gen.num_classes == 10
            labels = classify(targets) if digits else np.zeros(len(targets), np.int32)
        labels = np.asarray(labels, np.int32)
        if ((labels < 0) | (labels >= gen.num_classes)).any():
            raise ProjectError(f"--class must be in [0, {gen.num_classes})")
    else:
        labels = None
    num = len(targets)
    rows = np.repeat(np.arange(num), starts)
    subspace = _Space(gen, space, labels)
    u0 = subspace.starts(num, starts, seed)
    weight = feature_weight if gen.digits else 0.0
    loss_fn = _Loss(targets, weight)
    keep = np.unique(np.linspace(0, steps, snapshots).round().astype(int))
    functions = gen.tf_functions()
    run = _adam if functions is not None else _evolution
    u, first, last, shots = run(
        subspace, functions, loss_fn, u0, rows, steps, lr, keep, seed, progress
    )
    last = last.reshape(num, starts)
    best = last.argmin(axis=1)
    chosen = np.arange(num) * starts + best
    pts = [subspace.point(u[i]) for i in chosen]
    images = shots[-1][chosen]
    return Projection(
        latents=pts,
        images=images,
        labels=labels,
        loss_start=first.reshape(num, starts).min(axis=1),
        loss_final=last[np.arange(num), best],
        psnr=psnr(images, targets),
        snapshots=np.stack([s[chosen] for s in shots], axis=1),
        method="adam" if functions is not None else "evolution strategies",
    )


def _bar(steps: int, progress: bool):
    """Keras' progress bar on a terminal; elsewhere (a log file, CI) a plain line at every
    tenth of the steps, as training's progress lines (a bar's redraws would be one long line)."""
    if not progress:
        return None
    if sys.stdout.isatty():
        import keras

        return keras.utils.Progbar(steps, unit_name="step", interval=0.5)
    return _Lines(steps)


class _Lines:
    def __init__(self, steps: int):
        self.steps, self.every = steps, max(1, steps // 10)

    def update(self, step: int, values):
        if step % self.every == 0 or step == self.steps:
            shown = " ".join(f"{name}={value:.4f}" for name, value in values)
            print(f"step {step}/{self.steps} {shown}", flush=True)


def _adam(space, functions, loss_fn, u0, rows, steps, lr, keep, seed, progress):
    """Adam through the generator; returns (u, first losses, last losses, snapshots)."""
    import keras
    import tensorflow as tf

    u = tf.Variable(u0)
    schedule = keras.optimizers.schedules.CosineDecay(lr, max(steps, 1))
    optimizer = keras.optimizers.Adam(schedule)
    rows_t = tf.constant(rows, tf.int32)

    @tf.function(reduce_retracing=True)
    def step():
        with tf.GradientTape() as tape:
            images = space.render_tf(functions, u, rows_t)
            losses = loss_fn(images, rows_t)
            total = tf.reduce_sum(losses)
        optimizer.apply_gradients([(tape.gradient(total, u), u)])
        return losses, images

    bar, shots, first = _bar(steps, progress), [], None
    for i in range(steps + 1):
        if i == steps:  # the images and losses of the final u
            images = space.render_tf(functions, u, rows_t)
            losses = loss_fn(images, rows_t)
        else:
            losses, images = step()  # those of u before this step's update
        losses = np.asarray(losses)
        if first is None:
            first = losses
        if i in keep:
            shots.append(np.asarray(images))
        if bar is not None and i < steps:
            bar.update(i + 1, values=[("loss", float(losses.reshape(-1).min()))])
    return np.asarray(u), first, losses, shots


def _evolution(space, functions, loss_fn, u0, rows, steps, lr, keep, seed, progress):
    """Antithetic evolution strategies with Adam on the estimated gradient (no gradients
    needed: ONNX Runtime); returns (u, first losses, last losses, snapshots)."""
    rng = np.random.default_rng(seed + 1)
    u = u0.astype(np.float64)
    m, v = np.zeros_like(u), np.zeros_like(u)
    beta1, beta2, eps = 0.9, 0.999, 1e-7
    all_rows = np.tile(rows, 2 * ES_PAIRS + 1)

    def losses_of(batch):
        images = space.render_np(batch.astype(np.float32), all_rows[: len(batch)])
        return np.asarray(loss_fn(images, all_rows[: len(batch)])), images

    bar, shots, first = _bar(steps, progress), [], None
    for i in range(steps + 1):
        noise = rng.standard_normal((ES_PAIRS, *u.shape))
        batch = np.concatenate([u[None], u + ES_SIGMA * noise, u - ES_SIGMA * noise])
        losses, images = losses_of(batch.reshape(-1, *u.shape[1:]))
        losses = losses.reshape(2 * ES_PAIRS + 1, len(u))
        current = losses[0]
        if first is None:
            first = current
        if i in keep:
            shots.append(images[: len(u)])
        if i == steps:
            break
        diff = losses[1 : ES_PAIRS + 1] - losses[ES_PAIRS + 1 :]  # [pairs, B]
        grad = np.einsum("pb,pb...->b...", diff, noise) / (2 * ES_SIGMA * ES_PAIRS)
        rate = lr * 0.5 * (1 + np.cos(np.pi * i / steps))  # the cosine decay of _adam
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat, v_hat = m / (1 - beta1 ** (i + 1)), v / (1 - beta2 ** (i + 1))
        u = u - rate * m_hat / (np.sqrt(v_hat) + eps)
        if bar is not None:
            bar.update(i + 1, values=[("loss", float(current.min()))])
    return u.astype(np.float32), first, current, shots


def write_projection(result: Projection, names: list[str], targets: np.ndarray, out: Path):
    """``NAME.png``, ``NAME.npy`` and ``NAME_steps.png`` per image into ``out``; returns the
    per-image summary written to ``projection.json`` by the command."""
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for i, name in enumerate(names):
        save_png(image_grid(result.images[i : i + 1], 1)[1:-1, 1:-1], out / f"{name}.png")
        latent.save_latent(result.latents[i], out / f"{name}.npy")
        strip = np.concatenate([targets[i : i + 1], result.snapshots[i]])
        save_png(image_grid(strip, len(strip)), out / f"{name}_steps.png")
        summary.append(
            {
                "image": name,
                "latent": f"{name}.npy",
                "space": result.latents[i].space,
                "class": None if result.labels is None else int(result.labels[i]),
                "loss_start": float(result.loss_start[i]),
                "loss_final": float(result.loss_final[i]),
                "psnr_db": round(float(result.psnr[i]), 2),
            }
        )
    return summary


def main(argv=None) -> int:
    tune_allocator()
    parser = argparse.ArgumentParser(
        prog="python -m training.project",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", help="a run folder or an export folder")
    parser.add_argument("images", nargs="+", help="image files to project")
    parser.add_argument("--space", default="z", choices=SPACES, help="z (default), w or w+")
    parser.add_argument("--steps", type=int, default=200, help="optimisation steps (200)")
    parser.add_argument("--starts", type=int, default=4, help="random starts per image (4)")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam's learning rate (0.05)")
    parser.add_argument(
        "--feature-weight", type=float, default=0.1, help="weight of the feature loss (0.1)"
    )
    parser.add_argument(
        "--class",
        type=int,
        dest="label",
        help="conditional families: the class (default: the digit the classifier reads)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the starts (0)")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=latent.BACKENDS,
        help="a run folder: keras; an export folder: savedmodel (default, gradients) or onnx "
        "(evolution strategies)",
    )
    parser.add_argument("--out", help="output folder (default RUN/projections)")
    parser.add_argument(
        "--tensorboard", action="store_true", help="also write the strips into the run's logs"
    )
    args = parser.parse_args(argv)
    try:
        backend = args.backend
        if backend == "auto" and (Path(args.source) / "report.json").is_file():
            backend = "savedmodel" if (Path(args.source) / "saved_model").is_dir() else "onnx"
        gen = latent.open_generator(args.source, backend)
        check_space(gen, args.space)
        targets = read_images(args.images, gen.image_shape)
        labels = None if args.label is None else np.full(len(targets), args.label, np.int32)
        print(
            f"projecting {len(targets)} image(s) into {args.space} of {gen.family} "
            f"({gen.backend}), {args.starts} start(s), {args.steps} steps"
        )
        result = project(
            gen,
            targets,
            labels,
            args.space,
            args.steps,
            args.starts,
            args.lr,
            args.feature_weight,
            args.seed,
        )
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else gen.out_base / "projections"
    names = _names(args.images)
    summary = write_projection(result, names, targets, out)
    settings = {
        "source": str(args.source),
        "backend": gen.backend,
        "method": result.method,
        "space": args.space,
        "steps": args.steps,
        "starts": args.starts,
        "lr": args.lr,
        "feature_weight": args.feature_weight if gen.digits else 0.0,
    }
    (out / "projection.json").write_text(
        json.dumps({"settings": settings, "images": summary}, indent=2) + "\n"
    )
    for row in summary:
        label = "" if row["class"] is None else f", class {row['class']}"
        print(
            f"{row['image']}: loss {row['loss_start']:.4f} -> {row['loss_final']:.4f}, PSNR "
            f"{row['psnr_db']:.1f} dB{label}; latent {out / row['latent']}"
        )
    if args.tensorboard:
        strips = [
            np.concatenate([targets[i : i + 1], result.snapshots[i]]) for i in range(len(names))
        ]
        grid = image_grid(np.concatenate(strips), len(strips[0]))
        logs = latent.write_tensorboard(gen, "latent/projection", grid)
        print(f"tensorboard: {logs} (image latent/projection)")
    print(f"projections: {out}")
    return 0


def _names(paths) -> list[str]:
    """Output names: each image's file name without its suffix, numbered when two agree."""
    names, seen = [], {}
    for p in paths:
        stem = Path(p).stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return names


if __name__ == "__main__":
    sys.exit(main())
