"""Shared fixtures: real models and a real Chroma store in a temporary folder, each loaded once per session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from explorer.config import PROJECT_ROOT, Settings  # noqa: E402

MOVIELENS = PROJECT_ROOT.parent / "shared" / "data" / "movielens-small"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("explorer-data")


@pytest.fixture(scope="session")
def explorer_fallback(data_dir):
    """The demo explorer with the LLM switched off: every step on its deterministic fallback."""
    from explorer import Explorer

    return Explorer(Settings(data_dir=data_dir, llm={"backend": "none"}))


@pytest.fixture(scope="session")
def explorer_llm(data_dir):
    """The embedded default: SmolLM2-135M through transformers, loaded once for the whole session."""
    from explorer import Explorer

    return Explorer(Settings(data_dir=data_dir))


@pytest.fixture(scope="session")
def embedder():
    from explorer.config import EmbedSettings
    from explorer.store.embed import Embedder
    from explorer.resources import load_once

    settings = EmbedSettings()
    return load_once(("embed", settings.model_dump_json()), lambda: Embedder(settings))


@pytest.fixture
def write(tmp_path):
    """Write a file under tmp_path (text, or bytes as they are) and return its path."""
    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path
    return _write


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run`) on a free loopback port, started once and stopped after the session."""
    from explorer.tools.chroma_server import chroma_server as run_server

    with run_server(tmp_path_factory.mktemp("chroma-server") / "db") as server:
        yield server
