"""The scan config: one YAML file, validated once, with paths resolved against the file's folder.

Nothing else in tagscan reads YAML configs. Unknown keys are errors (``extra="forbid"``), and every
error names the file, the key, the rule and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tagscan.errors import ConfigError

__all__ = [
    "Config",
    "DataConfig",
    "EmbedConfig",
    "GroupsConfig",
    "ModelConfig",
    "ReviewConfig",
    "ScanConfig",
    "load_config",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Section):
    name: str = Field(min_length=1)
    version: str = "unversioned"


class DataConfig(_Section):
    samples: Path
    predictions: Path
    truth: Path | None = None
    vocabulary: Path | None = None
    embeddings: Path | None = None


class EmbedConfig(_Section):
    input: Literal["text", "image"] = "text"
    model: str = "default"
    batch_size: int = Field(default=64, ge=1, le=4096)


class GroupsConfig(_Section):
    attributes: list[str] = Field(default_factory=list)
    intersections: list[list[str]] = Field(default_factory=list)
    clusters: list[int] = Field(default_factory=list)
    min_group_size: int = Field(default=30, ge=1)
    seed: int = 0  # fixes the k-means fit and the fit/test split of the samples for clusters
    # Clusters are fitted on one random half of the samples and tested on the other half, so that
    # groups found in the data are not tested on the data that found them.
    cluster_fit_share: float = Field(default=0.5, gt=0.0, lt=1.0)

    @field_validator("clusters")
    @classmethod
    def _clusters_positive(cls, v: list[int]) -> list[int]:
        for k in v:
            if k < 2:
                raise ValueError(f"every cluster count must be at least 2, found {k}")
        return v

    @model_validator(mode="after")
    def _intersections_use_attributes(self) -> GroupsConfig:
        for combo in self.intersections:
            if len(combo) < 2:
                raise ValueError(f"an intersection needs at least two attributes, found {combo}")
            if len(set(combo)) != len(combo):
                raise ValueError(f"an intersection repeats an attribute: {combo}")
            missing = [a for a in combo if a not in self.attributes]
            if missing:
                raise ValueError(
                    f"intersection {combo} uses {missing}, which is not in groups.attributes; "
                    "add it to groups.attributes"
                )
        return self


class ScanConfig(_Section):
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    fdr: float = Field(default=0.05, gt=0.0, lt=1.0)
    correction: Literal["bh", "by"] = "bh"  # Benjamini-Hochberg, or Benjamini-Yekutieli (any dependence)
    watchlist: str | None = "default"
    # Labels that should apply equally across groups: test them for under-representation too
    # (true = every label; a list = those labels; false = none).
    under_representation: bool | list[str] = False
    detectors: list[str] | None = None  # None = every registered detector
    family_similarity: float = Field(default=0.8, gt=0.0, le=1.0)


class ReviewConfig(_Section):
    url: str = "http://127.0.0.1:8080"
    api_key_env: str = "LABEL_STUDIO_API_KEY"
    examples_per_finding: int = Field(default=8, ge=1, le=200)


class Config(_Section):
    """A whole scan config. ``path`` is the file it came from; relative paths are resolved against it."""

    name: str = Field(min_length=1)
    workspace: Path | None = None
    model: ModelConfig | None = None
    data: DataConfig
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    groups: GroupsConfig = Field(default_factory=GroupsConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    path: Path | None = Field(default=None, exclude=True)

    @property
    def model_info(self) -> ModelConfig:
        return self.model or ModelConfig(name=self.name)

    @property
    def workspace_dir(self) -> Path:
        assert self.workspace is not None  # set by load_config
        return self.workspace

    def watchlist_path(self) -> Path | None:
        """The watchlist file to use: the packaged default, a user file, or None (no watchlist)."""
        from tagscan.watchlist import DEFAULT_WATCHLIST

        wl = self.scan.watchlist
        if wl is None or wl == "none":
            return None
        if wl == "default":
            return DEFAULT_WATCHLIST
        p = Path(wl)
        return p if p.is_absolute() or self.path is None else (self.path.parent / p).resolve()


def _format_loc(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _error_line(path: Path, err: dict) -> str:
    key = _format_loc(tuple(err.get("loc", ())))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"{path}: unknown key '{key}'; remove it or check its spelling against SPEC.md"
    if kind == "missing":
        return f"{path}: missing required key '{key}'; add it to the config"
    msg = err.get("msg", "invalid value")
    msg = msg.removeprefix("Value error, ")
    found = err.get("input")
    shown = f" (found {found!r})" if found is not None and not isinstance(found, dict | list) else ""
    return f"{path}: key '{key}': {msg}{shown}; fix the value in the config"


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve a config file. Raises ConfigError naming the file and key."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass the path of a tagscan YAML config")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text; save the config as UTF-8 YAML") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping with keys name, data, ...; found {type(raw).__name__}")
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_error_line(path, exc.errors()[0])) from exc
    base = path.resolve().parent

    def res(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = Path(p).expanduser()
        return p if p.is_absolute() else (base / p)

    data = cfg.data.model_copy(
        update={k: res(getattr(cfg.data, k)) for k in ("samples", "predictions", "truth", "vocabulary", "embeddings")}
    )
    workspace = res(cfg.workspace) if cfg.workspace is not None else base / ".tagscan" / cfg.name
    embed = cfg.embed
    if embed.model != "default":
        mp = Path(embed.model).expanduser()
        embed = embed.model_copy(update={"model": str(mp if mp.is_absolute() else base / mp)})
    return cfg.model_copy(update={"data": data, "workspace": workspace, "embed": embed, "path": path.resolve()})
