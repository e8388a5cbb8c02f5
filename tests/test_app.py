"""The web chat, served for real on a loopback port and driven through its HTTP API (gradio_client),
and the pieces behind it: sessions in SQLite, the HTML views, the interest map. The LLM is the scripted stand-in
(explorer/testing.py): answers stream through every layer as a model's would, deterministically, with no model."""

from __future__ import annotations

import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from explorer.catalog import load_catalog
from explorer.chat.session import ChatSession, ProfileEditError
from explorer.config import Settings
from explorer.web.interest_map import InterestMap, pca_2d
from explorer.tools.processes import free_port
from explorer.pipeline.values import Recommendation
from explorer.store.sessions import SQLiteSessionStore
from explorer.chat.live import SessionManager, valid_session_id
from explorer.chat.shelves import Shelf, shelves_of
from explorer.web.view import chat_text as view_text, notice_html, shelf_card_html, shelves_html, transcript
from tests.tiers import needs


@pytest.fixture(scope="module")
@needs("system")
def served(explorer_scripted):
    from app import build_ui, serve

    ui = build_ui(explorer_scripted)
    port = free_port()
    serve(ui, port=port, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    ui.close()


def chat_of(outputs) -> list[dict]:
    return next(v for v in outputs if isinstance(v, list))


def text(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def card_ids(outputs) -> list[str]:
    """The cards' items in rank order, from the shelves' HTML among an event's outputs."""
    found = [(int(n), i) for v in outputs if isinstance(v, str) and 'class="ie-shelves' in v
             for i, n in re.findall(r'<article class="ie-card[^"]*" data-item="([^"]+)" data-rank="(\d+)"', v)]
    return [i for _, i in sorted(found)]


def client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


# ---------------------------------------------------------------- over HTTP

def test_page_serves_and_a_chat_streams_its_answer(served):
    import httpx

    page = httpx.get(served, timeout=30)
    assert page.status_code == 200 and "Interest Explorer" in page.text
    c = client(served)
    c.predict("Rosie", 0.5, api_name="/choose_persona")
    job = c.submit("surprise me", 0.5, api_name="/respond")
    final = job.result(timeout=120)
    chat = chat_of(final)
    answer = text(chat[-1])
    assert text(chat[-2]) == "surprise me" and answer.startswith("Your profile:")
    assert "5 picks on" in answer and "1. " not in answer  # in brief: the cards are on the shelves, not here
    ids = card_ids(final)
    assert len(ids) == 5 and "query:" not in answer
    # Streamed: the shelves filled card by card, and the brief grew in pieces, each the start of the last.
    assert len({tuple(card_ids(o)) for o in job.outputs() if card_ids(o)}) >= 5
    chats = [chat_of(o) for o in job.outputs() if any(isinstance(v, list) for v in o)]
    partial = [text(c[-1]) for c in chats if len(c) == len(chat)]
    distinct = list(dict.fromkeys(p for p in partial if p != "…"))
    assert len(distinct) >= 2 and all(answer.startswith(p) for p in distinct)


def test_concurrent_sessions_each_get_their_own_answer(served, explorer_scripted):
    names = ["Maya", "Raven", "Rosie", "Dev"]
    clients = [client(served) for _ in names]

    def converse(pair):
        c, name = pair
        c.predict(name, 0.3, api_name="/choose_persona")
        return c.submit("", 0.3, api_name="/respond").result(timeout=180)

    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(pool.map(converse, zip(clients, names)))
    for name, outputs in zip(names, answers):
        expected = explorer_scripted.recommend(explorer_scripted.persona(name), k=5, explore=0.3)
        assert card_ids(outputs) == [r.item_id for r in expected.recommendations], name
        themes = ", ".join(t.label for t in expected.profile.themes[:4])
        assert text(chat_of(outputs)[-1]).startswith(f"Your profile: {themes}")
        assert len(chat_of(outputs)) == 2  # only this session's own turn
    assert len({tuple(card_ids(o)) for o in answers}) == len(names)


def test_a_pasted_history_lists_unknown_lines_back_escaped(served):
    c = client(served)
    outputs = c.predict("Arrival, 5\n<b>No Such Film</b>\nDune", 0.3, api_name="/use_history")
    status = next(v for v in outputs if isinstance(v, str) and "ie-notice" in v)
    assert "&lt;b&gt;No Such Film&lt;/b&gt;" in status and "<b>" not in status
    # "Dune" names a film and a book: asked about with both choices, not listed as unknown.
    assert "Which one do you mean?" in status and "Dune (2021) or Dune (1965)" in status
    assert "Dune: not in the catalogue" not in status
    outputs = c.predict("nothing here\nnor here", 0.3, api_name="/use_history")
    assert "None of these matched" in next(v for v in outputs if isinstance(v, str) and "ie-notice" in v)
    outputs = c.predict("Dune", 0.3, api_name="/use_history")  # nothing else: ask, and start nothing yet
    status = next(v for v in outputs if isinstance(v, str) and "ie-notice" in v)
    assert "Which one do you mean?" in status and "None of these matched" not in status


def test_an_uploaded_history_file_starts_a_session(served, write):
    from gradio_client import handle_file

    path = write("mine.csv", "title,rating\nArrival,5\nAlien,1\nNot In Catalogue,4\n")
    outputs = client(served).predict(handle_file(str(path)), 0.3, api_name="/upload_history")
    status = next(v for v in outputs if isinstance(v, str) and "ie-notice" in v)
    assert "Using 2 items" in status and "Not In Catalogue" in status
    assert any(isinstance(v, str) and "mine.csv: 2 items" in v for v in outputs)  # the history panel
    bad = write("bad.jsonl", '{"item_id": "arrival", "rating": 9}\n')
    outputs = client(served).predict(handle_file(str(bad)), 0.3, api_name="/upload_history")
    assert "bad.jsonl:1" in next(v for v in outputs if isinstance(v, str) and "ie-notice" in v)


def test_a_saved_profile_edit_steers_the_next_answer(served, explorer_scripted):
    c = client(served)
    first = c.predict("Raven", 0.3, api_name="/choose_persona")
    themes = first[[i for i, v in enumerate(first) if isinstance(v, str) and "horror" in v.splitlines()][0]]
    c.predict("", 0.3, api_name="/respond")
    c.predict(themes, "horror\ngothic", api_name="/save_profile")
    outputs = c.predict("", 0.3, api_name="/respond")
    ids = card_ids(outputs)
    assert ids and all("horror" not in explorer_scripted.catalog[i].tags for i in ids)
    assert text(chat_of(outputs)[-1]).startswith("Profile changed: now avoiding horror, gothic.")
    assert "profile: edited" in next(v for v in outputs if isinstance(v, str) and "ie-done" in v)


def test_the_server_binds_to_loopback_without_share_or_analytics_by_default(tmp_path):
    """The page as it is first served, while start-up (never started here) would still be loading."""
    from app import build_ui, parse_args
    from explorer.web.startup import Startup

    args = parse_args([])
    assert (args.host, args.share) == ("127.0.0.1", False)
    assert build_ui(Startup(Settings(data_dir=tmp_path))).analytics_enabled is False


# ---------------------------------------------------------------- sessions

def test_sessions_survive_a_restart_in_sqlite_wal(explorer_scripted, tmp_path):
    path = tmp_path / "sessions.sqlite3"
    manager = SessionManager(explorer_scripted, SQLiteSessionStore(path))
    live = manager.start(explorer_scripted.persona("Maya"), "Maya")
    "".join(live.chat.send(""))
    liked, disliked = live.chat.last.recommendations[0].item_id, live.chat.last.recommendations[1].item_id
    live.chat.feedback(liked, True)
    live.chat.feedback(disliked, False)
    live.chat.revise_profile(["space opera", "science fiction"], ["horror"])
    manager.save(live, ("feedback", {"item_id": disliked}))

    store = SQLiteSessionStore(path)  # a restart: new objects, nothing in memory
    assert store.journal_mode() == "wal"
    back = SessionManager(explorer_scripted, store).get(live.id)
    assert back is not None and back.label == "Maya"
    assert back.chat.to_dict() == live.chat.to_dict()
    assert back.chat.feedback_on(liked) is True and back.chat.feedback_on(disliked) is False
    assert [t.label for t in back.chat.profile.themes] == ["space opera", "science fiction"]
    assert [kind for kind, _ in store.events(live.id)] == ["start", "feedback"]
    assert store.secret("browser-state") == SQLiteSessionStore(path).secret("browser-state")


def test_unknown_or_malformed_session_ids_get_nothing(explorer_scripted, tmp_path):
    manager = SessionManager(explorer_scripted, SQLiteSessionStore(tmp_path / "s.sqlite3"))
    assert manager.get(None) is None and manager.get("x") is None and manager.get("a" * 30) is None
    assert manager.get("'; DROP TABLE sessions; --") is None
    assert not valid_session_id("../../etc/passwd") and valid_session_id(manager.start(
        explorer_scripted.persona("Dev"), "Dev").id)


def test_a_stored_session_forgets_items_the_catalogue_no_longer_has(explorer_scripted, tmp_path):
    session = ChatSession(explorer_scripted, explorer_scripted.persona("Maya"))
    "".join(session.send(""))
    state = session.to_dict()
    state["history"].append({"item_id": "gone-from-catalogue", "rating": 5.0, "timestamp": 99})
    state["last"]["recommendations"][0]["item_id"] = "gone-too"
    back = ChatSession.from_dict(explorer_scripted, state)
    assert "gone-from-catalogue" not in back.history.item_ids and back.last is None
    assert back.history.item_ids == session.history.item_ids


def test_send_events_carry_the_same_text_as_send(explorer_scripted):
    persona = explorer_scripted.persona("Nina")
    a, b = ChatSession(explorer_scripted, persona), ChatSession(explorer_scripted, persona)
    events = list(a.send_events("surprise me"))
    assert "".join(e.data for e in events if e.kind == "text") == "".join(b.send("surprise me"))
    kinds = [e.kind for e in events if e.kind != "text"]
    assert kinds[:2] == ["profile", "plan"] and kinds.count("item") == 5 and kinds[-1] == "result"
    assert a.turns == b.turns


def test_a_profile_edit_keeps_known_themes_and_refuses_overlong_ones(explorer_scripted):
    session = ChatSession(explorer_scripted, explorer_scripted.persona("Raven"))
    before = {t.label: t for t in session.current_profile().themes}
    kept = next(iter(before))
    profile = session.revise_profile([kept, "Cosmic Dread", kept], ["gore", "Gore"])
    assert [t.label for t in profile.themes] == [kept, "cosmic dread"]
    assert profile.themes[0] == before[kept] and profile.themes[1].evidence == ()
    assert profile.avoid == ("gore",) and session.profile == profile
    with pytest.raises(ProfileEditError, match="at most 80"):
        session.revise_profile(["x" * 81], [])


# ---------------------------------------------------------------- views and map

def test_views_escape_catalogue_and_user_text():
    evil = "<img src=x onerror=alert(1)>"
    rec = Recommendation(item_id='a" onmouseover="x', title=evil, kind="<i>film</i>", year=2001, score=1.0,
                         mode="novel", query="<script>q</script>", explanation=evil, evidence=())
    shelf = Shelf(f"Something new: {evil}", "novel", rec.query, evil, None, evil, ((0, rec),))
    catalog = load_catalog(Settings().catalog)
    html = shelves_html([shelf], catalog, lambda _: False, lambda path: evil)
    assert html.count("<article") == 1 and shelf_card_html(1, rec, shelf, catalog, False, lambda path: evil) in html
    assert "<img" not in html and "<script>" not in html and "<i>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and 'data-item="a&quot; onmouseover=&quot;x"' in html
    assert transcript([(evil, evil)])[0]["content"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert "<img" not in notice_html(evil, "error", [evil])


def test_pca_is_deterministic_and_keeps_the_main_spread():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 8)) * np.array([10, 3, 1, 1, 1, 1, 1, 1])
    a, b = pca_2d(x), pca_2d(x.copy())
    assert a.shape == (200, 2) and np.allclose(a, b)
    assert a[:, 0].var() > a[:, 1].var() > 1.5
    assert pca_2d(np.zeros((0, 8))).shape == (0, 2) and pca_2d(np.ones((1, 8))).shape == (1, 2)


def test_the_interest_map_shows_labelled_regions_marks_stars_and_where_exploring_goes(explorer_fallback):
    """The figure's data: every interest cluster a labelled region (its c-TF-IDF label drawn), each liked
    history item a mark inside its cluster's region, the recommendations numbered stars, an arrow per
    exploring shelf; no axes; the text alternative lists the same."""
    imap = InterestMap(explorer_fallback)
    assert len(imap.ids) == len(explorer_fallback.catalog)
    history = explorer_fallback.persona("Raven").with_feedback("film-alien-1979", 1.0)
    result = explorer_fallback.recommend(history, k=5, explore=0.8, explain=False)
    data = imap.layout(history, result.recommendations, result.queries)
    cluster_labels = [c.label for c in explorer_fallback.clusters.clusters]
    assert sorted(r.label for r in data.regions) == sorted(cluster_labels)
    assert {i for i, _ in data.liked} == {r.item_id for r in history.liked}
    assert [i for i, _ in data.disliked] == [r.item_id for r in history.disliked]
    for item_id, (x, y) in data.liked:  # a mark lies inside its own cluster's region
        region = next(r for r in data.regions if r.key == explorer_fallback.clusters.of(item_id))
        assert (x - region.centre[0]) ** 2 + (y - region.centre[1]) ** 2 <= region.radius ** 2 + 1e-9
    assert [n for n, _, _ in data.stars] == [1, 2, 3, 4, 5]
    exploring = {r.query for r in result.recommendations if r.mode in ("adjacent", "novel")}
    assert exploring and len(data.arrows) == len(exploring) and all(a[1] == data.you for a in data.arrows)

    fig = imap.figure(history, result.recommendations, result.queries)
    ax = fig.axes[0]
    drawn = [t.get_text().replace("\n", " ") for t in ax.texts]
    assert all(label in drawn for label in cluster_labels)
    assert {"1", "2", "3", "4", "5", "you are here"} <= set(drawn)
    assert not ax.axison and "principal" not in " ".join(drawn)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"you liked", "you disliked", "recommended (card number)"} <= set(legend)
    fig.savefig(__import__("io").BytesIO(), format="png")  # it renders

    words = imap.describe(history, result.recommendations, result.queries)
    assert words[0] == f"The catalogue has {len(cluster_labels)} interest regions."
    said = " ".join(words)
    assert all(f"card {n}" in said or f", {n}" in said for n in range(1, 6))
    assert sum(1 for w in words if w.startswith("Exploring")) == len(exploring)


