"""The one YAML reader: safe types, unique keys, and one clear error line per failure."""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["safe_load_yaml"]


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                try:
                    key = self.construct_object(key_node, deep=True)
                    hash(key)
                except Exception:  # noqa: BLE001 - unhashable keys are reported by the base class
                    continue
                if key in seen:
                    raise _DuplicateKey(
                        None, None, f"key '{key}' appears twice in one mapping (first at line {seen[key] + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def safe_load_yaml(path: Path, what: str, error: type[Exception]):
    """Read a UTF-8 YAML file with safe types and unique keys; every failure is one ``error`` line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                    f"save the {what} as UTF-8") from exc
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc}); check the path of the {what}") from exc
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        if isinstance(exc, _DuplicateKey):
            raise error(f"{path}:{where}: {problem}; keep one of them (YAML would silently use the last)") from exc
        hint = "; indent with spaces, not tabs" if "\\t" in problem else ""
        raise error(f"{path}:{where} is not valid YAML ({problem}); fix the syntax of the {what}{hint}") from exc
