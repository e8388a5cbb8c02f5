"""The events a streamed answer is made of, one vocabulary from the pipeline to the web page."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    PROFILE = "profile"  # data: InterestProfile
    PLAN = "plan"  # data: list[ExploreQuery]
    ITEM = "item"  # data: Recommendation carrying its template reason, index: its rank
    # data: StepResult[str], index: the item it explains. Sent only once the text passed every check: an LLM
    # sentence (served_by "llm"), or one composed around its choice ("composed"), to swap in for the template, or
    # the template kept (served_by "fallback").
    EXPLANATION = "explanation"
    TEXT = "text"  # data: str, a piece of the chat's answer text
    RESULT = "result"  # data: RecommendResult, always last


@dataclass(frozen=True)
class Event:
    kind: EventKind
    data: Any
    index: int | None = None
