"""The transformers backend: the packaged GGUF de-quantised, a hub id or a local folder, optionally 4/8-bit on CUDA.

One small backend interface (`generate`, `stream`, `choose`) with a transformers implementation, and a
LangChain chat-model adapter so prompt templates pipe into it and stream end to end. Every caller
treats a failure here as "use the fallback", so this module raises freely.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


from explorer.config import LLMSettings, resolve_llm_source
from explorer.errors import BackendUnavailableError
from explorer.llm.guard import time_left

log = logging.getLogger(__name__)



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


def converted_copy(source: str, gguf_file: str, dtype: str = "float32") -> Path | None:
    """Where the de-quantised copy of a GGUF is kept: reading the GGUF's tokenizer and de-quantising its
    weights takes seconds at every start, loading the same tensors from safetensors well under one.
    Keyed by the file's name, size and time, the dtype it was loaded in, and the transformers version."""
    import transformers

    path = Path(source) / gguf_file
    try:
        stat = path.stat()
    except OSError:
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "interest-explorer" / "llm"
    return root / f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}-{dtype}-transformers{transformers.__version__}"


def save_converted(tokenizer, model, target: Path) -> None:
    """Write the converted copy next to its final place, then rename: a half-written copy is never read.
    A cache that cannot be written (read-only home, full disk) only costs the next start its speed."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    # The weights are plain de-quantised tensors by now, but transformers still marks the model as loaded
    # by its GGUF quantizer (not serializable); save it as the plain model it is.
    marked = hasattr(model, "hf_quantizer")
    quantizer = getattr(model, "hf_quantizer", None)
    if marked:
        model.hf_quantizer = None
    config = getattr(model.config, "quantization_config", None)
    if config is not None:
        del model.config.quantization_config
    try:
        tokenizer.save_pretrained(partial)
        model.save_pretrained(partial)
        partial.rename(target)
    except Exception as exc:  # unwritable, full, raced by another process, or a model transformers cannot save
        log.warning("could not keep a converted copy of the LLM at %s (%s); the next start converts again", target, exc)
        shutil.rmtree(partial, ignore_errors=True)
    finally:
        if marked:
            model.hf_quantizer = quantizer
        if config is not None:
            model.config.quantization_config = config


class TransformersBackend:
    """A causal LM loaded through transformers: the packaged GGUF, a hub id or a local folder."""

    def __init__(self, settings: LLMSettings):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.settings = settings
        source, gguf_file = resolve_llm_source(settings)
        self.model_id = f"{source}/{gguf_file}" if gguf_file else source
        cacheable = gguf_file and settings.convert_cache and settings.quantization == "none"
        converted = converted_copy(source, gguf_file, settings.dtype) if cacheable else None
        if converted is not None and converted.is_dir():  # de-quantised before: load it, no GGUF conversion
            source, extra = str(converted), {}
        else:
            extra = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer = AutoTokenizer.from_pretrained(source, **extra)
        self.model = AutoModelForCausalLM.from_pretrained(
            source, **extra, **model_load_kwargs(settings, torch.cuda.is_available()))
        self.model.eval()
        if converted is not None and not converted.is_dir():
            save_converted(self.tokenizer, self.model, converted)
        self._lock = threading.Lock()  # one generation at a time: the model is not re-entrant
        self._generators: dict[str, Any] = {}
        self._outlines_model = None

    @contextmanager
    def _threads(self):
        """`settings.threads` torch threads while this model runs, the process's own count otherwise, so the
        embedder encoding a catalogue uses every core. torch's count is process-wide: while the LLM runs, an
        embedding on another thread gets the LLM's count too."""
        import torch

        before = torch.get_num_threads()
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    # -- prompts
    def _prompt(self, messages: list[dict]) -> str:
        prefix = messages[-1]["role"] == "assistant"
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=not prefix,
                                                  continue_final_message=prefix)

    def _inputs(self, messages: list[dict]):
        encoded = self.tokenizer(self._prompt(messages), return_tensors="pt", add_special_tokens=False)
        return encoded.to(self.model.device)

    def _generation_kwargs(self, max_new_tokens: int | None) -> dict:
        kwargs = dict(max_new_tokens=max_new_tokens or self.settings.max_new_tokens, do_sample=False,
                      repetition_penalty=self.settings.repetition_penalty,
                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        if (left := time_left()) is not None:  # a guarded call (llm_guard): stop when its caller gives up
            kwargs["max_time"] = max(left, 0.001)
        return kwargs

    # -- the interface
    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_new_tokens))

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        inputs = self._inputs(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120)
        failure: list[BaseException] = []

        reader_left = threading.Event()  # set when the caller stops reading: the generation stops at its next token

        def run():
            from transformers import StoppingCriteria, StoppingCriteriaList

            class ReaderLeft(StoppingCriteria):
                def __call__(self, input_ids, scores, **kwargs):
                    return reader_left.is_set()

            try:
                with self._lock, self._threads():
                    self.model.generate(**inputs, streamer=streamer, stopping_criteria=StoppingCriteriaList([ReaderLeft()]),
                                        **self._generation_kwargs(max_new_tokens))
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)  # keeps time_left()
        worker.start()
        try:
            yield from (chunk for chunk in streamer if chunk)
        finally:
            reader_left.set()
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
            with self._threads():
                raw = generator(Chat(messages), **self._generation_kwargs(max_new_tokens or 200))
        return json.loads(raw)
