"""Items, ratings, histories and the catalogue: the values every other wing reads."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator

from explorer.pipeline.injection import strip_injection

log = logging.getLogger(__name__)

LIKE_THRESHOLD = 4.0  # ratings at or above this are positives (MovieLens convention)
DISLIKE_THRESHOLD = 2.0  # ratings at or below this are dislikes
MAX_DESCRIPTION_CHARS = 2000
MAX_TAG_CHARS = 100
MAX_TAGS = 100
MAX_FIELD_BYTES = 64 * 1024 * 1024  # a CSV field up to this size is read (and a long description cut)
FUTURE_SLACK_S = 86_400  # a history timestamp more than a day ahead of the clock is a unit error


class Item(BaseModel):
    """One catalogue entry. Only these facts may be cited when it is explained."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    kind: str = Field(default="item", min_length=1, max_length=50)
    year: int | None = Field(default=None, ge=-3000, le=2100)
    creator: str | None = Field(default=None, max_length=500)
    tags: tuple[str, ...] = Field(default=(), max_length=MAX_TAGS)
    description: str = ""

    @field_validator("id", "title", "kind", mode="before")
    @classmethod
    def _strip(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        return value.strip() if isinstance(value, str) else value

    @field_validator("year", mode="before")
    @classmethod
    def _no_bool_year(cls, value):
        if isinstance(value, bool):
            raise ValueError("year must be a number, not true/false")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value):
        if value is None:
            return ()
        if isinstance(value, str):
            value = re.split(r"[|;]", value)
        if not isinstance(value, (list, tuple)) or not all(_scalar(t) for t in value):
            return value  # not a list of words: pydantic names the wrong type and its position
        tags = tuple(dict.fromkeys(str(t).strip().lower() for t in value if str(t).strip()))
        too_long = next((t for t in tags if len(t) > MAX_TAG_CHARS), None)
        if too_long is not None:
            raise ValueError(f"a tag may have at most {MAX_TAG_CHARS} characters, not {len(too_long)}")
        return tags

    @field_validator("description", mode="before")
    @classmethod
    def _trim_description(cls, value):
        """A 10 MB description must not blow up prompts or embeddings: the start is kept (and the loader
        counts the cuts). Sentences addressed to a language model are dropped, so they never reach a prompt."""
        if value is not None and not _scalar(value):
            return value  # a list or an object: pydantic rejects it with the field's name
        value = "" if value is None else str(value).strip()
        return strip_injection(value[:MAX_DESCRIPTION_CHARS])[0]

    def label(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title

    def text_for_embedding(self) -> str:
        parts = [self.label(), self.kind, ", ".join(self.tags), self.description]
        return ". ".join(p for p in parts if p)

    def content_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


class Rating(BaseModel):
    """One thing a person did with an item; a rating on a 0.5–5 scale (None = seen, unrated)."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    rating: float | None = Field(default=None, ge=0.0, le=5.0)
    timestamp: int | None = None  # seconds since 1970; an ISO 8601 date or time is read too

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso_timestamp(cls, value):
        if isinstance(value, str) and value.strip() and not value.strip().lstrip("-").isdigit():
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("timestamp must be seconds since 1970 or an ISO 8601 date such as 2024-05-01") from None
            return int((moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp())
        return value

    @property
    def liked(self) -> bool:
        return self.rating is None or self.rating >= LIKE_THRESHOLD

    @property
    def disliked(self) -> bool:
        return self.rating is not None and self.rating <= DISLIKE_THRESHOLD


@dataclass(frozen=True)
class History:
    """A person's ratings, de-duplicated (the latest rating of an item wins), oldest first."""

    ratings: tuple[Rating, ...]
    name: str = "you"

    @classmethod
    def of(cls, ratings: Iterable[Rating], name: str = "you") -> "History":
        latest: dict[str, Rating] = {}
        for r in sorted(ratings, key=lambda r: r.timestamp or 0):
            latest.pop(r.item_id, None)
            latest[r.item_id] = r
        return cls(tuple(latest.values()), name)

    def __len__(self) -> int:
        return len(self.ratings)

    @property
    def item_ids(self) -> list[str]:
        return [r.item_id for r in self.ratings]

    @property
    def liked(self) -> list[Rating]:
        return [r for r in self.ratings if r.liked]

    @property
    def disliked(self) -> list[Rating]:
        return [r for r in self.ratings if r.disliked]

    def with_feedback(self, item_id: str, rating: float) -> "History":
        return History.of([*self.ratings, Rating(item_id=item_id, rating=rating,
                                                   timestamp=max((r.timestamp or 0 for r in self.ratings), default=0) + 1)],
                          self.name)

    def fingerprint(self) -> str:
        key = json.dumps([(r.item_id, r.rating) for r in self.ratings])
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class Catalog:
    """The items that may ever be recommended, with look-ups by id and by title."""

    items: dict[str, Item]
    name: str = "catalog"
    source: str = ""
    notes: list[str] = field(default_factory=list)  # what the loader changed or skipped, with counts
    _by_title: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for item in self.items.values():
            self._by_title.setdefault(normalise_title(item.title), []).append(item.id)
            self._by_title.setdefault(normalise_title(item.label()), []).append(item.id)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.items

    def __getitem__(self, item_id: str) -> Item:
        return self.items[item_id]

    def find(self, text: str) -> Item | None:
        """An item by id, exact title or 'Title (year)'; None when nothing or several match."""
        text = text.strip()
        if text in self.items:
            return self.items[text]
        ids = self._by_title.get(normalise_title(text), [])
        unique = list(dict.fromkeys(ids))
        return self.items[unique[0]] if len(unique) == 1 else None

    def matching(self, title: str) -> list[Item]:
        """Every item this title (or 'Title (year)') names: one, none, or several ("Dune": a film and a book)."""
        return [self.items[i] for i in dict.fromkeys(self._by_title.get(normalise_title(title), []))]

    @cached_property
    def distinctive_titles(self) -> list[tuple[str, re.Pattern]]:
        """Titles long enough that finding one in prose means the prose names that work."""
        out = []
        for item in self.items.values():
            norm = normalise_title(item.title)
            if len(norm.split()) >= 2 or len(norm) >= 8:
                out.append((item.id, re.compile(r"(?<![\w])" + re.escape(norm) + r"(?![\w])")))
        return out

    def tag_counts(self) -> Counter:
        return Counter(t for item in self.items.values() for t in item.tags)

    def kinds(self) -> list[str]:
        return sorted({item.kind for item in self.items.values()})


def normalise_title(title: str) -> str:
    return re.sub(r"\s+", " ", title.strip().lower())


