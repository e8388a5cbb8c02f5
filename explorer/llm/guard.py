"""A deadline around any LLM backend, so a slow or hung model makes its step fall back instead of
freezing the chat.

`GuardedBackend` runs each call on a worker thread and waits for it with the time that is left: `stream()`
raises `LLMTimeoutError` when the deadline passes while waiting for the first chunk or between chunks, and
`generate()` / `choose()` when their answer is late. Waiting less does not stop the worker, so the deadline
is also handed to the backend: `time_left()`, read in the thread that runs a generation, says how long it
may still run (TransformersBackend turns it into transformers' `max_time`), so a timed-out generation gives
the model back promptly instead of holding its lock to the last token.
"""

from __future__ import annotations

import contextvars
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from explorer.errors import LLMTimeoutError

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("explorer_llm_deadline", default=None)


def time_left() -> float | None:
    """Seconds before the current LLM call's deadline (0 once it has passed); None outside a guarded call.

    Context variables do not follow a new thread by themselves: a backend that generates on its own thread
    starts it with `contextvars.copy_context().run`."""
    deadline = _deadline.get()
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


class GuardedBackend:
    """Any LLMBackend with a time limit on each call. Everything else is the wrapped backend's."""

    def __init__(self, backend, timeout_s: float):
        self.backend = backend
        self.timeout_s = timeout_s
        self.model_id = backend.model_id

    def __getattr__(self, name: str) -> Any:  # settings, tokenizer, ... of the wrapped backend
        if name == "backend":
            raise AttributeError(name)
        return getattr(self.backend, name)

    def _worker(self, deadline: float, target: Callable[[], None]) -> None:
        def run():
            _deadline.set(deadline)
            target()

        threading.Thread(target=contextvars.Context().run, args=(run,), name="llm-call", daemon=True).start()

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        deadline = time.monotonic() + self.timeout_s
        chunks: queue.Queue = queue.Queue()
        given_up = threading.Event()

        def pump():
            inner = None
            try:
                inner = self.backend.stream(messages, max_new_tokens)  # a non-generator backend may raise here
                for chunk in inner:
                    if given_up.is_set():
                        break
                    chunks.put(("chunk", chunk))
                chunks.put(("end", None))
            except BaseException as exc:  # handed to the caller
                chunks.put(("error", exc))
            finally:
                close = getattr(inner, "close", None)
                if close is not None:
                    close()  # a generator backend learns that nobody reads on

        self._worker(deadline, pump)
        try:
            while True:
                try:
                    kind, value = chunks.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    raise LLMTimeoutError(self.timeout_s) from None
                if time.monotonic() > deadline:
                    raise LLMTimeoutError(self.timeout_s)
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            given_up.set()

    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str:
        return self._call(functools.partial(self.backend.generate, messages, max_new_tokens))

    def generate_batch(self, chats: list[list[dict]], max_new_tokens: int | None = None,
                       sentences: int | None = None) -> list[str]:
        """Several chats under one deadline (batched where the wrapped backend batches)."""
        from explorer.llm.base import generate_batch

        return self._call(functools.partial(generate_batch, self.backend, chats, max_new_tokens, sentences))

    def choose(self, messages: list[dict], schema: dict, max_new_tokens: int | None = None) -> dict:
        return self._call(functools.partial(self.backend.choose, messages, schema, max_new_tokens))

    def _call(self, call: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.timeout_s
        answer: queue.Queue = queue.Queue(maxsize=1)

        def run():
            try:
                answer.put((True, call()))
            except BaseException as exc:  # handed to the caller
                answer.put((False, exc))

        self._worker(deadline, run)
        try:
            ok, value = answer.get(timeout=self.timeout_s)
        except queue.Empty:
            raise LLMTimeoutError(self.timeout_s) from None
        if not ok:
            raise value
        return value


def guarded(backend, timeout_s: float | None):
    """`backend` under a time limit; unchanged when there is no backend or no limit."""
    if backend is None or timeout_s is None:
        return backend
    return GuardedBackend(backend, timeout_s)


def with_timeout(load: Callable):
    """Decorates `load_backend(settings)`: whichever backend it returns gets `settings.timeout_s`."""

    @functools.wraps(load)
    def load_guarded(settings):
        return guarded(load(settings), settings.timeout_s)

    return load_guarded
