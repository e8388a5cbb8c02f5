"""Items, ratings and histories, and the loaders that read them from JSONL, CSV and MovieLens files.

Loaders validate every row before anything touches the index, so a bad file never leaves a
half-built collection behind. Errors name the file, line and field.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from explorer.errors import DataError, EmptyHistoryError, UnknownItemError

LIKE_THRESHOLD = 4.0  # ratings at or above this are positives (MovieLens convention)
DISLIKE_THRESHOLD = 2.0  # ratings at or below this are dislikes
MAX_DESCRIPTION_CHARS = 2000


class Item(BaseModel):
    """One catalogue entry. Only these facts may be cited when it is explained."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    kind: str = Field(default="item", min_length=1, max_length=50)
    year: int | None = Field(default=None, ge=-3000, le=2100)
    creator: str | None = None
    tags: tuple[str, ...] = ()
    description: str = ""

    @field_validator("id", "title", "kind", mode="before")
    @classmethod
    def _strip(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        return value.strip() if isinstance(value, str) else value

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value):
        if value is None:
            return ()
        if isinstance(value, str):
            value = re.split(r"[|;]", value)
        return tuple(dict.fromkeys(t.strip().lower() for t in value if str(t).strip()))

    @field_validator("description", mode="before")
    @classmethod
    def _trim_description(cls, value):
        # A 10 MB description must not blow up prompts or embeddings; keep the start.
        value = "" if value is None else str(value).strip()
        return value[:MAX_DESCRIPTION_CHARS]

    def label(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title

    def text_for_embedding(self) -> str:
        parts = [self.label(), self.kind, ", ".join(self.tags), self.description]
        return ". ".join(p for p in parts if p)

    def content_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class Rating(BaseModel):
    """One thing a person did with an item; a rating on a 0.5–5 scale (None = seen, unrated)."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    rating: float | None = Field(default=None, ge=0.0, le=5.0)
    timestamp: int | None = None

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


# ---------------------------------------------------------------- catalogue loaders

def load_catalog(path: str | Path, fmt: str | None = None) -> Catalog:
    """Load a catalogue from a JSONL or CSV file, or a MovieLens folder (format guessed from the path)."""
    path = Path(path)
    fmt = fmt or guess_format(path)
    if fmt == "movielens":
        from explorer.movielens import load_movielens_catalog
        return load_movielens_catalog(path)
    if not path.is_file():
        raise DataError("no such catalogue file", path=path)
    rows = _read_jsonl(path) if fmt == "jsonl" else _read_csv(path) if fmt == "csv" else None
    if rows is None:
        raise DataError(f"unknown catalogue format {fmt!r}; use jsonl, csv or movielens", path=path)
    return catalog_from_rows(rows, path, name=path.stem)


def guess_format(path: Path) -> str:
    if path.is_dir():
        return "movielens"
    suffix = path.suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}.get(suffix, suffix.lstrip("."))


def catalog_from_rows(rows: Iterable[tuple[int, dict]], path: Path, name: str) -> Catalog:
    """Validate (line, row) pairs into a Catalog. The whole file is rejected on the first bad row.

    Rejecting beats skipping for catalogues: a silently shorter catalogue is worse than a clear error,
    and the fix (edit the named line) is easy.
    """
    items: dict[str, Item] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        item = _validate(Item, row, path, line)
        if item.id in items:
            if items[item.id] != item:
                raise DataError(f"duplicate id {item.id!r} with different content (first on line {first_line[item.id]})",
                                path=path, line=line, field="id")
            continue  # an exact repeat is harmless
        items[item.id] = item
        first_line[item.id] = line
    if not items:
        raise DataError("the catalogue is empty", path=path)
    return Catalog(items, name=name, source=str(path))


def _validate(model: type[BaseModel], row: dict, path: Path, line: int):
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"]) or None
        raise DataError(err["msg"], path=path, line=line, field=field_name) from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(f"not valid UTF-8 (byte {exc.start})", path=path, line=line) from None


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for line_no, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg})", path=path, line=line_no) from None
        if not isinstance(row, dict):
            raise DataError("each line must be a JSON object", path=path, line=line_no)
        yield line_no, row


def _read_csv(path: Path) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(_read_text(path).splitlines())
    if not reader.fieldnames:
        raise DataError("the CSV file has no header row", path=path, line=1)
    for row in reader:
        line_no = reader.line_num
        if None in row or any(v is None for v in row.values()):
            raise DataError(f"ragged row: expected {len(reader.fieldnames)} fields", path=path, line=line_no)
        yield line_no, {k.strip(): (v if v != "" else None) for k, v in row.items()}


# ---------------------------------------------------------------- histories and personas

class Persona(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    about: str = ""
    history: list[Rating] = Field(min_length=1)


def load_personas(path: str | Path, catalog: Catalog) -> dict[str, Persona]:
    path = Path(path)
    personas = {}
    for line, row in _read_jsonl(path):
        persona = _validate(Persona, row, path, line)
        missing = [r.item_id for r in persona.history if r.item_id not in catalog]
        if missing:
            raise DataError(f"persona {persona.name!r} names items not in the catalogue: {missing}",
                            path=path, line=line, field="history")
        personas[persona.name.lower()] = persona
    return personas


@dataclass
class ParsedHistory:
    history: History
    unknown: list[str]  # lines or ids that matched no catalogue item, listed back to the user


def history_from_lines(lines: Iterable[str], catalog: Catalog) -> ParsedHistory:
    """Titles or ids, one a line; an optional trailing rating ('Arrival, 5' or 'Arrival | 1.5')."""
    ratings, unknown = [], []
    for n, raw in enumerate(lines):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        rating = None
        match = re.match(r"^(.*?)[\s]*[,|;\t][\s]*([0-5](?:\.\d+)?)\s*$", text)
        if match and catalog.find(text) is None:
            text, rating = match.group(1), float(match.group(2))
        item = catalog.find(text)
        if item is None:
            unknown.append(text)
        else:
            ratings.append(Rating(item_id=item.id, rating=rating, timestamp=n))
    return ParsedHistory(History.of(ratings), unknown)


def load_history_file(path: str | Path, catalog: Catalog) -> ParsedHistory:
    """A history from JSONL (item_id/title, rating, timestamp), CSV with the same columns, or plain lines."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such history file", path=path)
    fmt = guess_format(path)
    if fmt not in ("jsonl", "csv"):
        return history_from_lines(_read_text(path).splitlines(), catalog)
    rows = _read_jsonl(path) if fmt == "jsonl" else _read_csv(path)
    ratings, unknown = [], []
    for line, row in rows:
        key = row.get("item_id") or row.get("id") or row.get("title")
        if key is None:
            raise DataError("each row needs item_id or title", path=path, line=line, field="item_id")
        item = catalog.find(str(key))
        if item is None:
            unknown.append(str(key))
            continue
        ratings.append(_validate(Rating, {**row, "item_id": item.id}, path, line))
    return ParsedHistory(History.of(ratings), unknown)


def require_usable(history: History, catalog: Catalog, unknown: list[str] | None = None) -> History:
    """Refuse histories that cannot drive a recommendation, with a message that says why."""
    missing = [r.item_id for r in history.ratings if r.item_id not in catalog]
    if missing:
        raise UnknownItemError(missing)
    if not history.ratings:
        if unknown:
            raise UnknownItemError(unknown)
        raise EmptyHistoryError()
    return history
