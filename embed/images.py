"""Image inputs: references, loading, content keys, and cached streaming embedding (PIL and numpy only).

An image *reference* is an absolute file path or an ``http(s)://`` URL; :func:`resolve_image_refs`
turns the ``image`` column of a samples table into references (relative paths are resolved against
the table's folder). :func:`load_image` reads one as an RGB ``PIL.Image``; every failure is a
:class:`~tagscan.errors.DataError` naming the reference and the reason.

Cache keys (see :func:`image_key`):

- a local file is keyed by its content, ``"sha256:<hex of the file's bytes>"``: a renamed, moved or
  copied file hits the cache, an edited one is embedded again. Hashing reads every file once per run
  (about 1 GB/s on one core, in parallel threads here), a small cost beside decoding and the model's
  forward pass; ``path + mtime + size`` would be faster on a full hit but misses renames and copies
  and trusts clocks, so it is not used.
- a URL is keyed by the URL itself, ``"url:<url>"``: hashing its content would mean downloading every
  image again on every run. A remote image replaced under the same URL is not noticed; give it a new
  URL (or clear the embedding cache, see :mod:`tagscan.embed.cache`) when that happens.

:func:`embed_image_refs` embeds a list of references through an
:class:`~tagscan.embed.cache.EmbeddingCache`: keys first, then only the missing images, streamed in
batches (never all in memory) and written shard by shard, so a killed run keeps every finished shard.
With ``on_error="skip"`` unreadable images are left out and reported (row, reference, reason) instead
of stopping the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tagscan.errors import DataError

__all__ = [
    "IMAGE_NAMESPACE_SUFFIX",
    "ImageEmbeddingJob",
    "ImageEmbeddings",
    "SkippedImage",
    "decode_image",
    "embed_image_refs",
    "image_key",
    "image_keys",
    "is_url",
    "iter_prepared_batches",
    "load_image",
    "read_image_bytes",
    "resolve_image_refs",
]

logger = logging.getLogger(__name__)

#: Appended to an embedder's name to form the cache namespace of its image vectors, so image keys
#: (``sha256:...``, ``url:...``) never share a namespace with the texts embedded by the same model.
IMAGE_NAMESPACE_SUFFIX = "+images"
#: The largest image file read (bytes): guards against an endless or mistaken download.
MAX_IMAGE_BYTES = 256 * 1024 * 1024
_CHUNK = 1 << 20
_KEY_BLOCK = 4096
_USER_AGENT = "tagscan (image QA; +https://pypi.org/project/tagscan/)"
#: The fix named by every unreadable-image error (the CLI option that skips such images).
SKIP_HINT = "fix or remove the image, or rerun with --skip-bad-images to go on without it"
_SKIP_FIX = SKIP_HINT

OnError = Literal["raise", "skip"]


def is_url(ref: str) -> bool:
    """True for an ``http://`` or ``https://`` reference."""
    return ref[:8].lower().startswith(("http://", "https://"))


def _where(position: int | None, sample_ids: Sequence[str] | None) -> str:
    if position is None:
        return ""
    if sample_ids is not None:
        return f"samples row {position + 1} (sample '{sample_ids[position]}'): "
    return f"samples row {position + 1}: "


def resolve_image_refs(values: Sequence[object], base_dir: Path) -> list[str]:
    """Turn the ``image`` column of a samples table into image references.

    URLs (``http://``, ``https://``) are kept as they are; ``file://`` URLs become paths; other paths
    are made absolute, relative ones against ``base_dir`` (the folder of the samples table), with
    ``~`` expanded. Nothing is read: a missing file is reported when it is embedded.

    Raises:
        DataError: a value is empty, not a string, or a URL of another scheme (``s3://``, ``ftp://``).
    """
    base = Path(base_dir).expanduser().resolve()
    refs: list[str] = []
    for position, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise DataError(
                f"samples row {position + 1}: column 'image' must hold a file path or an http(s) URL, "
                f"got {value!r:.60}; fill it in or drop the row"
            )
        text = value.strip()
        if is_url(text):
            refs.append(text)
            continue
        scheme = urllib.parse.urlsplit(text).scheme
        if scheme == "file":
            text = urllib.request.url2pathname(urllib.parse.urlsplit(text).path)
        elif len(scheme) > 1:  # one letter is a Windows drive, not a scheme
            raise DataError(
                f"samples row {position + 1}: image '{text}' uses the unsupported scheme '{scheme}://'; "
                "give a file path (relative to the samples table) or an http(s) URL"
            )
        path = Path(text).expanduser()
        refs.append(str((path if path.is_absolute() else base / path).resolve()))
    return refs


