"""The embedding stage: an audit set's input and label vectors (content-cached) and their saved indexes.

:func:`embed_audit_set` takes the audit set, the ``embed`` settings and three folders (the images'
root, the embedding cache, the index folder) and returns an :class:`EmbedOutcome` holding live
objects: the vectors, the indexes (:class:`~tagscan.embed.index.SavedIndex`) and a
:class:`TermEmbedder` for extra texts in the label space (watchlist terms, a lookup query).

Importing this module imports neither torch, transformers nor faiss: the embedders, images and
index modules are imported when the stage runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tagscan.embed.cache import EmbeddingCache
from tagscan.errors import DataError
from tagscan.fsutil import release_pages
from tagscan.progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from tagscan.config import EmbedConfig, EngineConfig
    from tagscan.embed.images import SkippedImage
    from tagscan.embed.index import SavedIndex, VectorIndex
    from tagscan.embed.protocol import Embedder
    from tagscan.embed.ray_engine import RaySession
    from tagscan.inputs import AuditSet

__all__ = ["EmbedOutcome", "TermEmbedder", "cache_counts", "cache_note", "embed_audit_set", "embed_texts_cached", "stage_embedder"]

log = logging.getLogger(__name__)

#: Rows normalised at a time when the precomputed vectors are memory-mapped.
_BLOCK_ROWS = 65_536
#: Computed input vectors over the cache's budget (2 GiB) are gathered into this file of the index folder and
#: memory-mapped from it (each scan replaces it); the index, clusters and detectors read it in row blocks.
_SPILLED = "inputs.npy"


class TermEmbedder:
    """Embeds extra texts (watchlist terms, a lookup query) in the label space, through the content cache.

    Args:
        embedder: the embedder of the label names (loaded on first use if it is deferred).
        cache_root: the embedding cache folder.
    """

    def __init__(self, embedder: Embedder, cache_root: Path) -> None:
        self.embedder = embedder
        self.cache_root = Path(cache_root)

    def __repr__(self) -> str:
        return f"TermEmbedder(model={self.name!r}, cache_root='{self.cache_root}')"

    @property
    def name(self) -> str:
        """The embedder's name (the cache namespace)."""
        return self.embedder.name

    def embed(self, terms: Sequence[str]) -> np.ndarray:
        """The float32 ``(len(terms), dim)`` unit rows of ``terms``, computing only those not cached."""
        vectors, _ = EmbeddingCache(self.cache_root, self.embedder.name).embed(terms, self.embedder.embed_texts)
        return vectors


@dataclass(frozen=True, eq=False)
class EmbedOutcome:
    """What the embedding stage made.

    Attributes:
        vectors: input vectors, float32 ``(n, d)``, L2-normalised (the kept rows only, see ``kept``); a
            read-only memory map (of ``index/inputs.npy`` for computed inputs past 2 GiB, or of the converted
            ``data.embeddings``) when they are large; ``None`` when the audit set has no inputs (``embed.input: none``).
        label_vectors: label name vectors, float32 ``(L, d')``; ``None`` when labels were not asked for.
        input_model: the input embedder's name, or ``precomputed:<12 hex of the vectors file>``; ``None``
            without inputs.
        label_model: the label embedder's name; ``None`` without label vectors.
        computed_inputs: distinct inputs embedded by this call (the rest came from the cache).
        computed_labels: distinct label names embedded by this call.
        indexes: the saved indexes by name: ``"inputs"`` (with input vectors), and ``"labels"`` with label vectors.
        terms: embeds more texts in the label space; ``None`` when no text embedder was needed
            (precomputed input vectors and no labels asked for).
        kept: the rows of the audit set that were embedded when some images were skipped; ``None``
            when every row was.
        skipped: the images left out (``--skip-bad-images``), in samples order.
    """

    vectors: np.ndarray | None
    label_vectors: np.ndarray | None
    input_model: str | None
    label_model: str | None
    computed_inputs: int = 0
    computed_labels: int = 0
    indexes: Mapping[str, SavedIndex] = field(default_factory=dict)
    terms: TermEmbedder | None = None
    kept: np.ndarray | None = None
    skipped: tuple[SkippedImage, ...] = ()

    @property
    def input_index(self) -> VectorIndex:
        """The live index of the input vectors."""
        return self.indexes["inputs"].index

    @property
    def label_index(self) -> VectorIndex | None:
        """The live index of the label vectors; ``None`` without label vectors."""
        saved = self.indexes.get("labels")
        return None if saved is None else saved.index

    @property
    def index_paths(self) -> dict[str, Path]:
        """Where each index is saved, by name."""
        return {name: saved.path for name, saved in self.indexes.items()}


