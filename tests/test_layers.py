"""The shape of the house, enforced: the layer rule (README "Layout"), no import cycles, size limits, and no
CSS or JavaScript inside Python files. Reads the source with ``ast``; imports inside functions count too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Where each installed package lives in the source tree (pyproject.toml's package-dir).
PACKAGE_DIRS = {"tagscan": ROOT / "tagscan", "tagscan.scan": ROOT / "scan", "tagscan.embed": ROOT / "embed",
                "tagscan.review": ROOT / "review"}

#: Lowest first. A module may import from its own layer's package and from layers to its left, never to its right.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("tagscan", "tagscan.constants", "tagscan.errors", "tagscan.yamlio", "tagscan.fsutil", "tagscan.progress"),
    ("tagscan.config",),
    ("tagscan.inputs",),
    ("tagscan.embed",),
    ("tagscan.scan",),
    ("tagscan.review",),
    ("tagscan.runs",),
    ("tagscan.outputs",),
    ("tagscan.demo",),
    ("tagscan.pipeline",),
    ("tagscan.cli",),
)
MAX_LINES = 900
LONG_ALLOWED = {"tagscan.scan.stats"}
PIPELINE_MAX = 400


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            # A subfolder that is itself another mapped package is that package's, not this one's.
            name = ".".join([pkg, *parts])
            if pkg == "tagscan" and parts and f"tagscan.{parts[0]}" in PACKAGE_DIRS:
                continue
            out[name] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    best, rank = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            inside = module == name or (name != "tagscan" and module.startswith(name + "."))
            if inside and len(name) > best:
                best, rank = len(name), i
    assert rank is not None, f"{module}: in no layer; add it to LAYERS and to the README's layout section"
    return rank


def _imports(module: str, path: Path) -> set[str]:
    """Every tagscan module ``module`` imports, anywhere in the file, resolved to a known module name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts if is_pkg else parts[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            # `from pkg import sub` imports the module pkg.sub; `from pkg import name` imports pkg.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for n in names:
            if not n.startswith("tagscan"):
                continue
            while n and n not in MODULES:  # `from tagscan.scan import stats` names the module tagscan.scan.stats
                n = n.rpartition(".")[0]
            if n and n != module:
                found.add(n)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    for m in MODULES:
        _layer(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    here = _layer(module)
    bad = sorted(t for t in GRAPH[module] if _layer(t) > here)
    assert not bad, f"{module} (layer {here}) imports {bad} from a higher layer; move the shared code down"


def test_no_import_cycles():
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if seen.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in seen:
                visit(t)
        stack.pop()
        seen[m] = 2

    for m in sorted(GRAPH):
        if m not in seen:
            visit(m)


def test_the_rule_sees_a_violation(tmp_path):
    """The checker itself: an upward import and a cycle in a scratch module are found."""
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from tagscan.pipeline import run_scan\nfrom . import stats\n")
    found = _imports("tagscan.scan.fake", path)
    assert "tagscan.pipeline" in found and "tagscan.scan.stats" in found
    assert _layer("tagscan.pipeline") > _layer("tagscan.scan.fake")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    n = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    limit = PIPELINE_MAX if module == "tagscan.pipeline" else MAX_LINES
    if module in LONG_ALLOWED:
        return
    assert n <= limit, f"{MODULES[module].relative_to(ROOT)}: {n} lines, more than {limit}; split it by concern"


_CSS = re.compile(r"[\w\-.#:>\s\[\]=\"',*]+\{[^{}]*\b[a-z-]+\s*:\s*[^;{}]+;")
_JS = re.compile(r"\bfunction\s*\w*\s*\(|\bdocument\.|addEventListener|=>\s*\{|\bconst\s+\w+\s*=")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_css_or_javascript_in_python(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 80:
            text = node.value
            assert len(_CSS.findall(text)) < 3, f"{module}: a string holds CSS; put it in a package data file"
            assert not _JS.search(text), f"{module}: a string holds JavaScript; put it in a package data file"


def test_css_and_js_detectors_work():
    css = "body { color: red; }\n.a { margin: 0; }\ntd.n { text-align: right; }\n" * 2
    assert len(_CSS.findall(css)) >= 3
    assert _JS.search("document.querySelectorAll('tr').forEach(r => { r.hidden = false; });")
    assert len(_CSS.findall("p-values from survival functions: {x}; counts {y};")) < 3
