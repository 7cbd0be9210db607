"""The vocabulary every layer shares, defined once: severity levels, finding statuses, input kinds.

Plain names only (no behaviour): the floor of the package, importable by the config and every stage.
The cut-offs behind the levels are the scan's (:mod:`tagscan.scan.severity`); the behaviour of an
input kind is its entry in :mod:`tagscan.inputs.kinds`.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "GATED_NEW",
    "GATED_OPEN",
    "INPUT_KINDS",
    "LEVELS",
    "STATUSES",
    "EmbedInputName",
    "InputKindName",
    "NO_INPUTS",
    "LevelName",
    "level_rank",
]

#: Severity level names from least to most severe: a level's index is its rank.
LEVELS: tuple[str, ...] = ("low", "medium", "high", "critical")
LevelName = Literal["low", "medium", "high", "critical"]

#: Statuses of a finding against its baseline and its reviews (SPEC: findings.parquet ``status``).
STATUSES: tuple[str, ...] = ("new", "persisting", "regressed", "resolved", "confirmed", "dismissed")
#: What ``--fail-on`` counts: every open finding that no reviewer dismissed (a confirmed finding is a bug
#: reviewers agreed on; a persisting one is still unreviewed), or, with ``--fail-only-new``, what changed.
GATED_OPEN: tuple[str, ...] = ("new", "regressed", "persisting", "confirmed")
GATED_NEW: tuple[str, ...] = ("new", "regressed")

#: The kinds of input a scan embeds (``embed.input``); each has one entry in :mod:`tagscan.inputs.kinds`.
INPUT_KINDS: tuple[str, ...] = ("text", "image")
InputKindName = Literal["text", "image"]
#: ``embed.input: none``: the samples hold no input to embed (predictions and attributes only); the scan
#: runs on attribute groups, and what needs input embeddings (clusters, alignment_gap) is skipped.
NO_INPUTS = "none"
EmbedInputName = Literal["text", "image", "none"]


def level_rank(level: str) -> int:
    """0 for ``low`` up to 3 for ``critical``; a ValueError names the valid levels."""
    try:
        return LEVELS.index(level)
    except ValueError:
        raise ValueError(f"unknown severity level {level!r}; valid levels: {', '.join(LEVELS)}") from None