def stage_embedder(spec: str, input_kind: str, *, batch_size: int, cache_root: Path | None = None) -> Embedder:
    """The embedder named by ``spec``. Hugging Face models come deferred when ``cache_root`` knows
    them: torch and the weights are then loaded only if some text or image is not in the cache."""
    if cache_root is not None:
        from tagscan.embed.deferred import embedder

        return embedder(spec, input_kind=input_kind, cache_root=cache_root, batch_size=batch_size)  # type: ignore[return-value]
    from tagscan.embed.loader import load_embedder

    return load_embedder(spec, input_kind=input_kind, batch_size=batch_size)  # type: ignore[arg-type]


def embed_texts_cached(
    cache_root: Path,
    embedder: Embedder,
    texts: list[str],
    what: str,
    *,
    remote: tuple[RaySession, str, str] | None = None,
    spill_to: Path | None = None,
) -> tuple[np.ndarray, int]:
    """Embed through the content cache, with a progress bar over what is actually computed.

    ``remote``: ``(session, embed.model spec, input kind)`` to embed the missing texts on Ray (the workers
    write them into the cache, then they are read from it like cached ones). ``spill_to``: vectors over the
    cache's budget go to this ``.npy``, returned memory-mapped (:meth:`EmbeddingCache.embed`).

    Returns ``(vectors, computed)`` as :meth:`tagscan.embed.cache.EmbeddingCache.embed` does.
    """
    cache = EmbeddingCache(cache_root, embedder.name)
    if remote is not None and (todo := cache.missing(texts)):
        session, spec, kind = remote
        log.info("embedding %d %s with %s on Ray (%d cached)", len(todo), what, embedder.name, len(set(texts)) - len(todo))
        with progress_bar(len(todo), f"embedding {what} on Ray") as advance:
            session.embed_missing(todo, spec=spec, input_kind=kind, batch_size=embedder.batch_size,  # type: ignore[attr-defined]
                                  name=embedder.name, progress=advance)
        vectors, _ = EmbeddingCache(cache_root, embedder.name).embed(texts, _not_written(cache_root), spill_to=spill_to)
        return vectors, len(todo)
    missing = cache.count_missing(texts)
    if missing:
        log.info("embedding %d %s with %s (%d cached)", missing, what, embedder.name, len(set(texts)) - missing)
    step = max(1, embedder.batch_size * 4)  # type: ignore[attr-defined]
    with progress_bar(missing, f"embedding {what}") as advance:

        def compute(batch: list[str]) -> np.ndarray:
            parts = []
            for i in range(0, len(batch), step):
                parts.append(embedder.embed_texts(batch[i : i + step]))
                advance(len(parts[-1]))
            return np.concatenate(parts) if parts else embedder.embed_texts([])

        return cache.embed(texts, compute, spill_to=spill_to)


def _unit_rows(vectors: np.ndarray, cache_root: Path) -> np.ndarray:
    """Precomputed input vectors with unit rows. A memory-mapped .npy (see :mod:`tagscan.inputs.vectors`) is
    normalised a block of rows at a time into a float32 .npy next to the converted inputs
    (``<cache_root>/precomputed``, keyed by the source file's path, size and modification time, so a rescan
    maps it again), returned memory-mapped read-only; an array in memory is normalised in memory. Both give
    the same bits (each row is normalised on its own)."""
    from tagscan.embed.index import l2_normalize

    source = getattr(vectors, "filename", None)
    if not isinstance(vectors, np.memmap) or source is None:
        return l2_normalize(np.ascontiguousarray(vectors, dtype=np.float32))
    st = Path(source).stat()
    key = hashlib.sha256(f"unit/v1\0{Path(source).resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{vectors.shape}".encode())
    folder = cache_root / "precomputed"
    path = folder / f"{key.hexdigest()[:32]}-unit.npy"
    if path.is_file():
        try:
            done = np.load(path, mmap_mode="r")
            if done.shape == vectors.shape and done.dtype == np.float32:
                return done
        except (OSError, ValueError):
            pass
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        log.warning("cannot write unit vectors under %s (%s); normalising in memory", folder, error)
        return l2_normalize(np.ascontiguousarray(vectors, dtype=np.float32))
    os.close(fd)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=vectors.shape)
        for start in range(0, len(vectors), _BLOCK_ROWS):
            out[start : start + _BLOCK_ROWS] = l2_normalize(vectors[start : start + _BLOCK_ROWS])
            release_pages(out)
            release_pages(vectors)
        out.flush()
        del out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return np.load(path, mmap_mode="r")


