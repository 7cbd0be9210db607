"""Shared fixtures. Models are never downloaded: the hub is offline for the whole test run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The CLI's tables fit COLUMNS when it is set (issue 11): tests read the 160-column pipe width unless they set it.
os.environ.pop("COLUMNS", None)

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def synth_config(tmp_path: Path) -> Path:
    from tagscan.demo.planted import write_audit_set

    return write_audit_set(tmp_path / "audit")
