"""The events a streamed answer is made of, one vocabulary from the pipeline to the web page."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    PROFILE = "profile"  # data: InterestProfile
    PLAN = "plan"  # data: list[ExploreQuery]
    ITEM = "item"  # data: Recommendation (template reason), index: its rank
    EXPLANATION = "explanation"  # data: StepResult[str], the checked reason; index: the item it explains
    TOKEN = "token"  # data: str, a piece of an explanation as the LLM writes it, index: its item
    TEXT = "text"  # data: str, a piece of the chat's answer text
    RESULT = "result"  # data: RecommendResult, always last


@dataclass(frozen=True)
class Event:
    kind: EventKind
    data: Any
    index: int | None = None
