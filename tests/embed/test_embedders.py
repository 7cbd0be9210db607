"""Tests of tagscan.embed.embedders against the real packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from tagscan.embed.embedders import (
    TransformersTextEmbedder,
    default_text_model_dir,
    load_text_embedder,
    model_fingerprint,
)
from tagscan.embed.protocol import Embedder
from tagscan.errors import ConfigError, DataError


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_default_model_embeds_unit_rows(text_embedder, sentences):
    vectors = text_embedder.embed_texts(sentences)
    assert isinstance(text_embedder, Embedder)
    assert text_embedder.dim == 384
    assert vectors.shape == (len(sentences), 384)
    assert vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_zero_rows(text_embedder):
    vectors = text_embedder.embed_texts([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_deterministic(text_embedder, sentences):
    np.testing.assert_array_equal(text_embedder.embed_texts(sentences), text_embedder.embed_texts(sentences))


def test_same_vectors_for_any_batch_size_and_input_order(text_embedder, sentences):
    small = TransformersTextEmbedder(default_text_model_dir(), batch_size=2)
    reference = text_embedder.embed_texts(sentences)  # batch_size 64: one padded batch
    np.testing.assert_allclose(small.embed_texts(sentences), reference, atol=1e-5)
    np.testing.assert_allclose(text_embedder.embed_texts(sentences[::-1]), reference[::-1], atol=1e-5)
    one_by_one = np.stack([text_embedder.embed_texts([s])[0] for s in sentences])
    np.testing.assert_allclose(one_by_one, reference, atol=1e-5)


def test_semantically_sane(text_embedder):
    dog, puppy, tax = text_embedder.embed_texts(
        ["a photo of a dog", "a puppy playing", "quarterly tax report"]
    )
    assert cosine(dog, puppy) > cosine(dog, tax) + 0.2


def test_name_is_a_stable_fingerprint(text_embedder):
    assert re.fullmatch(r"hf-text:all-MiniLM-L6-v2:[0-9a-f]{12}", text_embedder.name)
    again = load_text_embedder(str(default_text_model_dir()))
    assert again.name == text_embedder.name
    assert "all-MiniLM-L6-v2" in repr(text_embedder)


def test_same_files_elsewhere_have_the_same_fingerprint(tmp_path, text_embedder):
    folder = tmp_path / "my-minilm"
    folder.mkdir()
    for item in default_text_model_dir().iterdir():
        if item.is_file():
            (folder / item.name).symlink_to(item)
    copy = load_text_embedder(str(folder))
    assert copy.name.startswith("hf-text:my-minilm:")
    assert copy.name.rsplit(":", 1)[1] == text_embedder.name.rsplit(":", 1)[1]


def _fake_model_files(folder: Path) -> None:
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    (folder / "README.md").write_text("notes")


def test_fingerprint_covers_weights_tokenizer_config_and_max_length(tmp_path):
    folder = tmp_path / "m"
    _fake_model_files(folder)
    base = model_fingerprint(folder, max_length=256)
    assert re.fullmatch(r"[0-9a-f]{12}", base)
    assert model_fingerprint(folder, max_length=128) != base
    (folder / "README.md").write_text("other notes")  # documentation does not change the vectors
    assert model_fingerprint(folder, max_length=256) == base
    for name, content in [
        ("model.safetensors", b"\x01" * 64),
        ("vocab.txt", b"[PAD]\n"),
        ("config.json", b"{}"),
    ]:
        original = (folder / name).read_bytes()
        (folder / name).write_bytes(content)
        assert model_fingerprint(folder, max_length=256) != base, name
        (folder / name).write_bytes(original)
    assert model_fingerprint(folder, max_length=256) == base


def test_loading_never_opens_a_socket(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    embedder = TransformersTextEmbedder(default_text_model_dir())
    assert embedder.embed_texts(["offline"]).shape == (1, 384)


def test_nonexistent_folder_is_a_config_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(
        ConfigError, match=r"^embed\.model: '.*nope' does not exist; set embed\.model to 'default'"
    ):
        load_text_embedder(str(missing))


def test_empty_folder_is_a_config_error(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^embed\.model: '.*' is not a Hugging Face model folder \(no config\.json found\); "
        r"set embed\.model to 'default' or to a folder saved with save_pretrained\(\)$",
    ):
        load_text_embedder(str(tmp_path))


def test_file_instead_of_folder_is_a_config_error(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"^embed\.model: '.*model\.bin' is a file"):
        load_text_embedder(str(path))


def test_unloadable_folder_is_a_chained_config_error(tmp_path):
    (tmp_path / "config.json").write_text("{ not json")
    with pytest.raises(
        ConfigError, match=r"^embed\.model: '.*' could not be loaded as a Hugging Face text model"
    ) as info:
        load_text_embedder(str(tmp_path))
    assert info.value.__cause__ is not None


def test_config_without_weights_is_a_chained_config_error(tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "special_tokens_map.json",
    ]:
        shutil.copy(default_text_model_dir() / name, folder / name)
    with pytest.raises(ConfigError, match=r"^embed\.model: '.*no-weights' could not be loaded") as info:
        TransformersTextEmbedder(folder)
    assert info.value.__cause__ is not None
    assert json.loads((folder / "config.json").read_text())  # the config itself was fine


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size_is_a_config_error(batch_size):
    with pytest.raises(ConfigError, match=r"^batch_size: must be a positive integer"):
        TransformersTextEmbedder(default_text_model_dir(), batch_size=batch_size)


def test_bad_device_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^device: 'warp-drive' is not a torch device"):
        TransformersTextEmbedder(default_text_model_dir(), device="warp-drive")


def test_non_string_input_is_a_data_error(text_embedder):
    with pytest.raises(DataError, match=r"^texts\[1\]: every input to embed must be a string, got float"):
        text_embedder.embed_texts(["fine", float("nan")])
