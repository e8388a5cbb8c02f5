"""Faults: a slow or hung LLM, a process killed mid-ingestion, an app killed mid-chat, a broken Chroma index.

The index faults and the kills run the real CLI and the real app as subprocesses, so what is checked is
what a person sees. Tests named *scripted_fake* use a scripted stand-in for the LLM on purpose: a real
model cannot be made slow on demand; the real model's timeout is checked in
test_the_real_llm_with_a_tiny_timeout_falls_back_and_frees_the_model.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from explorer.catalog import History, Rating, load_catalog
from explorer.config import PROJECT_ROOT, Settings
from explorer.errors import LLMTimeoutError
from explorer.pipeline.explain import Explainer
from explorer.llm.guard import GuardedBackend
from explorer.pipeline.plan import Planner
from explorer.tools.processes import free_port, stop_process, wait_until_serving
from explorer.pipeline.profile import ProfileBuilder
from explorer.pipeline.prompts import select_prompt
from explorer.pipeline.values import ExploreQuery

SETTINGS = Settings()
CATALOG = load_catalog(SETTINGS.catalog)
SCIFI = History.of([Rating(item_id="film-arrival-2016", rating=5.0), Rating(item_id="book-dune-1965", rating=4.5),
                    Rating(item_id="film-interstellar-2014", rating=4.5), Rating(item_id="film-the-shining-1980", rating=1.0)])
# COLUMNS: rich wraps the CLI's messages at 80 columns when not on a terminal, folding long paths mid-word.
ENV = {"HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False", "COLUMNS": "500"}


def prompt(step):
    return select_prompt(SETTINGS.prompts_dir, step)


def flat(text: str) -> str:
    """Rich wraps long lines at the terminal width; compare messages with their whitespace folded."""
    return " ".join(text.split())


# ---------------------------------------------------------------- the LLM: slow, hung, abandoned

class ScriptedSlowFakeLLM:
    """A scripted fake, on purpose: a real model cannot be made slow on demand. It waits `first` seconds
    before its first chunk and `gap` between chunks, and records whether its stream was closed (abandoned)."""

    model_id = "scripted-slow-fake"

    def __init__(self, first=0.0, gap=0.0, chunks=20, error=None):
        self.first, self.gap, self.chunks, self.error = first, gap, chunks, error
        self.closed = threading.Event()
        self.sent = 0

    def stream(self, messages, max_new_tokens=None):
        try:
            time.sleep(self.first)
            if self.error:
                raise self.error
            for n in range(self.chunks):
                if n:
                    time.sleep(self.gap)
                self.sent += 1
                yield f"word{n} "
        finally:
            self.closed.set()

    def generate(self, messages, max_new_tokens=None):
        return "".join(self.stream(messages, max_new_tokens))

    def choose(self, messages, schema, max_new_tokens=None):
        time.sleep(self.first)
        if self.error:
            raise self.error
        return {}


def test_guard_times_out_waiting_for_the_first_chunk_scripted_fake():
    fake = ScriptedSlowFakeLLM(first=3.0)
    with pytest.raises(LLMTimeoutError, match=r"timed out after 0\.2 s"):
        list(GuardedBackend(fake, 0.2).stream([]))
    assert not fake.closed.is_set()  # the guard did not wait for the backend, still in its 3 s sleep
    assert fake.closed.wait(10)  # and the abandoned stream was closed once it produced something


def test_a_backend_that_raises_before_streaming_is_reported_as_itself_scripted_fake():
    """A scripted fake: a non-generator `stream` that fails at once (a refused connection, say) must surface
    as that error, not as a timeout after the whole limit."""
    class FailsAtOnce:
        model_id = "scripted-fails-at-once-fake"

        def stream(self, messages, max_new_tokens=None):
            raise ConnectionRefusedError("no server")

    with pytest.raises(ConnectionRefusedError, match="no server"):
        list(GuardedBackend(FailsAtOnce(), 30).stream([]))


def test_guard_times_out_between_chunks_and_closes_the_stream_scripted_fake():
    fake = ScriptedSlowFakeLLM(gap=0.1, chunks=200)
    got = []
    with pytest.raises(LLMTimeoutError):
        for chunk in GuardedBackend(fake, 0.5).stream([]):
            got.append(chunk)
    assert 1 <= len(got) < 200 and got[0] == "word0 "
    assert fake.closed.wait(10) and fake.sent < 200  # nobody read on, so the backend was stopped early


def test_guard_bounds_choose_and_generate_and_passes_answers_and_errors_through_scripted_fake():
    with pytest.raises(LLMTimeoutError):
        GuardedBackend(ScriptedSlowFakeLLM(first=2.0), 0.2).choose([], {})
    with pytest.raises(LLMTimeoutError):
        GuardedBackend(ScriptedSlowFakeLLM(first=2.0), 0.2).generate([])
    fast = GuardedBackend(ScriptedSlowFakeLLM(chunks=3), 5)
    assert fast.generate([]) == "word0 word1 word2 " and "".join(fast.stream([])) == "word0 word1 word2 "
    assert fast.choose([], {}) == {} and fast.model_id == "scripted-slow-fake"
    with pytest.raises(ValueError, match="bad weights"):
        list(GuardedBackend(ScriptedSlowFakeLLM(error=ValueError("bad weights")), 5).stream([]))


def test_every_step_falls_back_and_says_the_llm_timed_out_scripted_fake():
    slow = GuardedBackend(ScriptedSlowFakeLLM(first=3.0), 0.2)
    profile = ProfileBuilder(CATALOG, slow, prompt("profile_themes"), prompt("profile_summary")).build(SCIFI)
    assert profile.served_by == "fallback" and profile.value.themes
    assert any("timed out" in n for n in profile.notes), profile.notes
    plan = Planner(CATALOG, slow, prompt("plan"), 4).plan(profile.value, 0.5)
    assert plan.served_by == "fallback" and len(plan.value) == 4
    assert any("timed out" in n for n in plan.notes), plan.notes
    item, evidence = CATALOG["film-dune-2021"], [CATALOG["book-dune-1965"]]
    final = Explainer(CATALOG, slow, prompt("explain")).explain(item, evidence, ExploreQuery(text="desert politics",
                                                                                             mode="deepen"))
    assert final.served_by == "fallback" and "Dune" in final.value and "timed out" in final.notes[0]


@pytest.mark.slow
def test_the_real_llm_with_a_tiny_timeout_falls_back_and_frees_the_model(explorer_llm):
    llm = explorer_llm.llm
    assert isinstance(llm, GuardedBackend) and llm.timeout_s == SETTINGS.llm.timeout_s  # load_backend wraps it
    history = History.of([Rating(item_id="film-alien-1979", rating=5.0), Rating(item_id="book-dune-1965", rating=4.0),
                          Rating(item_id="film-blade-runner-1982", rating=4.5)])  # only this test: no cached profile
    llm.timeout_s = 0.05
    try:
        result = explorer_llm.recommend(history, k=3, explore=0.5)
    finally:
        llm.timeout_s = SETTINGS.llm.timeout_s
    assert result.served_by.model_dump() == {"profile": "fallback", "plan": "fallback", "explain": "fallback"}
    assert len(result.recommendations) == 3 and all(r.explanation for r in result.recommendations)
    assert any("timed out after 0.05 s" in n for n in result.notes), result.notes
    # A timed-out generation hands the model back: 2000 tokens would hold it for minutes; the next call
    # (which waits for the model's lock) is answered well within its own 60 s.
    messages = [{"role": "user", "content": "Write a very long story about the sea."}]
    with pytest.raises(LLMTimeoutError):
        "".join(GuardedBackend(llm.backend, 0.5).stream(messages, 2000))
    with pytest.raises(LLMTimeoutError):
        GuardedBackend(llm.backend, 0.5).generate(messages, 2000)
    assert GuardedBackend(llm.backend, 60).generate([{"role": "user", "content": "Say hi."}], 4)



def test_a_reader_that_stops_reading_frees_the_model(explorer_llm):
    """A browser that closes mid-answer abandons its stream: the generation stops at its next token (no deadline
    involved), so the next person's call gets the model well before 2000 tokens (minutes here) would end."""
    backend = explorer_llm.llm.backend  # the bare default backend, no time limit around it
    stream = backend.stream([{"role": "user", "content": "Write a very long story about the sea."}], 2000)
    assert next(stream)
    stream.close()
    assert backend._lock.acquire(timeout=30), "the abandoned generation still holds the model"
    backend._lock.release()


