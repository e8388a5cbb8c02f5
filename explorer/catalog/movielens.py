"""The MovieLens format: movies.csv and tags.csv become items, ratings.csv becomes histories.

Files are read from wherever the user keeps them (never copied into this repository).
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from pathlib import Path

from explorer.catalog.files import read_text, validate_row
from explorer.catalog.model import Catalog, History, Item, Rating
from explorer.errors import DataError

TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
TRAILING_ARTICLE = re.compile(r"^(.*), (The|A|An|Les|La|Le|L'|Il|El|Die|Der|Das)$")
TAGS_PER_MOVIE = 5


def _rows(path: Path, required: list[str]):
    if not path.is_file():
        raise DataError("missing MovieLens file", path=path)
    reader = csv.DictReader(read_text(path).splitlines())
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"missing column(s) {missing}", path=path, line=1, field=missing[0])
    for row in reader:
        if None in row or any(row[c] is None for c in required):
            raise DataError(f"ragged row: expected {len(reader.fieldnames)} fields", path=path, line=reader.line_num)
        yield reader.line_num, row


def load_movielens_catalog(folder: str | Path) -> Catalog:
    folder = Path(folder)
    user_tags: dict[str, Counter] = defaultdict(Counter)
    if (folder / "tags.csv").is_file():
        for _, row in _rows(folder / "tags.csv", ["movieId", "tag"]):
            user_tags[row["movieId"]][row["tag"].strip().lower()] += 1
    items = {}
    path = folder / "movies.csv"
    for line, row in _rows(path, ["movieId", "title", "genres"]):
        raw_title = row["title"].strip()
        match = TITLE_YEAR.match(raw_title)
        title, year = (match.group(1), int(match.group(2))) if match else (raw_title, None)
        if article := TRAILING_ARTICLE.match(title):  # "Sixth Sense, The" reads as "The Sixth Sense"
            title = f"{article.group(2)} {article.group(1)}".replace("L' ", "L'")
        genres = [g.lower() for g in row["genres"].split("|") if g and g != "(no genres listed)"]
        extra = [t for t, _ in user_tags[row["movieId"]].most_common(TAGS_PER_MOVIE)]
        item = validate_row(Item, {"id": row["movieId"], "title": title or raw_title, "kind": "film", "year": year,
                                "tags": genres + extra, "description": ""}, path, line)
        items[item.id] = item
    if not items:
        raise DataError("movies.csv holds no movies", path=path)
    return Catalog(items, name="movielens", source=str(folder))


def load_movielens_histories(folder: str | Path) -> dict[str, History]:
    """Every user's ratings as a History, oldest first."""
    path = Path(folder) / "ratings.csv"
    by_user: dict[str, list[Rating]] = defaultdict(list)
    for line, row in _rows(path, ["userId", "movieId", "rating", "timestamp"]):
        try:
            rating = Rating(item_id=row["movieId"], rating=float(row["rating"]), timestamp=int(row["timestamp"]))
        except ValueError as exc:
            raise DataError(f"bad rating row ({exc.__class__.__name__})", path=path, line=line, field="rating") from None
        by_user[row["userId"]].append(rating)
    return {user: History.of(ratings, name=f"user {user}") for user, ratings in by_user.items()}
