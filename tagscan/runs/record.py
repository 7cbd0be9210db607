"""The run record: what one scan was asked, saw and concluded, as a frozen, typed, versioned value.

It is written to ``runs/<run_id>/run.json`` by :class:`tagscan.runs.Workspace` and read back by the
history, the catalogue and every renderer, which use its fields instead of ``.get`` chains over a dict.

``to_json()`` gives the run.json mapping (keys in a fixed order); ``from_json()`` reads it back and
accepts the run.json of older versions of tagscan (a key they lack takes its documented default), so
runs made before an upgrade stay readable, comparable and reportable. ``schema_version`` counts changes
of meaning; adding a key with a default is not one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

__all__ = [
    "SCHEMA_VERSION",
    "ClusterInfo",
    "Counts",
    "EmbeddingInfo",
    "EngineInfo",
    "FamilyRecord",
    "ModelRef",
    "NewerRecordError",
    "RunRecord",
    "WatchlistInfo",
]

#: The version of the run.json layout this code writes. Version 1 is the first typed layout; run.json
#: files without the key (written before it existed) have the same meaning and read as version 1.
SCHEMA_VERSION = 1


class NewerRecordError(ValueError):
    """A run.json written by a newer tagscan, whose meaning this version cannot know."""


@dataclass(frozen=True)
class ModelRef:
    """The tagger a run scanned: ``model.name`` and ``model.version`` of its config."""

    name: str
    version: str = "unversioned"

    def to_json(self) -> dict:
        return {"name": self.name, "version": self.version}

    @classmethod
    def from_json(cls, d: dict | None) -> ModelRef | None:
        if not isinstance(d, dict):
            return None
        return cls(name=str(d.get("name", "?")), version=str(d.get("version", "unversioned")))

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


@dataclass(frozen=True)
class EngineInfo:
    """Where the heavy stages ran: ``embed`` and ``counts`` are ``local`` (this process) or ``ray``;
    ``address`` is the Ray address asked for (``None``: a Ray started on this machine) and ``count_tasks``
    the shard tasks counting ran on Ray (0 in-process). Where they ran does not change the findings."""

    embed: str = "local"
    counts: str = "local"
    address: str | None = None
    count_tasks: int = 0

    def to_json(self) -> dict:
        return {"embed": self.embed, "counts": self.counts, "address": self.address, "count_tasks": self.count_tasks}

    @classmethod
    def of(cls, engine, counter) -> EngineInfo:
        """From the ``engine`` section and the counting function the scan used
        (:func:`tagscan.scan.counts.cell_counter`)."""
        ray = engine.kind == "ray"
        return cls(embed=engine.kind, counts=getattr(counter, "where", "local"),
                   address=(engine.address if ray else None), count_tasks=int(getattr(counter, "n_tasks", 0)))

    @classmethod
    def from_json(cls, d: dict | None) -> EngineInfo:
        d = d if isinstance(d, dict) else {}
        return cls(embed=str(d.get("embed", "local")), counts=str(d.get("counts", "local")),
                   address=d.get("address"), count_tasks=int(d.get("count_tasks", 0) or 0))


@dataclass(frozen=True)
class EmbeddingInfo:
    """How the inputs and labels were embedded: model names, what was computed (vs cached), skipped images."""

    input_model: str | None = None
    label_model: str | None = None
    computed_inputs: int = 0
    computed_labels: int = 0
    dim: int | None = None
    n_skipped_images: int = 0
    skipped_images: tuple[dict, ...] = ()  # {"ref", "reason"}, the first 200

    def to_json(self) -> dict:
        return {
            "skipped_images": [dict(x) for x in self.skipped_images],
            "n_skipped_images": self.n_skipped_images,
            "input_model": self.input_model,
            "label_model": self.label_model,
            "computed_inputs": self.computed_inputs,
            "computed_labels": self.computed_labels,
            "dim": self.dim,
        }

    @classmethod
    def of(cls, outcome) -> EmbeddingInfo:
        """From the embed stage's outcome (:class:`tagscan.embed.stage.EmbedOutcome`)."""
        return cls(
            input_model=outcome.input_model,
            label_model=outcome.label_model,
            computed_inputs=outcome.computed_inputs,
            computed_labels=outcome.computed_labels,
            dim=None if outcome.vectors is None else int(outcome.vectors.shape[1]),
            n_skipped_images=len(outcome.skipped),
            skipped_images=tuple({"ref": x.ref, "reason": x.reason} for x in outcome.skipped[:200]),
        )

    @classmethod
    def from_json(cls, d: dict | None) -> EmbeddingInfo:
        d = d if isinstance(d, dict) else {}
        return cls(
            input_model=d.get("input_model"),
            label_model=d.get("label_model"),
            computed_inputs=int(d.get("computed_inputs") or 0),
            computed_labels=int(d.get("computed_labels") or 0),
            dim=d.get("dim"),
            n_skipped_images=int(d.get("n_skipped_images") or 0),
            skipped_images=tuple(x for x in d.get("skipped_images") or () if isinstance(x, dict)),
        )


