"""Histories and personas: a person's ratings from a file, pasted lines, or the demo personas."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from explorer.errors import DataError, EmptyHistoryError, UnknownItemError

log = logging.getLogger(__name__)
from explorer.catalog.files import read_csv, read_jsonl, read_text, text_lines, validate_row
from explorer.catalog.loaders import guess_format
from explorer.catalog.model import FUTURE_SLACK_S, Catalog, History, Item, Rating


class Persona(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    about: str = ""
    history: list[Rating] = Field(min_length=1)


def load_personas(path: str | Path, catalog: Catalog) -> dict[str, Persona]:
    path = Path(path)
    personas = {}
    for line, row in read_jsonl(path):
        persona = validate_row(Persona, row, path, line)
        missing = [r.item_id for r in persona.history if r.item_id not in catalog]
        if missing:
            raise DataError(f"persona {persona.name!r} names items not in the catalogue: {missing}",
                            path=path, line=line, field="history")
        personas[persona.name.lower()] = persona
    return personas


@dataclass(frozen=True)
class Ambiguous:
    """A line whose title names several catalogue items, none picked: the person is asked which."""

    line: str
    candidates: tuple[Item, ...]

    def choices(self) -> list[str]:
        """How each candidate can be written on its own line so that it resolves ("Dune (2021)")."""
        return [f"{c.title} ({c.year})" if c.year else f"{c.title}, {c.kind}" for c in self.candidates]


@dataclass
class ParsedHistory:
    history: History
    unknown: list[str]  # lines or ids that matched no catalogue item (or, pasted, a reason), listed back
    notes: list[str] = field(default_factory=list)  # what was merged, with counts
    ambiguous: list[Ambiguous] = field(default_factory=list)  # titles naming several items: ask which


RATED_LINE = re.compile(r"^(.*?)\s*[,|;\t]\s*(-?\d{1,2}(?:\.\d+)?)\s*$")
FIELD_SEPARATOR = re.compile(r"\s*[,|;\t]\s*")
YEAR = re.compile(r"(1[0-9]{3}|20[0-9]{2}|2100)")
TRAILING_PAREN = re.compile(r"^(.*?)\s*\(([^()]+)\)$")


def resolve_title(text: str, catalog: Catalog) -> tuple[list[Item], float | None, str | None]:
    """The items a history line names, its rating, and a reason when the rating is out of range.

    The line is a title or id, optionally followed by fields a person would add to say which one they
    mean: a year or a kind ("Dune, film, 4.5", "Dune (2021)", "Dune, 1965"), and a rating last. A title
    that names several items is narrowed by those fields; whatever is left (one item, several, none) is
    returned for the caller to use, to ask about, or to list back.
    """
    text = text.strip()
    if (item := catalog.find(text)) is not None:
        return [item], None, None
    parts = FIELD_SEPARATOR.split(text)
    title_parts, year, kind, rating, bad = list(parts), None, None, None, None
    kinds = {k.lower() for k in catalog.kinds()}
    # Peel the fields off the right; the rest is the title (titles may hold commas: try it whole first).
    while len(title_parts) > 1:
        tail = title_parts[-1].strip().lower()
        if rating is None and year is None and kind is None and re.fullmatch(r"-?\d{1,2}(?:\.\d+)?", tail):
            rating = float(tail)
            if not 0.0 <= rating <= 5.0:
                bad = "rating outside 0–5"
        elif year is None and YEAR.fullmatch(tail):
            year = int(tail)
        elif kind is None and tail in kinds:
            kind = tail
        else:
            break
        title_parts.pop()
        if catalog.matching(", ".join(title_parts)):
            break
    title = ", ".join(title_parts).strip()
    if bad:
        return [], rating, bad
    if (item := catalog.find(title)) is not None and year is None and kind is None:
        return [item], rating, None
    candidates = catalog.matching(title)
    if not candidates and (m := TRAILING_PAREN.match(title)):  # "Dune (film)", "Dune (1965, book)"
        inner = [p.strip().lower() for p in m.group(2).split(",")]
        if all(YEAR.fullmatch(p) or p in kinds for p in inner):
            title = m.group(1)
            candidates = catalog.matching(title)
            year = next((int(p) for p in inner if YEAR.fullmatch(p)), year)
            kind = next((p for p in inner if p in kinds), kind)
    if year is not None:
        candidates = [c for c in candidates if c.year == year]
    if kind is not None:
        candidates = [c for c in candidates if c.kind.lower() == kind]
    return candidates, rating, None


def history_from_lines(lines: Iterable[str], catalog: Catalog, source: str | None = None) -> ParsedHistory:
    """Titles or ids, one a line; an optional trailing rating ('Arrival, 5' or 'Arrival | 1.5').

    A year or a kind on the line picks one of several items with the same title ("Dune (2021)", "Dune,
    book, 4"); a title that still names several is listed in `ambiguous` with its candidates, to be asked
    about, never reported as unknown. A line that names no catalogue item is listed back in `unknown`. A
    rating outside 0–5 is a typo, not something to guess at: in a file (`source`) it rejects the file with
    its line; in pasted text the line is listed back with the reason, so the rest of the paste still counts.
    """
    ratings, unknown, ambiguous = [], [], []
    for n, raw in enumerate(lines):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        candidates, rating, bad = resolve_title(text, catalog)
        if bad:
            if source is not None:
                raise DataError(f"rating {rating:g} is outside 0–5", path=source, line=n + 1, field="rating")
            unknown.append(f"{text} (line {n + 1}: {bad})")
        elif len(candidates) == 1:
            ratings.append(Rating(item_id=candidates[0].id, rating=rating, timestamp=n))
        elif candidates:
            ambiguous.append(Ambiguous(text, tuple(candidates)))
        else:
            match = RATED_LINE.match(text)
            unknown.append(match.group(1) if match else text)
    return _parsed(ratings, unknown, ambiguous)


def _parsed(ratings: list[Rating], unknown: list[str], ambiguous: list[Ambiguous] | None = None) -> ParsedHistory:
    history = History.of(ratings)
    repeats = len(ratings) - len(history)
    notes = [f"{repeats} repeated rating(s) merged: the latest rating of each item counts"] if repeats else []
    return ParsedHistory(history, unknown, notes, list(ambiguous or ()))


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
        return history_from_lines(text_lines(read_text(path)), catalog, source=str(path))
    rows = read_jsonl(path) if fmt == "jsonl" else read_csv(path)
    ratings, unknown, ambiguous = [], [], []
    latest = time.time() + FUTURE_SLACK_S
    for line, row in rows:
        key = row.get("item_id") or row.get("id") or row.get("title")
        if key is None:
            raise DataError("each row needs item_id or title", path=path, line=line, field="item_id")
        rating = validate_row(Rating, {**row, "item_id": str(key)}, path, line)
        if rating.timestamp is not None and rating.timestamp > latest:
            hint = " (milliseconds? use seconds since 1970)" if rating.timestamp > 1e11 else ""
            raise DataError(f"timestamp {rating.timestamp} is in the future{hint}", path=path, line=line,
                            field="timestamp")
        item = catalog.find(str(key))
        if item is None:  # a title naming several items: a year or kind column picks one, else ask
            same = [c for c in catalog.matching(str(key))
                    if str(row.get("year") or c.year) == str(c.year) and str(row.get("kind") or c.kind).lower() == c.kind.lower()]
            if len(same) > 1:
                ambiguous.append(Ambiguous(str(key), tuple(same)))
                continue
            item = same[0] if same else None
        if item is None:
            unknown.append(str(key))
            continue
        ratings.append(rating.model_copy(update={"item_id": item.id}))
    return _parsed(ratings, unknown, ambiguous)


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
