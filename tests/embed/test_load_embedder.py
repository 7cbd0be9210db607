"""load_embedder: routing by spec and input kind, every ConfigError, and the user embedder protocol."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tagscan.embed.embedders import ClipEmbedder, TransformersTextEmbedder, default_text_model_dir
from tagscan.embed.images import embed_image_refs
from tagscan.embed.loader import load_embedder
from tagscan.embed.protocol import DEFAULT_LABEL_PROMPTS, ImageEmbedder
from tagscan.errors import ConfigError, DataError

CLIP_FIX = r"set embed\.model to a folder saved with CLIPModel\.save_pretrained\(\)$"


def test_default_is_minilm_for_text(text_embedder):
    embedder = load_embedder("default", input_kind="text", batch_size=8)
    assert isinstance(embedder, TransformersTextEmbedder)
    assert embedder.name == text_embedder.name and embedder.batch_size == 8


def test_default_has_no_image_model():
    with pytest.raises(
        ConfigError, match=r"^embed\.model: image inputs need a CLIP model folder; " + CLIP_FIX
    ):
        load_embedder("default", input_kind="image")


def test_clip_folder_for_images_uses_the_prompt_templates(tiny_clip_dir):
    embedder = load_embedder(str(tiny_clip_dir), input_kind="image", batch_size=5)
    assert isinstance(embedder, ClipEmbedder) and isinstance(embedder, ImageEmbedder)
    assert embedder.label_prompts == DEFAULT_LABEL_PROMPTS and embedder.batch_size == 5


def test_clip_folder_for_texts_embeds_texts_as_they_are(tiny_clip_dir):
    embedder = load_embedder(str(tiny_clip_dir), input_kind="text")
    assert isinstance(embedder, ClipEmbedder)
    assert embedder.label_prompts == ("{label}",)


def test_text_model_folder_for_images():
    with pytest.raises(
        ConfigError,
        match=r"^embed\.model: '.*' holds a 'bert' model, which embeds text only; "
        r"image inputs need a CLIP model folder; " + CLIP_FIX,
    ):
        load_embedder(str(default_text_model_dir()), input_kind="image")


def test_missing_folder_for_images(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^embed\.model: '.*nope' does not exist; image inputs need a CLIP model folder; " + CLIP_FIX,
    ):
        load_embedder(str(tmp_path / "nope"), input_kind="image")


@pytest.mark.parametrize("kind", ["text", "image"])
def test_folder_that_is_not_a_model(tmp_path, kind):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(
        ConfigError, match=r"^embed\.model: '.*' is not a Hugging Face model folder \(no config\.json found\)"
    ):
        load_embedder(str(tmp_path), input_kind=kind)


def test_unreadable_config_json(tmp_path):
    (tmp_path / "config.json").write_text("{ not json")
    with pytest.raises(
        ConfigError, match=r"^embed\.model: '.*config\.json' is not a readable JSON model config \("
    ) as info:
        load_embedder(str(tmp_path), input_kind="image")
    assert info.value.__cause__ is not None


def test_unknown_input_kind():
    with pytest.raises(ConfigError, match=r"^embed\.input: must be 'text' or 'image', got 'audio'$"):
        load_embedder("default", input_kind="audio")


@pytest.mark.parametrize("spec", ["", "   ", None])
def test_empty_spec(spec):
    with pytest.raises(
        ConfigError, match=r"^embed\.model: must be 'default', a model folder or 'python:module:attr'"
    ):
        load_embedder(spec)


def test_text_folder_still_loads_for_text(tmp_path, text_embedder):
    folder = tmp_path / "copy"
    folder.mkdir()
    for item in default_text_model_dir().iterdir():
        if item.is_file():
            (folder / item.name).symlink_to(item)
    embedder = load_embedder(str(folder))
    assert isinstance(embedder, TransformersTextEmbedder)
    assert embedder.name.rsplit(":", 1)[1] == text_embedder.name.rsplit(":", 1)[1]


# -- python:module:attr ------------------------------------------------------------------------------------

USER_MODULE = textwrap.dedent(
    '''
    import numpy as np
    from tagscan.embed.images import load_image

    class ColourEmbedder:
        """Mean colour and a text hash: enough to check the protocol (rows NOT normalised)."""

        name = "colour-v1"
        dim = 4
        batch_size = 3

        def __init__(self):
            self.calls = []

        def embed_texts(self, texts):
            self.calls.append(("texts", list(texts)))
            return np.array([[len(t) + 1.0, 1.0, 2.0, 3.0] for t in texts])

        def embed_images(self, refs):
            self.calls.append(("images", list(refs)))
            rows = []
            for ref in refs:
                pixels = np.asarray(load_image(ref), dtype=np.float64)
                rows.append([*pixels.mean(axis=(0, 1)), 1.0])
            return np.array(rows)

    def make():
        return ColourEmbedder()

    instance = ColourEmbedder()

    class TextOnly:
        name = "text-only"
        dim = 2

        def embed_texts(self, texts):
            return np.ones((len(texts), 2))

    def broken():
        raise RuntimeError("no GPU found")

    class WrongShape(ColourEmbedder):
        def embed_texts(self, texts):
            return np.ones((len(texts), 3))

    class BadDim(ColourEmbedder):
        dim = 0

    class NoName(ColourEmbedder):
        name = ""

    class ShapeLater(ColourEmbedder):
        def embed_texts(self, texts):
            return np.ones((1, 4))

    class ZeroRows(ColourEmbedder):
        def embed_texts(self, texts):
            return np.zeros((len(texts), 4)) if texts != ["tagscan probe"] else np.ones((1, 4))

    class NanRows(ColourEmbedder):
        def embed_texts(self, texts):
            return np.full((len(texts), 4), np.nan) if texts != ["tagscan probe"] else np.ones((1, 4))

    not_callable = 42
    '''
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    name = "tagscan_user_embedders_test"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    (tmp_path / "failing_import_test_mod.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
    sys.modules.pop("failing_import_test_mod", None)


def test_user_factory_for_texts_is_checked_and_normalised(user_module):
    embedder = load_embedder(f"python:{user_module}:make", input_kind="text", batch_size=64)
    assert isinstance(embedder, ImageEmbedder)
    assert (embedder.name, embedder.dim, embedder.batch_size) == ("colour-v1", 4, 3)
    vectors = embedder.embed_texts(["a", "abc"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    raw = np.array([2.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(vectors[0], raw / np.linalg.norm(raw), atol=1e-6)
    assert embedder.embed_texts([]).shape == (0, 4)
    assert "python:" in repr(embedder)


def test_user_class_and_instance_work_for_images(user_module, image_refs, tmp_path):
    for attr in ("ColourEmbedder", "instance"):
        embedder = load_embedder(f"python:{user_module}:{attr}", input_kind="image")
        vectors = embedder.embed_images(image_refs[:4])
        assert vectors.shape == (4, 4)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # Through the cached image path: batches of the user's batch_size, content keys, a skipped bad file.
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    refs = [*image_refs[:4], str(bad), image_refs[0]]
    result = embed_image_refs(refs, embedder, tmp_path / "cache", on_error="skip")
    assert result.kept.tolist() == [0, 1, 2, 3, 5] and [s.position for s in result.skipped] == [4]
    assert result.computed == 4
    np.testing.assert_allclose(result.vectors[:4], vectors, atol=1e-6)
    np.testing.assert_array_equal(result.vectors[4], result.vectors[0])
    again = embed_image_refs(refs[:4], embedder, tmp_path / "cache")
    assert again.computed == 0


def test_user_text_embedder_without_embed_images_for_images(user_module):
    load_embedder(f"python:{user_module}:TextOnly", input_kind="text")
    with pytest.raises(
        ConfigError, match=r"^embed\.model: 'python:.*:TextOnly' returned a TextOnly without embed_images; "
    ):
        load_embedder(f"python:{user_module}:TextOnly", input_kind="image")


@pytest.mark.parametrize(
    ("attr", "match"),
    [
        (
            "missing_attr",
            r"module 'tagscan_user_embedders_test' has no attribute 'missing_attr'; check the name",
        ),
        (
            "broken",
            r"calling broken\(\) failed \(RuntimeError: no GPU found\); the factory is called with no arguments",
        ),
        ("not_callable", r"must name an embedder or a factory returning one: .*; got int$"),
        (
            "WrongShape",
            r"the probe call embed_texts\(\['tagscan probe'\]\) returned shape \(1, 3\), expected \(1, 4\)",
        ),
        ("BadDim", r"dim must be a positive integer, got 0$"),
        ("NoName", r"name must be a non-empty string \(it names the cache\), got ''"),
    ],
)
def test_user_embedder_config_errors(user_module, attr, match):
    with pytest.raises(ConfigError, match=r"^embed\.model: .*" + match):
        load_embedder(f"python:{user_module}:{attr}", input_kind="text")


def test_user_module_that_does_not_import(user_module):
    with pytest.raises(
        ConfigError,
        match=r"^embed\.model: 'python:no_such_module_xyz:make': module 'no_such_module_xyz' could not be imported "
        r"\(No module named 'no_such_module_xyz'\); install it or add its folder to PYTHONPATH$",
    ):
        load_embedder("python:no_such_module_xyz:make")
    with pytest.raises(
        ConfigError,
        match=r"importing module 'failing_import_test_mod' failed \(RuntimeError: boom at import\)",
    ):
        load_embedder("python:failing_import_test_mod:make")


@pytest.mark.parametrize("spec", ["python:justamodule", "python::attr", "python:mod:"])
def test_malformed_python_spec(spec):
    with pytest.raises(
        ConfigError, match=r"is not of the form python:module:attr; write e\.g\. python:mypackage"
    ):
        load_embedder(spec)


@pytest.mark.parametrize(
    ("attr", "match"),
    [
        ("ShapeLater", r"embed_texts returned shape \(1, 4\) for 2 items; it must return \(2, 4\)"),
        ("ZeroRows", r"embed_texts returned an all-zero row \(0\), which has no direction"),
        ("NanRows", r"embed_texts returned NaN or infinite values in row 0"),
    ],
)
def test_user_embedder_bad_batches_are_data_errors(user_module, attr, match):
    embedder = load_embedder(f"python:{user_module}:{attr}")
    with pytest.raises(DataError, match=r"^embed\.model 'python:.*': " + match):
        embedder.embed_texts(["x", "y"])


def test_user_probe_for_images_runs_on_a_real_png(user_module, tmp_path):
    embedder = load_embedder(f"python:{user_module}:instance", input_kind="image")
    (kind_texts, _), (kind_images, probe_refs) = embedder._inner.calls[:2]
    assert (kind_texts, kind_images) == ("texts", "images")
    assert probe_refs[0].endswith("probe.png") and not Path(probe_refs[0]).exists()  # a temp file, removed
