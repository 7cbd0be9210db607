"""Durable file-system writes shared by the workspace, the caches and the report; where tagscan's cache folder is."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from tagscan.errors import ConfigError

__all__ = ["CACHE_ENV", "fsync_dir", "release_pages", "tagscan_cache_dir", "write_durably"]


def release_pages(array: object) -> None:
    """Drop the pages of the memory map behind ``array`` (a ``np.memmap``, or a view of one) from this process.

    A block-by-block pass over a memory-mapped file leaves every page it read resident in the process (its
    RSS grows to the file's size, though the kernel may reclaim them); called after each block, the pass keeps
    one block resident. The data stays in the file and the page cache: the next read maps it again. A no-op
    for arrays in memory and where ``madvise`` is missing.
    """
    node, seen = array, 0
    while node is not None and seen < 8 and not isinstance(getattr(node, "_mmap", None), mmap.mmap):
        node, seen = getattr(node, "base", None), seen + 1
    mapped = getattr(node, "_mmap", None)
    # Only a shared mapping: dropping the pages of a copy-on-write one (mode "c") would drop its changes.
    if isinstance(mapped, mmap.mmap) and getattr(node, "mode", "c") in ("r", "r+", "w+") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mapped.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # closed, or the platform refuses: the pages simply stay
            pass


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it (the caller renames it into place when needed)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


#: Environment variable naming tagscan's cache folder (the embedding cache is its ``embeddings/``).
CACHE_ENV = "TAGSCAN_CACHE_DIR"
_CACHE_FIX = f"set embed.cache_dir in the config or {CACHE_ENV} in the environment to a writable folder"


def tagscan_cache_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """tagscan's cache folder on this machine, the first of: ``configured`` (the config's
    ``embed.cache_dir``, already resolved against the config's folder), ``$TAGSCAN_CACHE_DIR``,
    ``$XDG_CACHE_HOME/tagscan``, ``~/.cache/tagscan``. Empty variables count as unset; a relative
    ``TAGSCAN_CACHE_DIR`` is taken from the current folder, a relative ``XDG_CACHE_HOME`` is ignored
    (as the XDG base directory spec says).

    Raises:
        ConfigError: no home folder to put the default under (set ``TAGSCAN_CACHE_DIR``).
    """
    if configured is not None and str(configured):
        return Path(configured).expanduser().absolute()
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        return Path(value).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative path there is invalid and ignored
        return Path(xdg) / "tagscan"
    try:
        home = Path.home()
    except (RuntimeError, KeyError) as error:
        raise ConfigError(f"embedding cache: no home folder to keep it in ({error}); {_CACHE_FIX}") from error
    return home / ".cache" / "tagscan"
