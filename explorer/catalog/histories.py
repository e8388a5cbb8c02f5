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
from explorer.catalog.model import FUTURE_SLACK_S, Catalog, History, Rating


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
        return history_from_lines(text_lines(read_text(path)), catalog, source=str(path))
    rows = read_jsonl(path) if fmt == "jsonl" else read_csv(path)
    ratings, unknown = [], []
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
