"""The Ray engine: the inputs missing from the content cache embedded on a Ray cluster, and per-shard kernels
(the counting of the scan) run as Ray tasks summed in a tree.

:class:`RaySession` connects to (or starts) Ray once per stage and only when something is missing;
:meth:`RaySession.embed_missing` runs Ray Data ``map_batches`` over the missing items with an actor pool of
:class:`EmbedActor` (the model is loaded once per actor, built from the same ``embed.model`` spec as the
local path), one GPU per actor when the cluster has GPUs and CPU actors otherwise, never every CPU (an
actor pool holding every CPU leaves Ray Data's own tasks none and hangs). Each actor writes the vectors of
each batch as one shard of the embedding cache (:meth:`tagscan.embed.cache.EmbeddingCache.append`); only a
row count travels back. The driver then reads the vectors from the cache as the local path does, so a
rescan embeds only what changed, on either engine.

What crosses the network: the missing texts (or image references) to the actors, counts back. The cache
folder (and a model folder, when ``embed.model`` is one) must be on storage every worker reads: checked
before any work by a task on every node (:meth:`RaySession.check_paths`).

:meth:`RaySession.sum_shards` is the counting adapter: it runs a plain kernel (``count_shard``) as one
task per shard of the positive predictions and sums the results as a tree of pairwise tasks, as they
finish; the row-aligned matrices the kernel takes (the group and universe membership) go into the object
store once. A shard folder (:class:`~tagscan.inputs.shards.ShardedPositives`) is read by the task itself,
so it must be on storage every worker reads (checked first, on every node); in-memory predictions go
into the object store in blocks of ``engine.shard_positives`` positives. What crosses the network: the
membership once, the in-memory blocks (not the files of a shard folder), and the summed counts back.

Ray is an optional extra (``pip install 'tagscan[ray]'``); this module imports it only when a session
connects, and nothing imports this module on the default (``engine.kind: local``) path.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import scipy.sparse as sp

from tagscan.embed.cache import CACHE_ENV, EmbeddingCache
from tagscan.errors import ConfigError, DataError
from tagscan.inputs.shards import InMemoryPositives, Positives, ShardedPositives
from tagscan.progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from tagscan.config import EngineConfig

__all__ = ["EmbedActor", "RaySession", "check_ray_installed", "pool_shape"]

log = logging.getLogger(__name__)

_INSTALL_FIX = "pip install 'tagscan[ray]'"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def check_ray_installed() -> None:
    """Raise ConfigError (one line, with the fix) when the ``ray`` package cannot be imported."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"engine.kind is ray but Ray is not installed; {_INSTALL_FIX} (or set engine.kind: local)")


def _is_remote(address: str | None) -> bool:
    if address in (None, "auto"):
        return False
    return (urlsplit(address).hostname or "") not in _LOCAL_HOSTS


def _reachable(address: str) -> None:
    """Fail fast (one line) when a ``ray://`` address does not answer: Ray Client would retry for minutes."""
    parts = urlsplit(address)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5):
            pass
    except OSError as error:
        raise ConfigError(
            f"engine.address: cannot reach the Ray cluster at {address} ({error.strerror or error}); start it "
            "with 'ray start --head' on the head node (Ray Client listens on port 10001), or fix engine.address"
        ) from error


def pool_shape(resources: dict[str, float], engine: EngineConfig) -> dict[str, Any]:
    """The actor pool for a cluster's resources: ``{"size", "num_cpus", "num_gpus"}``.

    One actor per GPU when the cluster has GPUs (``num_gpus=1`` is asked only then: on a cluster
    without GPUs such a request waits forever); otherwise 1-CPU actors (``engine.num_cpus_per_actor``)
    leaving at least one CPU to Ray Data's read and write tasks.

    Raises:
        ConfigError: the configured pool would take every CPU of the cluster (it would hang).
    """
    cpus = float(resources.get("CPU", 0))
    gpus = int(resources.get("GPU", 0))
    per = engine.num_cpus_per_actor
    if gpus > 0:
        size = engine.num_actors or gpus
        if size > gpus:
            raise ConfigError(f"engine.num_actors is {size} but the Ray cluster has {gpus} GPU(s); one actor uses one GPU")
        per = per if per is not None else min(1.0, cpus / (2 * size))
    else:
        per = per if per is not None else (1.0 if cpus >= 2 else cpus / 2)
        size = engine.num_actors or (max(1, math.floor((cpus - 1) / per)) if cpus >= 2 else 1)
    if per <= 0 or size * per >= cpus:
        raise ConfigError(
            f"engine: {size} actor(s) x {per:g} CPU take every CPU of the Ray cluster ({cpus:g}), which leaves Ray "
            "Data's tasks none and hangs; lower engine.num_actors or engine.num_cpus_per_actor"
        )
    return {"size": size, "num_cpus": per, "num_gpus": 1 if gpus > 0 else 0}


