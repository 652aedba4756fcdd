"""Render a grid of samples from a run's generator.

    python -m training.sample runs/cgan-XXXX                 # one row per class (conditional)
    python -m training.sample runs/dcgan-XXXX --num 100 --out grid.png
    python -m training.sample runs/infogan-XXXX --vary label     # a row per z, a column per code
    python -m training.sample runs/infogan-XXXX --vary code:0    # continuous code 0 from -2 to 2

    python -m training.sample runs/pix2pix-XXXX --split test[8000:] --num 16 --out DIR
    python -m training.sample runs/pix2pix-XXXX --inputs MY_EDGE_MAPS --out DIR
    python -m training.sample runs/cyclegan-XXXX --split test[8000:] --direction BA --out DIR
    python -m training.sample runs/stargan-XXXX --split test[8000:] --domain bold --out DIR

The latent-space tools (``training.latent``; docs/latent.md) also read an export folder
(ONNX Runtime, or ``--backend savedmodel``):

    python -m training.sample runs/biggan-XXXX --grid 100 --truncation 0.5
    python -m training.sample runs/dcgan-XXXX/export --interpolate 3,7 --frames 12 --gif
    python -m training.sample runs/cgan-XXXX --interpolate 3,7 --classes 2,5 --gif
    python -m training.sample runs/cgan-XXXX/export --classes 2,5   # after export --class-weights
    python -m training.sample runs/stylegan2-XXXX --mix coarse --rows 0,1,2 --cols 3,4,5,6
    python -m training.sample runs/dcgan-XXXX --arithmetic "a.npy - b.npy + c.npy"

A translation family (its generator reads an image from the data) writes, with ``--split``,
``DIR/input/``, ``DIR/output/`` and ``DIR/target/`` PNGs with the same file names for the first
``--num`` examples of a held-out split (the target is the true translation, known because the
run's data is a view of the images: ``data.pair``, ``data.domain_views``), and
``DIR/triplets.png``, one row per example; with ``--inputs`` it translates a folder of the
user's own images (resized to the model's input), writing ``input/`` and ``output/``. A
two-domain run that ships the way back (cyclegan's ``generator_ba.keras``) translates B -> A
with ``--direction BA``: the held-out B views as input, their A views as target. A
multi-domain run (stargan) translates into ``--domain NAME`` (one of its domains, by view,
split or folder name, or its index; default the second): its first domain's views as input,
the named domain's as target.

With ``--vary``, every row keeps its own ``z`` (and, for a continuous code, its own categorical
code, one row per value) and the columns change only the code named: the InfoGAN figures. The
continuous codes are sampled from [-1, 1] in training; ``--range`` goes beyond to show what the
code means. Needs only the run folder's generator.keras and config.yaml. The generator runs on
at most ``BATCH_SIZE`` inputs at a time, so a large ``--num`` costs the images, not the
network's activations for all of them at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training.grids import grid_labels, image_grid, save_png  # noqa: E402
from training.host import tune_allocator  # noqa: E402
from zoo.errors import GanzooError  # noqa: E402

BATCH_SIZE = 500
# What loading a damaged .keras file raises (Keras and the zip, h5 and JSON readers under it).
_LOAD_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, OSError, KeyError, TypeError, EOFError)


class SampleError(GanzooError, ValueError):
    """A grid that cannot be drawn from this generator, or a generator that cannot be loaded."""


def load_generator(run_dir: str | Path, family: str | None = None, artifact: str = "generator"):
    """The run folder's ``generator.keras`` (or another shipped ``artifact``: ``generator_ba``,
    the way back of a two-domain run), or a ``SampleError`` saying in one line that it is
    missing or cannot be loaded and how to write it again from the run's checkpoint
    (``--resume`` of a finished run writes it without training further). Used by
    ``training.evaluate`` too."""

    import zoo.layers  # noqa: F401  (registers ganzoo's custom Keras layers for loading)

    run_dir = Path(run_dir)
    path = run_dir / f"{artifact}.keras"
    resume = f"python -m training.run {family or 'FAMILY'} --run-dir {run_dir} --resume"
    if not path.exists():
        raise SampleError(
            f"{run_dir} has no {path.name}; write it from the run's checkpoint with: {resume}"
        )
    return load_keras_file(path, f"write it again from the run's checkpoint with: {resume}")


def load_keras_file(path: Path, remedy: str, error: type[Exception] = SampleError):
    """The Keras model in ``path`` (a ``.keras`` file that exists), or ``error`` saying in one
    line why it cannot be loaded, then ``remedy``."""
    import keras

    # Keras reports a file that is not a whole zip (a copy cut short, a disk that filled up)
    # as "File not found", which is wrong: say what it is.
    if not zipfile.is_zipfile(path):
        why = "not a complete .keras (zip) file: truncated or corrupt"
    else:
        try:
            return keras.saving.load_model(path, compile=False)
        except _LOAD_ERRORS as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            why = f"{type(err).__name__}: {first[:120]}"
    raise error(f"{path} cannot be loaded ({why}); {remedy}")


def input_names(generator) -> dict[str, tuple]:
    """The generator's inputs: name -> shape without the batch dimension."""
    return {t.name.split(":")[0]: tuple(t.shape[1:]) for t in generator.inputs}


