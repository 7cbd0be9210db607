"""Deferred text embedders: a rescan whose texts are all cached loads neither torch nor the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tagscan.embed.deferred import DeferredEmbedder, text_embedder
from tagscan.embed.embedders import TransformersTextEmbedder, model_fingerprint


def _tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A random 2-layer BERT with a fixed WordPiece vocabulary, saved with save_pretrained()."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "dog", "cat", "person", "the"]
    folder.mkdir(parents=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(folder)
    return folder


def test_second_call_is_deferred_with_the_same_identity_and_vectors(tmp_path):
    model = _tiny_bert(tmp_path / "m")
    cache = tmp_path / "cache"
    first = text_embedder(str(model), cache_root=cache, batch_size=8)
    assert isinstance(first, TransformersTextEmbedder)
    assert (cache / "models.json").is_file()

    second = text_embedder(str(model), cache_root=cache, batch_size=8)
    assert isinstance(second, DeferredEmbedder) and not second.loaded
    assert (second.name, second.dim) == (first.name, first.dim)
    texts = ["a photo of a dog", "the cat"]
    np.testing.assert_allclose(second.embed_texts(texts), first.embed_texts(texts), atol=1e-6)
    assert second.loaded


def test_the_fingerprint_is_unchanged_by_the_shared_file_hashing(tmp_path):
    """model_fingerprint hashes through embed.identity; existing caches must keep their names.
    The oracle is the previous implementation, verbatim."""
    import hashlib

    tokenizer_files = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                       "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
                       "tokenizer.model")
    weight_patterns = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "pytorch_model*.bin.index.json")

    def old_fingerprint(model_dir: Path, max_length: int) -> str:
        digest = hashlib.sha256()
        files = [model_dir / "config.json"]
        files += [model_dir / name for name in tokenizer_files if (model_dir / name).is_file()]
        files += sorted({p for pattern in weight_patterns for p in model_dir.glob(pattern) if p.is_file()})
        for path in files:
            digest.update(path.name.encode("utf-8") + b"\0" + str(path.stat().st_size).encode("ascii") + b"\0")
            digest.update(path.read_bytes())
        digest.update(f"mean-pool/attention-mask;l2-normalise;float32;max_length={max_length}".encode())
        return digest.hexdigest()[:12]

    model = _tiny_bert(tmp_path / "m")
    assert model_fingerprint(model, max_length=64) == old_fingerprint(model, 64)
    from tagscan.embed.embedders import default_text_model_dir

    assert model_fingerprint(default_text_model_dir(), max_length=256) == old_fingerprint(default_text_model_dir(), 256)


def test_changed_weights_are_a_miss_not_a_stale_name(tmp_path):
    model = _tiny_bert(tmp_path / "m", seed=0)
    cache = tmp_path / "cache"
    old = text_embedder(str(model), cache_root=cache, batch_size=8)
    import shutil

    shutil.rmtree(model)
    _tiny_bert(model, seed=1)  # same folder, other weights
    new = text_embedder(str(model), cache_root=cache, batch_size=8)
    assert isinstance(new, TransformersTextEmbedder)
    assert new.name != old.name
    assert len(json.loads((cache / "models.json").read_text())) == 2


def test_a_record_that_disagrees_with_the_model_refuses_to_embed(tmp_path):
    model = _tiny_bert(tmp_path / "m")
    cache = tmp_path / "cache"
    real = text_embedder(str(model), cache_root=cache, batch_size=8)
    memo = cache / "models.json"
    data = json.loads(memo.read_text())
    (key,) = data
    data[key]["dim"] = real.dim + 1
    memo.write_text(json.dumps(data))
    deferred = text_embedder(str(model), cache_root=cache, batch_size=8)
    assert isinstance(deferred, DeferredEmbedder)
    with pytest.raises(RuntimeError, match="identity changed.*delete models.json"):
        deferred.embed_texts(["a dog"])


def test_unreadable_record_is_a_miss(tmp_path):
    model = _tiny_bert(tmp_path / "m")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models.json").write_text("{not json")
    assert isinstance(text_embedder(str(model), cache_root=cache, batch_size=8), TransformersTextEmbedder)
    assert isinstance(text_embedder(str(model), cache_root=cache, batch_size=8), DeferredEmbedder)


def test_clip_folders_are_deferred_per_input_kind_and_bad_folders_never(tmp_path, tiny_clip_dir, image_refs):
    from tagscan.embed.deferred import embedder
    from tagscan.errors import ConfigError

    cache = tmp_path / "cache"
    first = {kind: embedder(str(tiny_clip_dir), input_kind=kind, cache_root=cache, batch_size=4) for kind in ("image", "text")}
    assert not any(isinstance(e, DeferredEmbedder) for e in first.values())
    assert first["image"].name != first["text"].name  # prompt templates differ: two records
    assert len(json.loads((cache / "models.json").read_text())) == 2
    for kind, real in first.items():
        again = embedder(str(tiny_clip_dir), input_kind=kind, cache_root=cache, batch_size=4)
        assert isinstance(again, DeferredEmbedder) and not again.loaded
        assert (again.name, again.dim, again.image_cache_name) == (real.name, real.dim, real.image_cache_name)
        assert not again.loaded  # the record answered; nothing was loaded
    deferred = embedder(str(tiny_clip_dir), input_kind="image", cache_root=cache, batch_size=4)
    np.testing.assert_allclose(deferred.embed_images(image_refs[:3]), first["image"].embed_images(image_refs[:3]), atol=1e-5)
    assert deferred.loaded and deferred.decode_size == first["image"].decode_size  # unrecorded: from the model
    with pytest.raises(ConfigError, match="does not exist"):
        embedder(str(tmp_path / "nope"), input_kind="image", cache_root=cache, batch_size=8)
    with pytest.raises(ConfigError, match="does not exist"):
        text_embedder(str(tmp_path / "nope"), cache_root=cache, batch_size=8)


def test_a_clip_record_that_disagrees_with_the_model_refuses_to_embed(tmp_path, tiny_clip_dir, image_refs):
    from tagscan.embed.deferred import embedder

    cache = tmp_path / "cache"
    embedder(str(tiny_clip_dir), input_kind="image", cache_root=cache, batch_size=4)
    memo = cache / "models.json"
    data = json.loads(memo.read_text())
    (key,) = data
    data[key]["image_cache_name"] += "-other"
    memo.write_text(json.dumps(data))
    deferred = embedder(str(tiny_clip_dir), input_kind="image", cache_root=cache, batch_size=4)
    with pytest.raises(RuntimeError, match="identity changed.*delete models.json"):
        deferred.embed_images(image_refs[:1])


def test_warm_rescan_imports_no_torch(synth_config):
    """Run the same scan twice in fresh processes: the second finds every text in the cache and never
    imports torch or transformers (the first recorded the model's identity)."""
    code = (
        "import sys\n"
        "from tagscan.config import load_config\n"
        "from tagscan.pipeline import run_scan\n"
        f"res = run_scan(load_config({str(synth_config)!r}))\n"
        "print(len(res.findings), 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    first = runs[0].stdout.split()
    second = runs[1].stdout.split()
    assert first[1:] == ["True", "True"]  # the cold scan embedded with the real model
    assert second[1:] == ["False", "False"]
    assert first[0] == second[0]  # same findings from the cached vectors


def _count_hashing(monkeypatch) -> list[Path]:
    import tagscan.embed.identity as identity

    calls: list[Path] = []
    real = identity.hash_model_files

    def counting(digest, model_dir, extra_files=()):
        calls.append(Path(model_dir))
        real(digest, model_dir, extra_files)

    monkeypatch.setattr(identity, "hash_model_files", counting)
    return calls


def test_an_unchanged_model_folder_is_known_without_reading_its_weights(tmp_path, monkeypatch):
    import tagscan.embed.identity as identity

    model = _tiny_bert(tmp_path / "m")
    cache = tmp_path / "cache"
    monkeypatch.setattr(identity, "_RACY_NS", 0)  # files just written count as settled
    first = text_embedder(str(model), cache_root=cache, batch_size=8)
    calls = _count_hashing(monkeypatch)
    for _ in range(2):
        again = text_embedder(str(model), cache_root=cache, batch_size=8)
        assert isinstance(again, DeferredEmbedder) and (again.name, again.dim) == (first.name, first.dim)
    assert calls == []  # stat alone said the folder is unchanged
    assert len(json.loads((cache / "model_files.json").read_text())) == 1


def test_a_rewritten_weight_file_is_hashed_again_even_with_its_old_size_and_mtime(tmp_path, monkeypatch):
    import os
    import time

    import tagscan.embed.identity as identity

    model = _tiny_bert(tmp_path / "m", seed=0)
    cache = tmp_path / "cache"
    monkeypatch.setattr(identity, "_RACY_NS", 0)
    first = text_embedder(str(model), cache_root=cache, batch_size=8)
    (weights,) = model.glob("*.safetensors")
    other = _tiny_bert(tmp_path / "other", seed=1)
    new_bytes = (other / weights.name).read_bytes()
    assert len(new_bytes) == weights.stat().st_size and new_bytes != weights.read_bytes()
    before = weights.stat()
    time.sleep(0.05)  # let the clock move so the rewrite gets a later change time
    weights.write_bytes(new_bytes)  # in place: same inode, same size
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime, as `cp -p` leaves it
    calls = _count_hashing(monkeypatch)
    again = text_embedder(str(model), cache_root=cache, batch_size=8)
    assert calls == [model.resolve()]
    assert isinstance(again, TransformersTextEmbedder) and again.name != first.name


def test_freshly_written_model_files_are_hashed_until_they_settle(tmp_path, monkeypatch):
    """A file changed within _RACY_NS of being hashed could be rewritten again within one tick of a
    coarse file-system clock, keeping its stat: such a state is never remembered."""
    import tagscan.embed.identity as identity

    model = _tiny_bert(tmp_path / "m")
    cache = tmp_path / "cache"
    monkeypatch.setattr(identity, "_RACY_NS", 10**15)  # every file here is "just written" (11 days)
    text_embedder(str(model), cache_root=cache, batch_size=8)
    calls = _count_hashing(monkeypatch)
    assert isinstance(text_embedder(str(model), cache_root=cache, batch_size=8), DeferredEmbedder)
    assert calls == [model.resolve()]
    assert not (cache / "model_files.json").exists()
