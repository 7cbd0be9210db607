"""Detector settings from the config: which detectors run, each with its validated ``Config``.

``scan.detectors`` in the YAML config takes three forms:

- absent (null): every registered detector, with its default settings, in name order;
- a list of names: only those, in that order, with their default settings;
- a mapping ``{name: {setting: value, ...}}``: only the detectors named, in that order, each with its
  settings (an empty value or ``null`` keeps the defaults; ``enabled: false`` keeps a detector's
  settings but does not run it).

A setting that had a top-level key before detectors had their own (``scan.under_representation``,
``scan.family_similarity``: a detector's ``legacy``) is read from there too; setting both is an error.
Every error is a one-line :class:`~tagscan.errors.ConfigError` naming the file and the key, with the
closest valid name and the list of valid ones.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import ValidationError

from tagscan.config import ScanConfig
from tagscan.errors import ConfigError
from tagscan.scan.detectors.base import DetectorConfig, available_detectors, get_detector

__all__ = ["default_settings", "resolve"]


def default_settings(names: list[str] | None = None) -> dict[str, DetectorConfig]:
    """The named detectors (default: every registered one, in name order) with their default settings."""
    names = sorted(available_detectors()) if names is None else names
    return {name: get_detector(name).Config() for name in names}


def _closest(word: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(word, valid, n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def _legacy_is_set(scan_cfg: ScanConfig, key: str) -> bool:
    """Whether the config sets a top-level ``scan.<key>`` (written in the file, or not its default)."""
    default = type(scan_cfg).model_fields[key].default
    return key in scan_cfg.model_fields_set or getattr(scan_cfg, key) != default


def resolve(scan_cfg: ScanConfig, *, config_path: Path | str | None = None) -> dict[str, DetectorConfig]:
    """The detectors to run, in order, each with its validated settings (see the module docstring).

    Raises :class:`~tagscan.errors.ConfigError` naming ``config_path`` and the key: an unknown detector
    (with the valid ones), an unknown or invalid setting (``scan.detectors.<name>.<key>``, with the
    closest and the valid keys), a setting given both by a top-level key and under ``scan.detectors``.
    """
    where = f"{config_path}: " if config_path else ""
    registry = available_detectors()
    valid = sorted(registry)
    raw = scan_cfg.detectors
    if raw is None:
        wanted: dict[str, dict] = {name: {} for name in valid}
    elif isinstance(raw, dict):
        wanted = {name: dict(value or {}) for name, value in raw.items()}
    else:
        wanted = {name: {} for name in raw}
    for name in wanted:
        if name not in registry:
            raise ConfigError(
                f"{where}key 'scan.detectors': unknown detector '{name}'; {_closest(name, valid)}"
                f"valid detectors: {', '.join(valid)}"
            )
    out: dict[str, DetectorConfig] = {}
    for name, settings in wanted.items():
        cls = registry[name]
        enabled = settings.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(
                f"{where}key 'scan.detectors.{name}.enabled': must be true or false (found {enabled!r}); "
                "fix the value in the config"
            )
        from_legacy: dict[str, str] = {}
        for setting, legacy_key in cls.legacy.items():
            if not _legacy_is_set(scan_cfg, legacy_key):
                continue
            if setting in settings:
                raise ConfigError(
                    f"{where}keys 'scan.{legacy_key}' and 'scan.detectors.{name}.{setting}' both set the same "
                    f"thing; keep one (scan.detectors.{name}.{setting} is the newer spelling)"
                )
            settings[setting] = getattr(scan_cfg, legacy_key)
            from_legacy[setting] = legacy_key
        try:
            config = cls.Config.model_validate(settings)
        except ValidationError as exc:
            raise ConfigError(where + _error_line(name, cls.Config, from_legacy, exc.errors()[0])) from exc
        if enabled:
            out[name] = config
    return out


def _error_line(name: str, model: type[DetectorConfig], from_legacy: dict[str, str], err: dict) -> str:
    loc = tuple(err.get("loc", ()))
    setting = str(loc[0]) if loc else ""
    # Keep the setting and list positions; drop the names pydantic gives the members of a union.
    path = setting + "".join(f"[{x}]" for x in loc[1:] if isinstance(x, int))
    key = f"scan.{from_legacy[setting]}" if setting in from_legacy else f"scan.detectors.{name}.{path}"
    valid = list(model.model_fields)
    if err.get("type") == "extra_forbidden":
        if not valid:
            return f"unknown key '{key}'; detector '{name}' has no settings: remove it (or write {name}: {{}})"
        return (
            f"unknown key '{key}'; {_closest(setting, valid)}valid keys of scan.detectors.{name}: "
            f"{', '.join([*valid, 'enabled'])}"
        )
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    found = err.get("input")
    shown = f" (found {found!r})" if found is not None and not isinstance(found, dict) else ""
    return f"key '{key}': {msg}{shown}; fix the value in the config"
