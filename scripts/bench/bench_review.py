"""Push and pull of review tasks against a local Label Studio, and duplicates after an interrupted push.

Measured, side by side in one run (default 10,000 tasks = 1,250 findings x 8 examples, batches of 500):

1. ``push`` of every task into a new project (time, tasks/s);
2. ``push`` again (nothing to import: the idempotency check);
3. ``push`` again from an empty workspace (the store is reconciled with the server by listing keys);
4. an interrupted push (the process "dies" after the import of batch ``--crash-after`` returned, before the
   workspace recorded it), then a repeated push: duplicates and missing tasks counted through the API
   (both must be 0), and the time of the recovering push;
5. ``pull`` of a project whose tasks all carry one annotation (time, tasks/s). Those annotations are
   imported with the tasks, because creating them one by one through the API costs ~270 ms each on
   this server (45 min for 10,000); the pull itself is the same code path as for annotations made in
   the UI.

Uses the server at ``--url`` (with ``LABEL_STUDIO_API_KEY``) or starts its own through
scripts/labelstudio.sh on a free loopback port with a temporary data folder, and stops it at the end.

    .venv/bin/python scripts/bench/bench_review.py [--tasks 10000] [--examples 8] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from tagscan.review.backends.label_studio import CHOICE_FOR_VERDICT, LabelStudioBackend, task_payloads
from tagscan.review.codec import review_items
from tagscan.review.service import pull, push
from tagscan.review.store import ReviewStore, TaskRow

REPO = Path(__file__).resolve().parents[2]
MODEL = "bench-model:v1"


class Crash(Exception):
    pass


class CrashAfterImport:
    """The real backend; raises right after the n-th import request returned (tasks on the server)."""

    def __init__(self, real, after: int):
        self.real, self.after, self.imports = real, after, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def send_items(self, project_id, items, **kw):
        ids = self.real.send_items(project_id, items, **kw)
        self.imports += 1
        if self.imports >= self.after:
            raise Crash(f"simulated kill after import {self.imports}")
        return ids


def build(n_tasks: int, examples: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_findings = max(1, n_tasks // examples)
    n_samples = max(n_tasks // 2, examples)
    samples = pd.DataFrame(
        {
            "sample_id": [f"s{i:07d}" for i in range(n_samples)],
            "text": [f"alt text of photo {i}: people at a park, trees, a dog" for i in range(n_samples)],
        }
    )
    findings = pd.DataFrame(
        {
            "finding_id": [f"f{i:06d}" for i in range(n_findings)],
            "detector": "association",
            "label": [f"tag_{i:05d}" for i in range(n_findings)],
            "label_name": [f"tag {i}" for i in range(n_findings)],
            "group": [f"cluster:k64/{i % 64}" for i in range(n_findings)],
            "group_description": [f"cluster {i % 64}: people outdoors" for i in range(n_findings)],
            "severity": rng.uniform(0, 100, n_findings).round(2),
            "severity_level": "medium",
            "examples": [
                [samples["sample_id"].iat[j] for j in rng.choice(n_samples, examples, replace=False)]
                for _ in range(n_findings)
            ],
        }
    )
    return findings, samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def duplicates_and_missing(backend, project_id: int, expected: set[str]) -> tuple[int, int, int]:
    keys = Counter(t.tagscan_key for t in backend.list_tasks(project_id))
    return sum(keys.values()) - len(keys), len(expected - set(keys)), sum(keys.values())


def run(url: str, api_key: str, args: argparse.Namespace, work: Path) -> None:
    backend = LabelStudioBackend(url, api_key, timeout=300)
    findings, samples = build(args.tasks, args.examples)
    tasks = task_payloads(review_items(findings, samples, input_kind="text", model_key=MODEL))
    expected = {t["data"]["tagscan_key"] for t in tasks}
    n = len(tasks)
    tag = secrets.token_hex(3)
    rows: list[tuple[str, float, str]] = []

    def timed(label: str, fn, note=lambda r, dt: ""):
        t0 = time.perf_counter()
        r = fn()
        dt = time.perf_counter() - t0
        rows.append((label, dt, note(r, dt)))
        print(f"  {label}: {dt:.1f} s  {rows[-1][2]}", file=sys.stderr)
        return r

    def do_push(store, title, backend=backend):
        return push(
            findings, samples, backend=backend, store=store, model_key=MODEL, project_title=title,
            input_kind="text", run_id="bench", batch_size=args.batch_size,
        )

    print(f"bench_review: {n} tasks ({len(findings)} findings x {args.examples}), batches of {args.batch_size}, {url}", file=sys.stderr)
    title = f"bench push {tag}"
    store = ReviewStore(work / "a.sqlite")
    r = timed("push, new project", lambda: do_push(store, title), lambda r, dt: f"{r.created} created, {r.created / dt:.0f} tasks/s")
    timed("push again (no-op)", lambda: do_push(store, title), lambda r, dt: f"{r.created} created, {r.already_present} already present")
    timed(
        "push again, empty workspace (full reconcile)",
        lambda: do_push(ReviewStore(work / "b.sqlite"), title),
        lambda r, dt: f"{r.created} created, {r.recovered} adopted",
    )
    dup, missing, total = duplicates_and_missing(backend, r.project_id, expected)
    rows.append(("after 3 pushes: tasks / duplicates / missing", 0.0, f"{total} / {dup} / {missing}"))

    # interrupted push, then push again
    title2 = f"bench crash {tag}"
    store2 = ReviewStore(work / "c.sqlite")
    try:
        do_push(store2, title2, backend=CrashAfterImport(backend, args.crash_after))
    except Crash as exc:
        print(f"  interrupted push: {exc}", file=sys.stderr)
    r2 = timed("push after the interrupted one", lambda: do_push(store2, title2), lambda r, dt: f"{r.created} created, {r.recovered} recovered, {r.already_present} already present")
    dup, missing, total = duplicates_and_missing(backend, r2.project_id, expected)
    rows.append(("after interrupted + repeated push: tasks / duplicates / missing", 0.0, f"{total} / {dup} / {missing}"))

    # pull over fully annotated tasks
    title3 = f"bench pull {tag}"
    store3 = ReviewStore(work / "d.sqlite")
    pid = backend.ensure_project(title3, input_kind="text")
    store3.save_project(MODEL, pid, title=title3, server_url=url, input_kind="text")
    verdicts = np.random.default_rng(1).choice(["correct", "wrong", "harmful", "unsure"], n, p=[0.6, 0.25, 0.05, 0.1])
    annotated = [
        {**t, "annotations": [{"result": [{"from_name": "verdict", "to_name": "input", "type": "choices", "value": {"choices": [CHOICE_FOR_VERDICT[v]]}}]}]}
        for t, v in zip(tasks, verdicts)
    ]
    t0 = time.perf_counter()
    for s in range(0, n, args.batch_size):
        chunk = annotated[s : s + args.batch_size]
        ids = backend.import_tasks(pid, chunk)
        store3.record_tasks(
            pid,
            [TaskRow(t["data"]["tagscan_key"], t["data"]["finding_id"], t["data"]["sample_id"], "bench", ids[t["data"]["tagscan_key"]]) for t in chunk],
        )
    print(f"  (set-up: {n} annotated tasks imported in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    out = timed(
        "pull",
        lambda: pull(backend=backend, store=store3, model_key=MODEL),
        lambda o, dt: f"{int(o['n_votes'].sum())} votes on {len(o)} findings, {n / dt:.0f} tasks/s",
    )
    ok = int(out["n_votes"].sum()) == n and int(out["wrong"].sum()) == int((verdicts == "wrong").sum())
    rows.append(("pull counts match the annotations", 0.0, str(ok)))

    print()
    print(f"review push/pull, {n} tasks, batch {args.batch_size}, label-studio at {url}")
    for label, dt, note in rows:
        print(f"  {label:<66} {(f'{dt:7.1f} s' if dt else ''):>9}  {note}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--examples", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--crash-after", type=int, default=5, help="the interrupted push dies after this import")
    ap.add_argument("--url", default=os.environ.get("TAGSCAN_LS_URL"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        work = Path(tmp)
        if args.url:
            key = os.environ.get("LABEL_STUDIO_API_KEY", "")
            run(args.url.rstrip("/"), key, args, work)
            return 0
        port = free_port()
        env = {
            **os.environ,
            "TAGSCAN_LS_PORT": str(port),
            "TAGSCAN_LS_DATA": str(work / "ls"),
            "TAGSCAN_LS_FILES_ROOT": str(work),
            "LABEL_STUDIO_API_KEY": secrets.token_hex(20),
        }
        script = str(REPO / "scripts" / "labelstudio.sh")
        for step in ("install", "start"):
            if subprocess.run(["bash", script, step], env=env, stdout=subprocess.DEVNULL).returncode != 0:
                print(f"bench_review: scripts/labelstudio.sh {step} failed", file=sys.stderr)
                subprocess.run(["bash", script, "stop"], env=env)
                return 1
        try:
            run(f"http://127.0.0.1:{port}", env["LABEL_STUDIO_API_KEY"], args, work)
        finally:
            subprocess.run(["bash", script, "stop"], env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
