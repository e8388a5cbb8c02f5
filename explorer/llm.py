"""The language model behind the profile, plan and explain steps.

One small backend interface (`generate`, `stream`, `choose`) with a transformers implementation, and a
LangChain chat-model adapter so prompt templates pipe into it and stream end to end. Every caller
treats a failure here as "use the fallback", so this module raises freely.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from explorer.config import LLMSettings, resolve_llm_source
from explorer.errors import BackendUnavailableError

ROLES = {"human": "user", "ai": "assistant", "system": "system"}


class LLMBackend(Protocol):
    """What the pipeline needs from a model. Messages are [{"role", "content"}]; a trailing assistant
    message is a prefix the answer must continue (it is not repeated in the output)."""

    model_id: str

    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str: ...

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]: ...

    def choose(self, messages: list[dict], schema: dict, max_new_tokens: int | None = None) -> dict: ...


def model_load_kwargs(settings: LLMSettings, cuda_available: bool) -> dict[str, Any]:
    """Keyword arguments for `from_pretrained`: dtype, quantization and device placement.

    bitsandbytes 4/8-bit needs CUDA; asking for it without a GPU is a configuration error, not a
    silent fall back to fp32.
    """
    import torch

    kwargs: dict[str, Any] = {}
    if settings.dtype != "auto":
        kwargs["dtype"] = getattr(torch, settings.dtype)
    else:
        kwargs["dtype"] = "auto"
    if settings.quantization != "none":
        if not cuda_available:
            raise BackendUnavailableError(
                f"quantization={settings.quantization} needs a CUDA GPU (bitsandbytes); set "
                "EXPLORER_LLM__QUANTIZATION=none on a CPU-only machine")
        from transformers import BitsAndBytesConfig

        if settings.quantization == "4bit":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16)
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["device_map"] = settings.device_map or "auto"
    elif settings.device_map:
        kwargs["device_map"] = settings.device_map
    return kwargs


class TransformersBackend:
    """A causal LM loaded through transformers: the packaged GGUF, a hub id or a local folder."""

    def __init__(self, settings: LLMSettings):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if settings.threads:
            torch.set_num_threads(settings.threads)
        self.settings = settings
        source, gguf_file = resolve_llm_source(settings)
        self.model_id = f"{source}/{gguf_file}" if gguf_file else source
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer = AutoTokenizer.from_pretrained(source, **extra)
        self.model = AutoModelForCausalLM.from_pretrained(
            source, **extra, **model_load_kwargs(settings, torch.cuda.is_available()))
        self.model.eval()
        self._lock = threading.Lock()  # one generation at a time: the model is not re-entrant
        self._generators: dict[str, Any] = {}
        self._outlines_model = None

    # -- prompts
    def _prompt(self, messages: list[dict]) -> str:
        prefix = messages[-1]["role"] == "assistant"
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=not prefix,
                                                  continue_final_message=prefix)

    def _inputs(self, messages: list[dict]):
        encoded = self.tokenizer(self._prompt(messages), return_tensors="pt", add_special_tokens=False)
        return encoded.to(self.model.device)

    def _generation_kwargs(self, max_new_tokens: int | None) -> dict:
        return dict(max_new_tokens=max_new_tokens or self.settings.max_new_tokens, do_sample=False,
                    repetition_penalty=self.settings.repetition_penalty,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)

    # -- the interface
    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_new_tokens))

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        inputs = self._inputs(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120)
        failure: list[BaseException] = []

        def run():
            try:
                with self._lock:
                    self.model.generate(**inputs, streamer=streamer, **self._generation_kwargs(max_new_tokens))
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        yield from (chunk for chunk in streamer if chunk)
        worker.join()
        if failure:
            raise failure[0]

    def choose(self, messages: list[dict], schema: dict, max_new_tokens: int | None = None) -> dict:
        """JSON that is valid under `schema` by construction (outlines constrained decoding)."""
        import outlines
        from outlines.inputs import Chat
        from outlines.types import JsonSchema

        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            if self._outlines_model is None:
                self._outlines_model = outlines.from_transformers(self.model, self.tokenizer)
            generator = self._generators.get(key)
            if generator is None:
                generator = outlines.Generator(self._outlines_model, JsonSchema(key))
                if len(self._generators) > 64:
                    self._generators.clear()
                self._generators[key] = generator
            raw = generator(Chat(messages), **self._generation_kwargs(max_new_tokens or 200))
        return json.loads(raw)


def load_backend(settings: LLMSettings) -> LLMBackend | None:
    """The configured backend, or None when the LLM is switched off (every step then uses its fallback)."""
    match settings.backend:
        case "none":
            return None
        case "transformers":
            return TransformersBackend(settings)
    raise BackendUnavailableError(f"unknown LLM backend {settings.backend!r}")


class BackendChatModel(BaseChatModel):
    """LangChain face of a backend, so `prompt | model | StrOutputParser()` works and streams."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    backend: Any
    max_new_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "explorer-local"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs) -> ChatResult:
        text = self.backend.generate(to_role_dicts(messages), self.max_new_tokens)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        for piece in self.backend.stream(to_role_dicts(messages), self.max_new_tokens):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


def to_role_dicts(messages: list[BaseMessage]) -> list[dict]:
    return [{"role": ROLES.get(m.type, m.type), "content": str(m.content)} for m in messages]