def _not_written(cache_root: Path):
    def fail(items: list[str]) -> np.ndarray:
        raise DataError(
            f"{len(items)} vector(s) the Ray workers embedded are not in the embedding cache {cache_root}; the workers "
            "wrote to another folder: set embed.cache_dir to a folder on storage every worker and this machine read"
        )

    return fail


def cache_note(
    cache_root: Path, *, n_inputs: int | None, computed_inputs: int, n_labels: int, computed_labels: int
) -> str:
    """One line on what the machine's embedding cache gave a scan: where it is and how many vectors came from it.

    ``n_inputs`` is ``None`` for precomputed input vectors (no input went through the cache). Example:
    ``"embedding cache /home/me/.cache/tagscan/embeddings: 8,000 of 8,000 inputs and 2,113 of 2,113 label
    names came from it"``.
    """
    told = cache_counts(
        n_inputs=n_inputs, computed_inputs=computed_inputs, n_labels=n_labels, computed_labels=computed_labels
    )
    return f"embedding cache {cache_root}: {told} came from it"


def cache_counts(*, n_inputs: int | None, computed_inputs: int, n_labels: int, computed_labels: int) -> str:
    """What came from the cache, for :func:`cache_note`: ``"8,000 of 8,000 inputs and 2,113 of 2,113 label names"``."""
    parts = [] if n_inputs is None else [f"{max(n_inputs - computed_inputs, 0):,} of {n_inputs:,} inputs"]
    if n_labels:
        parts.append(f"{max(n_labels - computed_labels, 0):,} of {n_labels:,} label names")
    return " and ".join(parts) if parts else "nothing"


def embed_audit_set(
    audit: AuditSet,
    settings: EmbedConfig,
    *,
    image_root: Path,
    cache_root: Path,
    index_dir: Path,
    need_labels: bool = True,
    skip_bad_images: bool = False,
    engine: EngineConfig | None = None,
) -> EmbedOutcome:
    """Embed the inputs (unless precomputed) and the label names, cached by content; save their indexes.

    Args:
        audit: the audit set (its ``text`` or ``image`` column, or its precomputed ``vectors``, and
            its label names).
        settings: the ``embed`` section of the config (``input``, ``model``, ``batch_size``).
        image_root: relative image paths are resolved against this folder (the samples table's).
        cache_root: the embedding cache folder (the machine's, shared by every workspace:
            :func:`tagscan.embed.cache.embedding_cache_root`).
        index_dir: the indexes are saved here as ``inputs.faiss`` and ``labels.faiss``, each with a
            ``.json`` of its content digest; an index whose vectors did not change is not rebuilt.
        need_labels: embed the label names too (with the input model, or the default text model
            when the input vectors are precomputed).
        skip_bad_images: image inputs that cannot be read are an error, unless this is set: then
            they are left out and listed in :attr:`EmbedOutcome.skipped`, and ``kept`` holds the
            rows that were embedded.
        engine: the ``engine`` section: with ``kind: ray`` the missing input texts and label names are
            embedded on Ray (:mod:`tagscan.embed.ray_engine`) into the same cache; ``None``: in-process.

    Raises:
        ConfigError: the embedding model cannot be loaded; Ray is not installed or cannot be reached, or
            its workers cannot see the cache.
        DataError: an input cannot be embedded (an unreadable image without ``skip_bad_images``).
    """
    cache_root = Path(cache_root)
    if engine is not None and engine.kind == "ray":
        from tagscan.embed.ray_engine import RaySession

        with RaySession(engine, cache_root, cache_configured=settings.cache_dir is not None) as session:
            return _embed(audit, settings, image_root, cache_root, index_dir, need_labels, skip_bad_images, session)
    return _embed(audit, settings, image_root, cache_root, index_dir, need_labels, skip_bad_images, None)


