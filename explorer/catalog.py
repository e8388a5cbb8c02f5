"""Items, ratings and histories, and the loaders that read them from JSONL, CSV and MovieLens files.

Loaders validate every row before anything touches the index, so a bad file never leaves a
half-built collection behind. Errors name the file, line and field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from explorer.errors import DataError, EmptyHistoryError, UnknownItemError
from explorer.injection import strip_injection

log = logging.getLogger(__name__)

LIKE_THRESHOLD = 4.0  # ratings at or above this are positives (MovieLens convention)
DISLIKE_THRESHOLD = 2.0  # ratings at or below this are dislikes
MAX_DESCRIPTION_CHARS = 2000
MAX_TAG_CHARS = 100
MAX_TAGS = 100
MAX_FIELD_BYTES = 64 * 1024 * 1024  # a CSV field up to this size is read (and a long description cut)
FUTURE_SLACK_S = 86_400  # a history timestamp more than a day ahead of the clock is a unit error
# Files that are not text at all, by their first bytes: named in the error instead of "not valid UTF-8".
MAGIC = {b"%PDF": "a PDF document", b"PK\x03\x04": "a zip archive (xlsx, docx, ...)", b"\x1f\x8b": "a gzip archive",
         b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"SQLite format 3": "an SQLite database",
         b"\xd0\xcf\x11\xe0": "an old Office document (xls, doc)", b"PAR1": "a Parquet file"}
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_BYTES))  # process-wide: set once, here


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
    and the fix (edit the named line) is easy. What is kept but changed is counted in `Catalog.notes`
    (and logged): exact repeats ignored, long descriptions cut, sentences addressed to a model dropped.
    """
    items: dict[str, Item] = {}
    first_line: dict[str, int] = {}
    repeats, cut, defanged = [], [], []
    for line, row in rows:
        item = _validate(Item, row, path, line)
        if item.id in items:
            if items[item.id] != item:
                raise DataError(f"duplicate id {item.id!r} with different content (first on line {first_line[item.id]})",
                                path=path, line=line, field="id")
            repeats.append(line)  # an exact repeat is harmless
            continue
        raw = row.get("description")
        raw = str(raw).strip() if raw is not None else ""
        if len(raw) > MAX_DESCRIPTION_CHARS:
            cut.append(line)
        elif raw != item.description:
            defanged.append(line)
        items[item.id] = item
        first_line[item.id] = line
    if not items:
        raise DataError("the catalogue is empty", path=path)
    notes = [f"{path}: {what} (line {_lines(lines)})" for what, lines in (
        (f"{len(repeats)} exact repeat(s) of an earlier row ignored", repeats),
        (f"{len(cut)} description(s) cut to {MAX_DESCRIPTION_CHARS:,} characters", cut),
        (f"{len(defanged)} description(s) had sentences addressed to a language model removed", defanged)) if lines]
    for note in notes:
        log.warning(note)
    return Catalog(items, name=name, source=str(path), notes=notes)


def _lines(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:5]))
    return shown + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")


def _validate(model: type[BaseModel], row: dict, path: Path, line: int):
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"]) or None
        raise DataError(err["msg"], path=path, line=line, field=field_name) from None


