"""Live chat sessions: kept in memory for speed, saved to a session store after every change.

Each browser session has an unguessable id. Its state (a `ChatSession.to_dict()` snapshot plus a label
saying where the history came from) is saved after every change, with an event for each message, 👍/👎
and profile edit (explorer/store/sessions.py: SQLite by default, PostgreSQL for several replicas).

Live sessions are also kept in memory, so a request does not rebuild the session from its snapshot.
Several processes may share one store (app replicas on PostgreSQL, or on one SQLite file), so memory is
never trusted blindly: every `get` asks the store for the session's version (one indexed read) and
reads the snapshot again when another process has saved a newer one. A returning id that memory has
forgotten (a restart) is read back from the store.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from explorer.catalog import History
from explorer.chat.session import ChatSession
from explorer.store.sessions import (PostgresSessionStore, SessionStorage, SQLiteSessionStore, StoredSession,
                                    open_session_store)

__all__ = ["LiveSession", "PostgresSessionStore", "SQLiteSessionStore", "SessionManager", "SessionStorage",
           "StoredSession", "new_session_id", "open_session_store", "valid_session_id"]


SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def valid_session_id(value) -> bool:
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


@dataclass
class LiveSession:
    id: str
    chat: ChatSession
    label: str  # where the history came from: a persona's name, "pasted history", a file name
    version: int = 0  # the stored version this copy matches (0: not saved yet)


class SessionManager:
    """Live chat sessions by id, each saved to the store after every change and restored from it."""

    def __init__(self, explorer, store: SessionStorage, capacity: int = 512):
        self.explorer = explorer
        self.store = store
        self.capacity = capacity
        self._live: OrderedDict[str, LiveSession] = OrderedDict()
        self._lock = threading.Lock()  # guards the two dicts
        self._session_locks: dict[str, threading.Lock] = {}  # one per live session: its check and its save

    def _session_lock(self, session_id: str) -> threading.Lock:
        with self._lock:
            return self._session_locks.setdefault(session_id, threading.Lock())

    def get(self, session_id) -> LiveSession | None:
        """The session with this id, current with the store; None for an unknown or malformed id."""
        if not valid_session_id(session_id):
            return None
        with self._session_lock(session_id):  # not while this process is saving it
            with self._lock:
                live = self._live.get(session_id)
            stored_version = self.store.version(session_id)
            if live is not None and stored_version is not None and stored_version <= live.version:
                with self._lock:
                    if session_id in self._live:
                        self._live.move_to_end(session_id)
                return live
            stored = self.store.load(session_id)  # first sight, or another process saved it since
            try:
                chat = ChatSession.from_dict(self.explorer, stored.state) if stored else None
            except (ValueError, TypeError, KeyError):
                chat = None  # a snapshot this version cannot read is treated as no session
            if chat is None:
                with self._lock:
                    self._live.pop(session_id, None)
                return None
            return self._remember(LiveSession(session_id, chat, stored.label, stored.version))

    def start(self, history: History, label: str, explore: float = 0.3, session_id: str | None = None,
              k: int = 5) -> LiveSession:
        """A fresh conversation over `history`, under `session_id` (kept) or a new id."""
        session_id = session_id if valid_session_id(session_id) else new_session_id()
        live = LiveSession(session_id, ChatSession(self.explorer, history, explore=explore, k=k), label)
        self._remember(live)
        self.save(live, ("start", {"label": label, "items": len(history)}))
        return live

    def save(self, live: LiveSession, event: tuple[str, dict] | None = None) -> None:
        """Store the session's snapshot (and an event); two processes saving one session at once: the
        last save wins (a session belongs to one browser, which talks to one replica at a time)."""
        with self._session_lock(live.id):
            live.version = self.store.save(live.id, live.chat.to_dict(), live.label, event)

    def _remember(self, live: LiveSession) -> LiveSession:
        with self._lock:
            self._live[live.id] = live
            self._live.move_to_end(live.id)
            while len(self._live) > self.capacity:
                forgotten, _ = self._live.popitem(last=False)
                self._session_locks.pop(forgotten, None)
        return live
