"""Catalogue files: JSONL and CSV rows validated into a Catalog, MovieLens folders by their own reader.

Loaders validate every row before anything touches the index, so a bad file never leaves a
half-built collection behind. Errors name the file, line and field.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import BaseModel, ValidationError

from explorer.errors import DataError

log = logging.getLogger(__name__)
from explorer.catalog.model import MAX_DESCRIPTION_CHARS, MAX_FIELD_BYTES, Catalog, Item

log = logging.getLogger(__name__)

# Files that are not text at all, by their first bytes: named in the error instead of "not valid UTF-8".
MAGIC = {b"%PDF": "a PDF document", b"PK\x03\x04": "a zip archive (xlsx, docx, ...)", b"\x1f\x8b": "a gzip archive",
         b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"SQLite format 3": "an SQLite database",
         b"\xd0\xcf\x11\xe0": "an old Office document (xls, doc)", b"PAR1": "a Parquet file"}
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_BYTES))  # process-wide: set once, here



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
        item = validate_row(Item, row, path, line)
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


def validate_row(model: type[BaseModel], row: dict, path: Path, line: int):
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"]) or None
        raise DataError(err["msg"], path=path, line=line, field=field_name) from None


def read_text(path: Path) -> str:
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


def text_lines(text: str) -> list[str]:
    """Lines as an editor counts them (str.splitlines also splits at U+2028 and friends, which JSON allows)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for line_no, line in enumerate(text_lines(read_text(path)), start=1):
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


def read_csv(path: Path) -> Iterator[tuple[int, dict]]:
    text = read_text(path)
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


