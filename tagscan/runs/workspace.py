"""The workspace: a SQLite catalogue of runs and findings, and one folder per run.

Layout::

    <workspace>/tagscan.sqlite         runs, findings (and, later, review tasks and verdicts)
    <workspace>/runs/<run_id>/         findings.parquet, positives.npz + labels.json (the run's positive
                                       predictions, for paired comparisons), run.json (written last),
                                       report.html (when asked for)
    <workspace>/index/                 FAISS indexes of inputs and labels

The content-addressed embedding cache is the machine's, shared by every workspace (``~/.cache/tagscan``;
see :mod:`tagscan.embed.cache`), not the workspace's.

The workspace owns every SQL statement on its catalogue's runs and findings tables and every file name in
a run folder: callers hand it records and arrays, never paths inside a run.

A run is written into ``runs/.tmp-<run_id>`` and renamed into place only when complete; the
catalogue row is committed after the rename, and a complete run folder that the catalogue misses
(a kill between rename and commit) is adopted when the workspace is next opened. A scan killed
half-way therefore leaves no half-written run, and its temporary folder is removed on next open.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.constants import STATUSES
from tagscan.errors import DataError, UsageError
from tagscan.fsutil import fsync_dir as _fsync_dir
from tagscan.fsutil import write_durably as _write_bytes
from tagscan.inputs.shards import ShardedPositives
from tagscan.runs.record import NewerRecordError, RunRecord

__all__ = ["RunEntry", "Workspace", "new_run_id", "now_iso"]

FINDINGS_FILE = "findings.parquet"
RECORD_FILE = "run.json"
POSITIVES_FILE = "positives.npz"
POSITIVES_DIR = "positives"  # a run scanned out of core keeps its shards (tagscan.inputs.shards)
POSITIVE_LABELS_FILE = "labels.json"
REPORT_FILE = "report.html"

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    config_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    model_name TEXT,
    model_version TEXT,
    n_samples INTEGER,
    n_labels INTEGER,
    n_findings INTEGER,
    inputs_hash TEXT,
    path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS findings (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    finding_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    detector TEXT NOT NULL,
    label TEXT NOT NULL,
    grp TEXT NOT NULL,
    family TEXT,
    severity REAL,
    severity_level TEXT,
    count INTEGER,
    lift REAL,
    lift_low REAL,
    p_value REAL,
    q_value REAL,
    status TEXT,
    PRIMARY KEY (run_id, finding_id)
);
CREATE INDEX IF NOT EXISTS findings_by_id ON findings(finding_id);
"""