@dataclass(frozen=True)
class ClusterInfo:
    """The clustering a run's cluster groups come from (``key`` identifies it; runs before keys have None)."""

    k: tuple[int, ...] = ()
    seed: int = 0
    fit_share: float = 0.5
    key: str | None = None
    n_fit: int = 0
    n_test: int = 0
    split: str = "clusters fitted on the fit share, tested on the held-out samples"
    skipped: str | None = None  # why no clusters were fitted although groups.clusters asks for them

    def to_json(self) -> dict:
        out = {"k": list(self.k), "seed": self.seed, "fit_share": self.fit_share, "key": self.key,
               "n_fit": self.n_fit, "n_test": self.n_test, "split": self.split}
        if self.key is None:
            del out["key"]
        if self.skipped:
            out["skipped"] = self.skipped
        return out

    @classmethod
    def from_json(cls, d: dict | None) -> ClusterInfo:
        d = d if isinstance(d, dict) else {}
        return cls(
            k=tuple(int(x) for x in d.get("k") or ()),
            seed=int(d.get("seed") or 0),
            fit_share=float(d.get("fit_share", 0.5)),
            key=d.get("key"),
            n_fit=int(d.get("n_fit") or 0),
            n_test=int(d.get("n_test") or 0),
            split=str(d.get("split", cls.split)),
            skipped=d.get("skipped") or None,
        )

    def same_split(self, other: ClusterInfo) -> bool:
        """Whether two clusterings used the same seed, share and split sizes (legacy id translation)."""
        return (self.seed, self.fit_share, self.n_fit, self.n_test) == (other.seed, other.fit_share, other.n_fit, other.n_test)


@dataclass(frozen=True)
class WatchlistInfo:
    """The watchlist a run used (``path`` None: none) and how many labels it matched or expanded to."""

    path: str | None = None
    categories: dict[str, float] = field(default_factory=dict)
    labels_matched: int = 0
    labels_expanded: int = 0

    def to_json(self) -> dict:
        if self.path is None:
            return {"path": None}
        return {"path": self.path, "categories": dict(self.categories), "labels_matched": self.labels_matched,
                "labels_expanded": self.labels_expanded}

    @classmethod
    def from_json(cls, d: dict | None) -> WatchlistInfo:
        d = d if isinstance(d, dict) else {}
        return cls(
            path=d.get("path"),
            categories={str(k): float(v) for k, v in (d.get("categories") or {}).items()},
            labels_matched=int(d.get("labels_matched") or 0),
            labels_expanded=int(d.get("labels_expanded") or 0),
        )


