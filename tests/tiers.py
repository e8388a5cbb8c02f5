"""Test tiers by what a test needs, found from its fixtures, so nobody has to remember to mark a test.

- `llm`: loads the real language model.
- `index`: loads the embedder or builds a Chroma index.
- `system`: starts servers, browsers or other processes (Chroma, PostgreSQL, app.py, Chromium, the CLI).

A fixture declares what it needs with `@needs(...)` under `@pytest.fixture`; a test gets the tiers of every
fixture it uses, directly or through other fixtures (pytest's closure of fixture names). A fixture that picks
another by parameter (`request.getfixturevalue`) marks that parameter: `pytest.param("http", marks=...)`.

`make check` runs the tests that need none of the three. There, `guard` makes loading the embedder or the
LLM, opening an embedded Chroma index or starting a Python, server or browser process fail at once with a
message that names the fixture to request, so a test that does so by hand cannot slip into the fast tier.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TIERS = ("llm", "index", "system")
_ATTRIBUTE = "_explorer_test_tiers"
# Processes that only a `system` test starts: Python itself (the CLI, app.py) and the servers and browsers.
_SYSTEM_PROGRAMS = {"chroma", "chromium", "initdb", "pg_ctl", "postgres", "runuser", "unshare", "llama-server"}
# Backends that load nothing in this process (a server's client, the scripted stand-in), and those guarded at
# their classes below so that their missing-install errors can still be tested in the fast tier. Any other
# registered backend (a new one) is refused in the fast tier as a whole.
_LIGHT_BACKENDS = {"openai", "scripted"}
_GUARDED_AT_CLASS = {"transformers", "llamacpp", "auto"}


def needs(*tiers: str):
    """Declare what a fixture needs; every test that uses it, however indirectly, is marked so."""
    unknown = set(tiers) - set(TIERS)
    if unknown:
        raise ValueError(f"unknown test tier(s) {sorted(unknown)}; choose from {TIERS}")

    def declare(function):
        setattr(function, _ATTRIBUTE, frozenset(tiers) | getattr(function, _ATTRIBUTE, frozenset()))
        return function
    return declare


def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers of the fixtures an item uses (the definition that applies to it, where one overrides another)."""
    info = getattr(item, "_fixtureinfo", None)
    found: set[str] = set()
    for name in getattr(item, "fixturenames", ()):
        definitions = info.name2fixturedefs.get(name) if info else None
        if definitions:
            found |= getattr(definitions[-1].func, _ATTRIBUTE, frozenset())
    return found


def mark(items: list[pytest.Item]) -> None:
    for item in items:
        for tier in sorted(tiers_of(item)):
            item.add_marker(getattr(pytest.mark, tier))


def in_a_tier(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(tier) for tier in TIERS)


class TierError(BaseException):
    """A test outside every tier did what only a tier's fixtures may do. A BaseException, as pytest's own
    outcomes are, so that code catching Exception (to show a clean error) does not turn it into another."""


_guarding: str | None = None  # the node id of the fast-tier test running now, if any


def _audit(event: str, args: tuple) -> None:
    if _guarding is None:
        return
    if event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        if not executable:
            executable = argv[0] if isinstance(argv, (list, tuple)) and argv else str(argv or "").split(" ")[0]
        program = Path(os.fsdecode(executable)).name
        if program.startswith("python") or program in _SYSTEM_PROGRAMS:
            _refuse(f"starts a process ({program})", "system", "run_process, spawn, run_explorer, chroma_server")


def _refuse(what: str, tier: str, fixtures: str) -> None:
    raise TierError(f"{_guarding} {what} but uses no fixture of the `{tier}` tier; request one ({fixtures}) "
                    f"or declare your own fixture with @needs({tier!r}) (tests/tiers.py)")


sys.addaudithook(_audit)


def guard(item: pytest.Item, monkeypatch: pytest.MonkeyPatch):
    """For a test in no tier: loading a model, opening Chroma or starting a process raises TierError."""
    global _guarding
    if in_a_tier(item):
        yield
        return
    import chromadb

    import explorer.llm
    from explorer.llm.llamacpp import LlamaCppBackend, llamacpp_available
    from explorer.llm.transformers_backend import TransformersBackend
    from explorer.store.embed import Embedder

    def no_embedder(self, *args, **kwargs):
        _refuse("loads the embedder", "index", "embedder, explorer_fallback, explorer_scripted")

    def no_llm(*args, **kwargs):
        _refuse("loads the LLM", "llm", "explorer_llm, llm_settings")

    load_llamacpp = LlamaCppBackend.__init__

    def no_llamacpp(self, *args, **kwargs):  # where llama.cpp is missing, its install message is what is tested
        if llamacpp_available():
            no_llm()
        load_llamacpp(self, *args, **kwargs)

    def no_index(*args, **kwargs):
        _refuse("opens a Chroma index", "index", "index_dir, embedder, explorer_fallback")

    monkeypatch.setattr(Embedder, "__init__", no_embedder)
    monkeypatch.setattr(TransformersBackend, "__init__", no_llm)
    monkeypatch.setattr(LlamaCppBackend, "__init__", no_llamacpp)
    monkeypatch.setattr(chromadb, "PersistentClient", no_index)
    for name in set(explorer.llm.BACKENDS) - _LIGHT_BACKENDS - _GUARDED_AT_CLASS:
        monkeypatch.setitem(explorer.llm.BACKENDS, name, no_llm)
    _guarding = item.nodeid
    try:
        yield
    finally:
        _guarding = None
