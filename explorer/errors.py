"""Typed errors whose messages say what went wrong and how to fix it.

The CLI and the web app show these as one clean line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import shlex
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


DEMO_CATALOG = "data/catalog.jsonl"


def rebuild_command(data_dir: str | Path, catalog: str | Path = DEMO_CATALOG) -> str:
    """The command that (re)builds the index under `data_dir`, ready to paste into a shell."""
    return f"python -m explorer ingest {shlex.quote(str(catalog))} --data-dir {shlex.quote(str(data_dir))}"


class IndexUnavailableError(ExplorerError):
    """The Chroma index is missing, unreadable or stale; says the command that rebuilds it.

    `move_aside`: a damaged index must be moved out of the way first (moved, not deleted: nothing is lost).
    """

    def __init__(self, detail: str, data_dir: str | Path, *, move_aside: str | Path | None = None,
                 fix: str | None = None):
        self.data_dir = str(data_dir)
        command = rebuild_command(data_dir)
        if move_aside is not None:
            moved = shlex.quote(str(move_aside))
            command = f"mv {moved} {shlex.quote(str(move_aside) + '.broken')} && {command}"
        fix = fix or f"Rebuild it with: {command}"
        super().__init__(f"{detail}. {fix} (with your own catalogue in place of {DEMO_CATALOG} if you indexed another)")

    @classmethod
    def from_chroma(cls, path: str | Path, data_dir: str | Path, exc: BaseException) -> "IndexUnavailableError":
        """Say which of the usual causes it is (read-only, damaged or from another Chroma version) and its fix."""
        text = str(exc)
        lowered = text.lower()
        if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == errno.EROFS or any(
                s in lowered for s in ("readonly", "read-only", "permission denied")):
            return cls(f"the Chroma index at {path} is read-only ({text})", data_dir,
                       fix=f"Make it writable (chmod -R u+w {shlex.quote(str(path))}), or build an index in a "
                           f"writable folder: {rebuild_command('NEW_DIR')} and pass --data-dir NEW_DIR")
        if any(s in lowered for s in ("not a database", "inconsistent hash", "no such table", "malformed",
                                      "migration", "no such column", "disk image")):
            return cls(f"the Chroma index at {path} is damaged or was written by an incompatible Chroma version "
                       f"(this is chromadb {_chroma_version()}): {text}", data_dir, move_aside=path)
        return cls(f"cannot open the Chroma index at {path} ({text})", data_dir, move_aside=path)


def _chroma_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chromadb")
    except PackageNotFoundError:
        return "not installed"


class LLMTimeoutError(ExplorerError, TimeoutError):
    """An LLM call ran past `llm.timeout_s`; the step that made it falls back (and its notes say so)."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        super().__init__(f"the LLM timed out after {timeout_s:g} s (the limit is llm.timeout_s; "
                         f"EXPLORER_LLM__TIMEOUT_S raises it)")


class BackendUnavailableError(ExplorerError):
    """An optional backend is not installed or cannot run here; names the install command."""