@dataclass(frozen=True)
class FamilyRecord:
    """One error budget: its hypotheses, Tarone's level, the correction and how many were significant.

    ``n_reported`` is set by detectors that report fewer rows than were significant (label families);
    ``tarone_level`` is None for families without Tarone's filter.
    """

    name: str
    n_labels: int = 0
    n_pairs: int = 0
    n_testable: int = 0
    tarone_level: float | None = None
    n_significant: int = 0
    correction: str = "bh"
    alternative: str = "greater"
    n_reported: int | None = None

    def to_json(self) -> dict:
        out = {"name": self.name, "n_labels": self.n_labels, "n_pairs": self.n_pairs, "n_testable": self.n_testable,
               "tarone_level": self.tarone_level, "n_significant": self.n_significant, "correction": self.correction,
               "alternative": self.alternative}
        if self.n_reported is not None:
            out["n_reported"] = self.n_reported
        return out

    @classmethod
    def from_json(cls, d: dict) -> FamilyRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def shown(self) -> int:
        """The findings this family contributed to the table."""
        return self.n_significant if self.n_reported is None else self.n_reported


_PAIR_FIELDS = ("pairs", "pairs_by_level", "open_pairs_by_level")


@dataclass(frozen=True)
class Counts:
    """The sizes of a run: inputs, groups, cells and findings (by level and by status).

    Two units, named apart: ``findings`` count rows of findings.parquet (one per detector and (label, group)
    pair); ``pairs`` count distinct (label, group) pairs, each at the level of its most severe finding
    (``open_pairs_by_level``: over the open findings, what ``--fail-on`` gates). Resolved rows count in
    neither. Every surface reads these."""

    samples: int = 0
    labels: int = 0
    prediction_rows: int = 0
    positives: int = 0
    groups_tested: int = 0
    groups_untested: int = 0
    groups_untested_by_reason: dict[str, int] = field(default_factory=dict)
    cells_nonzero: int = 0
    findings: int = 0
    findings_by_level: dict[str, int] = field(default_factory=dict)
    pairs: int | None = None  # (label, group) pairs flagged (None: a run.json from before pair counts)
    pairs_by_level: dict[str, int] = field(default_factory=dict)  # each pair at its most severe finding
    open_pairs_by_level: dict[str, int] = field(default_factory=dict)  # the same over open findings (the gate's)
    resolved_since_baseline: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        """Every field; the pair counts only when set, so a run.json from before them round-trips unchanged."""
        out = {f.name: (dict(v) if isinstance(v := getattr(self, f.name), dict) else v) for f in fields(self)}
        if self.pairs is None:
            for k in _PAIR_FIELDS:
                out.pop(k)
        return out

    @classmethod
    def from_json(cls, d: dict | None) -> Counts:
        d = d if isinstance(d, dict) else {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known and v is not None})


