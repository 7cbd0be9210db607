"""Shared fixtures for tests of tagscan.embed: offline Hugging Face, one loaded model per session."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub or transformers: never touch the network, no progress bars.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest  # noqa: E402


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
