"""The scan config: one YAML file, validated once, with paths resolved against the file's folder.

Nothing else in tagscan reads YAML configs. Unknown keys are errors (``extra="forbid"``), and every
error names the file, the key, the rule and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from tagscan.constants import EmbedInputName, LevelName
from tagscan.errors import ConfigError
from tagscan.yamlio import safe_load_yaml

__all__ = [
    "Config",
    "DEFAULT_WATCHLIST",
    "BenignRule",
    "DataConfig",
    "EmbedConfig",
    "EngineConfig",
    "GroupsConfig",
    "ModelConfig",
    "ReviewConfig",
    "ScanConfig",
    "load_config",
]


#: The watchlist that ships with tagscan (``scan.watchlist: default``).
DEFAULT_WATCHLIST = Path(__file__).parent / "data" / "watchlist.yaml"


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
    # The truth table names the annotated samples (a row with an empty label: annotated, no positive label);
    # true: every sample is annotated, and one the truth never names has no positive label.
    truth_exhaustive: bool = False
    # Out of core (tagscan.inputs.stream): the predictions are read in record batches of ``batch_rows`` into
    # shards of ``shard_samples`` samples on disk. "auto": when they are a folder of Parquet files or a
    # Parquet file of more than 20 M rows. How they are read does not change what a scan finds, so these
    # keys stay out of the run record's config.
    stream: Literal["auto"] | bool = Field(default="auto", exclude=True)
    batch_rows: int = Field(default=1_000_000, ge=1, exclude=True)
    shard_samples: int = Field(default=262_144, ge=1, exclude=True)


def _unique(v: list, what: str = "") -> list:
    seen = set()
    for x in v:
        key = frozenset(x) if isinstance(x, list) else x
        if key in seen:
            raise ValueError(f"{what}{x!r} is listed twice{' (order does not matter)' if what else ''}; list each once")
        seen.add(key)
    return v


class EmbedConfig(_Section):
    # "none": predictions and attributes only (no text, image or vectors); unset, a samples table with
    # neither a text nor an image column (and no data.embeddings) is scanned that way too.
    input: EmbedInputName = "text"
    model: str = "default"
    batch_size: int = Field(default=64, ge=1, le=4096)
    # The embedding cache folder (default: the machine's, ~/.cache/tagscan; see tagscan.embed.cache). Where the
    # vectors are kept does not change what a scan computes, so it stays out of the run record's config.
    cache_dir: Path | None = Field(default=None, exclude=True)


class EngineConfig(_Section):
    """Where the heavy stages run: ``local`` (this process, the default) or ``ray`` (a Ray cluster: the
    embed stage and the counting; tests, families and findings stay in this process). ``address``: ``None`` starts a Ray on this machine (loopback only), ``"auto"``
    joins the one ``ray start --head`` started here, ``"ray://host:10001"`` a remote cluster (Ray Client).
    ``num_actors`` and ``num_cpus_per_actor`` size the embedding actor pool (default: one actor per GPU, or
    as many 1-CPU actors as leave a CPU free). ``shard_positives``: positives per counting task when the
    predictions are in memory (a shard folder counts one task per shard file). Where the work runs does not change what a scan finds, so
    the section stays out of the run record's config."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    num_actors: int | None = Field(default=None, ge=1)
    num_cpus_per_actor: float | None = Field(default=None, gt=0)
    shard_positives: int = Field(default=5_000_000, ge=1)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None or v.strip() == "auto":
            return None if v is None else "auto"
        from urllib.parse import urlsplit

        parts = urlsplit(v.strip())
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "ray" or not parts.hostname or port is None:
            raise ValueError('must be null (a Ray on this machine), "auto" or "ray://HOST:PORT" (e.g. ray://head:10001)')
        return v.strip()


class GroupsConfig(_Section):
    attributes: list[str] = Field(default_factory=list)
    # The attributes that describe people (skin tone, gender; not region, source, device). Their groups and
    # intersections are about people; without any, people are known from the watchlist's person labels only.
    protected: list[str] = Field(default_factory=list)
    intersections: list[list[str]] = Field(default_factory=list)
    clusters: list[int] = Field(default_factory=list)
    min_group_size: int = Field(default=30, ge=1)
    seed: int = Field(default=0, ge=0, lt=2**32)  # fixes the k-means fit and the fit/test split of the samples for clusters
    # Clusters are fitted on one random half of the samples and tested on the other half, so that
    # groups found in the data are not tested on the data that found them.
    cluster_fit_share: float = Field(default=0.5, gt=0.0, lt=1.0)

    @field_validator("clusters")
    @classmethod
    def _clusters_positive(cls, v: list[int]) -> list[int]:
        for k in v:
            if k < 2:
                raise ValueError(f"every cluster count must be at least 2, found {k}")
        return _unique(v)

    @field_validator("attributes")
    @classmethod
    def _attributes_unique(cls, v: list[str]) -> list[str]:
        for a in v:
            if not a.strip():
                raise ValueError("an attribute name is empty; list column names of the samples table")
        return _unique(v)

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
        _unique(self.intersections, "intersection ")
        _unique(self.protected)
        missing = [a for a in self.protected if a not in self.attributes]
        if missing:
            raise ValueError(
                f"protected lists {missing[0]!r}, which is not in groups.attributes; add it to groups.attributes "
                "or remove it from groups.protected"
            )
        return self


