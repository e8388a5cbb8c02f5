"""Models and clients loaded once per process: however many Explorers, sessions or tests use the same
settings, the embedder, the Chroma client and the LLM are loaded once and shared."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
_loaded: dict[Hashable, Any] = {}
_lock = threading.Lock()


def load_once(key: Hashable, factory: Callable[[], T]) -> T:
    """The object loaded for `key`, made by `factory` on first use (under a lock: one load, even when two
    sessions ask at once)."""
    with _lock:
        if key not in _loaded:
            _loaded[key] = factory()
        return _loaded[key]
