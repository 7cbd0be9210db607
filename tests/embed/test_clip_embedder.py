"""Tests of ClipEmbedder against the checked-in tiny random CLIP and real image files."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch

from tagscan.embed.embedders import ClipEmbedder
from tagscan.embed.images import load_image
from tagscan.embed.protocol import DEFAULT_LABEL_PROMPTS, Embedder, ImageEmbedder
from tagscan.errors import ConfigError, DataError


def test_image_rows_are_unit_float32_of_projection_dim(clip_embedder, image_refs):
    vectors = clip_embedder.embed_images(image_refs)
    assert isinstance(clip_embedder, ImageEmbedder) and isinstance(clip_embedder, Embedder)
    assert clip_embedder.dim == 16  # projection_dim of the fixture
    assert vectors.shape == (len(image_refs), 16)
    assert vectors.dtype == np.float32 and vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({row.tobytes() for row in vectors}) == len(image_refs)  # distinct images, distinct rows


def test_images_are_the_projected_pooled_output_of_the_vision_tower(clip_embedder, image_refs):
    """An independent oracle: CLIPModel.get_image_features on the processor's pixels, normalised."""
    images = [load_image(ref) for ref in image_refs[:3]]
    pixels = clip_embedder._processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        expected = clip_embedder._model.get_image_features(pixel_values=pixels).pooler_output.numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(clip_embedder.embed_images(image_refs[:3]), expected, atol=1e-5)
    np.testing.assert_allclose(clip_embedder.embed_pil(images), expected, atol=1e-5)


def test_deterministic_and_independent_of_batch_size_and_order(clip_embedder, tiny_clip_dir, image_refs):
    reference = clip_embedder.embed_images(image_refs)  # batches of 4
    np.testing.assert_array_equal(clip_embedder.embed_images(image_refs), reference)
    for batch_size in (1, 3, 64):
        other = ClipEmbedder(tiny_clip_dir, batch_size=batch_size, threads=1)
        np.testing.assert_allclose(other.embed_images(image_refs), reference, atol=1e-5)
    np.testing.assert_allclose(clip_embedder.embed_images(image_refs[::-1]), reference[::-1], atol=1e-5)


def test_empty_inputs_give_zero_rows(clip_embedder):
    assert clip_embedder.embed_images([]).shape == (0, 16)
    assert clip_embedder.embed_texts([]).shape == (0, 16)
    assert clip_embedder.embed_texts([]).dtype == np.float32