class BenignRule(_Section):
    """A (label, group) association users know is expected: ranked low and shown with its reason."""

    label: str = Field(min_length=1)  # a label id
    group: str | None = None  # a group id (skin_tone=dark, gender=man & age_group=adult); None: every group
    reason: str = Field(min_length=1)


class ScanConfig(_Section):
    """``scan:``. ``detectors``: None = every registered detector; a list = only those; a mapping
    ``{name: {setting: value}}`` = only those, with their settings (validated by the scan layer:
    :func:`tagscan.scan.detectors.resolve`). ``under_representation`` and ``family_similarity`` are the
    older spellings of ``detectors.under_representation.labels`` and ``detectors.label_family.similarity``."""

    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    fdr: float = Field(default=0.05, gt=0.0, lt=1.0)
    correction: Literal["bh", "by"] = "bh"  # Benjamini-Hochberg, or Benjamini-Yekutieli (any dependence)
    watchlist: str | None = "default"
    # Labels that should apply equally across groups: test them for under-representation too
    # (true = every label; a list = those labels; false = none).
    under_representation: bool | list[str] = False
    detectors: list[str] | dict[str, dict | None] | None = None
    family_similarity: float = Field(default=0.8, gt=0.0, le=1.0)
    # A watchlist finding on people ranks above discovery findings only when its conservative effect (EB05,
    # or the lower bound of the effect its detector tested) reaches this ratio.
    watchlist_min_effect: float = Field(default=1.5, ge=1.0)
    # Known-benign associations: ranked low, with their reason in the report (they stop costing review time).
    benign: list[BenignRule] = Field(default_factory=list)
    # Taggers that score many labels per input: keep each sample's top_k highest-scored labels (ties: label
    # id order) before scan.threshold applies. None keeps every prediction row.
    top_k: int | None = Field(default=None, ge=1)

    @model_serializer(mode="wrap")
    def _top_k_only_when_set(self, handler):
        # Echoed in run.json only when set: the record of a scan without it stays as it was.
        out = handler(self)
        if self.top_k is None and isinstance(out, dict):
            out.pop("top_k", None)
        return out

    @field_validator("detectors", mode="before")
    @classmethod
    def _detectors_shape(cls, v: object) -> object:
        if v is None:
            return v
        if isinstance(v, list):
            if not v:
                raise ValueError("lists no detector; name at least one, or leave the key out to run every detector")
            bad = next((x for x in v if not isinstance(x, str)), None)
            if bad is not None:
                raise ValueError(f"must list detector names, found {bad!r}")
            return _unique(v)
        if isinstance(v, dict):
            if not v:
                raise ValueError("names no detector; name at least one, or leave the key out to run every detector")
            for name, settings in v.items():
                if not isinstance(settings, dict | None):
                    raise ValueError(
                        f"detector '{name}' must map to its settings ({name}: {{key: value}}) or to nothing, "
                        f"found {settings!r}"
                    )
            return v
        raise ValueError(
            "must be a list of detector names or a mapping of detector names to their settings"
        )

    def detector_setting(self, detector: str, key: str, *, legacy: str) -> tuple[str, object]:
        """A detector setting and the config key it was read from: ``scan.detectors.<detector>.<key>``
        when the mapping sets it, else the older top-level ``scan.<legacy>``."""
        settings = self.detectors.get(detector) if isinstance(self.detectors, dict) else None
        if settings and key in settings:
            return f"scan.detectors.{detector}.{key}", settings[key]
        return f"scan.{legacy}", getattr(self, legacy)


