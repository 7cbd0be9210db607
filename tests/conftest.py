"""Shared fixtures. Models are never downloaded: the hub is offline for the whole test run."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The embedding cache is the machine's (~/.cache/tagscan): no test may write there, not even a session-scoped
# fixture that runs before the per-module and per-test folders below are set.
os.environ["TAGSCAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="tagscan-test-cache-")
# The CLI's tables fit COLUMNS when it is set (issue 11): tests read the 160-column pipe width unless they set it.
os.environ.pop("COLUMNS", None)

sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "module_cache: the test reads the embedding cache its module's fixtures filled (a warmed demo workspace) "
        "instead of a fresh one of its own",
    )
    config.addinivalue_line(
        "markers", "live: the test talks to a real Label Studio server (set on every test using the ls_server fixture)"
    )
    config.addinivalue_line(
        "markers", "browser: the test drives a headless Chromium (set on every test using the browser fixture)"
    )


#: Fixtures that need a server or a browser, and the marker each gives its tests: ``scripts/test.sh --quick``
#: deselects them with ``-m "not live and not browser"``. Marked by fixture, so a new test is never missed.
SERVICE_MARKERS = {"ls_server": "live", "browser": "browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))  # the whole closure: backend -> ls_server counts
        for fixture, marker in SERVICE_MARKERS.items():
            if fixture in used:
                item.add_marker(marker)


@pytest.fixture(scope="module", autouse=True)
def _module_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """Each test module's own embedding cache, set before its module-scoped fixtures embed anything."""
    path = tmp_path_factory.mktemp("tagscan-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAGSCAN_CACHE_DIR", str(path))
        yield path


@pytest.fixture(autouse=True)
def user_cache_dir(request: pytest.FixtureRequest, _module_cache_dir: Path, tmp_path_factory, monkeypatch) -> Path:
    """Every test embeds into a temporary cache (``TAGSCAN_CACHE_DIR``), never the machine's: a fresh one of
    its own, or its module's (``@pytest.mark.module_cache``) when it needs what module fixtures cached."""
    if request.node.get_closest_marker("module_cache"):
        path = _module_cache_dir
    else:
        path = tmp_path_factory.mktemp("tagscan-cache")
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", str(path))
    return path


@pytest.fixture
def synth_config(tmp_path: Path) -> Path:
    from tagscan.demo.planted import write_audit_set

    return write_audit_set(tmp_path / "audit")
