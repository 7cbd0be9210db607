"""Tests of tagscan.embed.images: references, loading (files and a local HTTP server), content keys."""

from __future__ import annotations

import hashlib
import io
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tagscan.embed.images import (
    SKIP_HINT,
    decode_image,
    image_key,
    image_keys,
    is_url,
    load_image,
    read_image_bytes,
    resolve_image_refs,
)
from tagscan.errors import DataError


def test_resolve_relative_absolute_url_and_file_refs(tmp_path):
    base = tmp_path / "data"
    values = [
        "img/a.png",
        str(tmp_path / "abs.jpg"),
        "https://example.org/x.jpg?size=2",
        "HTTP://EXAMPLE.ORG/Y.PNG",
        (tmp_path / "f.png").as_uri(),
        "  spaced.png  ",
        "../up.png",
    ]
    refs = resolve_image_refs(values, base)
    assert refs == [
        str((base / "img" / "a.png").resolve()),
        str(tmp_path / "abs.jpg"),
        "https://example.org/x.jpg?size=2",
        "HTTP://EXAMPLE.ORG/Y.PNG",
        str(tmp_path / "f.png"),
        str((base / "spaced.png").resolve()),
        str((tmp_path / "up.png").resolve()),
    ]
    assert is_url(refs[2]) and is_url(refs[3]) and not is_url(refs[0])


@pytest.mark.parametrize("value", [None, "", "   ", 3.5])
def test_resolve_rejects_empty_values_naming_the_row(tmp_path, value):
    with pytest.raises(
        DataError, match=r"^samples row 2: column 'image' must hold a file path or an http\(s\) URL, got"
    ):
        resolve_image_refs(["a.png", value], tmp_path)


def test_resolve_rejects_other_schemes(tmp_path):
    with pytest.raises(
        DataError, match=r"^samples row 1: image 's3://bucket/a.png' uses the unsupported scheme 's3://'"
    ):
        resolve_image_refs(["s3://bucket/a.png"], tmp_path)


@pytest.mark.parametrize("name", ["img0.png", "img1.jpg", "img2.png", "img3.png", "img4.png", "img6.bmp"])
def test_load_image_gives_rgb_of_the_file_size(image_dir, name):
    image = load_image(str(image_dir / name))
    assert image.mode == "RGB"
    with Image.open(image_dir / name) as original:
        assert image.size == original.size


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.new("RGB", (60, 20), (200, 10, 10)).save(path, exif=exif)
    assert load_image(str(path)).size == (20, 60)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope" / "missing.png"
    with pytest.raises(DataError, match=rf"^image '{path}': file not found; {SKIP_HINT}$"):
        load_image(str(path))


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(DataError, match=r"^image '.*': is a folder, not an image file"):
        load_image(str(tmp_path))


def test_corrupt_bytes_are_a_data_error(tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(b"this is not an image at all")
    with pytest.raises(
        DataError,
        match=r"^image '.*corrupt\.png': not a readable image \(unknown format or corrupt file, 27 bytes\)",
    ) as info:
        load_image(str(path))
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_a_data_error(tmp_path, fmt):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, fmt)
    path = tmp_path / f"truncated.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DataError, match=r"^image '.*truncated\.\w+': corrupt or truncated image \("):
        load_image(str(path))


def test_decode_image_names_the_reference():
    with pytest.raises(DataError, match=r"^image 'row-7': not a readable image"):
        decode_image(b"\x89PNG\r\n\x1a\nbroken", "row-7")


def test_url_images_load_like_files(http_images, image_dir):
    for name in ["img0.png", "img1.jpg", "img3.png"]:
        remote = load_image(f"{http_images}/{name}")
        local = load_image(str(image_dir / name))
        assert remote.size == local.size
        assert np.array_equal(np.asarray(remote), np.asarray(local))


def test_url_http_error_names_the_url_and_status(http_images):
    url = f"{http_images}/missing.png"
    with pytest.raises(DataError, match=rf"^image '{url}': HTTP error 404 "):
        load_image(url)


def test_unreachable_url_is_a_data_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.png"
    with pytest.raises(DataError, match=rf"^image '{url}': could not be fetched \("):
        read_image_bytes(url, timeout=2)


def test_url_serving_a_non_image_is_a_data_error(http_images):
    with pytest.raises(DataError, match=r"^image 'http://.*/page\.png': not a readable image"):
        load_image(f"{http_images}/page.png")


def test_keys_are_the_content_hash_for_files_and_the_url_for_urls(tmp_path, image_dir):
    original = image_dir / "img0.png"
    copy = tmp_path / "renamed.png"
    copy.write_bytes(original.read_bytes())
    expected = "sha256:" + hashlib.sha256(original.read_bytes()).hexdigest()
    assert image_key(str(original)) == image_key(str(copy)) == expected
    assert image_key(str(image_dir / "img1.jpg")) != expected
    assert image_key("https://example.org/a.png") == "url:https://example.org/a.png"


def test_image_keys_report_failures_by_position(tmp_path, image_dir):
    refs = [str(image_dir / "img0.png"), str(tmp_path / "gone.png"), "https://example.org/x.png"]
    keys, failures = image_keys(refs, threads=2)
    assert keys[0].startswith("sha256:") and keys[1] is None and keys[2] == "url:https://example.org/x.png"
    assert list(failures) == [1] and "file not found" in failures[1]


def test_paths_are_ok_as_path_objects_after_resolve(tmp_path, image_dir):
    refs = resolve_image_refs([Path("img0.png").as_posix()], image_dir)
    assert load_image(refs[0]).size == (48, 40)
