"""The LLM behind any OpenAI-compatible server: vLLM, TGI, llama.cpp's servers, a hosted endpoint.

Nothing is sent until the first call, so a server that is down makes each step take its fallback (and say
why) instead of stopping the app. Greedy decoding; the repetition penalty travels as the extra body fields
llama.cpp (`repeat_penalty`) and vLLM (`repetition_penalty`) read; set it to 1.0 for a server that rejects
unknown fields.

A trailing assistant message is a prefix the answer continues. With `remote_prefix = "completions"` the
prompt is rendered here with the chat template of `llm.model` (which must be the model the server serves)
and sent to the completions endpoint: the same continuation as the in-process backends (a server without that
endpoint falls back to "chat"). With "chat" (the default, for any server or a model whose template is not at
hand) the prefix goes to chat-completions as a last assistant turn (llama.cpp's C++ server and vLLM continue
it; others start a new turn), and a restated prefix is cut from the answer.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit, urlunsplit
from collections.abc import Iterator
from typing import Any

from explorer.config import LLMSettings
from explorer.errors import BackendUnavailableError
from explorer.llm.guard import time_left
from explorer.llm.templates import ChatTemplate, ends_with_prefix, template_for, validated_json

log = logging.getLogger(__name__)


def without_credentials(url: str) -> str:
    """`url` without a user:password@ part, fit to be shown in notes and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class RemoteBackend:
    def __init__(self, settings: LLMSettings):
        try:
            import openai
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the OpenAI client is not installed ({exc}); run: pip install openai") from None
        if not settings.base_url:
            raise BackendUnavailableError("backend 'openai' needs the server's address: set llm.base_url "
                                          "(e.g. EXPLORER_LLM__BASE_URL=http://127.0.0.1:8080/v1)")
        self.settings = settings
        self._openai = openai
        # Local servers take any key; the client insists on one.
        api_key = settings.api_key.get_secret_value() if settings.api_key else "unused"
        self.client = openai.OpenAI(base_url=settings.base_url, api_key=api_key,
                                    timeout=settings.request_timeout_s, max_retries=1)
        self.address = without_credentials(settings.base_url)  # what notes and logs may show
        self.model_id = f"{self.address}#{settings.remote_model or 'server-default'}"
        self._model = settings.remote_model
        self._template: ChatTemplate | None = None
        self._completions_ok = True  # until the server answers 404 there
        self._schema_format: str | None = None  # "json_schema" (OpenAI, vLLM) or "json_object" (llama_cpp.server)
        self._lock = threading.Lock()  # guards the lazily found model name and template, not the requests

    # -- what the server needs to hear
    def _model_name(self) -> str:
        with self._lock:
            if self._model is None:
                models = self._call(lambda: self.client.models.list().data)
                if not models:
                    raise BackendUnavailableError(f"{self.address} lists no models; set llm.remote_model")
                self._model = models[0].id
            return self._model

    def _options(self, max_new_tokens: int | None) -> dict[str, Any]:
        options: dict[str, Any] = dict(model=self._model_name(), temperature=0.0,
                                       max_tokens=max_new_tokens or self.settings.max_new_tokens)
        if (left := time_left()) is not None:  # a guarded call (llm_guard): no longer than its caller waits
            options["timeout"] = min(left, self.settings.request_timeout_s)
        penalty = self.settings.repetition_penalty
        if penalty != 1.0:
            options["extra_body"] = {"repeat_penalty": penalty, "repetition_penalty": penalty}
        return options

    def _call(self, request):
        """Run a request; an unreachable server becomes an error that says where it looked."""
        try:
            return request()
        except self._openai.APITimeoutError as exc:  # a subclass of APIConnectionError: say which it was
            raise BackendUnavailableError(f"the LLM server at {self.address} did not answer in time") from exc
        except self._openai.APIConnectionError as exc:
            raise BackendUnavailableError(
                f"cannot reach the LLM server at {self.address} ({type(exc).__name__}: {exc})") from exc

    def _rendered(self, messages: list[dict]) -> str | None:
        """The prompt text for the completions endpoint, when that is how prefixes are sent."""
        if self.settings.remote_prefix != "completions" or not self._completions_ok or not ends_with_prefix(messages):
            return None
        with self._lock:
            if self._template is None:
                self._template = template_for(self.settings)
        return self._template.render(messages)

    def _request(self, messages: list[dict], max_new_tokens: int | None, stream: bool) -> tuple[str, Any]:
        """("completions" or "chat", the server's reply): a prefix goes to the completions endpoint when so
        configured and the server has one; a server without it (404) gets prefixes the chat way from then on."""
        options = self._options(max_new_tokens)
        if (prompt := self._rendered(messages)) is not None:
            try:
                return "completions", self._call(
                    lambda: self.client.completions.create(prompt=prompt, stream=stream, **options))
            except self._openai.NotFoundError as exc:
                log.warning("%s has no completions endpoint (%s): opening prefixes go the chat way from now on",
                            self.address, exc)
                self._completions_ok = False
        return "chat", self._call(
            lambda: self.client.chat.completions.create(messages=messages, stream=stream, **options))

    # -- the interface
    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str:
        kind, reply = self._request(messages, max_new_tokens, stream=False)
        if kind == "completions":
            return reply.choices[0].text
        text = reply.choices[0].message.content or ""
        if ends_with_prefix(messages):
            text = "".join(without_restated_prefix(iter([text]), messages[-1]["content"]))
        return text

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        kind, chunks = self._request(messages, max_new_tokens, stream=True)
        if kind == "completions":
            pieces = (c.choices[0].text for c in chunks if c.choices and c.choices[0].text)
        else:
            pieces = (c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content)
            if ends_with_prefix(messages):
                pieces = without_restated_prefix(pieces, messages[-1]["content"])
        try:
            yield from pieces
        except self._openai.APIConnectionError as exc:
            raise BackendUnavailableError(f"the LLM server at {self.address} went away ({exc})") from exc
        finally:
            chunks.close()  # a reader that stops early frees the connection (and the server stops generating)

    def choose(self, messages: list[dict], schema: dict, max_new_tokens: int | None = None) -> dict:
        """JSON under `schema` where the server constrains its output to it; checked here either way."""
        options = self._options(max_new_tokens or 200)
        formats = [self._schema_format] if self._schema_format else ["json_schema", "json_object"]
        for kind in formats:
            response_format = (
                {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
                if kind == "json_schema" else {"type": "json_object", "schema": schema})
            try:
                reply = self._call(lambda: self.client.chat.completions.create(
                    messages=messages, response_format=response_format, **options))
            except self._openai.APIStatusError as exc:
                if kind == formats[-1] or exc.status_code not in (400, 404, 422, 500):
                    raise  # not a refusal of the format (401, 429, 503...): the step falls back, nothing is pinned
                log.warning("%s refused response_format %s (%s); trying the next", self.address, kind, exc.status_code)
                continue  # llama_cpp.server knows only {"type": "json_object", "schema": ...} (and answers 500)
            self._schema_format = kind
            return validated_json(reply.choices[0].message.content or "", schema)
        raise AssertionError("unreachable")


def without_restated_prefix(pieces: Iterator[str], prefix: str) -> Iterator[str]:
    """The streamed answer less a restatement of the prefix at its start (a server that began a new turn)."""
    wanted = prefix.strip()
    head, decided = "", not wanted
    for piece in pieces:
        if decided:
            yield piece
            continue
        head += piece
        start = head.lstrip()
        restated = start.casefold().startswith(wanted.casefold())
        if len(start) >= len(wanted) or not wanted.casefold().startswith(start.casefold()):
            decided = True
            yield start[len(wanted):] if restated else head
    # Undecided at the end: the whole answer restated no more than the prefix's start, so it adds nothing.
