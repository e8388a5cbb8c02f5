"""The values that flow between steps. Immutable, validated, and what the JSON output is made of."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

Mode = Literal["deepen", "adjacent", "novel"]
# Who made a step's output: the LLM's own words ("llm"), a sentence composed around the LLM's choice among the facts
# ("composed", explorer/pipeline/compose.py), the deterministic fallback, or the person's edit.
ServedBy = Literal["llm", "composed", "fallback", "edited"]
T = TypeVar("T")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Theme(_Frozen):
    label: str = Field(min_length=1, max_length=80)
    weight: float = Field(default=0.0, ge=0.0, le=1.0)
    evidence: tuple[str, ...] = ()  # ids of history items that show this interest

    @field_validator("label", mode="before")
    @classmethod
    def _clean(cls, value):
        return value.strip().lower() if isinstance(value, str) else value


class InterestProfile(_Frozen):
    """What the person is into, in words they can read and edit. Every later step follows it."""

    summary: str = Field(default="", max_length=1000)
    themes: tuple[Theme, ...] = ()
    avoid: tuple[str, ...] = ()  # tags (or words) to steer away from

    @field_validator("avoid", mode="before")
    @classmethod
    def _clean_avoid(cls, value):
        if isinstance(value, str):
            value = [value]  # one word, not its letters
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return value  # pydantic names the wrong type
        return tuple(dict.fromkeys(v.strip().lower() for v in value if v.strip()))


class ExploreQuery(_Frozen):
    text: str = Field(min_length=1, max_length=200)
    mode: Mode
    rationale: str = ""
    anchor: str | None = None  # the theme this query grows from, when there is one
    cluster: int | None = None  # the interest cluster the query is grounded in, when clusters are on
    requested: bool = False  # the person asked for this in words: its lane gets at least REQUEST_SHARE of the list


class Candidate(_Frozen):
    item_id: str
    query: int  # index into the plan's queries
    score: float  # how well the item answers its query: the interest model's score, text relevance the tie-breaker
    rank: int = 0  # its place in the interest model's own ranking (1 = best) when it came from there, else 0


class Recommendation(_Frozen):
    item_id: str
    title: str
    kind: str
    year: int | None
    score: float
    mode: Mode
    query: str
    explanation: str = ""
    evidence: tuple[str, ...] = ()
    explanation_served_by: ServedBy = "fallback"


class StepsServedBy(BaseModel):
    """Who served each step: the LLM, its deterministic fallback, or (profile) the person's edit."""

    profile: ServedBy = "fallback"
    plan: ServedBy = "fallback"
    explain: ServedBy | Literal["mixed"] = "fallback"


class RecommendResult(BaseModel):
    profile: InterestProfile
    queries: list[ExploreQuery]
    recommendations: list[Recommendation]
    served_by: StepsServedBy
    notes: list[str] = Field(default_factory=list)  # why a fallback served, what was skipped
    seconds: dict[str, float] = Field(default_factory=dict)


@dataclass(frozen=True)
class StepResult(Generic[T]):
    """What every step returns: its value, who served it, and notes on why a fallback served or what was left out."""

    value: T
    served_by: ServedBy
    notes: list[str] = field(default_factory=list)


class ModelOutputError(ValueError):
    """The model's structured output is not the JSON object its schema asked for. Callers fall back."""


def parse_choices(raw: str | bytes | Mapping[str, Any], options: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The model's choice among offered options, as {field: [option, ...]}: only offered options, in the
    model's order, each once; a field the model left out is empty.

    `raw` is the model's JSON text or the object parsed from it. Anything that is not a JSON object whose
    fields are lists raises ModelOutputError, never anything else, so a caller needs one `except`.
    """
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad bytes are ValueErrors
            raise ModelOutputError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(raw, Mapping):
        raise ModelOutputError(f"expected a JSON object, got {type(raw).__name__}")
    chosen: dict[str, list[str]] = {}
    for name, offered in options.items():
        value = raw.get(name, [])
        if not isinstance(value, (list, tuple)):
            raise ModelOutputError(f"field {name!r} must be a list, got {type(value).__name__}")
        allowed = set(offered)
        chosen[name] = list(dict.fromkeys(v for v in value if isinstance(v, str) and v in allowed))
    return chosen
