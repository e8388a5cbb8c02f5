"""Shared fixtures: real models and a real Chroma store in a temporary folder, each loaded once per session.

Each fixture that loads a model, builds an index or starts a process says so with `@needs` (tests/tiers.py);
every test that uses it is marked `llm`, `index` or `system` from that, and `make check` runs the rest."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from explorer.config import PROJECT_ROOT, Settings  # noqa: E402
from tests import tiers  # noqa: E402
from tests.tiers import needs  # noqa: E402

MOVIELENS = PROJECT_ROOT.parent / "shared" / "data" / "movielens-small"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("explorer-data")


def pytest_collection_modifyitems(config, items):
    tiers.mark(items)


@pytest.fixture(autouse=True)
def _tier_guard(request, monkeypatch):
    yield from tiers.guard(request.node, monkeypatch)


@pytest.fixture(scope="session")
@needs("index")
def explorer_fallback(data_dir):
    """The demo explorer with the LLM switched off: every step on its deterministic fallback."""
    from explorer import Explorer

    return Explorer(Settings(data_dir=data_dir, llm={"backend": "none"}))


@pytest.fixture(scope="session")
@needs("index")
def explorer_scripted(data_dir):
    """The demo explorer with the scripted stand-in LLM (explorer/testing.py): every step takes its LLM path,
    streaming included, without a model. The default for chat, session and UI tests not about the model."""
    from explorer import Explorer
    from explorer.testing import scripted_settings

    return Explorer(scripted_settings(data_dir=data_dir))


@pytest.fixture(scope="session")
@needs("llm", "index")
def explorer_llm(data_dir):
    """The embedded default: SmolLM2-135M through CTranslate2, loaded once for the whole session."""
    from explorer import Explorer

    return Explorer(Settings(data_dir=data_dir))


@pytest.fixture(scope="session")
@needs("llm")
def transformers_llm(llm_settings):
    """The same packaged model through transformers (no longer the default), loaded once per session under the
    key the Explorer and the bench use."""
    from explorer.llm import load_backend
    from explorer.resources import load_once

    settings = llm_settings.model_copy(update={"backend": "transformers"})
    return load_once(("llm", settings.model_dump_json()), lambda: load_backend(settings))


@pytest.fixture(scope="session")
@needs("index")
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
@needs("system")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run`) on a free loopback port, started once and stopped after the session."""
    from explorer.tools.chroma_server import chroma_server as run_server

    with run_server(tmp_path_factory.mktemp("chroma-server") / "db") as server:
        yield server


@pytest.fixture
@needs("index")
def index_dir(tmp_path) -> Path:
    """An empty folder for a test that builds its own Chroma index there."""
    path = tmp_path / "index"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
@needs("llm")
def llm_settings():
    """The embedded LLM's settings, for a test that loads the model itself (a backend, a converted copy)."""
    from explorer.config import LLMSettings

    return LLMSettings()


# Child processes run offline and quiet; COLUMNS: rich wraps the CLI's messages at 80 columns when not on a
# terminal, folding long paths mid-word.
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False",
             "COLUMNS": "500"}


@pytest.fixture(scope="session")
@needs("system")
def run_process():
    """Runs a command to its end in the project root, offline, its output captured as text."""
    def _run(args, *, timeout: float = 600, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(args, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=timeout, check=False,
                              env={**os.environ, **CHILD_ENV, **(env or {})}, **kwargs)
    return _run


@pytest.fixture(scope="session")
@needs("system")
def run_explorer(run_process):
    """The CLI as a user runs it (`python -m explorer ...`), in its own process; `env` adds variables."""
    def _run(*args, data_dir=None, prefix=(), timeout: float = 600, **env) -> subprocess.CompletedProcess:
        data = ("--data-dir", str(data_dir)) if data_dir is not None else ()
        return run_process([*prefix, sys.executable, "-m", "explorer", *args, *data], timeout=timeout, env=env)
    return _run


@pytest.fixture
@needs("system")
def spawn():
    """Starts processes for one test (subprocess.Popen's arguments, in the project root, offline) and stops any
    still running when the test ends."""
    from explorer.tools.processes import stop_process

    started: list[subprocess.Popen] = []

    def _spawn(args, *, env: dict | None = None, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("cwd", PROJECT_ROOT)
        process = subprocess.Popen(args, env={**os.environ, **CHILD_ENV, **(env or {})}, **kwargs)
        started.append(process)
        return process

    yield _spawn
    for process in started:
        stop_process(process)
