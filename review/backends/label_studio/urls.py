"""Label Studio's image URL scheme: local image files served through its local-files storage.

A task shows a local image through ``/data/local-files/?d=<path under the document root>``, where the
document root is the server's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` (``TAGSCAN_LS_FILES_ROOT`` of
scripts/labelstudio.sh). The server serves such a URL only after a local storage covering the image's folder
is attached to the project, and refuses a storage equal to the document root itself, so every image must
lie in a sub-folder of it. http(s) and data URLs are shown as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from tagscan.errors import DataError
from tagscan.review.codec import is_url

__all__ = ["FILES_ROOT_ENV", "LOCAL_FILES_PREFIX", "local_files_urls"]

#: the environment variable naming the server's local-files document root
FILES_ROOT_ENV = "TAGSCAN_LS_FILES_ROOT"
LOCAL_FILES_PREFIX = "/data/local-files/?d="


def local_files_urls(values: Iterable[str], *, files_root: str | Path | None) -> tuple[dict[str, str], list[Path]]:
    """Map image inputs to the URLs a task loads, and the folders to attach as local storage.

    ``values`` are review items' image inputs: http(s)/data URLs (kept as they are) or absolute paths of
    files. ``files_root`` is the server's local-files document root. Returns ``{value: url}`` and the fewest
    folders that cover every local image. Raises :class:`DataError` naming the image and the fix.
    """
    mapping: dict[str, str] = {}
    folders: set[Path] = set()
    root = Path(files_root).resolve() if files_root is not None else None
    for raw in dict.fromkeys(str(v) for v in values):
        if is_url(raw):
            mapping[raw] = raw
            continue
        p = Path(raw)
        if root is None:
            raise DataError(
                f"image {p} is a local file, so Label Studio must serve it: give the server's local-files document "
                f"root ({FILES_ROOT_ENV} / LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT) or use http(s) image URLs"
            )
        if root not in p.parent.parents:
            raise DataError(
                f"image {p} is not inside a sub-folder of Label Studio's local-files document root {root}; "
                f"start the server with {FILES_ROOT_ENV} set to a parent folder of the images' folder"
            )
        mapping[raw] = LOCAL_FILES_PREFIX + quote(p.relative_to(root).as_posix(), safe="/")
        folders.add(p.parent)
    # the fewest folders that cover every image: drop those inside another one
    minimal = sorted(f for f in folders if not any(o in f.parents for o in folders))
    return mapping, minimal
