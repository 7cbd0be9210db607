"""Concurrent pushes against a real Label Studio: two `tagscan review push` processes started at the same
instant create every task exactly once, in one project; a push that cannot get the lock in time fails
with one line (exit 2) and changes nothing."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.review.store import DEFAULT_LOCK_TIMEOUT, ReviewStore

runner = CliRunner()

# A CLI process that does its imports, says it is ready, waits for the go file, then runs the command:
# both pushes start within a few milliseconds of each other, far less than a push takes.
RACER = """
import sys, time
from pathlib import Path
import tagscan.cli, tagscan.inputs, tagscan.pipeline, tagscan.review, tagscan.review.backends.label_studio.transport  # warm up
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.002)
sys.argv = ["tagscan", *sys.argv[3:]]
tagscan.cli.main()
"""

HOLDER = """
import sys, time
from tagscan.review.store import ReviewStore
with ReviewStore(sys.argv[1]).lock(sys.argv[2]):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def config(tmp_path, write_review_config) -> Path:
    cfg = write_review_config(tmp_path / "rv", model_prefix="race", examples_per_finding=20)
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--format", "json"])
    assert res.exit_code == 0, res.output
    return cfg


def projects_titled(backend, title: str) -> list[int]:
    return [p.id for p in backend.sdk.projects.list(title=title) if p.title == title]


@pytest.fixture
def cleanup(backend):
    titles: list[str] = []
    yield titles
    for t in titles:
        for pid in projects_titled(backend, t):
            try:
                backend.sdk.projects.delete(id=pid)
            except Exception:  # leftovers on a throw-away server are harmless
                pass


def test_two_pushes_at_once_create_each_task_exactly_once(config, backend, cleanup, tmp_path):
    from tagscan.config import load_config
    from tagscan.runs import Workspace

    cfg = load_config(config)
    title = f"tagscan review: {cfg.model_info.name}"
    cleanup.append(title)
    ws = Workspace(cfg.workspace_dir)
    findings = ws.load_findings(ws.resolve_run(None, cfg.name).run_id)
    open_rows = findings[~findings["status"].isin(["resolved", "dismissed"])]
    # one task per (sample, label) pair, whatever number of findings show it
    n_tasks = len({(lab, s) for lab, ex in zip(open_rows["label"], open_rows["examples"]) for s in ex})
    assert n_tasks >= 40  # enough work that the two pushes overlap

    go = tmp_path / "go"
    procs = []
    for i in range(2):
        ready = tmp_path / f"ready{i}"
        cmd = [sys.executable, "-c", RACER, str(ready), str(go), "review", "push", str(config), "--lock-timeout", "120"]
        procs.append((ready, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())))
    deadline = time.monotonic() + 120
    while not all(r.exists() for r, _ in procs):
        assert all(p.poll() is None for _, p in procs), [p.communicate() for _, p in procs]
        assert time.monotonic() < deadline, "the pushes never got ready"
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=300) for _, p in procs]
    codes = [p.returncode for _, p in procs]
    assert codes == [0, 0], outs

    # One project, every task exactly once, and the workspace knows each of them.
    pids = projects_titled(backend, title)
    assert len(pids) == 1, f"two pushes made {len(pids)} projects titled {title!r}"
    keys = Counter(t.tagscan_key for t in backend.list_tasks(pids[0]))
    dupes = {k: n for k, n in keys.items() if n > 1}
    assert dupes == {}, f"{sum(dupes.values()) - len(dupes)} duplicate tasks"
    assert len(keys) == n_tasks == backend.task_count(pids[0])
    store = ReviewStore(ws.db_path)
    assert set(store.task_ids(pids[0])) == set(keys) and store.pending_batches(pids[0]) == {}

    # One push created everything; the other waited for it and found everything there.
    created = sorted(int(out.split(" created")[0].rsplit(" ", 1)[1]) for out, _ in outs)
    assert created == [0, n_tasks], outs
    assert all(f"{n_tasks} review tasks in Label Studio project {pids[0]}" in out for out, _ in outs)


def test_push_that_cannot_get_the_lock_fails_in_one_line_and_changes_nothing(config, backend, cleanup, snapshot):
    from tagscan.config import load_config
    from tagscan.runs import Workspace

    cfg = load_config(config)
    title = f"tagscan review: {cfg.model_info.name}"
    cleanup.append(title)
    db = Workspace(cfg.workspace_dir).db_path
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), cfg.model_info.name], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(db)
        t0 = time.monotonic()
        res = runner.invoke(app, ["review", "push", str(config), "--lock-timeout", "0.5"])
        assert time.monotonic() - t0 >= 0.5
        assert res.exit_code == 2, res.output
        err = res.stderr.strip().splitlines()
        assert err[-1].startswith(f"tagscan: error: workspace {db.parent}: another tagscan review push (pid {holder.pid} ")
        assert "--lock-timeout" in err[-1] and f"model '{cfg.model_info.name}'" in err[-1]
        assert sum(line.startswith("tagscan: error:") for line in err) == 1
        res = runner.invoke(app, ["review", "pull", str(config), "--lock-timeout", "0"])
        assert res.exit_code == 2 and "nothing was pushed for model" in res.stderr  # said before any lock
        assert snapshot(db) == before and projects_titled(backend, title) == []
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
    # the holder was killed (SIGKILL): the next push goes through at once
    res = runner.invoke(app, ["review", "push", str(config), "--lock-timeout", "0"])
    assert res.exit_code == 0 and " created" in res.stdout, res.output


def test_pull_waits_for_the_lock_too(config, backend, cleanup):
    from tagscan.config import load_config
    from tagscan.runs import Workspace

    cfg = load_config(config)
    cleanup.append(f"tagscan review: {cfg.model_info.name}")
    res = runner.invoke(app, ["review", "push", str(config)])
    assert res.exit_code == 0, res.output
    db = Workspace(cfg.workspace_dir).db_path
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), cfg.model_info.name], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = runner.invoke(app, ["review", "pull", str(config), "--lock-timeout", "0.3"])
        assert res.exit_code == 2 and "another tagscan review push" in res.stderr, res.output
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
    res = runner.invoke(app, ["review", "pull", str(config), "--format", "json", "--lock-timeout", "0"])
    assert res.exit_code == 0, res.output
    assert len(pd.read_json(io.StringIO(res.stdout))) > 0


def test_lock_timeout_option(tmp_path):
    res = runner.invoke(app, ["review", "push", str(tmp_path / "tagscan.yaml"), "--lock-timeout", "-1"])
    assert res.exit_code == 2 and "--lock-timeout" in res.output
    for cmd in ("push", "pull"):
        res = runner.invoke(app, ["review", cmd, "--help"])
        assert res.exit_code == 0 and "--lock-timeout" in res.stdout
        assert f"default: {DEFAULT_LOCK_TIMEOUT:g}" in " ".join(res.stdout.split())
