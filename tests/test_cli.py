"""What every command-line tool shares: quick answers without TensorFlow, one error base class
that each of them reports in one line, and a module graph without import cycles."""

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from zoo.errors import GanzooError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "training", "export", "benchmarks")

# Runs a tool's main() in a fresh interpreter, then says whether TensorFlow or Keras was
# imported on the way (exit 99), which would cost seconds and print TensorFlow's start-up lines.
WRAPPER = """
import importlib, sys
module = importlib.import_module(sys.argv[1])
try:
    code = module.main(sys.argv[2:])
except SystemExit as stop:  # argparse's --help
    code = stop.code
heavy = [name for name in ("tensorflow", "keras") if name in sys.modules]
if heavy:
    print("imported " + ", ".join(heavy), file=sys.stderr)
    sys.exit(99)
sys.exit(code)
"""


def _tool(module, *argv, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, module, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "module, argv, expected",
    [
        ("training.run", ["--list"], "dcgan_mnist (default)"),
        ("training.run", ["--help"], "usage: python -m training.run"),
        ("export.__main__", ["--help"], "usage: python -m export"),
        ("training.evaluate", ["--help"], "usage: python -m training.evaluate"),
        ("training.sample", ["--help"], "usage: python -m training.sample"),
    ],
)
def test_listing_and_help_answer_without_tensorflow(module, argv, expected):
    result = _tool(module, *argv)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert result.stderr == ""  # no TensorFlow start-up lines


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["dcgn"],
            "error: unknown family 'dcgn' (did you mean 'dcgan'?); known families: "
            + ", ".join(zoo.list_families()),
        ),
        (
            ["dcgan", "--set", "train.stpes=3"],
            "error: --set: unknown config key 'train.stpes' (did you mean 'train.steps'?)",
        ),
    ],
)
def test_a_refused_family_or_config_is_one_line_without_tensorflow(tmp_path, argv, message):
    result = _tool("training.run", *argv, "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]  # one line
    assert result.stderr.startswith(message)
    assert not (tmp_path / "run").exists()


def _run_folder_of_unknown_family(tmp_path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("family: nope\n")
    (run / "generator.keras").write_bytes(b"not read")
    return run


@pytest.mark.parametrize("module", ["training.evaluate", "training.sample"])
def test_evaluate_and_sample_report_any_ganzoo_error_in_one_line(tmp_path, capsys, module):
    """A run folder of a family this ganzoo does not know (a RegistryError, which these
    commands did not catch) is one line, exit 2, like their own errors."""
    run = _run_folder_of_unknown_family(tmp_path)
    code = importlib.import_module(module).main([str(run)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: unknown family 'nope'; known families: ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_speed_benchmark_reports_a_ganzoo_error_in_one_line(capsys):
    from benchmarks import speed

    code = speed.main(["--only", "train", "--families", "nope"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: unknown family 'nope'; known families: ")
    assert err.count("\n") == 1


def test_quality_benchmark_refuses_an_unknown_family_in_one_line(capsys):
    from benchmarks import quality

    assert quality.main(["nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown family 'nope'; known families: ")
    assert err.count("\n") == 1


def test_quality_table_gives_each_seed_then_mean_and_spread():
    from benchmarks.quality import table

    rows = [
        {"seed": s, "seconds": t, "fid": f, "kid": {"mean": 10.0, "std": 1.0}, "confident": c}
        for s, t, f, c in ((0, 300, 20.0, 0.9), (1, 310, 30.0, 0.8))
    ]
    lines = table({"dcgan": rows}).splitlines()
    assert lines[0].startswith("| family | seed | time (s) | FID | KID x1e3 | confident |")
    assert lines[2].startswith("| `dcgan` | 0 | 300 | 20.0 | 10.0 | 0.900 |")
    # mean and sample standard deviation; metrics a run lacks stay empty
    assert lines[4].startswith("| `dcgan` | mean +- sd | 305 +- 7 | 25.0 +- 7.1 | 10.0 +- 0.0 |")
    assert lines[4].endswith("|  |  |  |")


def _project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = [str(ROOT / package)]
        names += [m.name for m in pkgutil.walk_packages(path, prefix=f"{package}.")]
    return names


# Exceptions that never reach a user: the training code catches them and raises a RunError.
INTERNAL = {
    "training.loop.Diverged",  # a non-finite step, which stops or rolls back the run
    "training.runlock.RunFolderLocked",  # the run folder's lock is held (training.rundir)
}


def test_every_error_class_derives_from_ganzoo_error():
    """So that one ``except GanzooError`` in each command catches them all."""
    errors = {}
    for name in _project_modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Exception) and cls.__module__ == name:
                errors[f"{name}.{cls_name}"] = cls
    assert {
        "zoo.registry.RegistryError",
        "training.sections.ConfigError",
        "training.sources.DataError",
        "training.features.ExtractorError",
        "training.checkpoints.CheckpointError",
        "training.evaluate.EvaluationError",
        "training.sample.SampleError",
        "export.sampler.ExportError",
        "export.sampler.DestinationError",
    } <= set(errors)
    stray = sorted(n for n, cls in errors.items() if not issubclass(cls, GanzooError))
    assert set(stray) <= INTERNAL, stray
    # Callers that caught the old built-in bases still catch these.
    assert issubclass(errors["zoo.registry.RegistryError"], KeyError)
    assert str(errors["zoo.registry.RegistryError"]("a plain sentence")) == "a plain sentence"


class _Imports(ast.NodeVisitor):
    """The project modules a module imports, at module level or inside functions; imports
    under ``if TYPE_CHECKING:`` are never run and do not count."""

    def __init__(self, name: str, is_package: bool, modules: set[str]):
        self.package = name if is_package else name.rpartition(".")[0]
        self.modules, self.found = modules, set()

    def visit_If(self, node):
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node):
        self.found.update(a.name for a in node.names if a.name in self.modules)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level:
            parts = self.package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            module = f"{base}.{module}" if module else base
        for alias in node.names:
            submodule = f"{module}.{alias.name}"
            # ``from training import callbacks`` imports the module training.callbacks; the
            # package __init__ that Python runs first is not an edge of its own.
            target = submodule if submodule in self.modules else module
            if target in self.modules:
                self.found.add(target)


def import_graph() -> dict[str, set[str]]:
    paths = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in paths.items():
        visitor = _Imports(name, path.name == "__init__.py", set(paths))
        visitor.visit(ast.parse(path.read_text()))
        graph[name] = visitor.found - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a path that ends where it starts), or None."""
    done, path = set(), []

    def visit(node):
        path.append(node)
        for nxt in sorted(graph[node]):
            if nxt in path:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_modules_import_each_other_without_cycles():
    """Counting imports inside functions too: a cycle there works until someone moves one
    import to the top of its module (callbacks -> evaluate -> sample -> loop -> callbacks)."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    graph = import_graph()
    assert {"training.loop", "training.callbacks", "zoo.registry"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # zoo is the bottom layer: training and export import it, never the other way round.
    upward = {(m, d) for m, deps in graph.items() if m.startswith("zoo") for d in deps}
    assert all(d.startswith("zoo") for _, d in upward), upward


def test_progress_lines_show_means_since_the_last_line(capsys):
    """In a log file each line has the means over its steps, as TensorBoard: a term that runs
    every 4 steps (logged as 4x its value there, 0 elsewhere) shows its mean, not 0."""
    from training.callbacks import ProgressBar

    bar = ProgressBar(total=6, every=4)
    bar.interactive = False  # as under pytest's capture, a CI log or a file
    bar.on_train_begin(0)
    for step in range(1, 7):
        lazy = 8.0 if (step - 1) % 4 == 0 else 0.0
        bar.on_step_end(step, {"d_loss": float(step), "r1": lazy})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("step 4/6 d_loss=2.5000 r1=2.0000 (")
    assert lines[1].startswith("step 6/6 d_loss=5.5000 r1=4.0000 (")  # steps 5 and 6