def _feed(generator, inputs: dict[str, np.ndarray], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The generator's images for ``inputs``, computed ``batch_size`` at a time (inference has
    no batch statistics, so the images are those of one call on all inputs)."""
    names = list(input_names(generator))
    num = len(inputs[names[0]])
    out = []
    for start in range(0, num, batch_size):
        args = [inputs[name][start : start + batch_size] for name in names]
        out.append(np.asarray(generator(args if len(args) > 1 else args[0], training=False)))
    return np.concatenate(out)


def render(
    run_dir: str | Path,
    num: int = 64,
    seed: int = 0,
    vary: str | None = None,
    steps: int = 10,
    span: float = 2.0,
) -> np.ndarray:
    """A uint8 grid: ``num`` samples, or for a conditional generator ``num // classes`` per
    class with one row per class; with ``vary`` (``label`` or ``code:I``) a traversal grid of
    about ``num`` images."""
    import zoo
    from training.config import load

    run_dir = Path(run_dir)
    config = load(run_dir / "config.yaml")
    generator = load_generator(run_dir, config.family)
    names = input_names(generator)
    declared = zoo.get_family(config.family).contract(config.model)
    if declared.data_keys:
        raise SampleError(
            f"{config.family}'s generator reads {', '.join(declared.data_keys)} from the data; "
            "a grid of noise alone cannot feed it"
        )
    classes = declared.num_classes if "label" in names else None
    rng = np.random.default_rng(seed)

    def base(n: int) -> dict[str, np.ndarray]:
        inputs = {"z": rng.standard_normal((n, *names["z"])).astype(np.float32)}
        if "code" in names:
            inputs["code"] = np.zeros((n, *names["code"]), np.float32)
        return inputs

    if vary is None:
        if classes:
            labels, cols = grid_labels(num, classes)
            inputs = base(len(labels)) | {"label": labels}
        else:
            inputs, cols = base(num), None
        return image_grid(_feed(generator, inputs), cols)

    if vary == "label":
        if not classes:
            raise SampleError("--vary label needs a generator with a 'label' input")
        rows, cols = max(1, num // classes), classes
        inputs = {k: np.repeat(v, cols, axis=0) for k, v in base(rows).items()}
        inputs["label"] = np.tile(np.arange(classes, dtype=np.int32), rows)
        return image_grid(_feed(generator, inputs), cols)

    index = _code_index(vary, names.get("code"))
    rows, cols = classes or max(1, num // steps), steps
    inputs = {k: np.repeat(v, cols, axis=0) for k, v in base(rows).items()}
    if classes:
        inputs["label"] = np.repeat(np.arange(classes, dtype=np.int32), cols)
    inputs["code"][:, index] = np.tile(np.linspace(-span, span, cols, dtype=np.float32), rows)
    return image_grid(_feed(generator, inputs), cols)


def translations(
    run_dir: str | Path,
    num: int,
    seed: int = 0,
    split: str | None = None,
    inputs=None,
    direction: str = "AB",
    domain: str | None = None,
) -> dict[str, np.ndarray]:
    """For a translation family: ``input``, ``output`` and (with ``split``) ``target`` images in
    [-1, 1], for the first ``num`` examples of the held-out ``split`` or of the image folder
    ``inputs``. ``direction="BA"`` (a two-domain run that ships ``generator_ba.keras``)
    translates the way back: the held-out B views, or the user's images taken as domain B,
    with the A views as the target. ``domain`` (a multi-domain run's) is the target domain."""
    import dataclasses

    import zoo
    from training.config import load
    from training.data import load_split
    from training.sections import DataConfig
    from training.translation import (
        DIRECTIONS,
        direction_contract,
        direction_problem,
        domain_index,
        domain_names,
        held_out_translations,
        translate,
    )

    run_dir = Path(run_dir)
    config = load(run_dir / "config.yaml")
    contract = zoo.get_family(config.family).contract(config.model)
    if problem := direction_problem(contract, config.family, direction):
        raise SampleError(f"--{problem}")
    target = None
    if domain is not None or domain_names(config):
        try:
            target = domain_index(config, domain)
        except ValueError as err:
            raise SampleError(f"--{err}") from None
    classes = None if target is None else (lambda n: np.full(n, target, np.int32))
    if len(contract.data_keys) != 1:
        raise SampleError(
            f"--split and --inputs are for translation families; {config.family}'s generator "
            "reads no image from the data (draw a grid without them)"
        )
    direction = direction.upper()
    contract = direction_contract(contract, direction)
    generator = load_generator(run_dir, config.family, DIRECTIONS[direction][0])
    (key,) = contract.data_keys
    (name,) = [n for n, spec in contract.inputs.items() if spec.kind == "data"]
    shape = input_names(generator)[name]
    if inputs is not None:  # read as training reads a folder: any size, cropped and resized
        folder = DataConfig(source="folder", path=str(inputs))
        images = load_split(folder, "train", shape[0], shape[2])[0][:num]
        given = None if classes is None else classes(len(images))
        output = translate(generator, contract, {key: images}, seed, classes=given)
        return {"input": images, "output": output}
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, split=split))
    held_out = held_out_translations(config, contract, direction, domain=target)
    if held_out is None:
        raise SampleError(
            f"{config.family}'s data is not a view of its images (data.pair or "
            "data.domain_views), so the true translation of a split is not known; use --inputs"
        )
    source = held_out["sources"][key][:num]
    given = None if classes is None else classes(len(source))
    return {
        "input": source,
        "output": translate(generator, contract, {key: source}, seed, classes=given),
        "target": held_out["truth"][:num],
    }