# ---------------------------------------------------------------- SIGKILL in the middle of an ingestion

def copies_of_the_demo_catalogue(path: Path, times: int) -> list[dict]:
    rows = [json.loads(line) for line in SETTINGS.catalog.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = [{**row, "id": f"{row['id']}-copy{n}", "title": f"{row['title']} (copy {n})"}
           for n in range(times) for row in rows]
    path.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    return out


def test_an_ingestion_killed_mid_way_is_completed_by_running_it_again(tmp_path, run_explorer, spawn):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from explorer.store.items import collection_name

    source = tmp_path / "big.jsonl"
    copies_of_the_demo_catalogue(source, 3)  # 990 items: two upsert batches of at most 512
    catalog = load_catalog(source)
    data_dir = tmp_path / "data"
    proc = spawn([sys.executable, "-m", "explorer", "ingest", str(source), "--data-dir", str(data_dir)],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    try:
        while proc.poll() is None:  # tqdm writes "512/990" once the first batch is upserted
            seen += os.read(proc.stderr.fileno(), 4096)
            done = [int(n) for n in re.findall(rb"(\d+)/990", seen)]
            if done and max(done) >= 512:
                break
        assert proc.poll() is None, f"the ingestion ended before it could be killed:\n{seen.decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    again = run_explorer("ingest", str(source), data_dir=data_dir)
    assert again.returncode == 0, again.stderr
    report = re.search(r"(\d+) items in collection .*\((\d+) embedded, (\d+) removed, (\d+) unchanged\)", flat(again.stdout))
    total, embedded, removed, unchanged = map(int, report.groups())
    assert total == len(catalog) == 990 and removed == 0
    assert unchanged >= 512 and embedded == total - unchanged > 0  # killed half-way, completed, nothing twice

    client = chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_collection(collection_name(Settings().store.collection_prefix, catalog.name))
    got = collection.get(include=["metadatas"])
    assert collection.count() == len(got["ids"]) == len(set(got["ids"])) == len(catalog)
    assert set(got["ids"]) == set(catalog.items)
    assert {i: m["content_hash"] for i, m in zip(got["ids"], got["metadatas"])} == \
        {i: item.content_hash() for i, item in catalog.items.items()}


# ---------------------------------------------------------------- a broken Chroma directory, through the CLI

@pytest.fixture(scope="module")
def small_index(tmp_path_factory, run_explorer):
    """40 demo items indexed by the CLI (a finished process, so the folder is complete on disk)."""
    root = tmp_path_factory.mktemp("small-index")
    rows = SETTINGS.catalog.read_text(encoding="utf-8").splitlines()[:40]
    catalog = root / "small.jsonl"
    catalog.write_text("\n".join(rows) + "\n", encoding="utf-8")
    titles = [json.loads(r)["title"] for r in rows]
    history = root / "history.txt"
    history.write_text(f"{titles[0]}, 5\n{titles[1]}, 4.5\n{titles[2]}, 4\n", encoding="utf-8")
    built = run_explorer("ingest", str(catalog), data_dir=root / "data")
    assert built.returncode == 0, built.stderr
    return {"catalog": catalog, "history": history, "data": root / "data", "ids": [json.loads(r)["id"] for r in rows],
            "run": run_explorer}


def copy_index(small_index, tmp_path) -> Path:
    import shutil

    target = tmp_path / "data"
    shutil.copytree(small_index["data"], target)
    return target


def recommend(small_index, data_dir, prefix=()) -> subprocess.CompletedProcess:
    return small_index["run"]("recommend", "--catalog", str(small_index["catalog"]), "--history", str(small_index["history"]),
               "--no-llm", "-k", "3", "--json", data_dir=data_dir, prefix=prefix)


def assert_recommends(proc, small_index):
    assert proc.returncode == 0, proc.stderr
    recs = json.loads(proc.stdout)["recommendations"]
    assert len(recs) == 3 and all(r["item_id"] in small_index["ids"][3:] for r in recs)


def test_a_deleted_index_is_rebuilt_and_the_cli_says_so(small_index, tmp_path):
    data = copy_index(small_index, tmp_path)
    import shutil

    shutil.rmtree(data / "chroma")
    proc = recommend(small_index, data)
    message = flat(proc.stderr)
    assert f"no Chroma index at {data / 'chroma'} (deleted?)" in message
    assert f"python -m explorer ingest data/catalog.jsonl --data-dir {data}" in message
    assert_recommends(proc, small_index)
    assert sorted(stored_ids(data)) == sorted(small_index["ids"])  # the rebuilt index is complete


def stored_ids(data_dir: Path) -> list[str]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    (collection,) = client.list_collections()
    return collection.get(include=[])["ids"]


def damage_garbage(chroma: Path) -> None:
    (chroma / "chroma.sqlite3").write_bytes(b"this is not a database, it is garbage" * 100)


def damage_other_version(chroma: Path) -> None:
    """The schema another Chroma release wrote: a migration this release does not know by its hash."""
    with sqlite3.connect(chroma / "chroma.sqlite3") as db:
        db.execute("UPDATE migrations SET hash = 'from-another-chroma-release' "
                   "WHERE version = (SELECT max(version) FROM migrations WHERE dir = 'sysdb') AND dir = 'sysdb'")


@pytest.mark.parametrize("damage", [damage_garbage, damage_other_version], ids=["garbage", "other-version"])
def test_a_damaged_or_foreign_index_gets_a_clear_message_and_a_working_rebuild_command(small_index, tmp_path, damage):
    data = copy_index(small_index, tmp_path)
    damage(data / "chroma")
    proc = recommend(small_index, data)
    message = flat(proc.stderr)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"the Chroma index at {data / 'chroma'} is damaged or was written by an incompatible Chroma version" in message
    command = re.search(r"Rebuild it with: (mv .+? --data-dir \S+)", message).group(1)
    if damage is damage_other_version:
        return  # the same command as for garbage, which is run below
    # The message asks for the catalogue that was indexed in place of the demo's: that is this test's small one.
    command = command.replace("data/catalog.jsonl", shlex.quote(str(small_index["catalog"])))
    rebuilt = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=PROJECT_ROOT,
                             env={**os.environ, **ENV, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "40 items" in flat(rebuilt.stdout) and "40 embedded" in flat(rebuilt.stdout)
    assert (data / "chroma.broken" / "chroma.sqlite3").exists()  # moved aside, not deleted
    assert sorted(stored_ids(data)) == sorted(small_index["ids"])


def test_a_read_only_index_gets_a_clear_message(small_index, tmp_path):
    """As root, permissions do not stop writes: the index is bind-mounted read-only in a private mount
    namespace instead (`unshare -m`). As another user, plain permissions do."""
    data = copy_index(small_index, tmp_path)
    chroma = data / "chroma"
    before = {p: p.stat().st_mtime_ns for p in chroma.rglob("*")}
    if os.geteuid() == 0:
        q = shlex.quote(str(chroma))
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.fail(f"cannot make a read-only mount to test with: `unshare -m` failed ({probe.stderr.strip()}); "
                        "run the suite as a non-root user or where unshare is permitted")
        inner = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "explorer", "recommend", "--catalog",
                                                   str(small_index["catalog"]), "--history", str(small_index["history"]),
                                                   "--no-llm", "--json", "--data-dir", str(data)])
        proc = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {q} {q} && mount -o remount,bind,ro {q} && "
                               f"exec {inner}"], capture_output=True, text=True, cwd=PROJECT_ROOT,
                              env={**os.environ, **ENV}, timeout=600)
    else:
        for p in [chroma, *chroma.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        try:
            proc = recommend(small_index, data)
        finally:
            for p in [chroma, *chroma.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
    message = flat(proc.stderr)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"the Chroma index at {chroma} is read-only" in message and f"chmod -R u+w {chroma}" in message
    assert {p: p.stat().st_mtime_ns for p in chroma.rglob("*")} == before  # nothing was written


# ---------------------------------------------------------------- SIGKILL of the app during a chat

class AppProcess:
    """`python app.py` as a person runs it, on a fixed loopback port and data dir, LLM off."""

    def __init__(self, data_dir: Path, spawn):
        self.data_dir, self.spawn, self.port, self.proc = data_dir, spawn, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}/"

    def start(self) -> "AppProcess":
        self.proc = self.spawn([sys.executable, "app.py", "--port", str(self.port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               env={"EXPLORER_DATA_DIR": str(self.data_dir), "EXPLORER_LLM__BACKEND": "none"})
        wait_until_serving(self.url, 300, self.proc)
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def test_sessions_feedback_and_profile_edits_survive_a_sigkill_of_the_app(tmp_path, spawn):
    pytest.importorskip("playwright.sync_api")
    from tests import test_browser as b

    if not b.CHROMIUM.exists():
        pytest.skip("needs Debian's chromium: run `make browser` (as root)")
    app = AppProcess(tmp_path / "data", spawn).start()  # `spawn` stops it after the test
    with b.sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(b.CHROMIUM), headless=True, args=b.CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(120_000)
        page.goto(app.url)
        b.wait_status(page, "Showing")
        b.choose_persona(page, "Raven")
        b.send(page, "surprise me")
        b.wait_answer(page, 1)
        cards, transcript = b.card_ids(page), b.bot_texts(page)
        b.vote(page, cards[0], liked=False)  # feedback
        b.wait_status(page, "👎 noted")
        page.fill("#avoid textarea", page.input_value("#avoid textarea") + "\nwestern")  # a profile edit
        page.click("#save-profile")
        b.wait_status(page, "Profile saved")
        avoid = page.input_value("#avoid textarea").splitlines()

        b.send(page, "something lighter")  # the kill lands while this answer is being written
        app.kill()
        assert app.proc.returncode == -signal.SIGKILL
        app.start()  # same port, same data dir: the browser's stored session id points here
        page.goto(app.url)  # a fresh load (a reload may race the page's own reconnection attempts)
        b.wait_status(page, "Welcome back")
        restored = b.bot_texts(page)
        assert restored[:1] == transcript and len(restored) in (1, 2)  # the cut turn is whole or absent
        if len(restored) == 1:
            assert b.card_ids(page) == cards
            assert "will not come back" in b.card(page, cards[0]).inner_text()
        assert page.input_value("#avoid textarea").splitlines() == avoid and "western" in avoid
        page.get_by_role("button", name="Your history").click()  # the accordion, closed by default
        disliked = page.locator(f'#history li[data-item="{cards[0]}"]').text_content()
        assert disliked.startswith("👎"), disliked
        context.close()
    stop_process(app.proc)
    with sqlite3.connect(tmp_path / "data" / "sessions.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        kinds = [k for (k,) in db.execute("SELECT kind FROM events ORDER BY seq")]
    assert {"feedback", "profile_edit"} <= set(kinds)
