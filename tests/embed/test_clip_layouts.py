"""CLIP folders in every layout the installed transformers saves: the image processor is read the way
transformers reads it (processor_config.json with a nested image processor, or preprocessor_config.json),
the vectors do not depend on the layout, and a folder that lacks a part names the folder, the part and the fix."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tagscan.embed.deferred import DeferredEmbedder, embedder
from tagscan.embed.embedders import ClipEmbedder
from tagscan.embed.loader import load_embedder
from tagscan.errors import ConfigError

LABELS = ["dog", "a cat sleeping", "gorilla", ""]


def _vectors(clip: ClipEmbedder, image_refs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return clip.embed_images(image_refs), clip.embed_texts(LABELS)


def test_processor_and_separate_layouts_embed_as_the_checked_in_folder(
    clip_layouts, clip_embedder, image_refs
):
    images, labels = _vectors(clip_embedder, image_refs)
    for layout in ("processor", "separate"):
        clip = ClipEmbedder(clip_layouts[layout], batch_size=4)
        got_images, got_labels = _vectors(clip, image_refs)
        np.testing.assert_allclose(got_images, images, atol=1e-6, err_msg=layout)
        np.testing.assert_allclose(got_labels, labels, atol=1e-6, err_msg=layout)
        assert clip.decode_size == clip_embedder.decode_size == 32
    assert not (
        clip_layouts["processor"] / "preprocessor_config.json"
    ).exists()  # transformers 5's own layout
    assert ClipEmbedder(clip_layouts["processor"]).image_processor_file.name == "processor_config.json"
    assert ClipEmbedder(clip_layouts["separate"]).image_processor_file.name == "preprocessor_config.json"


def test_image_processor_only_folder_names_the_missing_tokenizer_and_its_fix_works(
    clip_layouts, clip_embedder, image_refs, tiny_clip_dir, tmp_path
):
    folder = tmp_path / "image-processor-only"
    shutil.copytree(clip_layouts["image_processor"], folder)
    with pytest.raises(
        ConfigError,
        match=rf"^embed\.model: '{folder}' has no tokenizer \(tokenizer\.json, or vocab\.json and merges\.txt\); "
        r"save the model's processor into that folder: CLIPProcessor\.from_pretrained\(",
    ):
        ClipEmbedder(folder)
    # The fix the message gives: save the whole processor into the folder.
    from transformers import CLIPProcessor

    CLIPProcessor.from_pretrained(tiny_clip_dir, local_files_only=True).save_pretrained(folder)
    images, labels = _vectors(clip_embedder, image_refs)
    got_images, got_labels = _vectors(ClipEmbedder(folder, batch_size=4), image_refs)
    np.testing.assert_allclose(got_images, images, atol=1e-6)
    np.testing.assert_allclose(got_labels, labels, atol=1e-6)


def test_nested_image_processor_wins_over_preprocessor_config_as_in_transformers(clip_layouts, tmp_path):
    folder = tmp_path / "both"
    shutil.copytree(clip_layouts["separate"], folder)
    nested = json.loads((folder / "preprocessor_config.json").read_text())
    nested["size"] = {"shortest_edge": 48}
    (folder / "processor_config.json").write_text(
        json.dumps({"image_processor": nested, "processor_class": "CLIPProcessor"})
    )
    clip = ClipEmbedder(folder)
    assert clip.image_processor_file.name == "processor_config.json"
    assert clip.decode_size == 48 and clip._processor.size["shortest_edge"] == 48
    # The nested settings decide the pixels, so they are part of the image cache's namespace.
    assert clip.image_cache_name != ClipEmbedder(clip_layouts["separate"]).image_cache_name


@pytest.mark.parametrize(
    ("processor_config", "found"),
    [
        (None, r"neither preprocessor_config\.json nor processor_config\.json is there"),
        (
            {"processor_class": "CLIPProcessor"},
            r"its processor_config\.json has no 'image_processor' entry and there is no preprocessor_config\.json",
        ),
    ],
)
def test_folder_without_image_processor_names_the_folder_and_the_fix(
    tiny_clip_dir, tmp_path, processor_config, found
):
    folder = tmp_path / "no-image-processor"
    shutil.copytree(tiny_clip_dir, folder)
    (folder / "preprocessor_config.json").unlink()
    if processor_config is not None:
        (folder / "processor_config.json").write_text(json.dumps(processor_config))
    with pytest.raises(
        ConfigError,
        match=rf"^embed\.model: '{folder}' has no image processor \({found}\); save the model's processor into "
        r"that folder: CLIPProcessor\.from_pretrained\(<the model's hub id or folder>\)\.save_pretrained\(",
    ):
        load_embedder(str(folder), input_kind="image")


def test_unreadable_processor_config_names_the_file(tiny_clip_dir, tmp_path):
    folder = tmp_path / "broken-processor"
    shutil.copytree(tiny_clip_dir, folder)
    (folder / "processor_config.json").write_text("{ broken")
    with pytest.raises(
        ConfigError,
        match=r"^embed\.model: '.*broken-processor/processor_config\.json' is not a readable JSON",
    ):
        ClipEmbedder(folder)


def test_processor_layout_is_deferred_on_a_warm_rescan(clip_layouts, image_refs, tmp_path):
    """The model's recorded identity covers processor_config.json: a second load is deferred, and a
    changed nested image processor is a new identity, not a stale one."""
    folder = tmp_path / "processor"
    shutil.copytree(clip_layouts["processor"], folder)
    cache = tmp_path / "cache"
    first = embedder(str(folder), input_kind="image", cache_root=cache, batch_size=4)
    assert isinstance(first, ClipEmbedder)
    again = embedder(str(folder), input_kind="image", cache_root=cache, batch_size=4)
    assert isinstance(again, DeferredEmbedder) and again.image_cache_name == first.image_cache_name
    config = json.loads((folder / "processor_config.json").read_text())
    config["image_processor"]["do_center_crop"] = False
    (folder / "processor_config.json").write_text(json.dumps(config))
    changed = embedder(str(folder), input_kind="image", cache_root=cache, batch_size=4)
    assert isinstance(changed, ClipEmbedder) and changed.image_cache_name != first.image_cache_name
