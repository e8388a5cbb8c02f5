"""The values that flow between steps. Immutable, validated, and what the JSON output is made of."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Mode = Literal["deepen", "adjacent", "novel"]
Path_ = Literal["llm", "fallback", "edited"]


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
        return tuple(dict.fromkeys(str(v).strip().lower() for v in (value or ()) if str(v).strip()))


class ExploreQuery(_Frozen):
    text: str = Field(min_length=1, max_length=200)
    mode: Mode
    rationale: str = ""
    anchor: str | None = None  # the theme this query grows from, when there is one
    cluster: int | None = None  # the interest cluster the query is grounded in, when clusters are on


class Candidate(_Frozen):
    item_id: str
    query: int  # index into the plan's queries
    similarity: float


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
    explanation_path: Path_ = "fallback"


class StepPaths(BaseModel):
    """Which path served each step: the LLM, its deterministic fallback, or (profile) the user's edit."""

    profile: Path_ = "fallback"
    plan: Path_ = "fallback"
    explain: Path_ | Literal["mixed"] = "fallback"


class RecommendResult(BaseModel):
    profile: InterestProfile
    queries: list[ExploreQuery]
    recommendations: list[Recommendation]
    paths: StepPaths
    notes: list[str] = Field(default_factory=list)  # why a fallback served, what was skipped
    seconds: dict[str, float] = Field(default_factory=dict)