def test_the_session_database_is_plain_sqlite(explorer_scripted, tmp_path):
    path = tmp_path / "s.sqlite3"
    SessionManager(explorer_scripted, SQLiteSessionStore(path)).start(explorer_scripted.persona("Ines"), "Ines")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT label FROM sessions").fetchall() == [("Ines",)]


def test_the_shown_profile_follows_feedback_once_it_is_built(explorer_scripted):
    session = ChatSession(explorer_scripted, explorer_scripted.persona("Arthur"))
    "".join(session.send(""))
    shown = session.shown_profile()
    assert shown == session.last.profile
    session.feedback(session.last.recommendations[0].item_id, liked=True)
    assert explorer_scripted.known_profile(session.history) is None  # not built yet: no model call to show it
    assert session.shown_profile() == shown
    fresh = session.current_profile()
    assert session.shown_profile() == fresh == explorer_scripted.known_profile(session.history)


def test_shelves_group_an_answer_by_query_and_say_why_in_words(explorer_fallback):
    """One shelf per query, in the order its first card ranks; titled by the history item behind it and the
    cluster's label ("Because you loved …"), or "Something new"; every card on exactly one shelf."""
    history = explorer_fallback.persona("Raven")
    result = explorer_fallback.recommend(history, k=5, explore=0.8, explain=False)
    shelves = shelves_of(result.recommendations, result.queries, explorer_fallback.catalog, explorer_fallback.clusters)
    assert sorted(n for s in shelves for n, _ in s.items) == [0, 1, 2, 3, 4]
    assert len({s.query for s in shelves}) == len(shelves) and all(len({r.query for _, r in s.items}) == 1 for s in shelves)
    labels = {c.label for c in explorer_fallback.clusters.clusters}
    for s in shelves:
        assert s.label in labels
        because = explorer_fallback.catalog[s.because].title if s.because else None
        expected = {"deepen": f"Because you loved {because}: {s.label}", "adjacent": f"A step beside {because}: {s.label}",
                    "novel": f"Something new: {s.label}"}[s.mode]
        assert s.title == (expected if because or s.mode == "novel" else f"Something new: {s.label}")
        assert s.because is None or s.because in history.item_ids


