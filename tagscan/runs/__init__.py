"""tagscan.runs: the run record, the workspace (SQLite catalogue and run folders) and history across runs."""

from tagscan.runs.record import (
    SCHEMA_VERSION,
    ClusterInfo,
    Counts,
    EmbeddingInfo,
    EngineInfo,
    FamilyRecord,
    ModelRef,
    RunRecord,
    WatchlistInfo,
)
from tagscan.runs.workspace import Workspace, new_run_id, now_iso

__all__ = [
    "SCHEMA_VERSION",
    "ClusterInfo",
    "Counts",
    "EmbeddingInfo",
    "EngineInfo",
    "FamilyRecord",
    "ModelRef",
    "RunRecord",
    "WatchlistInfo",
    "Workspace",
    "new_run_id",
    "now_iso",
]
