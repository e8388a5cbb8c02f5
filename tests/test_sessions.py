"""The session stores: one contract, run against SQLite and a real PostgreSQL server; a SQLite writer killed
with SIGKILL loses no committed save; replicas sharing a store never serve a stale session; and two real
app processes sharing PostgreSQL hand one browser's session from one to the other.

PostgreSQL is Debian's server (`make postgres` installs it), started by the `postgres` fixture as a
throwaway cluster on a free loopback port in a temporary folder, and removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from explorer.config import PROJECT_ROOT, Settings
from explorer.errors import BackendUnavailableError
from explorer.tools.processes import free_port, stop_process
from explorer.store.sessions import (PostgresSessionStore, SessionStorage, SQLiteSessionStore, StoredSession,
                                    open_session_store)
from explorer.chat.live import SessionManager
from tests.tiers import needs

INSTALL = "apt-get install -y postgresql (or `make postgres`, as root)"


def postgres_bin() -> Path:
    """The directory of Debian's initdb/pg_ctl (the newest version when several are installed)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not versions:
        pytest.fail(f"PostgreSQL server binaries (initdb, pg_ctl) are not installed; run: {INSTALL}")
    return versions[-1].parent


class Cluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1. PostgreSQL refuses to run as root, so as root every
    server command runs as Debian's `postgres` user in a folder it owns."""

    def __init__(self):
        self.bin = postgres_bin()
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="explorer-pg-"))
        self.data, self.sockets, self.log = self.base / "data", self.base / "sockets", self.base / "server.log"
        self.sockets.mkdir()
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self.port = free_port()
        self.url = f"postgresql://explorer@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            pytest.fail(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}\n{log}")

    def start(self) -> "Cluster":
        self.run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "explorer", "--auth=trust", "-E", "UTF8",
                 "--locale=C", "--no-sync", "--no-instructions")
        self.run(str(self.bin / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                 "-o", f"-h 127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off")
        return self

    def stop(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data))
        shutil.rmtree(self.base, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh, empty database on this cluster; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
@needs("system")
def postgres():
    cluster = Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.system)])
def store_url(request, tmp_path) -> str:
    """A URL for an empty store of each kind (a fresh file, or a fresh database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.sqlite3'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def open_store(store_url, tmp_path):
    """Opens stores on `store_url`: each call is another process's view of the same store."""
    opened = []

    def _open() -> SessionStorage:
        store = open_session_store(Settings(data_dir=tmp_path, sessions={"url": store_url}))
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


# ---------------------------------------------------------------- the contract, on both stores

def test_a_session_round_trips_and_unknown_ids_get_nothing(open_store):
    store = open_store()
    assert isinstance(store, SessionStorage) and store.count() == 0
    state = {"history": [{"item_id": "film-alien-1979", "rating": 4.5}], "explore": 0.3,
             "turns": [["less horror", "Noted: less horror. ✓ «quoted»"]], "profile": None, "nested": {"a": [1, 2.25]}}
    assert store.save("session-aaaaaaaaaaaaaaaa", state, "Raven") == 1
    assert store.load("session-aaaaaaaaaaaaaaaa") == StoredSession(state, "Raven", 1)
    assert store.version("session-aaaaaaaaaaaaaaaa") == 1
    assert store.load("session-unknown-0000000") is None and store.version("session-unknown-0000000") is None
    assert store.events("session-unknown-0000000") == []


def test_a_second_save_updates_the_session_in_place(open_store):
    store = open_store()
    store.save("session-bbbbbbbbbbbbbbbb", {"turns": []}, "Maya")
    assert store.save("session-bbbbbbbbbbbbbbbb", {"turns": [["hi", "hello"]]}, "pasted history") == 2
    assert open_store().load("session-bbbbbbbbbbbbbbbb") == StoredSession({"turns": [["hi", "hello"]]}, "pasted history", 2)
    assert store.count() == 1


def test_events_are_kept_in_order_per_session(open_store):
    store = open_store()
    kinds = [("start", {"label": "Dev"}), ("message", {"text": "surprise me"}),
             ("feedback", {"item_id": "film-arrival-2016", "liked": True}), ("profile_edit", {"avoid": ["gore"]})]
    for i, event in enumerate(kinds):
        store.save("session-cccccccccccccccc", {"step": i}, "Dev", event)
        store.save("session-dddddddddddddddd", {"step": i}, "other", ("message", {"text": f"other {i}"}))
    store.save("session-cccccccccccccccc", {"step": 9}, "Dev")  # a save without an event adds none
    assert store.events("session-cccccccccccccccc") == kinds
    assert [data["text"] for _, data in store.events("session-dddddddddddddddd")] == [f"other {i}" for i in range(4)]


def test_a_secret_is_made_once_and_shared_by_every_process(open_store):
    first, second = open_store(), open_store()
    key = first.secret("browser-state")
    assert len(key) >= 32 and second.secret("browser-state") == key == first.secret("browser-state")
    assert first.secret("another") != key


