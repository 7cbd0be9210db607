"""The examples of a finding in the report, with thumbnails of image inputs embedded as ``data:`` URIs.

Thumbnails are made with Pillow (imported where they are made) when it is importable (it ships with
label-studio-sdk); without it, or for remote (http/https) images, which are never fetched, examples show
a placeholder. Each image is embedded once, as a CSS class, however many findings show it.
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import pandas as pd

from tagscan.inputs.kinds import sample_columns
from tagscan.outputs.format import is_missing
from tagscan.outputs.html.markup import e, truncate
from tagscan.review.codec import fill_link, link_fields

__all__ = ["Examples", "thumbnail_data"]

log = logging.getLogger(__name__)

EXAMPLES_SHOWN = 8  # per finding
MAX_THUMBNAILS = 1500  # distinct images embedded per report (keeps the file to a few MB)
SNIPPET_CHARS = 280


class Examples:
    """Renders the examples of a finding from the samples table; embeds each image once (CSS class)."""

    def __init__(
        self, samples: pd.DataFrame | None, image_root: Path | None, px: int, *,
        link: str | None = None, show: list[str] | None = None,
    ):
        self.px = px
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
        self.thumb_class: dict[str, str | None] = {}  # sample id -> css class, or None (failed)
        self.thumb_css: list[str] = []
        self.problems: dict[str, int] = {}
        self.pil = _pillow_available()
        if self.has_image and not self.pil:
            log.warning("Pillow is not installed: the report shows image examples as placeholders")

    def _thumbnail(self, sid: str, ref: str) -> tuple[str | None, str]:
        """(css class, '') for an embedded thumbnail, or (None, reason)."""
        if sid in self.thumb_class:
            cls = self.thumb_class[sid]
            return cls, "" if cls else "image not embedded"
        low = ref.strip().lower()
        if low.startswith(("http://", "https://")):
            return None, "remote image (not fetched)"
        if not self.pil:
            return None, "image (Pillow not installed)"
        if len(self.thumb_css) >= MAX_THUMBNAILS:
            self.problems["over the thumbnail budget"] = self.problems.get("over the thumbnail budget", 0) + 1
            return None, "image (thumbnail budget reached)"
        path = Path(ref).expanduser()
        if not path.is_absolute():
            path = (self.image_root or Path.cwd()) / path
        data, reason = thumbnail_data(path, self.px)
        if data is None:
            self.problems[reason] = self.problems.get(reason, 0) + 1
            self.thumb_class[sid] = None
            return None, reason
        cls = f"th{len(self.thumb_css)}"
        self.thumb_css.append(f'.{cls}{{background-image:url("data:image/jpeg;base64,{data}")}}')
        self.thumb_class[sid] = cls
        return cls, ""

    def render(self, ids: list[str]) -> str:
        if not ids:
            return '<p class="muted">No examples were recorded for this finding.</p>'
        shown, rest = ids[:EXAMPLES_SHOWN], len(ids) - EXAMPLES_SHOWN
        cards = []
        for sid in shown:
            rec = self.rows.get(sid)
            parts = []
            if rec is not None and self.has_image and not is_missing(rec.get("image")):
                cls, reason = self._thumbnail(sid, str(rec["image"]))
                if cls:
                    parts.append(f'<span class="thumb {cls}" role="img" aria-label="{e("image of " + sid)}"></span>')
                else:
                    parts.append(
                        f'<span class="thumb ph" title="{e(rec["image"])}">{e(reason)}</span>'
                    )
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
            kind = "img" if (rec is not None and self.has_image and not is_missing(rec.get("image"))) else "txt"
            cards.append(f'<li class="ex {kind}">{"".join(parts)}</li>')
        more = f'<p class="muted">and {rest:,} more in findings.parquet</p>' if rest > 0 else ""
        return f'<ul class="examples">{"".join(cards)}</ul>{more}'


def _pillow_available() -> bool:
    try:
        from PIL import Image  # noqa: F401
    except ImportError:
        return False
    return True


def thumbnail_data(path: Path, px: int) -> tuple[str | None, str]:
    """Base64 JPEG of the image at ``path`` fitted in px x px, or (None, reason)."""
    from PIL import Image, ImageOps

    if not path.is_file():
        return None, "image file missing"
    try:
        with Image.open(path) as im:
            im.draft("RGB", (2 * px, 2 * px))
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P", "PA"):
                rgba = im.convert("RGBA")
                im = Image.new("RGB", rgba.size, (255, 255, 255))
                im.paste(rgba, mask=rgba.getchannel("A"))
            else:
                im = im.convert("RGB")
            im.thumbnail((px, px))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80, optimize=True)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("report: cannot make a thumbnail of %s: %s", path, exc)
        return None, "unreadable image"
    return base64.b64encode(buf.getvalue()).decode("ascii"), ""

