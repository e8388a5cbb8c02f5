"""The LLM wing: one backend interface (`base`), one module per backend, the deadline guard every backend
gets (`guard`) and the chat-template helpers the non-transformers backends share (`templates`).

A backend is chosen by `settings.llm.backend` from `BACKENDS`; each loader imports its library lazily, so
an optional backend that is not installed costs nothing until it is asked for, and then names its install.
"""

from __future__ import annotations

from collections.abc import Callable

from explorer.config import LLMSettings
from explorer.errors import BackendUnavailableError
from explorer.llm.base import BackendChatModel, LLMBackend, to_role_dicts
from explorer.llm.guard import with_timeout


def _ctranslate2(settings: LLMSettings) -> LLMBackend:
    from explorer.llm.ctranslate2_backend import CTranslate2Backend

    return CTranslate2Backend(settings)


def _transformers(settings: LLMSettings) -> LLMBackend:
    from explorer.llm.transformers_backend import TransformersBackend

    return TransformersBackend(settings)


def _llamacpp(settings: LLMSettings) -> LLMBackend:
    from explorer.llm.llamacpp import LlamaCppBackend

    return LlamaCppBackend(settings)


def _openai(settings: LLMSettings) -> LLMBackend:
    from explorer.llm.remote import RemoteBackend

    return RemoteBackend(settings)


def _auto(settings: LLMSettings) -> LLMBackend:
    """llama.cpp where it is installed and the model is a GGUF: the same file, several times faster."""
    from explorer.llm.llamacpp import gguf_path, llamacpp_available

    if llamacpp_available() and gguf_path(settings) is not None:
        return _llamacpp(settings)
    return _transformers(settings)


def _scripted(settings: LLMSettings) -> LLMBackend:
    """The scripted stand-in (explorer/testing.py): no model, for tests and UI work that are not about one."""
    from explorer.testing import load_scripted

    return load_scripted(settings)


BACKENDS: dict[str, Callable[[LLMSettings], LLMBackend]] = {
    "ctranslate2": _ctranslate2, "transformers": _transformers, "llamacpp": _llamacpp, "openai": _openai, "auto": _auto,
    "scripted": _scripted}


@with_timeout  # every backend gets settings.timeout_s per call (explorer/llm/guard.py)
def load_backend(settings: LLMSettings) -> LLMBackend | None:
    """The configured backend, or None when the LLM is switched off (every step then uses its fallback)."""
    if settings.backend == "none":
        return None
    loader = BACKENDS.get(settings.backend)
    if loader is None:
        raise BackendUnavailableError(f"unknown LLM backend {settings.backend!r}; choose one of "
                                      f"{', '.join(['none', *BACKENDS])}")
    return loader(settings)


__all__ = ["BACKENDS", "BackendChatModel", "LLMBackend", "load_backend", "to_role_dicts"]