class EmbedActor:
    """One actor of the pool: loads the embedder once, then embeds batches into the content cache.

    Args:
        spec: the ``embed.model`` value (``default``, a model folder, ``python:module:attr``).
        input_kind: ``text`` or ``image`` (the embedder's input kind; label names are texts).
        batch_size: the embedder's own batch size (``embed.batch_size``).
        name: the embedder's name on the driver (the cache namespace); a worker whose model differs
            (other files under the same path) refuses to write under it.
        cache_root: the embedding cache folder.
        kind: ``texts`` or ``images``: which method of the embedder a batch goes through.
    """

    def __init__(
        self, spec: str, input_kind: str, batch_size: int, name: str, cache_root: str, kind: str, namespace: str
    ) -> None:
        from tagscan.embed.loader import load_embedder

        self.embedder = load_embedder(spec, input_kind=input_kind, batch_size=batch_size)  # type: ignore[arg-type]
        if self.embedder.name != name:
            raise DataError(
                f"the model of embed.model on Ray worker {socket.gethostname()} is '{self.embedder.name}', the driver's "
                f"is '{name}'; give every node the same model files"
            )
        self.cache = EmbeddingCache(Path(cache_root), namespace)
        self.kind = kind

    def _images(self, items: list[str], refs: list[str]) -> tuple[list[str], np.ndarray | None]:
        """Embed a batch of images; when it fails, one at a time, leaving out the unreadable ones (the
        driver then meets them as still missing and reports or skips them as the local path does)."""
        try:
            return items, self.embedder.embed_images(refs)
        except DataError:
            kept, rows = [], []
            for item, ref in zip(items, refs):
                try:
                    rows.append(self.embedder.embed_images([ref]))
                except DataError:
                    continue
                kept.append(item)
            return kept, (np.concatenate(rows) if rows else None)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [str(x) for x in batch["item"]]
        if self.kind == "images":
            items, vectors = self._images(items, [str(r) for r in batch["ref"]])
        else:
            vectors = self.embedder.embed_texts(items)
        if items:
            self.cache.append(items, vectors)
        return {"n": np.array([len(batch["item"])], dtype=np.int64)}


def _sees(paths: list[str], probe: str) -> list[str]:
    """On a worker node: the paths it cannot see (the probe file must exist, the others too)."""
    import os as _os

    return [p for p in [probe, *paths] if not _os.path.exists(p)]