def read_image_bytes(ref: str, *, timeout: float = 10.0) -> bytes:
    """The bytes of the image file or URL ``ref``.

    Raises:
        DataError: the file is missing, a folder or unreadable; the URL answers with an HTTP error,
            cannot be reached or times out; or more than ``MAX_IMAGE_BYTES`` would be read.
    """
    if is_url(ref):
        request = urllib.request.Request(ref, headers={"User-Agent": _USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
                data = response.read(MAX_IMAGE_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise DataError(f"image '{ref}': HTTP error {error.code} {error.reason}; {_SKIP_FIX}") from error
        except urllib.error.URLError as error:
            raise DataError(f"image '{ref}': could not be fetched ({error.reason}); {_SKIP_FIX}") from error
        except (TimeoutError, OSError) as error:
            raise DataError(
                f"image '{ref}': could not be fetched ({type(error).__name__}: {error}, timeout {timeout} s); "
                f"{_SKIP_FIX}"
            ) from error
    else:
        try:
            with open(ref, "rb") as handle:
                data = handle.read(MAX_IMAGE_BYTES + 1)
        except FileNotFoundError as error:
            raise DataError(f"image '{ref}': file not found; {_SKIP_FIX}") from error
        except IsADirectoryError as error:
            raise DataError(f"image '{ref}': is a folder, not an image file; {_SKIP_FIX}") from error
        except OSError as error:
            raise DataError(
                f"image '{ref}': could not be read ({type(error).__name__}: {error}); {_SKIP_FIX}"
            ) from error
    if len(data) > MAX_IMAGE_BYTES:
        raise DataError(
            f"image '{ref}': larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB; resize it or {_SKIP_FIX}"
        )
    return data


def decode_image(data: bytes, ref: str, *, min_size: int | None = None) -> Image.Image:
    """Decode image bytes into an upright RGB image (EXIF orientation applied, alpha dropped).

    Args:
        data: the file's bytes.
        ref: names the image in error messages.
        min_size: if given, a JPEG at least twice that size on both sides is decoded at 1/2, 1/4 or
            1/8 scale by the JPEG decoder itself (``PIL.Image.draft``, a DCT-domain downscale), never
            below ``min_size`` on either side. A model that resizes to ``min_size`` anyway sees
            nearly the same pixels, and decoding plus resizing a large photo gets many times cheaper.

    Raises:
        DataError: the bytes are not an image PIL can read (unknown format, corrupt or truncated).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if min_size and image.format == "JPEG":
                image.draft(None, (min_size, min_size))
            image.load()
            upright = ImageOps.exif_transpose(image)
            return upright.convert("RGB")
    except UnidentifiedImageError as error:
        raise DataError(
            f"image '{ref}': not a readable image (unknown format or corrupt file, {len(data)} bytes); "
            f"{_SKIP_FIX}"
        ) from error
    except Image.DecompressionBombError as error:
        raise DataError(f"image '{ref}': too many pixels to decode safely ({error}); {_SKIP_FIX}") from error
    except Exception as error:  # PIL raises many types on corrupt data: OSError, SyntaxError, ...
        raise DataError(
            f"image '{ref}': corrupt or truncated image ({type(error).__name__}: {error}); {_SKIP_FIX}"
        ) from error


def load_image(ref: str, *, timeout: float = 10.0) -> Image.Image:
    """Read the image file or http(s) URL ``ref`` as an RGB ``PIL.Image``.

    Raises:
        DataError: naming ``ref`` and the reason (missing file, HTTP error, unreadable or corrupt image).
    """
    return decode_image(read_image_bytes(ref, timeout=timeout), ref)


def _file_digest(ref: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(ref, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except FileNotFoundError as error:
        raise DataError(f"image '{ref}': file not found; {_SKIP_FIX}") from error
    except IsADirectoryError as error:
        raise DataError(f"image '{ref}': is a folder, not an image file; {_SKIP_FIX}") from error
    except OSError as error:
        raise DataError(
            f"image '{ref}': could not be read ({type(error).__name__}: {error}); {_SKIP_FIX}"
        ) from error
    return digest.hexdigest()


def image_key(ref: str) -> str:
    """The cache key of an image: ``"sha256:<hex>"`` of a file's bytes, ``"url:<url>"`` for a URL.

    Raises:
        DataError: the file is missing or unreadable.
    """
    return f"url:{ref}" if is_url(ref) else f"sha256:{_file_digest(ref)}"


def _default_threads() -> int:
    return max(2, min(8, os.cpu_count() or 1))


def image_keys(refs: Sequence[str], *, threads: int | None = None) -> tuple[list[str | None], dict[int, str]]:
    """Cache keys of ``refs`` (files hashed in parallel threads, in blocks of bounded memory).

    Returns:
        ``(keys, failures)``: one key per reference (``None`` where it failed) and the failure
        message of each failed position.
    """
    keys: list[str | None] = [None] * len(refs)
    failures: dict[int, str] = {}
    with ThreadPoolExecutor(max_workers=threads or _default_threads()) as pool:
        for start in range(0, len(refs), _KEY_BLOCK):
            block = range(start, min(start + _KEY_BLOCK, len(refs)))
            futures = [(position, pool.submit(image_key, refs[position])) for position in block]
            for position, future in futures:
                try:
                    keys[position] = future.result()
                except DataError as error:
                    failures[position] = str(error)
    return keys, failures


@dataclass(frozen=True)
class SkippedImage:
    """An image left out in ``on_error="skip"`` mode: its row (0-based position), reference and reason."""

    position: int
    ref: str
    reason: str


@dataclass(frozen=True)
class ImageEmbeddings:
    """What :func:`embed_image_refs` returns.

    Attributes:
        vectors: float32 ``(len(kept), dim)`` unit rows, row ``i`` for reference ``kept[i]``.
        kept: int64 positions (into the references given) of the images embedded, ascending.
        skipped: the images left out (empty unless ``on_error="skip"``), in row order.
        computed: how many distinct images were embedded by this call (the rest came from the cache).
    """

    vectors: np.ndarray
    kept: np.ndarray
    skipped: tuple[SkippedImage, ...]
    computed: int

    @property
    def n_skipped(self) -> int:
        """Number of rows left out."""
        return len(self.skipped)


def _load_prepared(
    ref: str,
    key: str | None,
    prepare: Callable[[Image.Image], np.ndarray],
    timeout: float,
    min_size: int | None,
) -> np.ndarray:
    data = read_image_bytes(ref, timeout=timeout)
    if key is not None and key.startswith("sha256:") and hashlib.sha256(data).hexdigest() != key[7:]:
        raise DataError(f"image '{ref}': the file changed while it was being embedded; run again")
    return prepare(decode_image(data, ref, min_size=min_size))


def iter_prepared_batches(
    refs: Sequence[str],
    prepare: Callable[[Image.Image], np.ndarray],
    *,
    batch_size: int,
    keys: Sequence[str | None] | None = None,
    threads: int | None = None,
    prefetch: int = 2,
    timeout: float = 10.0,
    min_size: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray | None, dict[int, str]]]:
    """Load, decode and prepare images in background threads, one batch at a time, in order.

    At most ``prefetch + 1`` batches are in flight, and each image is kept only as the (small)
    array ``prepare`` makes of it, so memory stays bounded whatever the number of images. When
    ``keys`` holds a ``sha256:`` key for a file, its bytes are checked against it (a file edited
    during the run is an error, never cached under its old content). ``min_size`` is passed to
    :func:`decode_image`.

    Yields:
        ``(positions, batch, failures)``: int64 positions (into ``refs``) of the images loaded, the
        stacked prepared arrays of those images (``None`` if none loaded), and ``{position: message}``
        for the images of this batch that failed.
    """
    workers = threads or _default_threads()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        in_flight: deque[list[tuple[int, Future[np.ndarray]]]] = deque()
        starts = iter(range(0, len(refs), batch_size))

        def submit_next() -> None:
            start = next(starts, None)
            if start is None:
                return
            stop = min(start + batch_size, len(refs))
            in_flight.append(
                [
                    (
                        position,
                        pool.submit(
                            _load_prepared,
                            refs[position],
                            None if keys is None else keys[position],
                            prepare,
                            timeout,
                            min_size,
                        ),
                    )
                    for position in range(start, stop)
                ]
            )

        for _ in range(prefetch + 1):
            submit_next()
        try:
            while in_flight:
                batch = in_flight.popleft()
                submit_next()
                positions: list[int] = []
                arrays: list[np.ndarray] = []
                failures: dict[int, str] = {}
                for position, future in batch:
                    try:
                        arrays.append(future.result())
                        positions.append(position)
                    except DataError as error:
                        failures[position] = str(error)
                stacked = np.stack(arrays) if arrays else None
                yield np.asarray(positions, dtype=np.int64), stacked, failures
        finally:
            for batch in in_flight:
                for _, future in batch:
                    future.cancel()


class _ImageFailed(Exception):
    """Internal: the image at ``offset`` of a chunk failed in ``on_error="raise"`` mode."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


def _compute_chunk(
    embedder: object,
    refs: list[str],
    keys: list[str],
    *,
    batch_size: int,
    on_error: OnError,
    threads: int | None,
    timeout: float,
    advance: Callable[[int], None] | None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Embed one chunk of distinct images: ``(rows of the good ones in order, {offset: failure})``."""
    dim = int(embedder.dim)  # type: ignore[attr-defined]
    out = np.empty((len(refs), dim), dtype=np.float32)
    done = np.zeros(len(refs), dtype=bool)
    failures: dict[int, str] = {}
    prepare = getattr(embedder, "prepare_image", None)
    embed_prepared = getattr(embedder, "embed_prepared", None)
    if callable(prepare) and callable(embed_prepared):
        batches = iter_prepared_batches(
            refs,
            prepare,
            batch_size=batch_size,
            keys=keys,
            threads=threads,
            timeout=timeout,
            min_size=getattr(embedder, "decode_size", None),
        )
        with contextlib.closing(batches):
            for positions, batch, batch_failures in batches:
                if batch_failures and on_error == "raise":
                    first = min(batch_failures)
                    raise _ImageFailed(first, batch_failures[first])
                failures.update(batch_failures)
                if batch is not None:
                    out[positions] = _checked_rows(embed_prepared(batch), len(positions), dim, embedder)
                    done[positions] = True
                if advance is not None:
                    advance(len(positions) + len(batch_failures))
    else:
        for start in range(0, len(refs), batch_size):
            part = refs[start : start + batch_size]
            try:
                rows = embedder.embed_images(part)  # type: ignore[attr-defined]
                out[start : start + len(part)] = _checked_rows(rows, len(part), dim, embedder)
                done[start : start + len(part)] = True
            except DataError:
                for offset, ref in enumerate(part, start=start):  # find the bad ones, keep the good ones
                    try:
                        row = embedder.embed_images([ref])  # type: ignore[attr-defined]
                        out[offset] = _checked_rows(row, 1, dim, embedder)[0]
                        done[offset] = True
                    except DataError as error:
                        if on_error == "raise":
                            raise _ImageFailed(offset, str(error)) from error
                        failures[offset] = str(error)
            if advance is not None:
                advance(len(part))
    return out[done], failures


def _checked_rows(rows: object, expected: int, dim: int, embedder: object) -> np.ndarray:
    matrix = np.asarray(rows)
    if matrix.shape != (expected, dim):
        raise DataError(
            f"embedder '{embedder.name}': returned shape {matrix.shape} for {expected} images; "  # type: ignore[attr-defined]
            f"embed_images must return one row of width dim={dim} per image"
        )
    return matrix


class ImageEmbeddingJob:
    """Embed image references through the content cache: streamed, sharded, resumable.

    Construction keys every reference (:func:`image_key`; files hashed in parallel threads) and finds
    the distinct keys not cached yet (:attr:`n_missing`, the total for a progress bar); :meth:`run`
    embeds those in chunks of ``shard_size``, each streamed in batches of ``batch_size`` and written
    as one cache shard before the next chunk starts (a killed run keeps every finished chunk), then
    reads every kept row from the cache. The cache namespace is ``embedder.image_cache_name`` (if
    the embedder has one: :class:`~tagscan.embed.embedders.ClipEmbedder`'s ignores its text prompt
    templates) or ``embedder.name``, plus ``IMAGE_NAMESPACE_SUFFIX``. Images that fail are never
    cached, so a rerun tries them again.

    An embedder with ``prepare_image(PIL.Image) -> array`` and ``embed_prepared(batch) -> rows``
    (as :class:`~tagscan.embed.embedders.ClipEmbedder` has) gets its images loaded, decoded (JPEGs
    at reduced scale down to its ``decode_size``, if it has one) and prepared here, in background
    threads that overlap the model; any other embedder gets batches of
    references through ``embed_images(refs)`` (and, when a batch fails, one reference at a time, to
    find the bad ones).

    Args:
        refs: image references (see :func:`resolve_image_refs`), in samples order.
        embedder: has ``name``, ``dim`` and ``embed_images`` (see ``tagscan.embed.embedders``).
        cache_root: the cache folder; ``None`` embeds everything without caching.
        on_error: ``"raise"`` stops at the first unreadable image (finished shards stay cached);
            ``"skip"`` leaves unreadable images out and lists them in ``skipped``.
        shard_size: distinct images per chunk (and cache shard).
        batch_size: images per forward pass; default ``embedder.batch_size``, else 32.
        sample_ids: names the samples in error messages (``samples row 3 (sample 'x')``).
        threads: loader threads (default: the number of CPUs, 2 to 8).
        timeout: seconds allowed for each URL download.

    Raises:
        DataError: (``on_error="raise"``) an image file is missing or unreadable.
        ValueError: ``on_error`` is neither ``"raise"`` nor ``"skip"``, or ``sample_ids`` has the
            wrong length.
    """

    def __init__(
        self,
        refs: Sequence[str],
        embedder: object,
        cache_root: Path | None,
        *,
        on_error: OnError = "raise",
        shard_size: int = 1024,
        batch_size: int | None = None,
        sample_ids: Sequence[str] | None = None,
        threads: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        from tagscan.embed.cache import EmbeddingCache

        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error: must be 'raise' or 'skip', got {on_error!r}")
        if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
            raise DataError(f"shard_size: must be a positive integer, got {shard_size!r}; use e.g. 1024")
        if batch_size is None:
            batch_size = int(getattr(embedder, "batch_size", 32) or 32)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(f"batch_size: must be a positive integer, got {batch_size!r}; use e.g. 32")
        self.refs = list(refs)
        if sample_ids is not None and len(sample_ids) != len(self.refs):
            raise ValueError(f"sample_ids: {len(sample_ids)} ids for {len(self.refs)} images")
        self.embedder = embedder
        self.on_error = on_error
        self.shard_size = shard_size
        self.batch_size = batch_size
        self.sample_ids = None if sample_ids is None else [str(s) for s in sample_ids]
        self.threads = threads
        self.timeout = timeout
        self.name = str(embedder.name)  # type: ignore[attr-defined]
        self.dim = int(embedder.dim)  # type: ignore[attr-defined]
        self.namespace = str(getattr(embedder, "image_cache_name", self.name)) + IMAGE_NAMESPACE_SUFFIX
        self.cache = EmbeddingCache(cache_root, self.namespace) if cache_root is not None else None

        self.keys, key_failures = image_keys(self.refs, threads=threads)
        self._failed: dict[int, str] = {}  # position -> message, for every row left out
        if key_failures:
            first = min(key_failures)
            if on_error == "raise":
                raise DataError(self._where(first) + key_failures[first])
            self._failed.update(key_failures)
        self._first: dict[str, int] = {}
        for position, key in enumerate(self.keys):
            if key is not None and key not in self._first:
                self._first[key] = position
        distinct = list(self._first)
        self.n_distinct = len(distinct)
        self._missing = distinct if self.cache is None else self.cache.missing(distinct)

    @property
    def n_missing(self) -> int:
        """Distinct images that :meth:`run` will embed (the others are cached)."""
        return len(self._missing)

    def pending(self) -> list[tuple[str, str]]:
        """``(cache key, reference)`` of each distinct image :meth:`run` would embed, in order: the work
        another engine (Ray) may do first, writing shards into the same cache."""
        return [(key, self.refs[self._first[key]]) for key in self._missing]

    def refresh(self) -> None:
        """Read the cache again and drop from the work what was written meanwhile (by Ray workers):
        :meth:`run` then embeds only what is still missing (the images the workers could not read)."""
        if self.cache is not None:
            from tagscan.embed.cache import EmbeddingCache

            self.cache = EmbeddingCache(self.cache.root, self.namespace)
            self._missing = self.cache.missing(self._missing)

    def _where(self, position: int) -> str:
        return _where(position, self.sample_ids)

    def run(self, *, progress: Callable[[int], None] | None = None, spill_to: Path | None = None) -> ImageEmbeddings:
        """Embed what is missing, then return every kept row (see :class:`ImageEmbeddings`).

        Args:
            progress: called with the number of images just processed; adds up to :attr:`n_missing`.
            spill_to: kept rows over the cache's budget are written to this ``.npy`` and returned
                memory-mapped (:meth:`tagscan.embed.cache.EmbeddingCache.embed`).

        Raises:
            DataError: an image is unreadable or cannot be fetched (``on_error="raise"``), every
                image was unreadable (``"skip"``), or the embedder returned the wrong shape.
        """
        refs, keys, cache = self.refs, self.keys, self.cache
        if self._missing:
            logger.info(
                "embedding %d images with %s (%d cached)",
                len(self._missing),
                self.name,
                self.n_distinct - len(self._missing),
            )
        bad_keys: dict[str, str] = {}  # key -> message, for failures found while embedding
        uncached: dict[str, np.ndarray] = {}  # without a cache only: key -> row
        computed = 0
        for start in range(0, len(self._missing), self.shard_size):
            chunk_keys = self._missing[start : start + self.shard_size]
            chunk_refs = [refs[self._first[key]] for key in chunk_keys]
            try:
                vectors, chunk_failures = _compute_chunk(
                    self.embedder,
                    chunk_refs,
                    chunk_keys,
                    batch_size=self.batch_size,
                    on_error=self.on_error,
                    threads=self.threads,
                    timeout=self.timeout,
                    advance=progress,
                )
            except _ImageFailed as failure:
                position = self._first[chunk_keys[failure.offset]]
                raise DataError(self._where(position) + failure.message) from failure.__cause__
            for offset, message in chunk_failures.items():
                bad_keys[chunk_keys[offset]] = message
            good_keys = [key for offset, key in enumerate(chunk_keys) if offset not in chunk_failures]
            computed += len(good_keys)
            if not good_keys:
                continue
            rows = dict(zip(good_keys, vectors))
            if cache is None:
                uncached.update(rows)
            else:  # one shard per chunk, on disk before the next chunk starts
                cache.append(good_keys, np.stack([rows[key] for key in good_keys]))

        failed = dict(self._failed)
        for position, key in enumerate(keys):
            if key is not None and key in bad_keys:
                failed[position] = bad_keys[key]
        kept = np.asarray([p for p in range(len(refs)) if p not in failed], dtype=np.int64)
        skipped = tuple(SkippedImage(p, refs[p], failed[p]) for p in sorted(failed))
        if skipped:
            first_skip = self._where(skipped[0].position) + skipped[0].reason
            if not kept.size:
                raise DataError(f"no image could be read ({len(refs)} tried); the first: {first_skip}")
            logger.warning(
                "skipped %d of %d images that could not be read; the first: %s",
                len(skipped),
                len(refs),
                first_skip,
            )
        kept_keys = [keys[p] for p in kept]
        if not kept_keys:
            vectors_all = np.empty((0, self.dim), dtype=np.float32)
        elif cache is None:
            vectors_all = np.stack([uncached[key] for key in kept_keys])
        else:
            namespace, directory = self.namespace, cache.directory

            def vanished(items: list[str]) -> np.ndarray:
                raise DataError(
                    f"embedding cache '{namespace}': {len(items)} image vectors vanished from {directory} "
                    "during the run; run again"
                )

            vectors_all, _ = cache.embed(kept_keys, vanished, spill_to=spill_to)
        return ImageEmbeddings(
            vectors=vectors_all,  # float32 C-contiguous from every branch (a memory map when spilled)
            kept=kept,
            skipped=skipped,
            computed=computed,
        )


def embed_image_refs(
    refs: Sequence[str],
    embedder: object,
    cache_root: Path | None,
    *,
    on_error: OnError = "raise",
    shard_size: int = 1024,
    batch_size: int | None = None,
    sample_ids: Sequence[str] | None = None,
    threads: int | None = None,
    timeout: float = 10.0,
    progress: Callable[[int], None] | None = None,
) -> ImageEmbeddings:
    """``ImageEmbeddingJob(...).run(progress=progress)`` in one call; see :class:`ImageEmbeddingJob`."""
    job = ImageEmbeddingJob(
        refs,
        embedder,
        cache_root,
        on_error=on_error,
        shard_size=shard_size,
        batch_size=batch_size,
        sample_ids=sample_ids,
        threads=threads,
        timeout=timeout,
    )
    return job.run(progress=progress)

