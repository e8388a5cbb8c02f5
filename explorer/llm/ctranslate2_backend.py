"""The LLM through CTranslate2: a prebuilt wheel (no compiler), batched greedy decoding, a cached system prompt.

The packaged GGUF is de-quantised once by transformers (the copy `transformers_backend` already keeps), then
converted once to CTranslate2's format under ~/.cache/interest-explorer/llm (written beside its place, then
renamed: a half-written copy is never read). Later starts load the converted folder in well under a second.

Beyond the interface every backend has (`generate`, `stream`, `choose`), this one has `generate_batch`: several
chats decoded together in one call, which on a CPU costs little more than one. Calls that arrive from several
threads at once (several chat sessions) are gathered for a few milliseconds and decoded as one batch too.

`choose` needs no grammar: for the schemas the pipeline uses (objects whose fields are arrays of enumerated
strings, or enumerated strings) it scores each option as the continuation of the answer's JSON with the
model's own log-likelihood, picks the best within minItems..maxItems, and validates the result.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.config import LLMSettings, resolve_llm_source
from explorer.errors import BackendUnavailableError
from explorer.llm.guard import time_left
from explorer.llm.templates import validated_json

log = logging.getLogger(__name__)

INSTALL = "pip install ctranslate2==4.8.5"
GATHER_S = 0.02  # how long the first of several concurrent requests waits for others to join its batch
MAX_BATCH = 16
# Rows decoded together: prompts whose lengths differ by at most this many tokens share one generate_batch.
# CTranslate2 runs the prompts' common length at once and forces the rest of each longer prompt token by token
# through the whole batch, and a batch runs until its longest row ends; so rows of unequal length batched
# together were slower than rows in turn (five explanations of 124-148 tokens: 5.85 s against 3.98 s), while
# rows sorted by length and batched only with near-equal ones were faster (docs/results/speed-RESULTS.md).
BATCH_SPREAD = 4
# For a choice of minItems..maxItems, an option counts as chosen when its log-probability is within this of the best.
CHOICE_MARGIN = 1.0


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "interest-explorer" / "llm"


def converted_ct2_dir(settings: LLMSettings) -> tuple[Path, str, str | None]:
    """(where the CTranslate2 copy of the configured model lives, its source, its GGUF file or None).

    Keyed like the transformers copy: a GGUF by its name, size and time; any other model by its id or path;
    and the ctranslate2 version that wrote it."""
    import ctranslate2

    source, gguf_file = resolve_llm_source(settings)
    if gguf_file:
        stat = (Path(source) / gguf_file).stat()
        key = f"{Path(gguf_file).stem}-{stat.st_size}-{stat.st_mtime_ns}"
    else:
        key = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in source.strip("/"))[-120:]
    return cache_root() / f"{key}-ctranslate2{ctranslate2.__version__}", source, gguf_file


def convert(settings: LLMSettings, target: Path, source: str, gguf_file: str | None) -> None:
    """Convert the model to CTranslate2 (float32 weights; the compute type is chosen when loading), with its
    tokenizer beside it, into a partial folder that is renamed into place only when complete."""
    import ctranslate2
    from transformers import AutoTokenizer

    hf_dir = source
    if gguf_file:  # the de-quantised safetensors copy the transformers backend keeps (made here if missing)
        from explorer.llm.transformers_backend import converted_copy, save_converted

        copy = converted_copy(source, gguf_file, "float32")
        if copy is None:
            raise BackendUnavailableError(f"no GGUF file at {Path(source) / gguf_file}")
        if not copy.is_dir():
            from transformers import AutoModelForCausalLM
            import torch

            tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
            model = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_file, dtype=torch.float32)
            save_converted(tokenizer, model, copy)
            del model
            if not copy.is_dir():
                raise BackendUnavailableError(f"could not write the de-quantised copy at {copy} (see the log)")
        hf_dir = str(copy)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}-{threading.get_ident()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        ctranslate2.converters.TransformersConverter(hf_dir).convert(str(partial), force=True)
        AutoTokenizer.from_pretrained(hf_dir).save_pretrained(partial)
        partial.rename(target)
    except OSError:
        if not target.is_dir():  # not raced by another process that finished first
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


@dataclass
class _Request:
    prompt: list[str]
    max_new_tokens: int
    static: list[str] | None
    deadline: float | None
    sentences: int | None = None  # stop after this many sentences (None: at the end token or the length limit)
    done: threading.Event = field(default_factory=threading.Event)
    text: str | None = None
    error: BaseException | None = None


class CTranslate2Backend:
    """SmolLM2 (or any decoder transformers can load) under CTranslate2 on the CPU."""

    def __init__(self, settings: LLMSettings):
        try:
            import ctranslate2
        except ImportError as exc:
            raise BackendUnavailableError(f"the CTranslate2 backend is not installed ({exc}); run: {INSTALL}") from None
        from transformers import AutoTokenizer

        self.settings = settings
        target, source, gguf_file = converted_ct2_dir(settings)
        self.model_id = f"{source}/{gguf_file}" if gguf_file else source
        if not (target / "model.bin").is_file():
            started = time.perf_counter()
            convert(settings, target, source, gguf_file)
            log.info("converted %s to CTranslate2 in %.1f s (kept at %s)", self.model_id, time.perf_counter() - started, target)
        self.path = target
        self.generator = ctranslate2.Generator(str(target), device="cpu", compute_type=settings.compute_type,
                                               intra_threads=settings.threads or os.cpu_count() or 1,
                                               inter_threads=1)
        self.tokenizer = AutoTokenizer.from_pretrained(str(target))
        ends = [t for t in ("<|im_end|>", self.tokenizer.eos_token) if t and t in self.tokenizer.get_vocab()]
        self.end_tokens = list(dict.fromkeys(ends))
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._worker = threading.Thread(target=self._serve, name="ctranslate2-batcher", daemon=True)
        self._worker.start()
        self._lock = threading.Lock()  # scoring and streaming go to the model directly, one at a time

    # -- prompts
    def _prompt(self, messages: list[dict]) -> str:
        prefix = bool(messages) and messages[-1]["role"] == "assistant"
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=not prefix,
                                                  continue_final_message=prefix)

    def _tokens(self, text: str) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(self.tokenizer.encode(text, add_special_tokens=False))

    def _split(self, messages: list[dict]) -> tuple[list[str] | None, list[str]]:
        """(the system message's tokens, the rest): the first is the static prompt CTranslate2 caches its state
        for, reused by every call with the same system message. None when the chat has no system message or its
        tokens are not a prefix of the whole prompt's."""
        whole = self._tokens(self._prompt(messages))
        if not messages or messages[0]["role"] != "system" or len(messages) < 2:
            return None, whole
        head = self.tokenizer.apply_chat_template(messages[:1], tokenize=False)
        static = self._tokens(head)
        if not static or whole[:len(static)] != static or len(whole) == len(static):
            return None, whole
        return static, whole[len(static):]

    def _options(self, max_new_tokens: int, static: list[str] | None) -> dict:
        options = dict(max_length=max_new_tokens, sampling_topk=1, beam_size=1,
                       repetition_penalty=self.settings.repetition_penalty, include_prompt_in_result=False,
                       end_token=self.end_tokens)
        if static:
            options["static_prompt"] = static
        return options

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # -- the batcher: concurrent requests with the same system message decode as one batch
    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            until = time.monotonic() + GATHER_S
            while len(batch) < MAX_BATCH and (left := until - time.monotonic()) > 0:
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            groups: dict[tuple, list[_Request]] = {}
            for request in batch:
                groups.setdefault((tuple(request.static or ()),), []).append(request)
            for group in groups.values():
                self._run(group)

    def _run(self, group: list[_Request]) -> None:
        now = time.monotonic()
        live = [r for r in group if r.deadline is None or r.deadline > now]
        for r in group:
            if r not in live:
                r.error, _ = TimeoutError("the caller's deadline passed before decoding began"), r.done.set()
        if not live:
            return
        deadlines = [r.deadline for r in live]
        ends = [0] * len(live)

        def stop_row(row: int, step) -> bool:
            """A row stops when its guarded caller gave up, or once it has written the sentences it asked for:
            a batch otherwise runs until its longest row ends, and the rows that finished wait for it."""
            d, want = deadlines[row], live[row].sentences
            if want is not None and any(mark in step.token for mark in ".!?"):
                ends[row] += 1
                if ends[row] >= want:
                    return True
            return d is not None and time.monotonic() > d

        try:
            for indices in length_groups([len(r.prompt) for r in live], BATCH_SPREAD):
                rows = [live[i] for i in indices]
                with self._lock:
                    results = self.generator.generate_batch(
                        [r.prompt for r in rows], callback=lambda step, at=indices: stop_row(at[step.batch_id], step),
                        max_batch_size=len(rows), **self._options(max(r.max_new_tokens for r in rows), rows[0].static))
                for r, result in zip(rows, results):
                    r.text = self._decode(result.sequences_ids[0][: r.max_new_tokens])
                    r.done.set()
        except BaseException as exc:  # handed to each caller still waiting
            for r in live:
                if not r.done.is_set():
                    r.error = exc
        for r in live:
            r.done.set()

    def _submit(self, messages: list[dict], max_new_tokens: int | None, sentences: int | None = None) -> _Request:
        static, rest = self._split(messages)
        left = time_left()
        request = _Request(rest, max_new_tokens or self.settings.max_new_tokens, static,
                           None if left is None else time.monotonic() + left, sentences)
        self._queue.put(request)
        return request

    @staticmethod
    def _wait(request: _Request) -> str:
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.text or ""

    # -- the interface
    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str:
        return self._wait(self._submit(messages, max_new_tokens))

    def generate_batch(self, chats: list[list[dict]], max_new_tokens: int | None = None,
                       sentences: int | None = None) -> list[str]:
        """Several chats answered in one decoding batch (the system message's state computed once); with
        `sentences`, each answer stops after that many sentences."""
        requests = [self._submit(messages, max_new_tokens, sentences) for messages in chats]
        return [self._wait(r) for r in requests]

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        static, rest = self._split(messages)
        options = self._options(max_new_tokens or self.settings.max_new_tokens, static)
        options.pop("include_prompt_in_result")
        options.pop("beam_size")
        ids: list[int] = []
        shown = ""
        with self._lock:
            for step in self.generator.generate_tokens(rest, **options):
                if step.token in self.end_tokens:
                    break
                ids.append(step.token_id)
                text = self._decode(ids)
                if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                    continue
                if len(text) > len(shown):
                    yield text[len(shown):]
                    shown = text
                if (left := time_left()) is not None and left <= 0:
                    break

    def choose(self, messages: list[dict], schema: dict, max_new_tokens: int | None = None) -> dict:
        """JSON valid under `schema`: each enumerated option scored by the model as the answer's continuation.

        Supported: an object whose properties are arrays of enumerated strings (minItems..maxItems) or single
        enumerated strings. Any other schema is answered by free generation and validated, so a step whose
        schema this cannot score still gets either valid JSON or an error (its fallback)."""
        fields = _enumerated_fields(schema)
        if fields is None:
            return validated_json(self.generate(messages, max_new_tokens or 200), schema)
        answer: dict[str, Any] = {}
        prompt = self._prompt(messages)
        for name, spec in fields.items():
            if spec["options"] == [] or spec["max"] == 0:
                answer[name] = [] if spec["array"] else None
                continue
            opening = f'{{"{name}": ["' if spec["array"] else f'{{"{name}": "'
            scores = self._option_scores(prompt + json.dumps(answer)[:-1] + (", " if answer else "") + opening[1:]
                                         if answer else prompt + opening, spec["options"])
            ranked = sorted(range(len(spec["options"])), key=lambda i: -scores[i])
            if spec["array"]:
                good = [i for i in ranked if scores[i] >= scores[ranked[0]] - CHOICE_MARGIN]
                count = max(spec["min"], min(len(good), spec["max"]))
                answer[name] = [spec["options"][i] for i in ranked[:count]]
            else:
                answer[name] = spec["options"][ranked[0]]
        return validated_json(json.dumps(answer), schema)

    def _option_scores(self, prompt: str, options: list[str]) -> list[float]:
        """Each option's log-probability as the continuation of `prompt` under decoding constrained to the
        options: at every token where options part ways, the model's probabilities of the allowed next tokens,
        renormalised among them; a token that only one option allows is forced and costs nothing. This is what
        a grammar-constrained greedy decoder would weigh, without a grammar.

        The prompt's state is computed once per call as CTranslate2's static prompt (not cached: every choice
        has its own prompt), and all option prefixes that end at the same depth are rows of one batch, so the
        cost is one short batch per depth where options part ways (score_batch re-reads the whole prompt for
        every option: 1.2 s against 0.3 s for eight options here)."""
        import numpy as np

        base = self.tokenizer.encode(prompt, add_special_tokens=False)
        rows = [self.tokenizer.encode(prompt + option, add_special_tokens=False) for option in options]
        shared = len(base)
        for ids in rows:
            common = 0
            while common < min(len(base), len(ids)) and base[common] == ids[common]:
                common += 1
            shared = min(shared, common)
        shared = max(shared - 1, 1)  # hold one prompt token back: every row needs a start token
        static = self.tokenizer.convert_ids_to_tokens(base[:shared])
        suffixes = [tuple(ids[shared:]) for ids in rows]
        # branch points: a prefix after which different options continue with different tokens
        children: dict[tuple[int, ...], set[int]] = {}
        for suffix in suffixes:
            for position in range(1, len(suffix)):
                children.setdefault(suffix[:position], set()).add(suffix[position])
        branches = {prefix: kids for prefix, kids in children.items() if len(kids) > 1}
        logprobs: dict[tuple[int, ...], dict[int, float]] = {}
        by_depth: dict[int, list[tuple[int, ...]]] = {}
        for prefix in branches:
            by_depth.setdefault(len(prefix), []).append(prefix)
        with self._lock:
            for depth, prefixes in sorted(by_depth.items()):
                results = self.generator.generate_batch(
                    [self.tokenizer.convert_ids_to_tokens(list(p)) for p in prefixes], static_prompt=static,
                    cache_static_prompt=False, include_prompt_in_result=False, max_length=1,
                    return_logits_vocab=True, sampling_topk=1)
                for prefix, result in zip(prefixes, results):
                    logits = np.asarray(result.logits[0], dtype=np.float64).reshape(-1)
                    kids = sorted(branches[prefix])
                    allowed = logits[kids]
                    top = allowed.max()
                    norm = top + np.log(np.exp(allowed - top).sum())
                    logprobs[prefix] = {k: float(v - norm) for k, v in zip(kids, allowed)}
        return [sum(logprobs[suffix[:p]][suffix[p]] for p in range(1, len(suffix)) if suffix[:p] in logprobs)
                for suffix in suffixes]


def length_groups(lengths: list[int], spread: int) -> list[list[int]]:
    """Indices of `lengths` sorted by length and cut into runs whose lengths differ by at most `spread`."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and lengths[i] - lengths[groups[-1][0]] <= spread:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _enumerated_fields(schema: dict) -> dict[str, dict] | None:
    """{field: {array, options, min, max}} for an object schema of enumerated choices, else None."""
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return None
    fields = {}
    for name, spec in schema["properties"].items():
        if spec.get("type") == "array":
            items = spec.get("items") or {}
            options = items.get("enum")
            if options is None:
                if spec.get("maxItems") == 0:
                    options = []
                else:
                    return None
            fields[name] = {"array": True, "options": [str(o) for o in options], "min": int(spec.get("minItems", 0)),
                            "max": int(spec.get("maxItems", len(options)))}
        elif "enum" in spec:
            fields[name] = {"array": False, "options": [str(o) for o in spec["enum"]], "min": 1, "max": 1}
        else:
            return None
    if set(schema.get("required", ())) - set(fields):
        return None
    return fields