def _embed(
    audit: AuditSet,
    settings: EmbedConfig,
    image_root: Path,
    cache_root: Path,
    index_dir: Path,
    need_labels: bool,
    skip_bad_images: bool,
    session: RaySession | None,
) -> EmbedOutcome:
    """:func:`embed_audit_set`'s work, with a Ray session (``engine.kind: ray``) or in-process (``None``)."""
    from tagscan.embed.index import save_index

    batch_size = settings.batch_size
    emb = None
    computed_inputs = 0
    kept, skipped = None, ()
    vectors: np.ndarray | None = None
    input_model: str | None = None
    if audit.vectors is not None:
        vectors = _unit_rows(audit.vectors, cache_root)
        input_model = f"precomputed:{audit.input_hashes.get('embeddings', '')[:12]}"
    elif not audit.has_inputs:
        log.info("no inputs to embed (predictions and attributes only): label names only")
    elif settings.input == "image":
        from tagscan.embed.images import ImageEmbeddingJob, resolve_image_refs

        emb = stage_embedder(settings.model, "image", batch_size=batch_size, cache_root=cache_root)
        refs = resolve_image_refs(audit.samples["image"].tolist(), image_root)
        job = ImageEmbeddingJob(
            refs,
            emb,
            cache_root,
            on_error="skip" if skip_bad_images else "raise",
            sample_ids=audit.samples["sample_id"].tolist(),
        )
        on_ray = 0
        if session is not None and job.n_missing:
            keys, todo = zip(*job.pending())
            with progress_bar(len(keys), "embedding images on Ray") as advance:
                session.embed_missing(list(keys), refs=list(todo), spec=settings.model, input_kind="image",
                                      batch_size=batch_size, name=emb.name, namespace=job.namespace, progress=advance)
            job.refresh()  # what the workers could not read is embedded (or reported, or skipped) here
            on_ray = len(keys) - job.n_missing
        with progress_bar(job.n_missing, "embedding images") as advance:
            res = job.run(progress=advance, spill_to=index_dir / _SPILLED)
        vectors, computed_inputs, input_model = res.vectors, res.computed + on_ray, emb.name
        if res.skipped:
            kept, skipped = res.kept, res.skipped
            log.warning(
                "skipped %d unreadable image(s) (--skip-bad-images), e.g. %s: %s",
                len(skipped),
                skipped[0].ref,
                skipped[0].reason,
            )
    else:
        emb = stage_embedder(settings.model, "text", batch_size=batch_size, cache_root=cache_root)
        texts = [str(t) for t in audit.samples["text"].tolist()]
        remote = None if session is None else (session, settings.model, "text")
        vectors, computed_inputs = embed_texts_cached(
            cache_root, emb, texts, "input texts", remote=remote, spill_to=index_dir / _SPILLED
        )
        input_model = emb.name
    spilled = index_dir / _SPILLED
    mapped_from = getattr(vectors, "filename", None)
    if spilled.exists() and (mapped_from is None or Path(mapped_from).resolve() != spilled.resolve()):
        spilled.unlink(missing_ok=True)  # an earlier, larger scan's: this one's vectors fit in memory
    indexes = {} if vectors is None else {"inputs": save_index(vectors, index_dir, "inputs")}
    label_vectors, label_model, computed_labels = None, None, 0
    if need_labels:
        spec = settings.model
        if emb is None:
            # Precomputed or no inputs: label names still need a text space for the label index.
            emb, spec = stage_embedder("default", "text", batch_size=batch_size, cache_root=cache_root), "default"
        names = [str(x) for x in audit.label_names]
        remote = None if session is None else (session, spec, settings.input if spec == settings.model else "text")
        label_vectors, computed_labels = embed_texts_cached(cache_root, emb, names, "label names", remote=remote)
        label_model = emb.name
        indexes["labels"] = save_index(label_vectors, index_dir, "labels")
    n_inputs = None if audit.vectors is not None or vectors is None else len(vectors)  # precomputed, or no inputs
    n_labels = 0 if label_vectors is None else len(label_vectors)
    log.info(
        "embedded %d inputs and %d labels; %s",
        computed_inputs,
        computed_labels,
        cache_note(cache_root, n_inputs=n_inputs, computed_inputs=computed_inputs, n_labels=n_labels, computed_labels=computed_labels),
    )
    return EmbedOutcome(
        vectors=vectors,
        label_vectors=label_vectors,
        input_model=input_model,
        label_model=label_model,
        computed_inputs=computed_inputs,
        computed_labels=computed_labels,
        indexes=indexes,
        terms=None if emb is None else TermEmbedder(emb, cache_root),
        kept=kept,
        skipped=tuple(skipped),
    )
