"""Typed errors whose messages say what went wrong and how to fix it.

The CLI and the web app show these as one clean line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class ExplorerError(Exception):
    """Base class for every error a user can act on."""


class DataError(ExplorerError):
    """A catalogue or history file is malformed; names the file, line and field where there is one."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field = (str(path) if path else None), line, field
        where = ":".join(str(p) for p in (self.path, line) if p is not None)
        prefix = f"{where}: " if where else ""
        suffix = f" (field '{field}')" if field else ""
        super().__init__(f"{prefix}{message}{suffix}")


class UnknownItemError(ExplorerError):
    """An item id or title that the catalogue does not hold."""

    def __init__(self, missing: list[str], source: str = "history"):
        self.missing = list(missing)
        shown = ", ".join(repr(m) for m in self.missing[:10])
        more = f" and {len(self.missing) - 10} more" if len(self.missing) > 10 else ""
        super().__init__(f"{len(self.missing)} item(s) in the {source} are not in the catalogue: {shown}{more}")


class UnknownPersonaError(ExplorerError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown persona {name!r}; known personas: {', '.join(sorted(known))}")


class EmptyHistoryError(ExplorerError):
    def __init__(self, detail: str = ""):
        super().__init__("the history is empty" + (f": {detail}" if detail else "")
                         + "; rate or name at least one catalogue item")


class IndexUnavailableError(ExplorerError):
    """The Chroma index is missing, unreadable or stale; says the command that rebuilds it."""

    def __init__(self, detail: str, data_dir: str | Path):
        super().__init__(f"{detail}. Rebuild it with: python -m explorer ingest --data-dir {data_dir}")


class BackendUnavailableError(ExplorerError):
    """An optional backend is not installed or cannot run here; names the install command."""
