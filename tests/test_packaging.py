"""pyproject.toml installs every package of the source tree with every data file it reads at run time."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
MAPPED = {"tagscan": "tagscan", "tagscan.scan": "scan", "tagscan.embed": "embed", "tagscan.review": "review"}


def _source_packages() -> dict[str, Path]:
    out = {}
    for pkg, folder in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            if pkg == "tagscan" and rel and f"tagscan.{rel[0]}" in MAPPED:
                continue
            out[".".join([pkg, *rel])] = init.parent
    return out


def test_every_package_is_listed():
    assert sorted(PYPROJECT["packages"]) == sorted(_source_packages())


def test_every_data_file_is_package_data():
    data = PYPROJECT["package-data"]
    packages = _source_packages()
    missed = []
    for pkg, folder in packages.items():
        for path in folder.rglob("*"):
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            # The file belongs to the deepest package folder that holds it.
            owner = max((p for p, f in packages.items() if f in path.parents), key=lambda p: len(packages[p].parts))
            if owner != pkg:
                continue
            rel = path.relative_to(folder).as_posix()
            if not any(fnmatch.fnmatch(rel, pat) for pat in data.get(pkg, [])):
                missed.append(f"{pkg}: {rel}")
    assert not missed, f"not installed by a non-editable install: {missed}; add a glob under package-data"
