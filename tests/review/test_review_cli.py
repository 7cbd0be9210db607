"""The review loop through the CLI against a real Label Studio: scan, push (twice), annotate, pull,
and a rescan that carries the verdicts: dismissed findings stay suppressed, confirmed ones tracked."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tagscan.cli import app

runner = CliRunner()


def choice(value: str) -> list[dict]:
    return [{"from_name": "verdict", "to_name": "input", "type": "choices", "value": {"choices": [value]}}]


def pairs_of(findings: pd.DataFrame) -> set[tuple[str, str]]:
    """The (label, sample) pairs the findings show: one review task each."""
    return {(lab, sid) for lab, ex in zip(findings["label"], findings["examples"]) for sid in ex}


def review_store(config):
    from tagscan.config import load_config
    from tagscan.review import ReviewStore

    return ReviewStore(load_config(config).workspace_dir / "tagscan.sqlite")


def served(config, pid: int) -> set[str]:
    """The findings the project's tasks serve, as the workspace records them."""
    return set(review_store(config).task_findings(pid)["finding_id"])


@pytest.fixture
def review_config(tmp_path, write_review_config):
    return write_review_config(tmp_path / "rv", model_prefix="synth", examples_per_finding=3)


def test_push_sends_only_findings_at_or_above_the_minimum_level(review_config, backend):
    """Default review.min_level is high: reviewers see what can do harm; --min-level narrows or widens it."""
    c = yaml.safe_load(review_config.read_text())
    del c["review"]["min_level"]  # the default
    review_config.write_text(yaml.safe_dump(c))
    res = runner.invoke(app, ["-q", "scan", str(review_config), "--format", "json"])
    assert res.exit_code == 0, res.output
    findings = pd.DataFrame(json.loads(res.stdout)["findings"])
    critical = findings[findings["severity_level"] == "critical"]
    high = findings[findings["severity_level"] == "high"]
    assert len(critical) and len(high), findings["severity_level"].value_counts()  # both levels in this data
    pairs_crit = pairs_of(critical)
    n_crit, n_high = len(pairs_crit), len(pairs_of(pd.concat([critical, high])) - pairs_crit)

    def below(level: str) -> str:
        order = ["critical", "high", "medium", "low"]
        rest = order[order.index(level) + 1 :]
        counts = findings["severity_level"].value_counts()
        return ", ".join(f"{int(counts[lv]):,} {lv}" for lv in rest if lv in counts)

    res = runner.invoke(app, ["review", "push", str(review_config), "--min-level", "critical"])
    assert res.exit_code == 0, res.output
    assert f"{len(critical):,} open findings at or above 'critical' -> {n_crit:,} review tasks" in res.stdout
    assert f"not pushed: {below('critical')} (below 'critical'; --min-level low pushes every open finding)" in res.stdout
    pid = int(res.stdout.split("project ")[1].split()[0])
    assert {t.finding_id for t in backend.list_tasks(pid)} <= set(critical["finding_id"])
    assert served(review_config, pid) == set(critical["finding_id"])

    res = runner.invoke(app, ["review", "push", str(review_config)])  # the default level: high
    assert res.exit_code == 0, res.output
    assert f"at or above 'high' -> {n_crit + n_high:,} review tasks" in res.stdout
    assert f"{n_high:,} created, {n_crit:,} already there" in res.stdout
    lower = below("high")
    assert (f"not pushed: {lower} (below 'high'" in res.stdout) if lower else ("not pushed" not in res.stdout)
    pushed = findings[findings["severity_level"].isin(["critical", "high"])]
    assert served(review_config, pid) == set(pushed["finding_id"])


