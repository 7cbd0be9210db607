"""Fixtures for tagscan.review: a real Label Studio server, a store, and small findings tables.

The server: ``TAGSCAN_LS_URL`` (+ ``LABEL_STUDIO_API_KEY``, and ``TAGSCAN_LS_FILES_ROOT`` for image tests)
when set, e.g. by scripts/test.sh; otherwise this session installs and starts one through
scripts/labelstudio.sh on a free loopback port with a temporary data folder and a random token, and
stops it at the end. When no server can be had: a failure under ``CI=true`` (never a skip in CI), a
skip with the reason elsewhere.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "labelstudio.sh"


@dataclass(frozen=True)
class Server:
    url: str
    api_key: str
    files_root: Path | None  # the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT, when known


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Label Studio is required in CI: {reason}", pytrace=False)
    pytest.skip(f"no Label Studio server: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        r = httpx.get(f"{url}/health", timeout=5)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and "UP" in r.text


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = os.environ.get("TAGSCAN_LS_URL")
    if url:
        url = url.rstrip("/")
        key = os.environ.get("LABEL_STUDIO_API_KEY", "")
        if not key:
            _unavailable("TAGSCAN_LS_URL is set but LABEL_STUDIO_API_KEY is not")
        if not _healthy(url):
            _unavailable(f"TAGSCAN_LS_URL={url} does not answer /health with UP")
        root = os.environ.get("TAGSCAN_LS_FILES_ROOT")
        yield Server(url, key, Path(root).resolve() if root else None)
        return

    base = tmp_path_factory.getbasetemp().resolve()
    data = tmp_path_factory.mktemp("labelstudio-data")
    port = _free_port()
    env = {
        **os.environ,
        "TAGSCAN_LS_PORT": str(port),
        "TAGSCAN_LS_DATA": str(data),
        "TAGSCAN_LS_FILES_ROOT": str(base),
        "LABEL_STUDIO_API_KEY": secrets.token_hex(20),
    }
    for step in ("install", "start"):
        try:
            out = subprocess.run(["bash", str(SCRIPT), step], env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            _unavailable(f"scripts/labelstudio.sh {step} timed out")
        if out.returncode != 0:
            subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60)
            _unavailable(f"scripts/labelstudio.sh {step} failed: {out.stderr.strip()[-1500:]}")
    try:
        yield Server(f"http://127.0.0.1:{port}", env["LABEL_STUDIO_API_KEY"], base)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


@pytest.fixture
def backend(ls_server: Server):
    from tagscan.review.backends.label_studio import LabelStudioBackend

    return LabelStudioBackend(ls_server.url, ls_server.api_key, files_root=ls_server.files_root)


@pytest.fixture
def project_title(backend) -> Iterator[str]:
    """A unique project title; the projects with it are deleted after the test."""
    title = f"tagscan-test-{uuid.uuid4().hex[:10]}"
    yield title
    try:
        for p in backend.sdk.projects.list(title=title):
            if p.title == title:
                backend.sdk.projects.delete(id=p.id)
    except Exception:  # the server may be the thing under test; leftovers are harmless
        pass


@pytest.fixture
def store(tmp_path: Path):
    from tagscan.review.store import ReviewStore

    return ReviewStore(tmp_path / "ws" / "tagscan.sqlite")


def make_review_data(
    n_findings: int = 3, examples: int = 4, *, seed: int = 0, input_kind: str = "text"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A findings table (FINDING_COLUMNS subset used by review) and the samples it points to."""
    rng = np.random.default_rng(seed)
    n_samples = max(n_findings * examples // 2, examples + 1)
    samples = pd.DataFrame(
        {
            "sample_id": [f"s{i:05d}" for i in range(n_samples)],
            "text": [f"caption number {i}: a photo of something" for i in range(n_samples)],
            "skin_tone": rng.choice(["dark", "light"], n_samples),
        }
    )
    rows = []
    for f in range(n_findings):
        ex = rng.choice(n_samples, size=examples, replace=False)
        rows.append(
            {
                "finding_id": f"f{f:04d}",
                "detector": "association",
                "label": f"L{f:03d}",
                "label_name": f"label {f}",
                "group": "skin_tone=dark",
                "group_kind": "attribute",
                "group_description": "skin tone: dark",
                "count": 10,
                "severity": float(90 - f % 90) + 0.5,
                "severity_level": "high",
                "watch_category": None,
                "examples": [samples["sample_id"].iat[i] for i in ex],
                "status": "new",
            }
        )
    return pd.DataFrame(rows), samples


@pytest.fixture
def review_data() -> Callable[..., tuple[pd.DataFrame, pd.DataFrame]]:
    return make_review_data


def table_snapshot(db_path: Path) -> dict[str, list]:
    """Every row of every table of a SQLite file (to show that a failure changed nothing)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(db_path)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: sorted(db.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a loopback port that nothing listens on (now)."""
    return _free_port


@pytest.fixture
def unavailable() -> Callable[[str], None]:
    """Fail under CI=true, skip elsewhere, with the reason."""
    return _unavailable


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, list]]:
    return table_snapshot


def _write_review_config(folder: Path, server: Server, *, model_prefix: str, examples_per_finding: int) -> Path:
    """A 3,000-sample synthetic audit set with the two planted harms, reviewed on ``server``. Its model
    name is unique (``model_prefix`` + random), so each test gets its own project on the shared server;
    ``min_level: low`` pushes every open finding. The API key is read from LABEL_STUDIO_API_KEY."""
    import yaml

    from tagscan.demo.planted import Planted, SynthSpec, write_audit_set

    planted = [Planted("gorilla", {"tone": "dark"}, 0.08), Planted("mugshot", {"tone": "dark", "gender": "man"}, 0.12)]
    cfg = write_audit_set(folder, SynthSpec(n=3000, planted=planted))
    c = yaml.safe_load(cfg.read_text())
    c["model"]["name"] = f"{model_prefix}-{uuid.uuid4().hex[:8]}"
    c["review"] = {
        "url": server.url,
        "api_key_env": "LABEL_STUDIO_API_KEY",
        "examples_per_finding": examples_per_finding,
        "min_level": "low",
    }
    cfg.write_text(yaml.safe_dump(c))
    return cfg


@pytest.fixture
def write_review_config(ls_server: Server, monkeypatch) -> Callable[..., Path]:
    """:func:`_write_review_config` on this session's server, with LABEL_STUDIO_API_KEY set to its token:
    ``write_review_config(folder, model_prefix=..., examples_per_finding=...)``."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_server.api_key)
    return lambda folder, **kw: _write_review_config(folder, ls_server, **kw)
