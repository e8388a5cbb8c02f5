"""Which reader a catalogue needs: a JSONL or CSV file, or a MovieLens folder (guessed from the path)."""

from __future__ import annotations

from pathlib import Path

from explorer.catalog.files import catalog_from_rows, read_csv, read_jsonl
from explorer.catalog.model import Catalog
from explorer.catalog.movielens import load_movielens_catalog
from explorer.errors import DataError


def load_catalog(path: str | Path, fmt: str | None = None) -> Catalog:
    """Load a catalogue from a JSONL or CSV file, or a MovieLens folder (format guessed from the path)."""
    path = Path(path)
    fmt = fmt or guess_format(path)
    if fmt == "movielens":
        return load_movielens_catalog(path)
    if not path.is_file():
        raise DataError("no such catalogue file", path=path)
    rows = read_jsonl(path) if fmt == "jsonl" else read_csv(path) if fmt == "csv" else None
    if rows is None:
        raise DataError(f"unknown catalogue format {fmt!r}; use jsonl, csv or movielens", path=path)
    return catalog_from_rows(rows, path, name=path.stem)


def guess_format(path: Path) -> str:
    if path.is_dir():
        return "movielens"
    suffix = path.suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}.get(suffix, suffix.lstrip("."))