class ReviewConfig(_Section):
    # The review backend's name in tagscan.review.backends (checked there when a review command runs:
    # the config does not import the review stage).
    backend: str = Field(default="label_studio", min_length=1)
    url: str = "http://127.0.0.1:8080"
    api_key_env: str = Field(default="LABEL_STUDIO_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    examples_per_finding: int = Field(default=8, ge=1, le=200)
    # Findings below this severity level are not pushed: reviewers' time goes to what can do harm
    # (a watchlist label on people ranks high or critical). `low` pushes every open finding.
    min_level: LevelName = "high"
    # A finding is dismissed only on enough evidence: at least this many verdicts, and the upper bound of the
    # share judged wrong (Wilson, 95%) below dismiss_max_wrong; otherwise it stays "needs review". The defaults let
    # one push of examples_per_finding 8, judged "label correct" throughout by 3 reviewers, dismiss (bound 0.32).
    min_verdicts: int = Field(default=3, ge=1)
    dismiss_max_wrong: float = Field(default=0.35, gt=0.0, lt=1.0)
    # What reviewers see of a sample besides its text or image (all a sample without inputs has): a link from
    # a template over sample columns ("https://photos.example/{sample_id}"), and the sample columns to show
    # (default: every attribute column). Columns are checked against the samples table at push time.
    link: str | None = Field(default=None, min_length=1)
    show: list[str] | None = None

    @field_validator("link")
    @classmethod
    def _link_template(cls, v: str | None) -> str | None:
        import string

        if v is None:
            return v
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(v) if n is not None]
        except ValueError as exc:
            raise ValueError(f"is not a template with {{column}} placeholders ({exc}); write braces as {{{{ }}}}") from exc
        bad = [n for n in names if not n or any(c in n for c in ".[]")]
        if bad:
            raise ValueError(f"placeholder {{{bad[0]}}} must name a sample column, e.g. {{sample_id}}")
        return v

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be the http(s) URL of the Label Studio server, e.g. http://127.0.0.1:8080")
        return v.strip()


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
    engine: EngineConfig = Field(default_factory=EngineConfig, exclude=True)  # see EngineConfig
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_defaults(cls, raw):
        # `review:` with every key commented out is YAML null: the section's defaults, not an error.
        if isinstance(raw, dict):
            raw = {k: ({} if v is None and k in ("embed", "groups", "scan", "review", "engine") else v) for k, v in raw.items()}
        return raw

    @property
    def model_info(self) -> ModelConfig:
        return self.model or ModelConfig(name=self.name)

    @property
    def workspace_dir(self) -> Path:
        assert self.workspace is not None  # set by load_config
        return self.workspace

    def watchlist_path(self) -> Path | None:
        """The watchlist file to use: the packaged default, a user file, or None (no watchlist)."""
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


def _section_fields(loc: tuple) -> list[str] | None:
    """The keys allowed where ``loc`` (a pydantic error location) points, or None when unknown."""
    import typing

    from pydantic import BaseModel

    model: type[BaseModel] = Config
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = model.model_fields.get(str(item))
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        sub = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if sub is None:
            return None
        model = sub
    return [name for name in model.model_fields if name != "path"]


def _unknown_key_fix(loc: tuple) -> str:
    import difflib

    valid = _section_fields(loc)
    if not valid:
        return "remove it or check its spelling (see the config example in the README)"
    where = ".".join(str(x) for x in loc[:-1] if not isinstance(x, int)) or "the top level"
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}valid keys of {where}: {', '.join(valid)}"


def _error_line(path: Path, err: dict) -> str:
    key = _format_loc(tuple(err.get("loc", ())))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"{path}: unknown key '{key}'; {_unknown_key_fix(tuple(err.get('loc', ())))}"
    if kind == "missing":
        return f"{path}: missing required key '{key}'; add it to the config"
    msg = err.get("msg", "invalid value")
    msg = msg.removeprefix("Value error, ")
    if kind in ("model_type", "dict_type"):
        msg = "must be a mapping of keys (key: value lines indented under it)"
    if kind == "string_pattern_mismatch" and key.endswith("api_key_env"):
        msg = "must be the name of an environment variable (letters, digits, _)"
    found = err.get("input")
    shown = f" (found {found!r})" if found is not None and not isinstance(found, dict | list) else ""
    if kind == "string_type" and isinstance(found, int | float) and not isinstance(found, bool):
        # YAML reads `version: 7` as a number (and `1.10` as 1.1): a text value must be quoted.
        return (
            f"{path}: key '{key}': must be text, found the number {found!r}; put the value in quotes, "
            f"e.g. {key.split('.')[-1]}: \"v7\" (unquoted, YAML reads 1.10 as the number 1.1)"
        )
    return f"{path}: key '{key}': {msg}{shown}; fix the value in the config"


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve a config file. Raises ConfigError naming the file and key."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file; pass the path of a tagscan YAML config")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass the path of a tagscan YAML config")
    raw = safe_load_yaml(path, "config", ConfigError)
    if raw is None:
        raise ConfigError(f"{path}: the config is empty; write a YAML mapping with keys name, data, ... (see configs/)")
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
    if cfg.workspace is None and (cfg.name.strip() in (".", "..") or "/" in cfg.name or "\\" in cfg.name):
        raise ConfigError(
            f"{path}: key 'name': '{cfg.name}' names the default workspace folder (.tagscan/<name>), so it cannot "
            "contain '/' or '\\' or be '.' or '..'; rename it, or set 'workspace' to a folder"
        )
    workspace = res(cfg.workspace) if cfg.workspace is not None else base / ".tagscan" / cfg.name
    embed = cfg.embed
    if embed.model != "default" and not embed.model.startswith("python:"):
        mp = Path(embed.model).expanduser()
        embed = embed.model_copy(update={"model": str(mp if mp.is_absolute() else base / mp)})
    if embed.cache_dir is not None:
        embed = embed.model_copy(update={"cache_dir": res(embed.cache_dir)})
    return cfg.model_copy(update={"data": data, "workspace": workspace, "embed": embed, "path": path.resolve()})