def _resized(images: np.ndarray, shape: tuple) -> np.ndarray:
    """Images [N, H, W, C] in [-1, 1] at ``shape`` (height, width, channels)."""
    import tensorflow as tf

    height, width, channels = shape
    if images.shape[-1] != channels:
        gray = images.mean(axis=-1, keepdims=True)
        images = gray if channels == 1 else np.repeat(gray, channels, axis=-1)
    if images.shape[1:3] != (height, width):
        images = tf.image.resize(images, (height, width)).numpy()
    return np.clip(images, -1.0, 1.0).astype(np.float32)


def write_translations(images: dict[str, np.ndarray], out: Path) -> None:
    """``out/input/00000.png``, ``out/output/00000.png``, ... and ``out/triplets.png`` (one
    row per example, the parts at the largest part's size)."""
    for part, batch in images.items():
        (out / part).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(batch):
            save_png(image_grid(image[None], 1)[1:-1, 1:-1], out / part / f"{i:05d}.png")
    size = max(b.shape[1] for b in images.values())
    parts = [_resized(b, (size, size, b.shape[-1])) for b in images.values()]
    rows = np.stack(parts, axis=1).reshape(-1, *parts[0].shape[1:])
    save_png(image_grid(rows, len(parts)), out / "triplets.png")


def _check_direction(run_dir: Path, direction: str) -> None:
    """A ``SampleError`` when the run cannot translate in ``direction`` (see
    ``training.translation.direction_problem``)."""
    import zoo
    from training.config import load
    from training.translation import direction_problem

    config = load(run_dir / "config.yaml")
    contract = zoo.get_family(config.family).contract(config.model)
    if problem := direction_problem(contract, config.family, direction):
        raise SampleError(f"--{problem}")


def _code_index(vary: str, code_shape: tuple | None) -> int:
    num_codes = code_shape[0] if code_shape else 0
    accepted = "label" + "".join(f", code:{i}" for i in range(num_codes))
    name, _, index = vary.partition(":")
    if name != "code" or not index.isdigit() or int(index) >= num_codes:
        raise SampleError(
            f"--vary {vary!r} is not an input of this generator; accepted: {accepted}"
        )
    return int(index)


