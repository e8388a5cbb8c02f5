"""The LLM through llama.cpp, in process (llama-cpp-python).

It runs the GGUF as it is stored (quantized), several times faster on a CPU than transformers, which
de-quantizes it to fp32. Optional: llama-cpp-python compiles on install (requirements-llamacpp.txt), so the
default install does not need it, and nothing imports it until this backend is chosen.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from explorer.config import LLMSettings, resolve_llm_source
from explorer.errors import BackendUnavailableError
from explorer.llm.guard import time_left
from explorer.llm.templates import ChatTemplate, validated_json

INSTALL = "pip install -r requirements-llamacpp.txt"


def llamacpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def gguf_path(settings: LLMSettings) -> Path | None:
    """The GGUF file the settings name (the embedded one, `gguf_file` in a folder or the hub cache, or a
    `model` that is itself a .gguf path), or None when the model is not a GGUF."""
    source, gguf_file = resolve_llm_source(settings)
    if gguf_file is None:
        return Path(source) if source.endswith(".gguf") else None
    path = Path(source) / gguf_file
    if path.exists() or Path(source).is_dir():
        return path
    from huggingface_hub import hf_hub_download  # a hub id: the file must be in the local cache (offline)

    return Path(hf_hub_download(source, gguf_file))


def default_threads() -> int:
    """With `threads` unset: half the cores (llama.cpp's own default, about one a physical core). Its threads
    spin while they wait, so on a busy machine every extra thread costs: on 2 shared cores, 2 threads decoded
    at 1-4 tokens/s where 1 thread decoded at 10-44."""
    return max(1, (os.cpu_count() or 2) // 2)


class LlamaCppBackend:
    """A GGUF model under llama.cpp: greedy decoding, streaming, and JSON-schema grammars for `choose`."""

    def __init__(self, settings: LLMSettings):
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendUnavailableError(f"the llama.cpp backend is not installed ({exc}); run: {INSTALL}") from None
        path = gguf_path(settings)
        if path is None:
            raise BackendUnavailableError(
                f"llama.cpp runs GGUF files and {settings.model!r} is not one: set llm.gguf_file, or use "
                "llm.backend = 'transformers'")
        if not path.is_file():
            raise BackendUnavailableError(f"no GGUF file at {path}")
        self.settings = settings
        self.model_id = str(path)
        self.llama = llama_cpp.Llama(model_path=str(path), n_ctx=settings.n_ctx,
                                     n_threads=settings.threads or default_threads(), verbose=False)
        # Free the model before the interpreter tears down llama.cpp's bindings (Llama.__del__ at exit fails),
        # or when this backend is dropped: a finaliser, unlike atexit, does not keep the backend alive.
        weakref.finalize(self, self.llama.close)
        template = self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise BackendUnavailableError(f"{path} has no chat template in its metadata")
        token_text = lambda token: self.llama.detokenize([token], special=True).decode("utf-8", "replace")
        self.template = ChatTemplate(template, token_text(self.llama.token_bos()), token_text(self.llama.token_eos()))
        self._lock = threading.Lock()  # one generation at a time: the model is not re-entrant
        self._grammars: dict[str, Any] = {}

    def _options(self, max_new_tokens: int | None) -> dict:
        options = dict(max_tokens=max_new_tokens or self.settings.max_new_tokens, temperature=0.0,
                       repeat_penalty=self.settings.repetition_penalty)
        if time_left() is not None:  # a guarded call (llm_guard): stop when its caller gives up
            from llama_cpp import StoppingCriteriaList

            options["stopping_criteria"] = StoppingCriteriaList([lambda tokens, logits: time_left() == 0])
        return options

    # -- the interface
    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str:
        prompt = self.template.render(messages)
        with self._lock:
            out = self.llama.create_completion(prompt, **self._options(max_new_tokens))
        return out["choices"][0]["text"]

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        prompt = self.template.render(messages)
        with self._lock:
            for chunk in self.llama.create_completion(prompt, stream=True, **self._options(max_new_tokens)):
                if text := chunk["choices"][0]["text"]:
                    yield text

    def choose(self, messages: list[dict], schema: dict, max_new_tokens: int | None = None) -> dict:
        """JSON valid under `schema` by construction: llama.cpp samples only what the schema's grammar allows."""
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        prompt = self.template.render(messages)
        with self._lock:
            grammar = self._grammars.get(key)
            if grammar is None:
                grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
                if len(self._grammars) > 64:
                    self._grammars.clear()
                self._grammars[key] = grammar
            out = self.llama.create_completion(prompt, grammar=grammar, **self._options(max_new_tokens or 200))
        return validated_json(out["choices"][0]["text"], schema)