class RaySession:
    """A connection to Ray for one stage run: made on first use, dropped by :meth:`close`.

    With ``engine.address`` null the first session of a process starts a Ray of its own on this machine; it
    stays up for the next session (a scan's counting joins the Ray its embedding started, and a notebook's
    rescans join it too) and stops when the process exits (Ray's exit hook) or at ``ray.shutdown()``.
    A cluster it joined is always left running.

    Args:
        engine: the ``engine`` section (``kind: ray``).
        cache_root: the embedding cache folder the workers write to (``None``: a session that embeds
            nothing, e.g. the counting one).
        cache_configured: the folder was given explicitly (``embed.cache_dir`` or ``$TAGSCAN_CACHE_DIR``):
            required with a remote cluster, whose workers cannot see this machine's home folder.
    """

    def __init__(self, engine: EngineConfig, cache_root: Path | None = None, *, cache_configured: bool = False) -> None:
        check_ray_installed()
        self.engine = engine
        self.cache_root = Path(cache_root) if cache_root is not None else None
        if (self.cache_root is not None and _is_remote(engine.address)
                and not (cache_configured or os.environ.get(CACHE_ENV, "").strip())):
            raise ConfigError(
                f"engine.address {engine.address} is a remote Ray cluster, whose workers cannot see this machine's "
                f"embedding cache ({self.cache_root}); set embed.cache_dir to a folder on storage every worker reads"
            )
        self._ray: Any = None
        self._checked: set[str] = set()
        self.n_tasks = 0  # the shard tasks of the last sum_shards

    def __enter__(self) -> RaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> Any:
        if self._ray is not None:
            return self._ray
        import ray

        address = self.engine.address
        if address is not None and address.startswith("ray://"):
            _reachable(address)
        if ray.is_initialized():  # a Ray this process joined already (a notebook, a test session)
            self._ray = ray
            return ray
        if address is None:
            # A Ray of our own on this machine: loopback only, no usage report (see the README).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            fix = "start one with 'ray start --head', or set engine.address" if address == "auto" else "fix engine.address"
            raise ConfigError(f"engine.address: cannot connect to Ray at {address or 'a new local Ray'} ({first}); {fix}") from error
        self._ray = ray
        return ray

    def close(self) -> None:
        """Drop the connection; Ray itself stays up for this process's next session (see the class)."""
        self._ray = None

    def _unseen(self, paths: list[str], probe: str) -> tuple[str, list[str]] | None:
        """The first alive node that cannot see ``probe`` or one of ``paths`` (a zero-CPU task pinned to each
        node), with what it cannot see; ``None`` when every node sees them all."""
        ray = self._connect()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        task = ray.remote(num_cpus=0)(_sees)
        refs = {
            n.get("NodeManagerAddress", n["NodeID"]): task.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(paths, probe)
            for n in nodes
        }
        for node, ref in refs.items():
            unseen = ray.get(ref, timeout=120)
            if unseen:
                return node, unseen
        return None

    def check_paths(self, paths: Sequence[Path]) -> None:
        """Check that every alive node sees the cache folder (a probe file written here) and ``paths``.

        Raises:
            ConfigError: a node cannot see one of them, naming the node, the path and the fix.
        """
        if self.cache_root is None:
            raise ValueError("check_paths needs the session's cache_root")
        wanted = [str(p) for p in paths if str(p) not in self._checked]
        key = str(self.cache_root)
        if key in self._checked and not wanted:
            return
        self.cache_root.mkdir(parents=True, exist_ok=True)
        probe = self.cache_root / f".ray-probe-{uuid.uuid4().hex}"
        probe.write_text("tagscan\n")
        try:
            hit = self._unseen(wanted, str(probe))
            if hit is not None:
                node, unseen = hit
                what = "the embedding cache" if unseen[0] == str(probe) else "the model or image folder"
                where = self.cache_root if unseen[0] == str(probe) else unseen[0]
                raise ConfigError(
                    f"Ray node {node} cannot see {what} ({where}); put it on storage every worker reads "
                    "(a shared file system mounted at the same path) and set embed.cache_dir to it"
                )
        finally:
            probe.unlink(missing_ok=True)
        self._checked.update([key, *wanted])

    def check_shard_folder(self, folder: Path) -> None:
        """Check that every alive node sees the shard folder of the predictions (its ``meta.json``).

        Raises:
            ConfigError: a node cannot see it, naming the node, the folder and the fix.
        """
        meta = str(Path(folder) / "meta.json")
        if meta in self._checked:
            return
        hit = self._unseen([], meta)
        if hit is not None:
            raise ConfigError(
                f"Ray node {hit[0]} cannot see the prediction shards ({folder}), which its counting tasks read; put "
                "the workspace on storage every worker reads (a shared file system mounted at the same path), or "
                "set engine.kind: local"
            )
        self._checked.add(meta)

    def embed_missing(
        self,
        items: Sequence[str],
        *,
        spec: str,
        input_kind: str,
        batch_size: int,
        name: str,
        namespace: str | None = None,
        refs: Sequence[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Embed ``items`` (distinct, all missing from the cache) on the cluster into the cache; returns the count.

        ``name`` is the embedder's name (checked on every actor), ``namespace`` the cache's (default ``name``).
        ``refs`` (image inputs): the image reference of each item (the items are then the images' cache keys);
        an image a worker cannot read is left out of the cache (the caller embeds what is still missing).

        Raises:
            ConfigError: Ray cannot be reached, or a node cannot see the cache or the model folder.
            DataError: an actor failed (the model could not be loaded, an input could not be embedded).
        """
        if not items:
            return 0
        ray = self._connect()
        model_dir = Path(spec) if spec != "default" and not spec.startswith("python:") else None
        files = [model_dir] if model_dir is not None else []
        if refs and not str(refs[0]).startswith(("http://", "https://")):
            files.append(Path(refs[0]).parent)  # the images' folder (one of them: the check is a sample)
        self.check_paths(files)
        import pyarrow as pa
        from ray import data as ray_data

        context = ray_data.DataContext.get_current()
        context.enable_progress_bars = False  # tagscan's own bar counts the rows (progress)
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # no per-dataset INFO lines on stderr
        shape = pool_shape(ray.cluster_resources(), self.engine)
        n = len(items)
        # Batches big enough to keep a forward pass busy, small enough that every actor gets several.
        rows = max(batch_size, min(4096, math.ceil(n / (shape["size"] * 4))))
        columns: dict[str, list[str]] = {"item": [str(x) for x in items]}
        if refs is not None:
            columns["ref"] = [str(r) for r in refs]
        table = pa.table(columns)
        blocks = [table.slice(i, rows) for i in range(0, n, rows)]
        ds = ray_data.from_arrow(blocks).map_batches(
            EmbedActor,
            fn_constructor_kwargs={
                "spec": spec,
                "input_kind": input_kind,
                "batch_size": batch_size,
                "name": name,
                "cache_root": str(self.cache_root),
                "kind": "images" if refs is not None else "texts",
                "namespace": namespace or name,
            },
            compute=ray_data.ActorPoolStrategy(size=shape["size"], max_tasks_in_flight_per_actor=2),
            batch_size=rows,
            batch_format="numpy",
            num_cpus=shape["num_cpus"],
            **({"num_gpus": 1} if shape["num_gpus"] else {}),
        )
        log.info(
            "embedding %d items on Ray: %d actor(s) x %g CPU%s, batches of %d",
            n, shape["size"], shape["num_cpus"], " + 1 GPU" if shape["num_gpus"] else "", rows,
        )
        done = 0
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                step = int(batch["n"].sum())
                done += step
                if progress is not None:
                    progress(step)
        except Exception as error:  # Ray wraps the actor's exception; keep its last line
            text = str(error).strip().splitlines()
            cause = next((line for line in reversed(text) if line.strip()), type(error).__name__)
            raise DataError(f"embedding on Ray failed: {cause.strip()}") from error
        return done

    def sum_shards(
        self,
        kernel: Callable[..., tuple],
        rows: Sequence[Any],
        positives: Positives,
        *,
        bar: str = "counting shards on Ray",
    ) -> tuple:
        """``kernel(*[m[shard] for m in rows], shard.Y)`` for every shard of ``positives``, summed: one Ray task
        per shard, the results added pairwise by tasks as they finish (a tree: the driver holds only the sum).

        ``rows``: matrices aligned with the samples (CSR; sliced to each shard's sample range on the worker),
        put in the object store once. A :class:`ShardedPositives` is read by its tasks from its folder
        (checked first from every node); in-memory predictions are put in the object store in blocks of
        ``engine.shard_positives`` positives. ``kernel`` returns a tuple of addable values (sparse or dense).
        A progress bar named ``bar`` counts the shard tasks as they finish. Returns the summed tuple.

        Raises:
            ConfigError: Ray cannot be reached, or a node cannot see the shard folder.
            DataError: a task failed.
        """
        ray = self._connect()
        refs = [ray.put(m) for m in rows]
        task = ray.remote(num_cpus=1, max_retries=1)(_shard_task)
        if isinstance(positives, ShardedPositives):
            self.check_shard_folder(positives.folder)
            store = ray.put(positives)
            shards = [task.remote(kernel, ("part", i), store, *refs) for i in range(positives.n_shards)]
        else:
            shards = [task.remote(kernel, ("block", start), ray.put(Y), *refs)
                      for start, Y in _blocks(positives, self.engine.shard_positives)]
        self.n_tasks = len(shards)
        add = ray.remote(num_cpus=1, max_retries=1)(_add)
        first = {ref.hex() for ref in shards}  # ids, not refs: a held ref would keep its result in the store
        pending, ready = shards, []
        del shards  # the loop's lists hold only what is unfinished or not yet summed
        try:
            with progress_bar(len(first), bar) as advance:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    for ref in done:
                        if ref.hex() in first:
                            advance(1)
                        ready.append(ref)
                    while len(ready) >= 2:  # a pairwise sum of two finished results, on a worker
                        pending.append(add.remote(ready.pop(), ready.pop()))
            return ray.get(ready[0])
        except ray.exceptions.RayError as error:  # a task failed or its worker died; keep the last line
            text = str(error).strip().splitlines()
            cause = next((line for line in reversed(text) if line.strip()), type(error).__name__)
            raise DataError(f"counting on Ray failed: {cause.strip()}") from error


def _blocks(positives: Positives, per_block: int) -> Iterator[tuple[int, sp.csr_matrix]]:
    """The predictions in blocks of samples of about ``per_block`` positives each (in memory, one shard
    whole: cut by its row pointer), or the store's own shards when it has several."""
    if isinstance(positives, InMemoryPositives) and positives.n_shards == 1:
        Y = positives.Y
        n = Y.shape[0]
        cuts = np.searchsorted(Y.indptr, np.arange(per_block, Y.nnz, per_block), side="left")
        bounds = [0, *sorted({int(c) for c in cuts if 0 < c < n}), n]
        for a, b in zip(bounds[:-1], bounds[1:]):
            yield a, Y[a:b]
        return
    for shard in positives:
        yield shard.start, shard.Y


def _shard_task(kernel: Callable[..., tuple], where: tuple, source: Any, *rows: Any) -> tuple:
    """On a worker: one shard's kernel. ``where`` is ``("part", i)`` (``source`` the shard store; the
    task reads part ``i`` from its folder) or ``("block", start)`` (``source`` the block's ``Y``)."""
    if where[0] == "part":
        shard = source.shard(where[1])
        start, Y = shard.start, shard.Y
    else:
        start, Y = where[1], source
    stop = start + Y.shape[0]
    return kernel(*[m[start:stop] for m in rows], Y)


def _add(a: tuple, b: tuple) -> tuple:
    """Two kernel results, summed element by element (``ray.remote(operator.add)`` does not work)."""
    return tuple(x + y for x, y in zip(a, b))
