"""Where chat sessions are kept: one interface, two stores.

`SQLiteSessionStore` (the default: one file under the data directory, WAL mode) serves one app process,
or several on one machine. `PostgresSessionStore` (psycopg 3 with a small connection pool) serves several
app replicas on several machines. Both keep the same three tables with the same meaning:

- sessions: one row per session id, upserted on every save: the `ChatSession.to_dict()` snapshot, a label
  (where the history came from) and a `version` that goes up by one on every save, so a process that
  holds a session in memory can ask cheaply whether another process has changed it since;
- events: an append-only log of what happened (start, message, feedback, profile edit, explore);
- secrets: random values made once and then shared by every process (the key that encrypts the session
  id kept in the browser must be the same on every replica, or a browser could not come back to another).

`open_session_store(settings)` picks the store from `settings.sessions.url`.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from explorer.errors import BackendUnavailableError

SQLITE_FILE = "sessions.sqlite3"
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
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
POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL DEFAULT '',
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    state JSONB NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    at DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    data JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_session ON events(session_id, seq);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
SCHEMA_LOCK = 0x1E5E55  # advisory lock: replicas starting together create the tables one at a time


@dataclass(frozen=True)
class StoredSession:
    state: dict
    label: str
    version: int


@runtime_checkable
class SessionStorage(Protocol):
    """What the session manager needs from a store. Every method is safe to call from any thread."""

    def save(self, session_id: str, state: dict, label: str = "",
             event: tuple[str, dict] | None = None) -> int:
        """Upsert the session's snapshot (and append `event`, in the same transaction); the new version."""

    def load(self, session_id: str) -> StoredSession | None: ...

    def version(self, session_id: str) -> int | None:
        """The stored version of a session (None: not stored): a cheap check that a cached copy is current."""

    def events(self, session_id: str) -> list[tuple[str, dict]]:
        """The session's events, oldest first."""

    def count(self) -> int: ...

    def secret(self, name: str) -> str:
        """A random secret made once and kept: every process and every restart gets the same value."""

    def close(self) -> None: ...


class SQLiteSessionStore:
    """Sessions in one SQLite file (WAL: readers never wait for a writer; a commit survives a killed process)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SQLITE_SCHEMA)
            self._add_version_column(db)
        for path in (self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))):
            try:
                path.chmod(0o600)  # people's histories and a secret (the WAL holds recent ones): this user only
            except OSError:
                pass

    @staticmethod
    def _add_version_column(db: sqlite3.Connection) -> None:
        """Files written before sessions had a version get the column (every old row starts at 1)."""
        if "version" in {row[1] for row in db.execute("PRAGMA table_info(sessions)")}:
            return
        try:
            db.execute("ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise

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
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, secrets.token_urlsafe(32)))
            return db.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0]

    def journal_mode(self) -> str:
        with self._connect() as db:
            return db.execute("PRAGMA journal_mode").fetchone()[0]

    def save(self, session_id: str, state: dict, label: str = "", event: tuple[str, dict] | None = None) -> int:
        now = time.time()
        with self._connect() as db:
            version = db.execute(
                "INSERT INTO sessions (id, label, created, updated, state) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET label=excluded.label, updated=excluded.updated, "
                "state=excluded.state, version=sessions.version + 1 RETURNING version",
                (session_id, label, now, now, json.dumps(state))).fetchone()[0]
            if event is not None:
                kind, data = event
                db.execute("INSERT INTO events (session_id, at, kind, data) VALUES (?, ?, ?, ?)",
                           (session_id, now, kind, json.dumps(data)))
        return version

    def load(self, session_id: str) -> StoredSession | None:
        with self._connect() as db:
            row = db.execute("SELECT state, label, version FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return StoredSession(json.loads(row[0]), row[1], row[2]) if row else None

    def version(self, session_id: str) -> int | None:
        with self._connect() as db:
            row = db.execute("SELECT version FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return row[0] if row else None

    def events(self, session_id: str) -> list[tuple[str, dict]]:
        with self._connect() as db:
            rows = db.execute("SELECT kind, data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
        return [(kind, json.loads(data)) for kind, data in rows]

    def count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own connection."""