def _read_text(path: Path) -> str:
    """The file as text. A binary file is named for what it is; invalid UTF-8 names its line."""
    data = path.read_bytes()
    kind = next((what for magic, what in MAGIC.items() if data.startswith(magic)), None)
    if kind is None and b"\x00" in data[:4096]:
        kind = "a binary file"
    if kind:
        raise DataError(f"this is {kind}, not a text file (JSONL or CSV)", path=path, line=1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8", path=path, line=line) from None


def _text_lines(text: str) -> list[str]:
    """Lines as an editor counts them (str.splitlines also splits at U+2028 and friends, which JSON allows)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for line_no, line in enumerate(_text_lines(_read_text(path)), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = ""
            if line.lstrip().startswith("["):
                hint = "; the file looks like one JSON array: write one object a line"
            elif line_no == 1 and "," in line and not line.lstrip().startswith("{"):
                hint = "; the file looks like CSV: name it .csv or pass --format csv"
            raise DataError(f"not valid JSON ({exc.msg}, column {exc.colno}){hint}", path=path, line=line_no) from None
        except RecursionError:
            raise DataError("not valid JSON (nested too deeply)", path=path, line=line_no) from None
        if not isinstance(row, dict):
            raise DataError(f"each line must be a JSON object, not {type(row).__name__}", path=path, line=line_no)
        yield line_no, row


def _read_csv(path: Path) -> Iterator[tuple[int, dict]]:
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames
        if not header:
            raise DataError("the CSV file has no header row", path=path, line=1)
        if header[0].lstrip().startswith(("{", "[")):
            raise DataError("the file looks like JSON, not CSV: name it .jsonl or pass --format jsonl", path=path, line=1)
        names = [h.strip() for h in header]
        twice = next((h for h in names if h and names.count(h) > 1), None)
        if twice:
            raise DataError(f"the header names column {twice!r} twice", path=path, line=1, field=twice)
        for row in reader:
            line_no = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise DataError(f"ragged row: expected {len(header)} fields, found "
                                f"{len(header) + len(row.get(None) or ()) - sum(v is None for v in row.values())}",
                                path=path, line=line_no)
            yield line_no, {k.strip(): (v if v != "" else None) for k, v in row.items() if k.strip()}
    except csv.Error as exc:
        raise DataError(f"not valid CSV ({exc})", path=path, line=reader.line_num or 1) from None


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
    unknown: list[str]  # lines or ids that matched no catalogue item (or, pasted, a reason), listed back
    notes: list[str] = field(default_factory=list)  # what was merged, with counts


RATED_LINE = re.compile(r"^(.*?)\s*[,|;\t]\s*(-?\d{1,2}(?:\.\d+)?)\s*$")


def history_from_lines(lines: Iterable[str], catalog: Catalog, source: str | None = None) -> ParsedHistory:
    """Titles or ids, one a line; an optional trailing rating ('Arrival, 5' or 'Arrival | 1.5').

    A line that names no catalogue item is listed back in `unknown`. A rating outside 0–5 is a typo, not
    something to guess at: in a file (`source`) it rejects the file with its line; in pasted text the line
    is listed back with the reason, so the rest of the paste still counts.
    """
    ratings, unknown = [], []
    for n, raw in enumerate(lines):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        rating = None
        match = RATED_LINE.match(text)
        if match and catalog.find(text) is None:
            text, rating = match.group(1), float(match.group(2))
            if not 0.0 <= rating <= 5.0:
                if source is not None:
                    raise DataError(f"rating {match.group(2)} is outside 0–5", path=source, line=n + 1, field="rating")
                unknown.append(f"{raw.strip()} (line {n + 1}: rating outside 0–5)")
                continue
        item = catalog.find(text)
        if item is None:
            unknown.append(text)
        else:
            ratings.append(Rating(item_id=item.id, rating=rating, timestamp=n))
    return _parsed(ratings, unknown)


def _parsed(ratings: list[Rating], unknown: list[str]) -> ParsedHistory:
    history = History.of(ratings)
    repeats = len(ratings) - len(history)
    notes = [f"{repeats} repeated rating(s) merged: the latest rating of each item counts"] if repeats else []
    return ParsedHistory(history, unknown, notes)


def load_history_file(path: str | Path, catalog: Catalog) -> ParsedHistory:
    """A history from JSONL (item_id/title, rating, timestamp), CSV with the same columns, or plain lines.

    A malformed row (rating outside 0–5, a timestamp in the future or unreadable) rejects the file with
    its line and field; rows naming no catalogue item are skipped and listed in `unknown`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such history file", path=path)
    fmt = guess_format(path)
    if fmt not in ("jsonl", "csv"):
        return history_from_lines(_text_lines(_read_text(path)), catalog, source=str(path))
    rows = _read_jsonl(path) if fmt == "jsonl" else _read_csv(path)
    ratings, unknown = [], []
    latest = time.time() + FUTURE_SLACK_S
    for line, row in rows:
        key = row.get("item_id") or row.get("id") or row.get("title")
        if key is None:
            raise DataError("each row needs item_id or title", path=path, line=line, field="item_id")
        rating = _validate(Rating, {**row, "item_id": str(key)}, path, line)
        if rating.timestamp is not None and rating.timestamp > latest:
            hint = " (milliseconds? use seconds since 1970)" if rating.timestamp > 1e11 else ""
            raise DataError(f"timestamp {rating.timestamp} is in the future{hint}", path=path, line=line,
                            field="timestamp")
        item = catalog.find(str(key))
        if item is None:
            unknown.append(str(key))
            continue
        ratings.append(rating.model_copy(update={"item_id": item.id}))
    return _parsed(ratings, unknown)


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
