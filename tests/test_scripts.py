"""The set-up and test scripts: usage, the install stamp, progress lines, and what --quick runs.

Nothing here installs anything: setup.sh runs in a temporary copy whose .venv is a stand-in (a link to this
Python and a stub ``tagscan``), test.sh only with --dry-run, and the heartbeat on a command that waits for
the test's signal.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TAGSCAN_TEST_QUICK")}
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *args], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=120)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the repository's set-up files with a stand-in .venv that looks completely installed."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("setup.sh", "progress.sh"):
        shutil.copy(REPO / "scripts" / name, root / "scripts" / name)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    bin_ = root / ".venv" / "bin"
    bin_.mkdir(parents=True)
    (bin_ / "python").symlink_to(sys.executable)
    (bin_ / "tagscan").write_text("#!/bin/sh\n")
    (bin_ / "tagscan").chmod(0o755)
    return root


def _stamp(root: Path, text: str | None = None) -> Path:
    stamp = root / ".venv" / ".tagscan-installed"
    if text is None:
        text = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest() + "\n"
    stamp.write_text(text)
    return stamp


def test_setup_help():
    out = _run(["scripts/setup.sh", "--help"])
    assert out.returncode == 0
    assert out.stdout.startswith("usage: bash scripts/setup.sh") and "--force" in out.stdout


def test_setup_refuses_an_unknown_option_in_one_line():
    out = _run(["scripts/setup.sh", "--fast"])
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["[setup] unknown option '--fast'; see: bash scripts/setup.sh --help"]


def test_setup_with_nothing_to_install_says_so_and_installs_nothing(checkout):
    _stamp(checkout)
    out = _run(["scripts/setup.sh"], cwd=checkout)
    assert out.returncode == 0, out.stderr
    assert "nothing to install" in out.stderr
    assert not (checkout / ".venv" / "setup.log").exists()  # pip never ran


def test_setup_installs_again_when_pyproject_changes(checkout):
    _stamp(checkout)
    with (checkout / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency\n")
    out = _run(["scripts/setup.sh", "--dry-run"], cwd=checkout)
    assert out.returncode == 0, out.stderr
    assert "would install into .venv (pyproject.toml changed since the last install)" in out.stderr


def test_setup_force_and_a_missing_install(checkout):
    _stamp(checkout)
    out = _run(["scripts/setup.sh", "--force", "--dry-run"], cwd=checkout)
    assert "would install into .venv (--force)" in out.stderr
    (checkout / ".venv" / "bin" / "tagscan").unlink()  # an install that stopped half-way
    out = _run(["scripts/setup.sh", "--dry-run"], cwd=checkout)
    assert "would install into .venv (.venv has no complete install)" in out.stderr


def test_setup_takes_an_old_empty_stamp_for_its_pyproject(checkout):
    """Stamps of earlier versions were empty files touched after the install: still up to date, and the hash
    is written so that a later edit of pyproject.toml is seen."""
    stamp = _stamp(checkout, "")
    os.utime(checkout / "pyproject.toml", (1_000_000_000, 1_000_000_000))
    out = _run(["scripts/setup.sh"], cwd=checkout)
    assert out.returncode == 0 and "nothing to install" in out.stderr
    assert stamp.read_text().strip() == hashlib.sha256((checkout / "pyproject.toml").read_bytes()).hexdigest()


def _dry(*args: str, **env: str) -> list[str]:
    out = _run(["scripts/test.sh", "--dry-run", *args], **env)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_full_run_starts_the_servers_and_runs_every_test():
    assert _dry() == [
        "bash scripts/setup.sh",
        "bash scripts/browser.sh",
        "bash scripts/labelstudio.sh install",
        "bash scripts/labelstudio.sh start",
        ".venv/bin/ruff check .",
        ".venv/bin/python -m pytest",
    ]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_quick_run_leaves_out_the_servers_and_their_tests(how):
    lines = _dry("--quick", "-x") if how == "flag" else _dry("-x", TAGSCAN_TEST_QUICK="1")
    assert lines == [
        "bash scripts/setup.sh",
        ".venv/bin/ruff check .",
        ".venv/bin/python -m pytest -m 'not live and not browser' -x",
    ]


def test_quick_is_refused_in_ci():
    out = _run(["scripts/test.sh", "--quick", "--dry-run"], CI="true")
    assert out.returncode == 2
    assert "REFUSED" in out.stderr and "CI=true" in out.stderr
    assert out.stdout == ""


def test_ci_runs_exactly_the_readme_test_command():
    run = (REPO / ".ci" / "run").read_text().splitlines()
    assert [line for line in run if line.startswith("bash ")] == ["bash scripts/test.sh"]
    assert "bash scripts/test.sh " in (REPO / "README.md").read_text()


def test_quick_marker_expression_deselects_every_server_and_browser_test():
    """The markers --quick relies on are set by fixture (tests/conftest.py), so every test that reaches the
    Label Studio server or the browser is left out, and the rest of the module stays in."""
    files = ["tests/review/test_review_live.py", "tests/test_report.py"]
    ids = {}
    for expr in ("not live and not browser", "live or browser"):
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "-m", expr, *files],
            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        ids[expr] = {line for line in out.stdout.splitlines() if "::" in line}
    kept, left_out = ids["not live and not browser"], ids["live or browser"]
    assert not kept & left_out
    assert "tests/review/test_review_live.py::test_push_creates_project_and_one_task_per_example" in left_out
    assert "tests/test_report.py::test_browser_empty_report" in left_out
    assert "tests/test_report.py::test_capped_report_counts_pairs" in kept
    assert not any("::test_browser_" in i for i in kept)


def test_heartbeat_shows_pip_progress_while_a_step_runs_and_keeps_its_exit_code(tmp_path):
    log, flag = tmp_path / "pip.log", tmp_path / "go"
    script = (
        f". {REPO}/scripts/progress.sh\n"
        f"with_heartbeat {log} bash -c 'echo \"Collecting faiss-cpu>=1.8\"; "
        f"until [ -f {flag} ]; do sleep 0.1; done; exit 3'\n"
        'echo "rc=$?"\n'
    )
    proc = subprocess.Popen(
        ["bash", "-c", script], env=_env(PROGRESS_TAG="setup", TAGSCAN_HEARTBEAT="1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = proc.stderr.readline()  # waits for the first heartbeat, however long that takes
        flag.touch()
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert first.startswith("[setup] still working (") and first.rstrip().endswith(": Collecting faiss-cpu>=1.8")
    assert out.strip() == "rc=3"


def test_browser_without_root_fails_in_one_line_naming_the_command(tmp_path):
    """No chromium, not root, no sudo: scripts/browser.sh installs nothing and says what to run."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "id").write_text("#!/bin/sh\necho 1000\n")  # a user, not root
    (bin_ / "id").chmod(0o755)
    out = subprocess.run(
        ["/bin/bash", str(REPO / "scripts" / "browser.sh")], env=_env(PATH=str(bin_)),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert "needs root" in line and "'sudo apt-get install chromium chromium-driver'" in line
    assert "bash scripts/test.sh --quick" in line


def test_browser_present_needs_no_root(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, body in {"id": "echo 1000", "chromium": "true", "chromedriver": "true"}.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    out = subprocess.run(
        ["/bin/bash", str(REPO / "scripts" / "browser.sh")], env=_env(PATH=str(bin_)),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"chromium={bin_ / 'chromium'}", f"chromedriver={bin_ / 'chromedriver'}"]
    assert out.stderr == ""
