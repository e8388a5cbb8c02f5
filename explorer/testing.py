"""A scripted stand-in for the language model: for tests that are not about the model, and for working on
the chat or the UI without loading one. It is not a model and writes nothing a model would; it is instant,
deterministic and always well-formed, so a test over it pins the pipeline, the chat and the page, not the LLM.

    llm = ScriptedLLM()                        # answers built from the prompt's own words; first enum options
    llm = ScriptedLLM(text="a slow, quiet film.", choice={"themes": ["drama", "war"]})   # fixed answers
    llm = ScriptedLLM(text=["first answer.", "second answer."])                         # answers in turn
    llm = ScriptedLLM(error=TimeoutError("slow"))                                         # every call fails

It implements the backend interface of explorer/llm/base.py (`generate`, `stream`, `choose`) and is listed in
the backend registry as "scripted" (`settings.llm.backend`), so the Explorer wraps it in the same deadline
guard as a real backend. Tests that are about the model use the real one (tests/test_end_to_end.py and the
other `llm` tier tests).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from typing import Any

MODEL_ID = "scripted-stand-in"
MAX_WORDS = 8  # a built answer's length: one short clause
# Words too common to carry anything; the rest of the prompt's words make up a built answer.
_COMMON = frozenset("""about after also because before being from have into like more most only other over some such
than that their them then there these they this those through very were what when where which while with would
your you the and for are was its it's person enjoyed recommendation search found why tags unknown year""".split())


class ScriptedLLM:
    """The stand-in backend. `text`: the answer of `generate`/`stream` (one for all calls, or a list used in
    turn, then built ones); `choice`: the answer of `choose` (one dict, or a list in turn); `error`: raised by
    every call. Unscripted answers are built from the prompt: see `built_answer` and `first_valid`."""

    model_id = MODEL_ID

    def __init__(self, text: str | Sequence[str] | None = None, choice: dict | Sequence[dict] | None = None,
                 error: BaseException | None = None):
        self._texts = [text] if isinstance(text, str) else list(text or [])
        self._repeat_text = isinstance(text, str)
        self._choices = [choice] if isinstance(choice, dict) else list(choice or [])
        self._repeat_choice = isinstance(choice, dict)
        self.error = error
        self.calls: list[tuple[str, list[dict]]] = []  # (method, messages), so a test can see what was asked

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str:
        return "".join(self._stream("generate", messages, max_new_tokens))

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        return self._stream("stream", messages, max_new_tokens)

    def _stream(self, method: str, messages: list[dict], max_new_tokens: int | None) -> Iterator[str]:
        self.calls.append((method, messages))
        if self.error is not None:
            raise self.error
        text = self._next(self._texts, self._repeat_text)
        if text is None:
            text = built_answer(messages, max_new_tokens)
        words = text.split(" ")
        return iter([w + " " for w in words[:-1]] + [words[-1]] if text else [])

    def choose(self, messages: list[dict], schema: dict, max_new_tokens: int | None = None) -> dict:
        self.calls.append(("choose", messages))
        if self.error is not None:
            raise self.error
        answer = self._next(self._choices, self._repeat_choice)
        return copy.deepcopy(answer) if answer is not None else first_valid(schema)

    @staticmethod
    def _next(script: list, repeat: bool) -> Any:
        if not script:
            return None
        return script[0] if repeat else script.pop(0)


def built_answer(messages: list[dict], max_new_tokens: int | None = None) -> str:
    """One clause made only of the last user message's own words (lower case, each once, common words left
    out), ending with a full stop: it names nothing the prompt did not, so grounding checks pass it. After an
    assistant prefix (an opening to continue) it starts with a space, as a model's next token would."""
    asked = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    words = []
    for word in re.findall(r"[^\W\d_]+", asked.lower()):
        if len(word) >= 4 and word not in _COMMON and word not in words:
            words.append(word)
    limit = MAX_WORDS if max_new_tokens is None else max(1, min(MAX_WORDS, max_new_tokens - 1))
    words = words[:limit]
    if not words:
        return ""
    continuing = bool(messages) and messages[-1].get("role") == "assistant"  # after "..., " as a model would
    return (" " if continuing else "") + " ".join(words) + "."


def first_valid(schema: dict, root: dict | None = None) -> Any:
    """The first value a JSON schema allows, choosing as a cautious model would: enum options in the order
    offered, as many as maxItems allows (at least minItems), every required property present."""
    root = root or schema
    if "$ref" in schema:
        return first_valid(_resolve(root, schema["$ref"]), root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return first_valid(schema[key][0], root)
    if "allOf" in schema:
        return first_valid({k: v for part in schema["allOf"] for k, v in part.items()}, root)
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if "enum" in schema:
        return copy.deepcopy(schema["enum"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        wanted = schema.get("required", list(properties))
        return {name: first_valid(properties.get(name, {}), root) for name in wanted}
    if kind == "array":
        items = schema.get("items", {})
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        if "enum" in items:
            options = list(items["enum"])
            count = min(len(options), high if high is not None else max(low, 1))
            return copy.deepcopy(options[:max(count, min(low, len(options)))])
        count = low if high is None else min(max(low, 1), high)
        return [first_valid(items, root) for _ in range(count)]
    if kind == "string":
        return "x" * schema.get("minLength", 0)
    if kind in ("integer", "number"):
        value = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    return None


def _resolve(root: dict, ref: str) -> dict:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are scripted, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def load_scripted(settings=None) -> ScriptedLLM:
    """The registry's loader (explorer/llm/__init__.py): `settings.llm.backend = "scripted"`."""
    return ScriptedLLM()


def scripted_settings(**settings: Any):
    """Settings whose LLM is the stand-in (`llm.backend = "scripted"`), everything else as given."""
    from explorer.config import Settings

    return Settings(llm={**settings.pop("llm", {}), "backend": "scripted"}, **settings)