def main(argv=None) -> int:
    tune_allocator()
    parser = argparse.ArgumentParser(
        prog="python -m training.sample",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir")
    parser.add_argument("--num", type=int, default=100, help="samples (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vary", help="'label' or 'code:I': a grid that varies one code")
    parser.add_argument("--steps", type=int, default=10, help="columns of a code traversal")
    parser.add_argument(
        "--range", type=float, default=2.0, dest="span", help="traverse codes in [-R, R]"
    )
    parser.add_argument(
        "--split", help="translation families: a held-out split to translate (test[8000:])"
    )
    parser.add_argument("--inputs", help="translation families: a folder of images to translate")
    parser.add_argument(
        "--direction",
        default="AB",
        help="with --split or --inputs: AB (default), or BA for the reverse generator of a "
        "two-domain run (cyclegan's generator_ba.keras)",
    )
    parser.add_argument(
        "--domain",
        help="with --split or --inputs: the target domain of a multi-domain run (stargan), by "
        "name or index",
    )
    parser.add_argument(
        "--out",
        help="PNG to write (default RUN_DIR/samples/grid.png); with --split or --inputs a "
        "folder (default RUN_DIR/samples/translations)",
    )
    _latent_arguments(parser)
    args = parser.parse_args(argv)
    if _latent_request(args):
        return _latent_main(args)
    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "generator.keras").is_file():
        print(
            f"error: {run_dir} is not a trained run folder (needs config.yaml and generator.keras)",
            file=sys.stderr,
        )
        return 2
    if args.num < 1 or args.steps < 2:
        print("error: --num must be at least 1 and --steps at least 2", file=sys.stderr)
        return 2
    try:
        if args.split or args.inputs:
            if args.split and args.inputs:
                raise SampleError("give --split or --inputs, not both")
            images = translations(
                run_dir, args.num, args.seed, args.split, args.inputs, args.direction, args.domain
            )
            out = Path(args.out) if args.out else run_dir / "samples" / "translations"
            write_translations(images, out)
            print(f"translations: {out} ({', '.join(images)}: {len(images['input'])} each)")
            return 0
        if args.domain is not None:
            raise SampleError(
                f"--domain {args.domain} translates a held-out split or a folder: add "
                "--split SPLIT or --inputs FOLDER"
            )
        if args.direction.upper() != "AB":
            _check_direction(run_dir, args.direction)
            raise SampleError(
                f"--direction {args.direction} translates a held-out split or a folder: add "
                "--split SPLIT or --inputs FOLDER"
            )
        grid = render(run_dir, args.num, args.seed, args.vary, args.steps, args.span)
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else run_dir / "samples" / "grid.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(grid, out)
    print(f"samples: {out}")
    return 0


def _latent_arguments(parser: argparse.ArgumentParser) -> None:
    """The latent-space tools' options (``training.latent``)."""
    group = parser.add_argument_group("latent-space tools (run or export folder)")
    group.add_argument("--grid", type=int, metavar="N", help="a grid of N samples (as --num)")
    group.add_argument(
        "--truncation",
        type=float,
        metavar="PSI",
        help="stylegan2: w = w_avg + PSI (w - w_avg); biggan: z from a normal truncated at +-PSI",
    )
    group.add_argument(
        "--interpolate",
        metavar="A,B",
        help="frames between two latent points: seeds (3,7) or .npy files of latents",
    )
    group.add_argument("--frames", type=int, default=8, help="frames of --interpolate (8)")
    kind = group.add_mutually_exclusive_group()
    kind.add_argument("--slerp", action="store_true", help="spherical (the default between two z)")
    kind.add_argument("--lerp", action="store_true", help="linear (the default between ws)")
    group.add_argument("--gif", action="store_true", help="also an animated GIF of the frames")
    group.add_argument(
        "--class",
        type=int,
        default=0,
        dest="label",
        metavar="C",
        help="conditional families: the class of --interpolate / --arithmetic (0)",
    )
    group.add_argument(
        "--classes",
        metavar="P,Q",
        help="conditional families: interpolate class P's embedding to Q's (with --interpolate "
        "or alone, on the z of --seed); an export folder needs its --class-weights variant "
        "(python -m export RUN --class-weights)",
    )
    group.add_argument(
        "--mix",
        nargs="?",
        const="coarse",
        metavar="LAYERS",
        help="stylegan2: a style-mixing grid, LAYERS of the column sources taken into the row "
        "sources: coarse (default), middle, fine, all or I:J",
    )
    group.add_argument("--rows", default="0,1,2,3", help="--mix: row sources A (0,1,2,3)")
    group.add_argument("--cols", default="4,5,6,7,8", help="--mix: column sources B (4,...,8)")
    group.add_argument(
        "--arithmetic", metavar="EXPR", help="'a.npy - b.npy + c.npy': latent vector arithmetic"
    )
    group.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "keras", "savedmodel", "onnx"),
        help="how to run the generator: a run folder with Keras, an export folder with ONNX "
        "Runtime (auto) or its SavedModel",
    )
    group.add_argument(
        "--tensorboard", action="store_true", help="also write the image into the run's logs"
    )


