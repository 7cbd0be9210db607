"""tagscan.runs: the run record, the workspace (SQLite catalogue and run folders) and history across runs."""

from tagscan.runs.workspace import Workspace, new_run_id, now_iso

__all__ = ["Workspace", "new_run_id", "now_iso"]