@dataclass(frozen=True)
class RunRecord:
    """One scan. Built by the pipeline, written once by the workspace, read by history and renderers.

    ``config`` is the validated config as it was (a plain mapping: the echo of what was asked, kept even
    when later versions rename keys); ``detector_facts`` holds each detector's extra results keyed
    ``<detector>.<fact>``; ``families`` the error budgets; ``detectors`` each detector's outcome
    (``ran``, ``skipped: ...``, ``failed: ...``).
    """

    run_id: str
    config_name: str
    created_at: str
    model: ModelRef
    config_path: str | None = None
    config: dict = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    inputs_hash: str | None = None
    baseline: str | None = None
    baseline_model: ModelRef | None = None
    comparison: str | None = None
    embedding: EmbeddingInfo = field(default_factory=EmbeddingInfo)
    engine: EngineInfo = field(default_factory=EngineInfo)
    clusters: ClusterInfo = field(default_factory=ClusterInfo)
    detector_facts: dict = field(default_factory=dict)
    watchlist: WatchlistInfo = field(default_factory=WatchlistInfo)
    counts: Counts = field(default_factory=Counts)
    families: tuple[FamilyRecord, ...] = ()
    detectors: dict[str, str] = field(default_factory=dict)
    resolved: tuple[str, ...] = ()
    untested_groups: tuple[dict, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # -- views -----------------------------------------------------------------------------------
    @property
    def fdr(self) -> float:
        """The false discovery rate the run controlled (``scan.fdr`` of its config)."""
        return float((self.config.get("scan") or {}).get("fdr", 0.05))

    @property
    def corrections(self) -> tuple[str, ...]:
        """The multiple-testing corrections its families used, each once, in family order."""
        return tuple(dict.fromkeys(f.correction for f in self.families))

    @property
    def skipped_detectors(self) -> dict[str, str]:
        return {k: v for k, v in self.detectors.items() if v != "ran"}

    def with_timings(self, timings: dict[str, float]) -> RunRecord:
        return replace(self, timings=dict(timings))

    # -- JSON ------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """The run.json mapping."""
        return {
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "config_name": self.config_name,
            "created_at": self.created_at,
            "config_path": self.config_path,
            "config": self.config,
            "model": self.model.to_json(),
            "inputs": dict(self.inputs),
            "inputs_hash": self.inputs_hash,
            "baseline": self.baseline,
            "baseline_model": self.baseline_model.to_json() if self.baseline_model else None,
            "comparison": self.comparison,
            "embedding": self.embedding.to_json(),
            "engine": self.engine.to_json(),
            "clusters": self.clusters.to_json(),
            "detector_facts": self.detector_facts,
            "watchlist": self.watchlist.to_json(),
            "counts": self.counts.to_json(),
            "families": [f.to_json() for f in self.families],
            "detectors": dict(self.detectors),
            "resolved": list(self.resolved),
            "untested_groups": [dict(x) for x in self.untested_groups],
            "timings": dict(self.timings),
        }

    @classmethod
    def from_json(cls, d: dict) -> RunRecord:
        """Read a run.json mapping (any version). Raises ValueError when it is not a run record."""
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in ("run_id", "config_name", "created_at") if not d.get(k)]
        if missing:
            raise ValueError(f"no {missing[0]!r}")
        version = d.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise NewerRecordError(
                f"schema_version {version!r}, newer than this tagscan reads ({SCHEMA_VERSION}); upgrade tagscan "
                "(pip install -U tagscan) or scan again with this one"
            )
        model = ModelRef.from_json(d.get("model")) or ModelRef(name=str(d["config_name"]))
        return cls(
            schema_version=version,
            run_id=str(d["run_id"]),
            config_name=str(d["config_name"]),
            created_at=str(d["created_at"]),
            config_path=d.get("config_path"),
            config=d.get("config") if isinstance(d.get("config"), dict) else {},
            model=model,
            inputs={str(k): str(v) for k, v in (d.get("inputs") or {}).items()},
            inputs_hash=d.get("inputs_hash"),
            baseline=d.get("baseline"),
            baseline_model=ModelRef.from_json(d.get("baseline_model")),
            comparison=d.get("comparison"),
            embedding=EmbeddingInfo.from_json(d.get("embedding")),
            engine=EngineInfo.from_json(d.get("engine")),
            clusters=ClusterInfo.from_json(d.get("clusters")),
            detector_facts=d.get("detector_facts") if isinstance(d.get("detector_facts"), dict) else {},
            watchlist=WatchlistInfo.from_json(d.get("watchlist")),
            counts=Counts.from_json(d.get("counts")),
            families=tuple(FamilyRecord.from_json(f) for f in d.get("families") or () if isinstance(f, dict)),
            detectors={str(k): str(v) for k, v in (d.get("detectors") or {}).items()},
            resolved=tuple(str(x) for x in d.get("resolved") or ()),
            untested_groups=tuple(x for x in d.get("untested_groups") or () if isinstance(x, dict)),
            timings={str(k): v for k, v in (d.get("timings") or {}).items()},
        )