def test_the_chat_keeps_each_answer_in_brief_and_restores_it(explorer_fallback):
    """Each turn has a brief (what changed, which shelves) beside its full text; both survive a save and a
    restore, the page shows the brief, and a session saved before briefs existed shows its full text."""
    session = ChatSession(explorer_fallback, explorer_fallback.persona("Dev"))
    full = "".join(session.send(""))
    "".join(session.send("less horror"))
    assert len(session.briefs) == len(session.turns) == 2
    first, second = session.briefs
    assert first.startswith("Your profile: ") and " picks on " in first and "1. " in full and "1. " not in first
    assert second.startswith("Noted: less horror.") and "now avoiding horror" in second
    restored = ChatSession.from_dict(explorer_fallback, session.to_dict())
    assert restored.briefs == session.briefs
    assert [m["content"] for m in transcript(restored.turns, restored.briefs)][1::2] == [first, second]
    old = {k: v for k, v in session.to_dict().items() if k != "briefs"}
    older = ChatSession.from_dict(explorer_fallback, old)
    assert transcript(older.turns, older.briefs)[1]["content"] == view_text(full)
    "".join(older.send(""))  # a new turn on an old session: its brief lines up with its turn
    assert len(older.briefs) == 3 and older.briefs[:2] == ["", ""] and older.briefs[2]


