"""Train a GAN family by name.

python -m training.run dcgan                          # default preset, offline MNIST
python -m training.run dcgan --preset tiny --set train.steps=50
python -m training.run dcgan --config my.yaml --run-dir runs/mine
python -m training.run dcgan --run-dir runs/mine --resume
python -m training.run --list
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

# Keep TensorFlow's C++ start-up chatter out of the user's terminal (an explicit setting wins).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from training.host import tune_allocator  # noqa: E402
from zoo.errors import GanzooError  # noqa: E402

# Keys that --resume may change: they do not alter what is being trained.
RESUMABLE_KEYS = {
    "train": {
        "steps",
        "log_every",
        "sample_every",
        "checkpoint_every",
        "keep_checkpoints",
        "backup_every",
        "on_nonfinite",
        "rollback_lr_factor",
        "max_rollbacks",
    },
    "runtime": {"strategy", "devices", "virtual_cpus", "tpu", "jit_compile", "steps_per_execution"},
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.run",
        description="Train a ganzoo GAN family; see README.md for the config keys.",
    )
    parser.add_argument("family", nargs="?", help="family name (see --list)")
    parser.add_argument("--preset", help="named preset of the family (default: its default)")
    parser.add_argument("--config", metavar="FILE", help="YAML file of config overrides")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (repeatable), e.g. --set train.steps=500",
    )
    parser.add_argument("--run-dir", help="run folder (default: runs/<family>-<timestamp>)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir from its checkpoint"
    )
    parser.add_argument("--list", action="store_true", help="list families and presets")
    args = parser.parse_args(argv)
    if not args.list and not args.family:
        parser.error("a family name is required (see --list)")
    if args.resume and not args.run_dir:
        parser.error("--resume needs --run-dir, the run folder to continue")
    return args


def list_families() -> str:
    import zoo

    lines = []
    for name in zoo.list_families():
        family = zoo.get_family(name)
        presets = ", ".join(
            f"{p} (default)" if p == family.default_preset else p for p in family.presets
        )
        lines.append(f"{name:12s} {family.paper}\n{'':12s} presets: {presets}")
    return "\n".join(lines)


def resolve_config(args: argparse.Namespace):
    from training import config as cfg

    if not args.resume:
        return cfg.resolve(args.family, args.preset, args.config, args.overrides)
    if args.preset or args.config:
        raise cfg.ConfigError("--resume uses the run folder's config.yaml; drop --preset/--config")
    if not (Path(args.run_dir) / "config.yaml").is_file():
        raise cfg.ConfigError(
            f"{args.run_dir} is not a run folder (no config.yaml); cannot resume it"
        )
    config = cfg.load(Path(args.run_dir) / "config.yaml")
    if config.family != args.family:
        raise cfg.ConfigError(f"{args.run_dir} is a {config.family!r} run, not {args.family!r}")
    for item in args.overrides:
        override = cfg.parse_override(item)
        ((section, values),) = override.items()
        ((key, _),) = values.items()
        if key not in RESUMABLE_KEYS.get(section, ()):
            allowed = ", ".join(f"{s}.{k}" for s, keys in RESUMABLE_KEYS.items() for k in keys)
            raise cfg.ConfigError(
                f"--resume cannot change {section}.{key}; it may change: {allowed}"
            )
        cfg.apply(config, override, "--set")
    return config.validate()


def main(argv=None) -> int:
    tune_allocator()
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)
    if args.list:
        print(list_families())
        return 0
    try:
        config = resolve_config(args)
        # TensorFlow is imported only now: listing, help and a config that is refused answer
        # without its start-up time and lines.
        from training.loop import train

        run_dir = Path(args.run_dir or f"runs/{config.family}-{time.strftime('%Y%m%d-%H%M%S')}")
        print(f"run folder: {run_dir}", flush=True)
        result = train(config, run_dir, resume=args.resume)
    except GanzooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