class PostgresSessionStore:
    """Sessions in PostgreSQL, shared by every app replica: JSONB snapshots, a pool of a few connections,
    tables created on first use."""

    def __init__(self, url: str, pool_size: int = 4, connect_timeout_s: float = 10.0):
        try:
            import psycopg
            from psycopg.types.json import Jsonb
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise BackendUnavailableError(
                "a PostgreSQL session store needs psycopg 3; run: pip install 'psycopg[binary]' psycopg-pool") from exc
        self._jsonb = Jsonb
        self.where = describe_postgres_url(url)
        connect = {"connect_timeout": max(1, round(connect_timeout_s))}
        try:  # one plain connection first: a wrong URL or a stopped server fails now, with the server's reason
            with psycopg.connect(url, **connect) as db:
                db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                db.execute(POSTGRES_SCHEMA)
        except psycopg.Error as exc:
            raise BackendUnavailableError(
                f"cannot use the session store at {self.where}: {str(exc).strip() or type(exc).__name__}; "
                "check sessions.url (EXPLORER_SESSIONS__URL) and that the server is running") from exc
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True, name="explorer-sessions",
                                   timeout=30, kwargs=connect)

    def secret(self, name: str) -> str:
        with self.pool.connection() as db:
            db.execute("INSERT INTO secrets (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                       (name, secrets.token_urlsafe(32)))
            return db.execute("SELECT value FROM secrets WHERE name = %s", (name,)).fetchone()[0]

    def save(self, session_id: str, state: dict, label: str = "", event: tuple[str, dict] | None = None) -> int:
        now = time.time()
        with self.pool.connection() as db:
            version = db.execute(
                "INSERT INTO sessions (id, label, created, updated, state) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, updated = EXCLUDED.updated, "
                "state = EXCLUDED.state, version = sessions.version + 1 RETURNING version",
                (session_id, label, now, now, self._jsonb(state))).fetchone()[0]
            if event is not None:
                kind, data = event
                db.execute("INSERT INTO events (session_id, at, kind, data) VALUES (%s, %s, %s, %s)",
                           (session_id, now, kind, self._jsonb(data)))
        return version

    def load(self, session_id: str) -> StoredSession | None:
        with self.pool.connection() as db:
            row = db.execute("SELECT state, label, version FROM sessions WHERE id = %s", (session_id,)).fetchone()
        return StoredSession(row[0], row[1], row[2]) if row else None

    def version(self, session_id: str) -> int | None:
        with self.pool.connection() as db:
            row = db.execute("SELECT version FROM sessions WHERE id = %s", (session_id,)).fetchone()
        return row[0] if row else None

    def events(self, session_id: str) -> list[tuple[str, dict]]:
        with self.pool.connection() as db:
            rows = db.execute("SELECT kind, data FROM events WHERE session_id = %s ORDER BY seq", (session_id,)).fetchall()
        return [(kind, data) for kind, data in rows]

    def count(self) -> int:
        with self.pool.connection() as db:
            return db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]

    def close(self) -> None:
        self.pool.close()


def describe_postgres_url(url: str) -> str:
    """The URL without its password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # a malformed URL: say so without echoing it (it may hold a password)
        return "PostgreSQL (a malformed sessions.url)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', 'localhost')}{port}/{parts.get('dbname', '')}"


def open_session_store(settings) -> SessionStorage:
    """The store `settings.sessions.url` names: a SQLite file under data_dir when it is None."""
    url = settings.sessions.url
    if url is None:
        return SQLiteSessionStore(Path(settings.data_dir) / SQLITE_FILE)
    if url.startswith("sqlite:///"):
        return SQLiteSessionStore(Path(url.removeprefix("sqlite:///")))
    return PostgresSessionStore(url, pool_size=settings.sessions.pool_size)