def test_the_browser_record_tells_a_swap_from_a_retraction():
    """explorer/tools/browser.py reads what the page showed, card by card: a template reason followed by the
    model's checked sentence is a swap; a model sentence followed by anything else, or a page that says a
    text failed a check, is a retraction (which the issue forbids)."""
    from explorer.tools.browser import BrowserAnswer

    seen = [{"item": "a", "path": "fallback", "text": "Because you enjoyed X: A came up for \"q\".", "t": 300},
            {"item": "b", "path": "fallback", "text": "Because you enjoyed X: B came up for \"q\".", "t": 310},
            {"item": "a", "path": "llm", "text": "Because you enjoyed X and you are exploring q, and more.", "t": 2000},
            {"item": "b", "path": "fallback", "text": "Because you enjoyed X: B came up for \"q\".", "t": 2000}]
    good = BrowserAnswer(0.3, 2.0, seen, "page")
    assert good.swapped() == ["a"] and good.retracted() == []
    taken_back = BrowserAnswer(0.3, 2.0, seen + [{"item": "a", "path": "fallback", "text": "template", "t": 2100}], "")
    assert taken_back.retracted() == ["a"] and taken_back.swapped() == []
    said = BrowserAnswer(0.3, 2.0, seen, "(that text failed the grounding check; instead:) Because")
    assert said.retracted() == ["that text failed", "; instead:"]
    assert BrowserAnswer(0.3, 2.0, seen, "it failed the claims check").retracted() == ["failed the claims check"]