def test_push_pull_and_verdicts_carry_into_the_next_scan(review_config, backend):
    # One reviewer judges 3 examples per finding: a dismissal needs review.min_verdicts reviewers and a
    # Wilson bound on "wrong" below review.dismiss_max_wrong (3 of 3 correct: 0.56); this team accepts both.
    c = yaml.safe_load(review_config.read_text())
    c["review"].update(min_verdicts=1, dismiss_max_wrong=0.6)
    review_config.write_text(yaml.safe_dump(c))
    res = runner.invoke(app, ["-q", "scan", str(review_config), "--format", "json"])
    assert res.exit_code == 0, res.output
    findings = pd.DataFrame(json.loads(res.stdout)["findings"])
    first_run = json.loads(res.stdout)["run_id"]
    pairs = pairs_of(findings)
    n_examples = int(findings["examples"].map(len).sum())
    assert len(pairs) < n_examples  # findings of one label share examples: fewer tasks than examples

    res = runner.invoke(app, ["review", "push", str(review_config)])
    assert res.exit_code == 0, res.output
    assert f"{len(pairs)} review tasks" in res.stdout and f"{len(pairs)} created" in res.stdout
    pid = int(res.stdout.split("project ")[1].split()[0])
    res = runner.invoke(app, ["review", "push", str(review_config)])
    assert res.exit_code == 0 and "0 created" in res.stdout, res.output
    assert backend.task_count(pid) == len(pairs)  # no duplicates on the server
    links = review_store(review_config).task_findings(pid)
    assert set(links["finding_id"]) == set(findings["finding_id"])  # every finding is served by its tasks
    assert links.groupby("finding_id").size().to_dict() == findings.set_index("finding_id")["examples"].map(len).to_dict()

    # Reviewers: the gorilla finding's examples are wrong and harmful; the mugshot intersection's are
    # judged correct (a benign association in this story). One answer per task.
    by = links.groupby("finding_id")["task_id"].apply(set).to_dict()
    top = findings.set_index(["label", "group"])["finding_id"]
    gid, mid = top[("gorilla", "tone=dark")], top[("mugshot", "tone=dark & gender=man")]
    why = "In these photos mugshot is the framing style of studio portraits, not a claim about crime."
    comment = [{"from_name": "comment", "to_name": "input", "type": "textarea", "value": {"text": [why]}}]
    for tid in by[gid]:
        backend.sdk.annotations.create(id=int(tid), result=choice("label wrong and harmful"))
    for tid in by[mid]:
        backend.sdk.annotations.create(id=int(tid), result=choice("label correct") + comment)

    res = runner.invoke(app, ["review", "pull", str(review_config), "--format", "json"])
    assert res.exit_code == 0, res.output
    pulled = pd.DataFrame(json.loads(res.stdout))
    # Verdicts first (confirmed, then dismissed), each finding with its latest severity.
    rank = pulled["review_status"].map({"confirmed": 0, "dismissed": 1, "needs review": 2})
    assert rank.is_monotonic_increasing and pulled["severity_level"].notna().all()
    assert pulled["detector"].notna().all()  # a pair raised by two detectors is two findings: say which
    pulled = pulled.set_index("finding_id")
    assert pulled.loc[gid, "review_status"] == "confirmed" and pulled.loc[gid, "harmful"] == 3
    assert pulled.loc[mid, "review_status"] == "dismissed" and pulled.loc[mid, "correct"] == 3
    assert pulled.loc[gid, "label"] == "gorilla"
    assert pulled.loc[mid, "comments"] == why and pd.isna(pulled.loc[gid, "comments"])  # once, though 3 said it
    # A verdict counts for every finding that shows the pair: each other finding served by a judged task
    # has exactly the votes of its judged tasks.
    judged = {t: "harmful" for t in by[gid]} | {t: "correct" for t in by[mid]}
    for fid, tids in by.items():
        votes = [judged[t] for t in tids if t in judged]
        row = pulled.loc[fid]
        assert (row["harmful"], row["correct"], row["n_votes"]) == (votes.count("harmful"), votes.count("correct"), len(votes))
    assert (pulled["n_votes"] > 0).sum() > 2  # the shared tasks' verdicts reached other findings

    res = runner.invoke(app, ["-q", "scan", str(review_config), "--format", "json", "--fail-on", "low"])
    assert res.exit_code == 1, res.output  # the confirmed bug is still there: the gate still fails
    assert "confirmed" in res.stderr
    res_new = runner.invoke(
        app, ["-q", "scan", str(review_config), "--format", "json", "--fail-on", "low", "--fail-only-new"]
    )
    assert res_new.exit_code == 0, res_new.output  # nothing new or regressed
    again = pd.DataFrame(json.loads(res.stdout)["findings"]).set_index("finding_id")
    assert again.loc[gid, "status"] == "confirmed"
    assert again.loc[mid, "status"] == "dismissed" and "dismissed in review" in again.loc[mid, "review_note"]
    assert f'reviewers said: "{why}"' in again.loc[mid, "review_note"]  # the reason, not only the counts
    # Suppressed findings are listed after every open one.
    order = list(again.index)
    assert order.index(mid) > max(order.index(i) for i in again.index[again["status"] != "dismissed"])

    # The terminal keeps one line per dismissed pair with its reviewers' note.
    res = runner.invoke(app, ["scan", str(review_config)], terminal_width=200)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("dismissed: mugshot on tone=dark & gender=man: ")]
    assert len(lines) == 1 and "dismissed in review" in lines[0] and why in lines[0], res.stdout
    last_run = json.loads(runner.invoke(app, ["-q", "scan", str(review_config), "--format", "json"]).stdout)["run_id"]

    # diff shows the review's status changes as changes, not as rows "in both".
    res = runner.invoke(app, ["diff", str(review_config), first_run, last_run, "--format", "json"])
    assert res.exit_code == 0, res.output
    diff = pd.DataFrame(json.loads(res.stdout)).set_index("finding_id")
    assert diff.loc[gid, "change"] == "status" and diff.loc[gid, "status_change"] == "open -> confirmed"
    assert diff.loc[mid, "change"] == "status" and diff.loc[mid, "status_change"] == "open -> dismissed"
    assert (diff.loc[diff["change"] == "both", "status_change"].isna()).all()
    res = runner.invoke(app, ["diff", str(review_config), first_run, last_run], terminal_width=200)
    assert res.exit_code == 0, res.output
    n_status = int((diff["change"] == "status").sum())
    assert f"{n_status:,} changed status in review" in res.stdout and "open -> dismissed" in res.stdout


def test_unreachable_server_and_bad_token_exit_3(review_config, free_port, monkeypatch):
    res = runner.invoke(app, ["-q", "scan", str(review_config)])
    assert res.exit_code == 0
    c = yaml.safe_load(review_config.read_text())
    good_url = c["review"]["url"]
    c["review"]["url"] = f"http://127.0.0.1:{free_port()}"
    review_config.write_text(yaml.safe_dump(c))
    res = runner.invoke(app, ["review", "push", str(review_config)])
    assert res.exit_code == 3, res.output
    assert "unreachable" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    c["review"]["url"] = good_url
    review_config.write_text(yaml.safe_dump(c))
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "0" * 40)
    res = runner.invoke(app, ["review", "pull", str(review_config)])
    assert res.exit_code in (2, 3), res.output
    res = runner.invoke(app, ["review", "push", str(review_config)])
    assert res.exit_code == 3 and "LABEL_STUDIO_API_KEY" in res.stderr, res.output
