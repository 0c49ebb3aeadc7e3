"""The shape of the code (docs/architecture.md): imports run one way between floors, and no function is
longer than 60 lines (docstring aside). Read from the source files; nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ferx"
MAX_LINES = 60

#: Floors from the foundation up; a module may import its own floor and those below, never above.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "facs", "types", "registry", "config", "assets", "litert", "numeric", "fsutil", "argtypes",
     "calibration", "heatmaps", "facecrop", "boxes", "io", "stages", "table", "canonical"),
    ("detect", "landmarks", "aus", "expression", "explain", "backends"),  # explain: cot, validate, llm, templates
    ("pipeline",),
    ("annotate", "data", "video"),
    ("runs",),
    ("report",),
    ("serve", "train", "explain.data_engine"),
    ("batch", "scale", "onepass", "video.run"),  # deprecated re-exports of the old module paths
    ("cli", "commands"),  # command lines: ferx/cli.py, ferx/commands.py and every package's cli.py, __main__.py
)
#: Functions longer than MAX_LINES in modules another issue owns; each is to be split there (the test
#: fails once one is short enough, so that this list only shrinks). Empty since issue 21 split the last ones.
KNOWN_LONG: set[tuple[str, str]] = set()


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _floor(module: str) -> int:
    if module.split(".")[-1] in ("cli", "__main__"):
        return len(FLOORS) - 1
    best, floor = -1, -1
    for k, names in enumerate(FLOORS):
        for name in names:  # the most specific name decides (video.run is not video)
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, floor = len(name), k
    assert floor >= 0, f"ferx.{module} is on no floor: add it to FLOORS"
    return floor


def _imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, ferx module) of every import, also inside functions, except those under TYPE_CHECKING."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ferx"):
            names = [a.name for a in node.names]
            if node.module == "ferx":  # a subpackage (`from ferx import video`), or the public API (Analyzer,
                # load_image, …: the pipeline and below); __version__ is a constant
                out += [(node.lineno, n if (SRC / n).is_dir() or (SRC / f"{n}.py").is_file() else "pipeline")
                        for n in names if n != "__version__"]
            else:
                out.append((node.lineno, node.module[len("ferx."):]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name[len("ferx."):]) for a in node.names if a.name.startswith("ferx.")]
    return out


def test_imports_never_go_up_a_floor():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module(path)
        if not module:
            continue  # ferx/__init__.py: the public API gathers every floor
        here = _floor(module)
        for line, target in _imports(ast.parse(path.read_text())):
            if _floor(target) > here:
                upward.append(f"ferx.{module} (floor {here}) line {line} imports ferx.{target} (floor {_floor(target)})")
    assert not upward, "imports that go up a floor:\n" + "\n".join(upward)


def _lengths() -> dict[tuple[str, str], int]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = node.body[0]
                doc = first.end_lineno - first.lineno + 1 if (
                    isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str) and len(node.body) > 1) else 0
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                key = (path.relative_to(SRC).as_posix(), node.name)
                out[key] = max(out.get(key, 0), node.end_lineno - start + 1 - doc)
    return out


def test_no_function_is_longer_than_60_lines():
    lengths = _lengths()
    long = {k: n for k, n in lengths.items() if n > MAX_LINES}
    assert set(long) <= KNOWN_LONG, "functions over 60 lines: " + ", ".join(
        f"{f}:{name} ({n})" for (f, name), n in sorted(long.items()) if (f, name) not in KNOWN_LONG)
    fixed = sorted(KNOWN_LONG - set(long))
    assert not fixed, f"now short enough, remove from KNOWN_LONG: {fixed}"


def test_the_floors_are_in_order():
    order = ["types", "detect.blazeface", "pipeline", "video.track", "runs.driver", "report.build", "serve.app",
             "scale.cli", "cli"]
    assert [_floor(m) for m in order] == sorted(_floor(m) for m in order)
    assert _floor("explain.data_engine") > _floor("explain.cot") and _floor("video.run") > _floor("runs.video")
