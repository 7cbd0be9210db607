"""Shared fixtures for tests of tagscan.embed: offline Hugging Face, one loaded model per session."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub or transformers: never touch the network, no progress bars.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import functools  # noqa: E402
import http.server  # noqa: E402
import shutil  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture(scope="session")
def text_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once."""
    from tagscan.embed.embedders import load_text_embedder

    return load_text_embedder("default")


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    """Short alt-text-like sentences of varied length (so batches need padding)."""
    return [
        "a photo of a dog",
        "a puppy playing in the grass with a red ball",
        "quarterly tax report",
        "",
        "two people walking along a beach at sunset while the tide comes in and gulls circle overhead",
        "close-up of a bowl of ramen",
        "a man in a suit giving a talk on a stage in front of a large audience",
        "snow",
        "a cat sleeping on a laptop keyboard",
        "city skyline at night with reflections on the river",
        "ünïcödé text: café, naïve, 東京 タワー",
        "a" * 3000,
    ]


# -- images and the tiny CLIP --------------------------------------------------------------------------

TINY_CLIP = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-clip"


@pytest.fixture(scope="session")
def tiny_clip_dir() -> Path:
    """The checked-in tiny random CLIP (hidden 32, 2 layers, 32 x 32 images, projection 16)."""
    return TINY_CLIP


@pytest.fixture(scope="session")
def clip_embedder(tiny_clip_dir):
    """The tiny CLIP as an image embedder with the default prompt template, batches of 4."""
    from tagscan.embed.embedders import ClipEmbedder

    return ClipEmbedder(tiny_clip_dir, batch_size=4)


def write_image(path: Path, seed: int, *, size: tuple[int, int] = (48, 40), mode: str = "RGB") -> Path:
    """A real image file (format from the suffix) with seeded random content."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory) -> Path:
    """Ten real images of several formats, modes and sizes: img0.png ... img9 (read-only by convention)."""
    folder = tmp_path_factory.mktemp("images")
    specs = [
        ("img0.png", "RGB", (48, 40)),
        ("img1.jpg", "RGB", (64, 48)),
        ("img2.png", "RGBA", (40, 40)),
        ("img3.png", "L", (33, 50)),
        ("img4.png", "P", (50, 33)),
        ("img5.jpg", "RGB", (120, 90)),
        ("img6.bmp", "RGB", (32, 32)),
        ("img7.png", "RGB", (31, 17)),
        ("img8.jpg", "RGB", (45, 80)),
        ("img9.png", "RGB", (48, 48)),
    ]
    for seed, (name, mode, size) in enumerate(specs):
        write_image(folder / name, seed, size=size, mode=mode)
    return folder


@pytest.fixture(scope="session")
def image_refs(image_dir) -> list[str]:
    return [str(path) for path in sorted(image_dir.iterdir())]


@pytest.fixture
def copy_images(image_dir, tmp_path):
    """Copy the session images into a fresh folder (tests that rename, edit or corrupt files)."""

    def copy() -> list[str]:
        target = tmp_path / "imgs"
        shutil.copytree(image_dir, target)
        return [str(path) for path in sorted(target.iterdir())]

    return copy


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="session")
def http_images(image_dir, tmp_path_factory):
    """A local HTTP server on 127.0.0.1 serving a copy of ``image_dir`` plus ``page.png`` (HTML, not
    an image); yields its base URL."""
    served = tmp_path_factory.mktemp("served")
    for path in image_dir.iterdir():
        shutil.copy(path, served / path.name)
    (served / "page.png").write_text("<html>not an image</html>")
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def make_image():
    """``make_image(path, seed, size=(w, h), mode="RGB")`` writes a real image file and returns its path."""
    return write_image


# -- CLIP folders as transformers saves them ------------------------------------------------------------


def _save_clip_folder(source: Path, target: Path, layout: str) -> Path:
    """Save the tiny CLIP from ``source`` into ``target`` the way a user would, with this transformers.

    - ``processor``: ``CLIPModel`` + ``CLIPProcessor.save_pretrained()`` (transformers 5: processor_config.json
      with the image processor nested, and no preprocessor_config.json).
    - ``image_processor``: ``CLIPModel`` + ``CLIPImageProcessorPil.save_pretrained()`` only (preprocessor_config.json,
      no tokenizer).
    - ``separate``: ``CLIPModel``, the tokenizer and the image processor, each saved on its own.

    The tokenizer is the checked-in one, loaded and saved again (BPE training is not deterministic).
    """
    from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    CLIPModel.from_pretrained(source, local_files_only=True).save_pretrained(target)
    image_processor = CLIPImageProcessorPil.from_pretrained(source, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    if layout == "processor":
        CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(target)
    elif layout == "image_processor":
        image_processor.save_pretrained(target)
    elif layout == "separate":
        tokenizer.save_pretrained(target)
        image_processor.save_pretrained(target)
    else:  # pragma: no cover - a typo in a test
        raise ValueError(layout)
    return target


@pytest.fixture(scope="session")
def clip_layouts(tiny_clip_dir, tmp_path_factory) -> dict[str, Path]:
    """The tiny CLIP saved three ways (see :func:`_save_clip_folder`), by layout name (read-only by convention)."""
    root = tmp_path_factory.mktemp("clip-layouts")
    return {
        layout: _save_clip_folder(tiny_clip_dir, root / layout, layout)
        for layout in ("processor", "image_processor", "separate")
    }