def _prompt_rows(embedder: ClipEmbedder, prompts: list[str]) -> np.ndarray:
    batch = embedder._tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        rows = embedder._model.get_text_features(**batch).pooler_output.numpy().astype(np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_labels_go_through_the_prompt_template(clip_embedder):
    assert clip_embedder.label_prompts == DEFAULT_LABEL_PROMPTS == ("a photo of a {label}",)
    labels = ["dog", "red car", "gorilla", "{braces} stay"]
    vectors = clip_embedder.embed_texts(labels)
    expected = _prompt_rows(clip_embedder, [f"a photo of a {label}" for label in labels])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    long = clip_embedder.embed_texts(["dog " * 200])  # truncated to 77 tokens, the end token kept
    np.testing.assert_allclose(np.linalg.norm(long, axis=1), 1.0, atol=1e-5)


def test_several_templates_average_normalised_rows_then_renormalise(tiny_clip_dir):
    prompts = ("a photo of a {label}", "a blurry photo of the {label}", "{label}")
    embedder = ClipEmbedder(tiny_clip_dir, batch_size=2, label_prompts=prompts)
    labels = ["cat", "a very long label name with many words in it", "bus"]
    vectors = embedder.embed_texts(labels)
    for label, row in zip(labels, vectors):
        mean = _prompt_rows(embedder, [p.replace("{label}", label) for p in prompts]).mean(axis=0)
        np.testing.assert_allclose(row, mean / np.linalg.norm(mean), atol=1e-5)
    one_by_one = np.stack([embedder.embed_texts([label])[0] for label in labels])
    np.testing.assert_allclose(one_by_one, vectors, atol=1e-5)  # padding in a batch changes nothing


def test_name_fingerprints_model_and_prompts_image_namespace_only_the_model(clip_embedder, tiny_clip_dir):
    assert re.fullmatch(r"hf-clip:tiny-clip:[0-9a-f]{12}:[0-9a-f]{8}", clip_embedder.name)
    again = ClipEmbedder(tiny_clip_dir, batch_size=64)
    assert again.name == clip_embedder.name  # batch size does not change the vectors
    other = ClipEmbedder(tiny_clip_dir, label_prompts=("an image of {label}",))
    assert other.name != clip_embedder.name
    assert other.image_cache_name == clip_embedder.image_cache_name == clip_embedder.name.rsplit(":", 1)[0]
    assert "hf-clip:tiny-clip" in repr(clip_embedder)


def test_fingerprint_covers_the_preprocessor_config(clip_embedder, tiny_clip_dir, tmp_path):
    folder = tmp_path / "tiny-clip"
    shutil.copytree(tiny_clip_dir, folder)
    text = (
        (folder / "preprocessor_config.json")
        .read_text()
        .replace('"do_center_crop": true', '"do_center_crop": false')
    )
    (folder / "preprocessor_config.json").write_text(text)
    assert ClipEmbedder(folder).image_cache_name != clip_embedder.image_cache_name


def test_missing_image_is_a_data_error_naming_the_file(clip_embedder, image_refs, tmp_path):
    missing = str(tmp_path / "gone.jpg")
    with pytest.raises(DataError, match=rf"^image '{missing}': file not found"):
        clip_embedder.embed_images([*image_refs[:5], missing, *image_refs[5:]])


def test_corrupt_image_is_a_data_error(clip_embedder, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"^image '.*bad\.jpg': "):
        clip_embedder.embed_images([str(bad)])


def test_non_string_inputs_are_data_errors(clip_embedder):
    with pytest.raises(DataError, match=r"^images\[0\]: every image reference must be a string"):
        clip_embedder.embed_images([None])
    with pytest.raises(DataError, match=r"^texts\[1\]: every input to embed must be a string, got float"):
        clip_embedder.embed_texts(["ok", float("nan")])


@pytest.mark.parametrize(
    ("prompts", "match"),
    [
        ((), r"^label_prompts: must be a non-empty sequence of templates"),
        ("a photo of a {label}", r"^label_prompts: must be a non-empty sequence of templates"),
        (("a photo of a label",), r"^label_prompts: every template must be a string containing '\{label\}'"),
    ],
)
def test_bad_prompts_are_config_errors(tiny_clip_dir, prompts, match):
    with pytest.raises(ConfigError, match=match):
        ClipEmbedder(tiny_clip_dir, label_prompts=prompts)


def test_text_model_folder_is_not_a_clip_model():
    from tagscan.embed.embedders import default_text_model_dir

    with pytest.raises(
        ConfigError,
        match=r"^embed\.model: '.*' holds a 'bert' model, not a CLIP model \(model_type 'clip'\); "
        r"set embed\.model to a folder saved with CLIPModel\.save_pretrained\(\)$",
    ):
        ClipEmbedder(default_text_model_dir())


def test_clip_folder_without_preprocessor_config(tiny_clip_dir, tmp_path):
    folder = tmp_path / "no-processor"
    shutil.copytree(tiny_clip_dir, folder)
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(
        ConfigError,
        match=r"^embed\.model: '.*no-processor' has no image processor \(neither preprocessor_config\.json nor "
        r"processor_config\.json is there\); save the model's processor into that folder: CLIPProcessor\.from_pretrained",
    ):
        ClipEmbedder(folder)


def test_clip_folder_without_tokenizer(tiny_clip_dir, tmp_path):
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_clip_dir, folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    with pytest.raises(
        ConfigError,
        match=r"^embed\.model: '.*no-tokenizer' has no tokenizer \(tokenizer\.json, or vocab\.json and merges\.txt\); "
        r"save the model's processor into that folder: CLIPProcessor\.from_pretrained",
    ):
        ClipEmbedder(folder)


def test_clip_folder_with_a_broken_tokenizer(tiny_clip_dir, tmp_path):
    folder = tmp_path / "bad-tokenizer"
    shutil.copytree(tiny_clip_dir, folder)
    (folder / "tokenizer.json").write_text("{ broken")
    with pytest.raises(
        ConfigError, match=r"^embed\.model: '.*bad-tokenizer': the CLIP tokenizer could not be loaded \("
    ) as info:
        ClipEmbedder(folder)
    assert info.value.__cause__ is not None


def test_clip_folder_without_weights(tiny_clip_dir, tmp_path):
    folder = tmp_path / "no-weights"
    shutil.copytree(tiny_clip_dir, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(
        ConfigError, match=r"^embed\.model: '.*no-weights' could not be loaded as a CLIP model \("
    ) as info:
        ClipEmbedder(folder)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("batch_size", [0, -3, 1.5, True])
def test_bad_batch_size(tiny_clip_dir, batch_size):
    with pytest.raises(ConfigError, match=r"^batch_size: must be a positive integer"):
        ClipEmbedder(tiny_clip_dir, batch_size=batch_size)


def test_device_is_cpu_here(clip_embedder):
    assert clip_embedder.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert next(clip_embedder._model.parameters()).device.type == clip_embedder.device.type


def test_large_jpegs_are_decoded_at_reduced_scale_close_to_a_full_decode(
    clip_embedder, tiny_clip_dir, tmp_path, make_image
):
    from tagscan.embed.images import decode_image

    big = make_image(tmp_path / "big.jpg", seed=5, size=(256, 200))
    wide = make_image(tmp_path / "wide.jpg", seed=6, size=(200, 40))
    png = make_image(tmp_path / "big.png", seed=7, size=(256, 200))
    assert clip_embedder.decode_size == 32  # the fixture processor's shortest_edge
    assert decode_image(big.read_bytes(), "big", min_size=32).size == (64, 50)  # 1/4: never below 32
    assert decode_image(wide.read_bytes(), "wide", min_size=32).size == (200, 40)  # 40 < 2 x 32: full
    assert decode_image(png.read_bytes(), "png", min_size=32).size == (256, 200)  # only JPEGs
    exact = ClipEmbedder(tiny_clip_dir, jpeg_draft=False)
    assert exact.decode_size is None and exact.image_cache_name != clip_embedder.image_cache_name
    refs = [str(big), str(wide), str(png)]
    fast, full = clip_embedder.embed_images(refs), exact.embed_images(refs)
    np.testing.assert_allclose(fast[1:], full[1:], atol=1e-5)
    assert float(fast[0] @ full[0]) > 0.98