def test_concurrent_saves_from_threads_lose_nothing(open_store):
    """Eight threads (more than a PostgreSQL pool's connections) save 25 times each: half to a session of
    their own, half to one session they all share."""
    store = open_store()
    threads, saves = 8, 25

    def writer(t: int) -> None:
        for i in range(saves):
            store.save(f"own-session-{t:04d}-xxxx", {"t": t, "i": i}, f"writer {t}", ("tick", {"i": i}))
            store.save("shared-session-0000-xxxx", {"t": t, "i": i}, "shared", ("tick", {"t": t, "i": i}))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(writer, range(threads)))
    assert store.count() == threads + 1
    for t in range(threads):
        assert store.load(f"own-session-{t:04d}-xxxx") == StoredSession({"t": t, "i": saves - 1}, f"writer {t}", saves)
        assert [data["i"] for _, data in store.events(f"own-session-{t:04d}-xxxx")] == list(range(saves))
    assert store.version("shared-session-0000-xxxx") == threads * saves
    shared = store.events("shared-session-0000-xxxx")
    assert len(shared) == threads * saves
    for t in range(threads):  # each writer's events, in the order it wrote them
        assert [d["i"] for _, d in shared if d["t"] == t] == list(range(saves))


def test_replicas_sharing_a_store_never_serve_a_stale_session(open_store, explorer_fallback):
    """Two session managers (two app processes) on one store: each sees what the other saved after it
    had cached the session: 👍, a profile edit, a fresh start under the same id."""
    replica_a = SessionManager(explorer_fallback, open_store())
    replica_b = SessionManager(explorer_fallback, open_store())
    live = replica_a.start(explorer_fallback.persona("Maya"), "Maya")
    "".join(live.chat.send(""))
    replica_a.save(live, ("message", {"text": ""}))
    cached = replica_b.get(live.id)
    assert cached.chat.to_dict() == live.chat.to_dict() and replica_b.get(live.id) is cached  # memory, when current

    liked = live.chat.last.recommendations[0].item_id
    live.chat.feedback(liked, True)
    replica_a.save(live, ("feedback", {"item_id": liked, "liked": True}))
    edited = live.chat.revise_profile(["space opera", "slow cinema"], ["gore"])
    replica_a.save(live, ("profile_edit", edited.model_dump(mode="json")))
    seen = replica_b.get(live.id)
    assert seen is not cached and seen.chat.feedback_on(liked) is True and seen.chat.profile == edited

    seen.chat.explore = 0.9  # and back the other way
    replica_b.save(seen, ("explore", {"value": 0.9}))
    assert replica_a.get(live.id).chat.explore == 0.9
    replica_b.start(explorer_fallback.persona("Dev"), "Dev", session_id=live.id)
    assert replica_a.get(live.id).label == "Dev" and replica_a.get(live.id).chat.profile is None
    assert [kind for kind, _ in replica_a.store.events(live.id)] == [
        "start", "message", "feedback", "profile_edit", "explore", "start"]


# ---------------------------------------------------------------- configuration and errors

