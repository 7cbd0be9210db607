"""The examples of a finding in the report: thumbnails of image inputs, snippets of text inputs.

A thumbnail is an ``<img src="data:image/...;base64,...">`` made with Pillow (imported where thumbnails
are made): JPEG (PNG for an image with transparency), its longest side at most ``px`` (96 by default),
so the report stays one self-contained file that opens offline and prints with its images. Each image
is read and encoded once per report however many findings show it; each time it is shown counts
against a budget of :data:`MAX_THUMBNAIL_BYTES` per report. Past the budget (the least severe findings,
which come last), an example shows its image reference as text instead, and the report says so.

Images are local paths (relative to the samples table's folder, or absolute), ``data:image/`` URIs, or
http(s) URLs. A URL is never fetched while rendering: the example shows a link to it. A missing or
unreadable file shows a placeholder naming the reason, never an error.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pandas as pd

from tagscan.inputs.kinds import sample_columns
from tagscan.outputs.format import is_missing
from tagscan.outputs.html.markup import e, truncate
from tagscan.review.codec import fill_link, link_fields

__all__ = ["MAX_THUMBNAIL_BYTES", "Examples", "thumbnail_data"]

log = logging.getLogger(__name__)

EXAMPLES_SHOWN = 8  # per finding
#: Bytes of thumbnails (as embedded, base64) per report: 500 findings x 8 examples of ~3 KB fit.
MAX_THUMBNAIL_BYTES = 12 * 1024 * 1024
SNIPPET_CHARS = 280
OVER_BUDGET = "over the report's thumbnail budget"


class Examples:
    """Renders the examples of a finding from the samples table; reads and encodes each image once."""

    def __init__(
        self, samples: pd.DataFrame | None, image_root: Path | None, px: int, *,
        link: str | None = None, show: list[str] | None = None, max_bytes: int = MAX_THUMBNAIL_BYTES,
    ):
        self.px = px
        self.max_bytes = max_bytes
        self.used_bytes = 0
        self.image_root = Path(image_root) if image_root is not None else None
        self.rows: dict[str, dict] = {}
        self.has_text = self.has_image = False
        self.link: str | None = None
        self.record_cols: list[str] = []
        if samples is not None and len(samples) and "sample_id" in samples.columns:
            cols = [c for c in sample_columns() if c in samples.columns]
            self.has_text, self.has_image = "text" in cols, "image" in cols
            # a sample without text or image shows its record (review.show, or its attribute columns) and,
            # for every kind, its review.link; a template naming a missing column shows no link
            others = [str(c) for c in samples.columns if c != "sample_id" and c not in cols]
            if not (self.has_text or self.has_image):
                self.record_cols = [c for c in (others if show is None else show) if c in samples.columns]
            if link is not None:
                try:
                    fields = link_fields(link)
                except ValueError:
                    fields = [""]
                if all(f in samples.columns for f in fields):
                    self.link = link
                else:
                    log.warning("report: review.link %r names a column the samples table does not have; no links", link)
            keep = list(dict.fromkeys([*cols, *self.record_cols, *(link_fields(self.link) if self.link else [])]))
            frame = samples[["sample_id", *[c for c in keep if c != "sample_id"]]].drop_duplicates("sample_id")
            for rec in frame.to_dict("records"):
                self.rows[str(rec["sample_id"])] = rec
        self.thumbs: dict[str, tuple[str | None, str]] = {}  # sample id -> (<img> tag, '') or (None, reason)
        self.problems: dict[str, int] = {}
        self.pil = _pillow_available()
        if self.has_image and not self.pil:
            log.warning("Pillow is not installed: the report shows image examples as placeholders")

    def _count(self, reason: str) -> None:
        self.problems[reason] = self.problems.get(reason, 0) + 1

    def _image_tag(self, sid: str, ref: str) -> tuple[str | None, str]:
        """(the ``<img>`` tag, '') of the thumbnail of ``ref``, made once per sample, or (None, reason)."""
        if sid not in self.thumbs:
            self.thumbs[sid] = self._make(sid, ref)
        return self.thumbs[sid]

    def _make(self, sid: str, ref: str) -> tuple[str | None, str]:
        if not self.pil:
            return None, "image (Pillow not installed)"
        if ref.startswith("data:"):
            source: Path | bytes | None = _data_uri_bytes(ref)
            if source is None:
                self._count("not a base64 data:image URI")
                return None, "unreadable image"
        else:
            path = Path(ref).expanduser()
            source = path if path.is_absolute() else (self.image_root or Path.cwd()) / path
        made = thumbnail_data(source, self.px)
        if made[0] is None:
            self._count(made[1])
            return None, made[1]
        data, mime, (w, h) = made
        alt = e(f"image of {sid}")
        return f'<img class="thumb" src="data:{mime};base64,{data}" width="{w}" height="{h}" alt="{alt}" title="{e(ref)}">', ""

    def _image(self, sid: str, ref: str) -> str:
        low = ref.strip().lower()
        if low.startswith(("http://", "https://")):
            name = PurePosixPath(urlsplit(ref.strip()).path).name or urlsplit(ref.strip()).netloc
            return (
                f'<a class="thumb ph link" href="{e(ref.strip())}" title="{e(ref)}" target="_blank" '
                f'rel="noopener noreferrer">remote image (not fetched): {e(truncate(name, 40))} ↗</a>'
            )
        tag, reason = self._image_tag(sid, ref)
        if tag is not None:
            size = len(tag)
            if self.used_bytes + size <= self.max_bytes:
                self.used_bytes += size
                return tag
            self._count(OVER_BUDGET)
            reason = f"not embedded: {OVER_BUDGET} ({self.max_bytes / 2**20:.0f} MB)"
        return f'<span class="thumb ph" title="{e(ref)}">{e(reason)}<br><code>{e(truncate(ref, 60))}</code></span>'

    def render(self, ids: list[str]) -> str:
        if not ids:
            return '<p class="muted">No examples were recorded for this finding.</p>'
        shown, rest = ids[:EXAMPLES_SHOWN], len(ids) - EXAMPLES_SHOWN
        cards = []
        for sid in shown:
            rec = self.rows.get(sid)
            parts = []
            is_image = rec is not None and self.has_image and not is_missing(rec.get("image"))
            if is_image:
                parts.append(self._image(sid, str(rec["image"])))
            parts.append(f'<span class="sid">{e(sid)}</span>')
            if rec is not None and self.has_text and not is_missing(rec.get("text")):
                text = str(rec["text"])
                parts.append(f'<span class="snip" title="{e(truncate(text, 2000))}">{e(truncate(text, SNIPPET_CHARS))}</span>')
            elif rec is not None and self.record_cols:
                text = " · ".join(f"{c}: {rec[c]}" for c in self.record_cols if not is_missing(rec.get(c)))
                if text:
                    parts.append(f'<span class="snip">{e(truncate(text, SNIPPET_CHARS))}</span>')
            elif rec is None and self.rows:
                parts.append('<span class="snip muted">not in the samples table</span>')
            if rec is not None and self.link:
                url = fill_link(self.link, rec)
                parts.append(f'<a class="snip" href="{e(url)}" target="_blank" rel="noopener">{e(truncate(url, 120))}</a>')
            cards.append(f'<li class="ex {"img" if is_image else "txt"}">{"".join(parts)}</li>')
        more = f'<p class="muted">and {rest:,} more in findings.parquet</p>' if rest > 0 else ""
        return f'<ul class="examples">{"".join(cards)}</ul>{more}'


def _data_uri_bytes(ref: str) -> bytes | None:
    """The bytes of a ``data:image/...;base64,`` URI, or None."""
    head, _, body = ref.partition(",")
    if not head.lower().startswith("data:image/") or not head.lower().endswith(";base64"):
        return None
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def _pillow_available() -> bool:
    try:
        from PIL import Image  # noqa: F401
    except ImportError:
        return False
    return True


def thumbnail_data(source: Path | bytes, px: int) -> tuple[str, str, tuple[int, int]] | tuple[None, str]:
    """(base64 data, MIME type, (width, height)) of the image at ``source`` (a path, or the file's bytes)
    fitted in px x px, or (None, reason). JPEG, or PNG when the image has transparency."""
    from PIL import Image, ImageOps

    if isinstance(source, Path) and not source.is_file():
        return None, "image file missing"
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            im.draft("RGB", (2 * px, 2 * px))
            im = ImageOps.exif_transpose(im)
            alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            im = im.convert("RGBA" if alpha else "RGB")
            im.thumbnail((px, px))
            buf = io.BytesIO()
            if alpha:
                im.save(buf, "PNG", optimize=True)
            else:
                im.save(buf, "JPEG", quality=80, optimize=True)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        log.warning("report: cannot make a thumbnail of %s: %s", "a data: URI" if isinstance(source, bytes) else source, exc)
        return None, "unreadable image"
    return base64.b64encode(buf.getvalue()).decode("ascii"), "image/png" if alpha else "image/jpeg", im.size