@dataclass(frozen=True)
class RunEntry:
    """A run as the catalogue lists it (one row of its ``runs`` table)."""

    run_id: str
    config_name: str
    created_at: str
    model_name: str | None
    model_version: str | None
    n_samples: int | None
    n_labels: int | None
    n_findings: int | None
    inputs_hash: str | None
    path: str

    @property
    def model(self) -> str:
        return f"{self.model_name or ''} {self.model_version or ''}".strip()


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class Workspace:
    """One workspace folder. Cheap to open; creates its folders and catalogue on first use."""

    def __init__(self, root: Path):
        self.root = Path(root)
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{self.root}: cannot create the workspace folder ({exc}); set 'workspace' in the config to a writable folder") from exc
        if self.db_path.exists() and not self.db_path.is_file():
            raise DataError(
                f"{self.db_path}: is not a file, so it cannot be the workspace catalogue; move it away "
                "or set 'workspace' in the config to another folder"
            )
        for target in (self.root, self.runs_dir, self.db_path):
            if target.exists() and not os.access(target, os.W_OK):
                raise DataError(
                    f"{target}: is read-only, but tagscan writes its catalogue and runs into the workspace; "
                    "make it writable or set 'workspace' in the config to a writable folder"
                )
        try:
            with closing(self._connect()) as db, db:
                db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DataError(
                f"{self.db_path}: cannot be opened as the workspace catalogue (SQLite: {exc}); move the damaged "
                "file away (its runs stay in runs/ and are adopted again) or set 'workspace' to another folder"
            ) from exc
        self._recover()

    # -- paths ---------------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def db_path(self) -> Path:
        return self.root / "tagscan.sqlite"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def index_dir(self) -> Path:
        d = self.root / "index"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    # -- recovery ------------------------------------------------------------------------------
    def _recover(self) -> None:
        for tmp in self.runs_dir.glob(".tmp-*"):
            log.warning("removing the unfinished run folder %s (a scan was interrupted)", tmp)
            shutil.rmtree(tmp, ignore_errors=True)
        with closing(self._connect()) as db:
            known = {r["run_id"] for r in db.execute("SELECT run_id FROM runs")}
        for d in sorted(self.runs_dir.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and d.name not in known:
                if (d / RECORD_FILE).is_file() and (d / FINDINGS_FILE).is_file():
                    try:
                        record = self.load_record(d.name)
                        findings = self.load_findings(d.name)
                    except DataError as exc:
                        log.warning("not adopting run folder %s: %s", d, exc)
                        continue
                    log.warning("adopting run %s, written but not catalogued (interrupted commit)", d.name)
                    self._catalogue(record, findings)

    # -- writing -------------------------------------------------------------------------------
    def write_run(
        self, record: RunRecord, findings: pd.DataFrame, *, positives: tuple[sp.spmatrix, np.ndarray] | None = None
    ) -> Path:
        """Write a run atomically: folder first (run.json last), then the catalogue.

        ``positives``: the run's positive predictions (samples x labels) and the label ids of its columns,
        kept so that the next run of the same samples can test changes pairwise (:meth:`load_positives`).
        """
        import io

        run_id = record.run_id
        final = self.runs_dir / run_id
        if final.exists():
            raise UsageError(f"{final}: run {run_id} already exists")
        tmp = self.runs_dir / f".tmp-{run_id}"
        tmp.mkdir(parents=True)
        findings.to_parquet(tmp / FINDINGS_FILE, index=False)
        with open(tmp / FINDINGS_FILE, "rb") as fh:
            os.fsync(fh.fileno())
        if positives is not None:
            Y, labels = positives
            if isinstance(Y, ShardedPositives):  # out of core: the shard files, as they are
                Y.copy_to(tmp / POSITIVES_DIR)
            else:
                buf = io.BytesIO()
                sp.save_npz(buf, sp.csc_matrix(Y), compressed=True)
                _write_bytes(tmp / POSITIVES_FILE, buf.getvalue())
            _write_bytes(tmp / POSITIVE_LABELS_FILE, json.dumps([str(x) for x in labels]).encode())
        _write_bytes(tmp / RECORD_FILE, json.dumps(record.to_json(), indent=2, default=str).encode())
        _fsync_dir(tmp)
        os.replace(tmp, final)
        _fsync_dir(self.runs_dir)
        self._catalogue(record, findings)
        return final

    def _catalogue(self, record: RunRecord, findings: pd.DataFrame) -> None:
        rows = [
            (
                record.run_id,
                r.finding_id,
                i,
                r.detector,
                r.label,
                r.group,
                r.family,
                float(r.severity),
                r.severity_level,
                int(r.count),
                float(r.lift),
                float(r.lift_low),
                float(r.p_value),
                float(r.q_value),
                r.status,
            )
            for i, r in enumerate(findings.itertuples(index=False))
        ]
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    record.run_id,
                    record.config_name,
                    record.created_at,
                    record.model.name,
                    record.model.version,
                    record.counts.samples,
                    record.counts.labels,
                    int((findings["status"] != "resolved").sum()) if "status" in findings else len(findings),
                    record.inputs_hash,
                    str(self.runs_dir / record.run_id),
                ),
            )
            db.executemany("INSERT OR REPLACE INTO findings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    # -- reading -------------------------------------------------------------------------------
    def runs(self, config_name: str | None = None, model_name: str | None = None) -> list[RunEntry]:
        """Runs oldest first: all of them, those of one config, or of one config and model name."""
        where = [(c, v) for c, v in (("config_name", config_name), ("model_name", model_name)) if v]
        q = "SELECT * FROM runs" + (" WHERE " + " AND ".join(f"{c} = ?" for c, _ in where) if where else "")
        with closing(self._connect()) as db:
            rows = db.execute(q + " ORDER BY created_at, rowid", [v for _, v in where])
            names = [f.name for f in fields(RunEntry)]
            return [RunEntry(**{k: r[k] for k in names}) for r in rows]

    def run_summaries(self, config_name: str | None = None) -> pd.DataFrame:
        """One row per run (oldest first): model, size, and its findings by severity and status.

        ``n_findings``, ``critical`` and ``high`` count the run's findings (what its scan reported); the
        rows of findings resolved since its baseline are kept in its findings table, counted as ``resolved``.
        """
        live = "f.status != 'resolved'"
        q = (
            "SELECT r.run_id, r.config_name, r.created_at, r.model_name, r.model_version, r.n_samples, r.n_labels, "
            f"COALESCE(SUM({live}), 0) AS n_findings, "
            f"COALESCE(SUM({live} AND f.severity_level = 'critical'), 0) AS critical, "
            f"COALESCE(SUM({live} AND f.severity_level = 'high'), 0) AS high, "
            + "".join(
                f"COALESCE(SUM(f.status = '{s}'), 0) AS {s}, "
                for s in STATUSES
            ).rstrip(", ")
            + " "
            "FROM runs r LEFT JOIN findings f ON f.run_id = r.run_id"
            + (" WHERE r.config_name = ?" if config_name else "")
            + " GROUP BY r.run_id ORDER BY r.created_at, r.rowid"
        )
        with closing(self._connect()) as db:
            return pd.read_sql_query(q, db, params=(config_name,) if config_name else ())

    def latest_run(self, config_name: str | None = None, model_name: str | None = None) -> RunEntry | None:
        runs = self.runs(config_name, model_name)
        return runs[-1] if runs else None

    def resolve_run(
        self,
        run: str | None,
        config_name: str | None = None,
        *,
        model_name: str | None = None,
        given_as: str = "--run",
        any_config: bool = False,
    ) -> RunEntry:
        """A run by id (or unique prefix), or the latest one when ``run`` is None.

        The latest run is the latest of ``config_name`` and, when given, ``model_name`` (a workspace can
        hold the runs of several models). An id or prefix is looked up among the config's runs first, then
        among the whole workspace's: a run of another config is accepted with ``any_config`` (to compare two
        models' runs), else refused, naming its config. ``given_as`` names the option or argument the id came
        from, for the error message."""
        scope = self.runs(config_name)

        def find(runs: list[RunEntry]) -> list[RunEntry]:
            return [r for r in runs if r.run_id == run] or [r for r in runs if r.run_id.startswith(run)]

        hits = find(scope) if run is not None else []
        elsewhere = find(self.runs()) if run is not None and config_name and not hits else []
        if len(hits) == 1 or (not hits and len(elsewhere) == 1 and any_config):
            return (hits or elsewhere)[0]
        if len(elsewhere) == 1:
            o = elsewhere[0]
            raise UsageError(
                f"{given_as} '{run}' is run {o.run_id} of config '{o.config_name}' (model {o.model_name} "
                f"{o.model_version}), not of config '{config_name}'; pass a run of this config (see "
                "'tagscan runs CONFIG') or that run's own config"
            )
        mine = self.runs(config_name, model_name) if model_name else scope
        if run is None and mine:
            return mine[-1]
        if run is None and scope:
            models = ", ".join(repr(m) for m in sorted({str(r.model_name) for r in scope})[:5])
            raise UsageError(
                f"{self.root}: no runs yet of model '{model_name}' in config '{config_name}' (it holds runs of model "
                f"{models}); run 'tagscan scan CONFIG' first, or pass a run id (see 'tagscan runs CONFIG')"
            )
        if not scope:
            others = sorted({r.config_name for r in self.runs()}) if config_name else []
            held = f" (it holds runs of config {', '.join(repr(o) for o in others[:5])})" if others else ""
            which = f"no runs yet for config '{config_name}'{held}" if config_name else "no runs yet"
            raise UsageError(f"{self.root}: {which}; run 'tagscan scan CONFIG' first")
        listed = ", ".join(r.run_id for r in scope[-5:])
        what = "matches several runs" if hits or elsewhere else "is not a run of this workspace"
        raise UsageError(f"{given_as} '{run}' {what}; recent runs: {listed} (see 'tagscan runs CONFIG')")

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def report_path(self, run_id: str) -> Path:
        """Where the run's HTML report goes."""
        return self.runs_dir / run_id / REPORT_FILE

    def load_findings(self, run_id: str) -> pd.DataFrame:
        path = self.runs_dir / run_id / FINDINGS_FILE
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - a missing or damaged run file is a workspace problem
            raise self._damaged(path, run_id, exc) from exc

    def load_record(self, run_id: str) -> RunRecord:
        path = self.runs_dir / run_id / RECORD_FILE
        try:
            return RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except NewerRecordError as exc:
            raise DataError(f"{path}: run {run_id} was written by a newer tagscan: {exc}") from exc
        except (OSError, ValueError, TypeError) as exc:
            raise self._damaged(path, run_id, exc) from exc

    def load_positives(self, run_id: str) -> tuple[sp.csc_matrix | ShardedPositives, np.ndarray] | None:
        """The run's positive predictions and their label ids, or None when the run did not keep them; a
        run scanned out of core kept its shards (read on demand).

        Raises OSError or ValueError when the files are there but cannot be read."""
        d = self.runs_dir / run_id
        if (d / POSITIVES_DIR / "meta.json").is_file():
            before = ShardedPositives(d / POSITIVES_DIR)
        elif not (d / POSITIVES_FILE).is_file():
            return None
        else:
            before = sp.load_npz(d / POSITIVES_FILE).tocsc()
        labels = np.array(json.loads((d / POSITIVE_LABELS_FILE).read_text()), dtype=object)
        return before, labels

    def latest_findings(self, model_name: str | None = None) -> pd.DataFrame:
        """Each finding as the latest run saw it: ``finding_id, label, group, detector, severity, severity_level``.

        With ``model_name``, the latest run of that model (models sharing a workspace share finding ids, not
        severities). The latest is in :meth:`runs`' order (creation time, then catalogue order), not the largest
        run id: two runs within one second share the id's time part and differ by a random suffix."""
        of_model = " WHERE r.model_name = ?" if model_name else ""
        with closing(self._connect()) as db:
            return pd.read_sql_query(
                "SELECT finding_id, label, \"group\", detector, severity, severity_level FROM ("
                "SELECT f.finding_id, f.label, f.grp AS \"group\", f.detector, f.severity, f.severity_level, "
                "ROW_NUMBER() OVER (PARTITION BY f.finding_id ORDER BY r.created_at DESC, r.rowid DESC) AS k "
                f"FROM findings f JOIN runs r ON r.run_id = f.run_id{of_model}) WHERE k = 1",
                db,
                params=(model_name,) if model_name else (),
            )

    def _damaged(self, path: Path, run_id: str, exc: Exception) -> DataError:
        what = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({' '.join(str(exc).split())[:200]})"
        return DataError(
            f"{path}: {what}, so run {run_id} is damaged; use another run (see 'tagscan runs CONFIG'; "
            "scan takes --baseline RUN) or delete that run folder"
        )


def now_iso() -> str:
    """UTC creation time to the microsecond: runs are ordered by it, and a CI job can start two scans within
    one second (ordering by a seconds stamp fell back to the run id's random suffix and picked the wrong
    baseline)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")

