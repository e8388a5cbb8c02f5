"""Chat sessions that survive a restart: SQLite (WAL mode) under the data directory.

Each browser session has an unguessable id. Its state (a `ChatSession.to_dict()` snapshot plus a
label saying where the history came from) is saved after every change, and an append-only event log
keeps each message, 👍/👎 and profile edit. Live sessions are also kept in memory, so a request does not
re-read the database; a returning id that memory has forgotten (a restart) is read back from SQLite.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from explorer.catalog import History
from explorer.chat import ChatSession

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_session ON events(session_id, seq);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def valid_session_id(value) -> bool:
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


class SessionStore:
    """Session snapshots and their event log in one SQLite file (WAL: readers never wait for a writer)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        try:
            self.path.chmod(0o600)  # people's histories and a secret: readable by this user only
        except OSError:
            pass

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per operation: safe from any thread, and cheap for SQLite.
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            with db:  # one transaction, committed on success
                yield db
        finally:
            db.close()

    def secret(self, name: str) -> str:
        """A random secret made once and kept (e.g. the key that encrypts the id kept in the browser,
        which must outlive a restart for the browser's copy to stay readable)."""
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, secrets.token_urlsafe(32)))
            return db.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0]

    def journal_mode(self) -> str:
        with self._connect() as db:
            return db.execute("PRAGMA journal_mode").fetchone()[0]

    def save(self, session_id: str, state: dict, label: str = "", event: tuple[str, dict] | None = None) -> None:
        now = time.time()
        with self._connect() as db:
            db.execute("INSERT INTO sessions (id, label, created, updated, state) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET label=excluded.label, updated=excluded.updated, "
                       "state=excluded.state", (session_id, label, now, now, json.dumps(state)))
            if event is not None:
                kind, data = event
                db.execute("INSERT INTO events (session_id, at, kind, data) VALUES (?, ?, ?, ?)",
                           (session_id, now, kind, json.dumps(data)))

    def load(self, session_id: str) -> tuple[dict, str] | None:
        """(state, label) of a stored session, or None."""
        with self._connect() as db:
            row = db.execute("SELECT state, label FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def events(self, session_id: str) -> list[tuple[str, dict]]:
        with self._connect() as db:
            rows = db.execute("SELECT kind, data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
        return [(kind, json.loads(data)) for kind, data in rows]

    def count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]


@dataclass
class LiveSession:
    id: str
    chat: ChatSession
    label: str  # where the history came from: a persona's name, "pasted history", a file name


class SessionManager:
    """Live chat sessions by id, each saved to the store after every change and restored from it."""

    def __init__(self, explorer, store: SessionStore, capacity: int = 512):
        self.explorer = explorer
        self.store = store
        self.capacity = capacity
        self._live: OrderedDict[str, LiveSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id) -> LiveSession | None:
        """The session with this id, from memory or the store; None for an unknown or malformed id."""
        if not valid_session_id(session_id):
            return None
        with self._lock:
            live = self._live.get(session_id)
            if live is not None:
                self._live.move_to_end(session_id)
                return live
        stored = self.store.load(session_id)
        if stored is None:
            return None
        state, label = stored
        try:
            chat = ChatSession.from_dict(self.explorer, state)
        except (ValueError, TypeError, KeyError):
            return None  # a snapshot this version cannot read is treated as no session
        return self._remember(LiveSession(session_id, chat, label))

    def start(self, history: History, label: str, explore: float = 0.3, session_id: str | None = None,
              k: int = 5) -> LiveSession:
        """A fresh conversation over `history`, under `session_id` (kept) or a new id."""
        session_id = session_id if valid_session_id(session_id) else new_session_id()
        live = LiveSession(session_id, self.explorer.chat(history, explore=explore, k=k), label)
        self._remember(live)
        self.save(live, ("start", {"label": label, "items": len(history)}))
        return live

    def save(self, live: LiveSession, event: tuple[str, dict] | None = None) -> None:
        self.store.save(live.id, live.chat.to_dict(), live.label, event)

    def _remember(self, live: LiveSession) -> LiveSession:
        with self._lock:
            self._live[live.id] = live
            self._live.move_to_end(live.id)
            while len(self._live) > self.capacity:
                self._live.popitem(last=False)
        return live
