"""embed_image_refs / ImageEmbeddingJob: content-keyed cache, skip mode, URLs, resumability."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tagscan.embed.cache import EmbeddingCache
from tagscan.embed.embedders import ClipEmbedder
from tagscan.embed.images import (
    IMAGE_NAMESPACE_SUFFIX,
    SKIP_HINT,
    ImageEmbeddingJob,
    embed_image_refs,
    image_key,
)
from tagscan.errors import DataError


def shards(cache_root: Path, embedder) -> list[Path]:
    folder = EmbeddingCache(cache_root, embedder.image_cache_name + IMAGE_NAMESPACE_SUFFIX).directory
    return sorted(folder.glob("shard-*.npz"))


class Counting:
    """Wraps a ClipEmbedder: counts forward passes and can die (KeyboardInterrupt) on one of them."""

    def __init__(self, inner: ClipEmbedder, die_on_call: int | None = None) -> None:
        self.inner = inner
        self.name, self.image_cache_name, self.dim = inner.name, inner.image_cache_name, inner.dim
        self.batch_size, self.decode_size = inner.batch_size, inner.decode_size
        self.die_on_call = die_on_call
        self.batches: list[int] = []

    def prepare_image(self, image):
        return self.inner.prepare_image(image)

    def embed_prepared(self, batch):
        self.batches.append(len(batch))
        if self.die_on_call is not None and len(self.batches) == self.die_on_call:
            raise KeyboardInterrupt("simulated kill")
        return self.inner.embed_prepared(batch)

    def embed_images(self, refs):
        return self.inner.embed_images(refs)

    @property
    def computed(self) -> int:
        return sum(self.batches)


def test_cached_vectors_equal_direct_ones_and_a_second_call_computes_nothing(
    clip_embedder, image_refs, tmp_path
):
    refs = [*image_refs, image_refs[2], image_refs[0]]  # duplicates are embedded once
    job = ImageEmbeddingJob(refs, clip_embedder, tmp_path / "cache", shard_size=4)
    assert (job.n_distinct, job.n_missing) == (10, 10)
    progress: list[int] = []
    first = job.run(progress=progress.append)
    assert first.computed == 10 and sum(progress) == 10
    assert first.kept.tolist() == list(range(12)) and first.skipped == () and first.n_skipped == 0
    expected = clip_embedder.embed_images(refs)
    np.testing.assert_allclose(first.vectors, expected, atol=1e-6)
    assert first.vectors.dtype == np.float32 and first.vectors.flags["C_CONTIGUOUS"]
    assert len(shards(tmp_path / "cache", clip_embedder)) == 3  # 4 + 4 + 2 distinct images

    counting = Counting(clip_embedder)
    again = ImageEmbeddingJob(refs, counting, tmp_path / "cache")
    assert again.n_missing == 0
    second = again.run()
    assert second.computed == 0 and counting.computed == 0
    np.testing.assert_array_equal(second.vectors, first.vectors)


def test_keys_are_content_a_renamed_file_hits_an_edited_one_misses(
    clip_embedder, copy_images, tmp_path, make_image
):
    refs = copy_images()
    cache = tmp_path / "cache"
    first = embed_image_refs(refs, clip_embedder, cache)
    renamed = str(Path(refs[0]).with_name("renamed-elsewhere.png"))
    os.rename(refs[0], renamed)
    moved = [renamed, *refs[1:]]
    second = embed_image_refs(moved, clip_embedder, cache)
    assert second.computed == 0
    np.testing.assert_array_equal(second.vectors, first.vectors)
    make_image(Path(refs[1]), seed=99, size=(20, 20))  # same name, new content
    third = embed_image_refs(moved, clip_embedder, cache)
    assert third.computed == 1
    assert not np.allclose(third.vectors[1], first.vectors[1])


def test_prompt_templates_do_not_invalidate_image_vectors(clip_embedder, tiny_clip_dir, image_refs, tmp_path):
    embed_image_refs(image_refs, clip_embedder, tmp_path)
    other_prompts = ClipEmbedder(tiny_clip_dir, label_prompts=("a sketch of a {label}",))
    assert other_prompts.name != clip_embedder.name
    assert embed_image_refs(image_refs, other_prompts, tmp_path).computed == 0


def test_without_a_cache_everything_is_computed(clip_embedder, image_refs):
    result = embed_image_refs(image_refs[:5], clip_embedder, None, batch_size=2)
    assert result.computed == 5
    np.testing.assert_allclose(result.vectors, clip_embedder.embed_images(image_refs[:5]), atol=1e-6)


def test_missing_image_stops_the_run_naming_row_sample_and_file(clip_embedder, image_refs, tmp_path):
    missing = str(tmp_path / "lost.png")
    refs = [image_refs[0], missing, image_refs[1]]
    with pytest.raises(
        DataError, match=rf"^samples row 2 \(sample 'b'\): image '{missing}': file not found; {SKIP_HINT}$"
    ):
        embed_image_refs(refs, clip_embedder, tmp_path / "cache", sample_ids=["a", "b", "c"])


def test_corrupt_image_stops_the_run_after_caching_finished_shards(clip_embedder, copy_images, tmp_path):
    refs = copy_images()
    Path(refs[6]).write_bytes(b"GIF89a garbage")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"^samples row 7: image '.*img6\.bmp': not a readable image"):
        embed_image_refs(refs, clip_embedder, cache, shard_size=3, batch_size=2)
    assert len(shards(cache, clip_embedder)) == 2  # rows 1-6 were embedded and kept
    Path(refs[6]).unlink()
    counting = Counting(clip_embedder)
    result = embed_image_refs(refs[:6] + refs[7:], counting, cache, shard_size=3)
    assert result.computed == counting.computed == 3


def test_skip_mode_reports_the_skipped_rows(clip_embedder, copy_images, tmp_path, http_images):
    refs = copy_images()
    Path(refs[3]).write_bytes(b"not an image")
    refs[5] = str(tmp_path / "missing.jpg")
    refs.append(f"{http_images}/absent.png")
    refs.append(refs[3])  # the same corrupt content again
    ids = [f"s{i}" for i in range(len(refs))]
    result = embed_image_refs(
        refs, clip_embedder, tmp_path / "cache", on_error="skip", sample_ids=ids, shard_size=4
    )
    assert [s.position for s in result.skipped] == [3, 5, 10, 11]
    assert result.n_skipped == 4
    reasons = {s.position: s.reason for s in result.skipped}
    assert (
        "not a readable image" in reasons[3]
        and "file not found" in reasons[5]
        and "HTTP error 404" in reasons[10]
    )
    assert result.kept.tolist() == [0, 1, 2, 4, 6, 7, 8, 9]
    assert result.computed == 8
    good = [refs[p] for p in result.kept]
    np.testing.assert_allclose(result.vectors, clip_embedder.embed_images(good), atol=1e-6)
    # Failures are never cached: a rerun tries them again (and finds the same), the rest is cached.
    counting = Counting(clip_embedder)
    rerun = embed_image_refs(refs, counting, tmp_path / "cache", on_error="skip")
    assert rerun.computed == 0 and rerun.n_skipped == 4


def test_skip_mode_with_nothing_readable_is_an_error(clip_embedder, tmp_path):
    refs = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    with pytest.raises(
        DataError,
        match=r"^no image could be read \(2 tried\); the first: samples row 1: image '.*a\.png': file not found",
    ):
        embed_image_refs(refs, clip_embedder, tmp_path / "cache", on_error="skip")


def test_url_images_are_cached_by_url(clip_embedder, http_images, image_refs, tmp_path):
    names = [Path(ref).name for ref in image_refs[:4]]
    urls = [f"{http_images}/{name}" for name in names]
    first = embed_image_refs(urls, clip_embedder, tmp_path / "cache")
    assert first.computed == 4
    np.testing.assert_allclose(first.vectors, clip_embedder.embed_images(image_refs[:4]), atol=1e-6)
    assert embed_image_refs(urls, clip_embedder, tmp_path / "cache").computed == 0
    assert image_key(urls[0]) == f"url:{urls[0]}"


def test_resumable_after_a_kill(clip_embedder, image_refs, tmp_path):
    cache = tmp_path / "cache"
    dying = Counting(clip_embedder, die_on_call=3)  # batches of 2, chunks of 4: dies in chunk 2
    with pytest.raises(KeyboardInterrupt):
        embed_image_refs(image_refs, dying, cache, shard_size=4, batch_size=2)
    assert len(shards(cache, clip_embedder)) == 1
    survivor = Counting(clip_embedder)
    job = ImageEmbeddingJob(image_refs, survivor, cache, shard_size=4, batch_size=2)
    assert job.n_missing == 6
    result = job.run()
    assert result.computed == survivor.computed == 6
    np.testing.assert_allclose(result.vectors, clip_embedder.embed_images(image_refs), atol=1e-6)


def test_a_file_edited_during_the_run_is_not_cached_under_its_old_content(
    clip_embedder, copy_images, tmp_path, make_image
):
    refs = copy_images()
    job = ImageEmbeddingJob(refs, clip_embedder, tmp_path / "cache")
    make_image(Path(refs[2]), seed=1234)  # changed after keying, before embedding
    with pytest.raises(
        DataError,
        match=r"^samples row 3: image '.*img2\.png': the file changed while it was being embedded; run again$",
    ):
        job.run()


def test_bad_arguments(clip_embedder, image_refs, tmp_path):
    with pytest.raises(ValueError, match=r"^on_error: must be 'raise' or 'skip', got 'ignore'$"):
        embed_image_refs(image_refs, clip_embedder, tmp_path, on_error="ignore")
    with pytest.raises(DataError, match=r"^shard_size: must be a positive integer, got 0"):
        embed_image_refs(image_refs, clip_embedder, tmp_path, shard_size=0)
    with pytest.raises(ValueError, match=r"^sample_ids: 1 ids for 10 images$"):
        embed_image_refs(image_refs, clip_embedder, tmp_path, sample_ids=["x"])


def test_empty_input(clip_embedder, tmp_path):
    result = embed_image_refs([], clip_embedder, tmp_path)
    assert result.vectors.shape == (0, 16) and result.kept.shape == (0,) and result.computed == 0