def test_the_store_follows_the_sessions_url(tmp_path, monkeypatch, postgres):
    assert isinstance(open_session_store(Settings(data_dir=tmp_path)), SQLiteSessionStore)
    assert (tmp_path / "sessions.sqlite3").exists()
    monkeypatch.setenv("EXPLORER_SESSIONS__URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert open_session_store(Settings(data_dir=tmp_path)).path == tmp_path / "elsewhere.db"
    monkeypatch.setenv("EXPLORER_SESSIONS__URL", postgres.new_database())
    store = open_session_store(Settings(data_dir=tmp_path))
    assert isinstance(store, PostgresSessionStore)
    store.close()
    monkeypatch.setenv("EXPLORER_SESSIONS__URL", "mysql://db/sessions")
    with pytest.raises(ValueError, match="sessions.url"):
        Settings(data_dir=tmp_path)


def test_an_unreachable_postgresql_names_the_url_without_its_password():
    url = f"postgresql://explorer:hunter2@127.0.0.1:{free_port()}/sessions"  # nothing listens there
    with pytest.raises(BackendUnavailableError) as raised:
        PostgresSessionStore(url, connect_timeout_s=2)
    message = str(raised.value)
    assert "hunter2" not in message and "explorer@127.0.0.1" in message and "EXPLORER_SESSIONS__URL" in message



def test_the_app_stops_with_one_line_when_its_session_store_is_unreachable(tmp_path, run_process):
    url = f"postgresql://explorer:hunter2@127.0.0.1:{free_port()}/sessions"
    env = {"EXPLORER_SESSIONS__URL": url, "EXPLORER_DATA_DIR": str(tmp_path), "EXPLORER_LLM__BACKEND": "none"}
    done = run_process([sys.executable, "app.py", "--port", str(free_port())], env=env, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: cannot use the session store at postgresql://explorer@127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr + done.stdout


# ---------------------------------------------------------------- a killed writer

WRITER = """
import sys
from explorer.store.sessions import SQLiteSessionStore
store = SQLiteSessionStore(sys.argv[1])
i = 0
while True:
    i += 1
    store.save("killed-writer-session", {"n": i, "pad": "x" * 2000}, "writer", ("tick", {"n": i}))
    print(i, flush=True)
"""


def test_sqlite_keeps_every_committed_save_when_its_writer_is_killed(tmp_path, spawn):
    """A process saving in a loop is killed with SIGKILL mid-write; every save it reported is there, the
    snapshot and its event log agree, and the file is intact."""
    path = tmp_path / "sessions.sqlite3"
    writer = spawn([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        reported = 0
        while reported < 150:
            line = writer.stdout.readline()
            assert line, f"the writer stopped early (exit {writer.poll()})"
            reported = int(line)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    store = SQLiteSessionStore(path)
    back = store.load("killed-writer-session")
    assert back.state["n"] >= reported and back.version == back.state["n"]
    assert [data["n"] for _, data in store.events("killed-writer-session")] == list(range(1, back.state["n"] + 1))
    assert store.journal_mode() == "wal"
    import sqlite3

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---------------------------------------------------------------- two app processes, one PostgreSQL

class Replica:
    """app.py in its own process on a loopback port, with the LLM off and sessions in PostgreSQL."""

    def __init__(self, data_dir: Path, sessions_url: str, log: Path):
        self.env = {**os.environ, "EXPLORER_DATA_DIR": str(data_dir), "EXPLORER_LLM__BACKEND": "none",
                    "EXPLORER_SESSIONS__URL": sessions_url, "HF_HUB_OFFLINE": "1",
                    "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}
        self.log = log
        self.launch()

    def launch(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        with self.log.open("w") as out:
            self.process = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port)], cwd=PROJECT_ROOT,
                                            env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait_up(self, timeout_s: float = 240) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log.read_text()
                # The port was free when chosen, but the app binds it only after its imports (tens of seconds).
                assert "Cannot find empty port" in log, f"app.py exited: {log[-3000:]}"
                self.launch()
            try:
                ours = f"Running on local URL:  {self.url.rstrip('/')}" in self.log.read_text()  # not another program's
                if ours and httpx.get(self.url, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        pytest.fail(f"app.py did not serve {self.url} in {timeout_s} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def replicas(postgres, explorer_fallback, data_dir, tmp_path):
    """Two app processes sharing one PostgreSQL database; each has its own copy of the built index."""
    url = postgres.new_database()
    started = []
    for name in ("a", "b"):
        copy = shutil.copytree(data_dir, tmp_path / f"data-{name}", ignore=shutil.ignore_patterns("sessions.sqlite3*"))
        started.append(Replica(copy, url, tmp_path / f"app-{name}.log"))
    try:
        for replica in started:
            replica.wait_up()
        yield (*started, url)
    finally:
        for replica in started:
            replica.stop()


def test_two_app_replicas_on_postgresql_hand_a_session_over(replicas):
    """A browser's session, 👍 and profile edit made on replica A come back on replica B (as behind a load
    balancer: one origin, so the same encrypted id in localStorage); an edit made on A after B has cached
    the session shows on B's next load."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's chromium: run `make browser` (as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.test_browser import CHROMIUM_ARGS, card, card_ids, vote, wait_answer, wait_status

    replica_a, replica_b, url = replicas
    began = time.perf_counter()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(90_000)
        page = context.new_page()
        page.goto(replica_a.url)
        wait_status(page, "Showing")
        page.click("#recommend")
        wait_answer(page, 1)
        cards = card_ids(page)
        page.fill("#avoid textarea", "gore")  # before the vote: its profile refresh rewrites this box
        page.click("#save-profile")
        wait_status(page, "Profile saved")
        vote(page, cards[0], liked=True)
        wait_status(page, "👍 noted")
        kept = page.evaluate("() => localStorage.getItem('interest-explorer-session')")
        assert kept

        # The same browser on replica B: copy A's localStorage entry to B's origin, then load the page.
        page.goto(replica_b.url + "gradio_api/info")
        page.evaluate("kept => localStorage.setItem('interest-explorer-session', kept)", kept)
        page.goto(replica_b.url)
        wait_status(page, "Welcome back")
        assert card_ids(page) == cards
        assert "👍 liked" in card(page, cards[0]).inner_text()  # the vote, restored from A's save
        assert page.input_value("#avoid textarea").splitlines() == ["gore"]

        # B now holds the session in memory; a later edit on A must still show on B.
        other = context.new_page()
        other.goto(replica_a.url)
        wait_status(other, "Welcome back")
        other.fill("#avoid textarea", "gore\nmusicals")
        other.click("#save-profile")
        wait_status(other, "Profile saved")
        page.reload()
        wait_status(page, "Welcome back")
        assert page.input_value("#avoid textarea").splitlines() == ["gore", "musicals"]
        browser.close()
    print(f"browser part of the replica hand-over: {time.perf_counter() - began:.1f} s")

    store = PostgresSessionStore(url)
    try:
        assert store.count() == 1  # B restored A's session and made none of its own
        events = store.events(only_session_id(store))
        assert [kind for kind, _ in events] == ["start", "message", "profile_edit", "feedback", "profile_edit"]
    finally:
        store.close()


def only_session_id(store: PostgresSessionStore) -> str:
    with store.pool.connection() as db:
        return db.execute("SELECT id FROM sessions").fetchone()[0]