def _latent_request(args) -> bool:
    """Whether the command asks for a latent-space tool (or reads an export folder)."""
    asked = (
        args.grid,
        args.truncation,
        args.interpolate,
        args.classes,
        args.mix,
        args.arithmetic,
    )
    flags = args.gif or args.tensorboard or args.backend != "auto" or args.slerp or args.lerp
    export = (Path(args.run_dir) / "report.json").is_file()
    return any(x is not None for x in asked) or flags or export


def _latent_main(args) -> int:
    """``--grid``, ``--interpolate``, ``--mix`` and ``--arithmetic`` (see ``training.latent``)."""
    from training import latent

    tools = [
        name
        for name, given in (
            ("--grid", args.grid is not None),
            ("--interpolate/--classes", args.interpolate or args.classes),
            ("--mix", args.mix is not None),
            ("--arithmetic", args.arithmetic is not None),
        )
        if given
    ]
    try:
        if len(tools) > 1:
            raise SampleError(f"give one of {', '.join(tools)}, not several")
        if args.vary or args.split or args.inputs:
            raise SampleError(
                "--vary, --split and --inputs draw from a run folder without the "
                "latent-space options"
            )
        interpolating = bool(args.interpolate or args.classes)
        if args.gif and not interpolating:
            raise SampleError("--gif animates --interpolate (or --classes)")
        gen = latent.open_generator(args.run_dir, args.backend)
        psi = args.truncation
        result = None
        if args.mix is not None:
            gen.require_styles("--mix")
            layers = latent.mix_layers(args.mix, gen.ws_shape[0])
            rows = latent.points(gen, args.rows, psi)
            cols = latent.points(gen, args.cols, psi)
            images, columns = latent.style_mix(gen, rows, cols, layers, psi)
            name = "mix"
        elif args.arithmetic is not None:
            images, result = latent.arithmetic(gen, args.arithmetic, args.label, psi)
            columns, name = len(images), "arithmetic"
        elif interpolating:
            a = b = None
            if args.interpolate:
                a, b = latent.points(gen, args.interpolate, psi, count=2)
            classes = _pair(args.classes, "--classes") if args.classes else None
            spherical = True if args.slerp else (False if args.lerp else None)
            images = latent.interpolate(
                gen, a, b, args.frames, spherical, args.label, classes, psi, args.seed
            )
            columns, name = len(images), "interpolation"
        else:
            num = args.grid if args.grid is not None else args.num
            if num < 1:
                raise SampleError("--grid must be at least 1")
            images, columns = latent.grid(gen, num, args.seed, psi)
            name = "grid"
        grid = image_grid(images, columns)
        out = Path(args.out) if args.out else gen.out_base / "samples" / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        save_png(grid, out)
        print(f"{name}: {out}")
        if args.gif:
            latent.write_gif(images, out.with_suffix(".gif"))
            print(f"animation: {out.with_suffix('.gif')} ({len(images)} frames)")
        if result is not None:
            latent.save_latent(result, out.with_suffix(".npy"))
            print(f"result latent: {out.with_suffix('.npy')} ({result.space})")
        if args.tensorboard:
            logs = latent.write_tensorboard(gen, f"latent/{name}", grid)
            print(f"tensorboard: {logs} (image latent/{name})")
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _pair(text: str, option: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise SampleError(f"{option} {text!r}: give two class indices, such as 2,5")
    return int(parts[0]), int(parts[1])


if __name__ == "__main__":
    sys.exit(main())
