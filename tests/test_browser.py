"""The web chat in a real browser: Debian's Chromium, driven by Playwright, against the app served on a
loopback port by the test. The LLM is off (every step on its deterministic fallback), so answers are
quick and repeatable; tests/test_end_to_end.py covers the real model.

Set EXPLORER_SCREENSHOT_DIR (e.g. `EXPLORER_SCREENSHOT_DIR=docs`) to copy the screenshot of the page
with cards there as screenshot.png; it is always saved under the test's own tmp_path.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from explorer.tools.processes import free_port
from tests.tiers import needs

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: run `make browser` (as root)")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS_TITLE = "<img src=x onerror=alert(1)>"


class ServedApp:
    """The app on a fixed loopback port; `restart` drops everything in memory and serves a new one."""

    def __init__(self, explorer):
        self.explorer, self.port, self.ui = explorer, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}/"

    def start(self) -> "ServedApp":
        from app import build_ui, serve

        self.ui = build_ui(self.explorer)
        serve(self.ui, port=self.port, block=False, quiet=True)
        return self

    def stop(self) -> None:
        if self.ui is not None:
            self.ui.close()
            self.ui = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
@needs("system")
def playwright():
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture
def open_browser(playwright, tmp_path):
    """Each call: a fresh Chromium profile (its own localStorage), as a different person's browser."""
    contexts = []

    def _open():
        profile = tmp_path / f"chromium-profile-{len(contexts)}"
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(60_000)
        page.dialogs = []  # any alert() would land here: none may
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        return page

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def served(explorer_fallback):
    app = ServedApp(explorer_fallback).start()
    yield app
    app.stop()


# ---------------------------------------------------------------- page helpers

def wait_status(page, text: str) -> None:
    page.locator("#status").get_by_text(text).first.wait_for()


def send(page, message: str) -> None:
    page.fill("#message textarea", message)
    page.press("#message textarea", "Enter")


def wait_answer(page, turn: int) -> None:
    """Until answer number `turn` is complete (the status says so) and its cards are written."""
    page.locator(f'#status .ie-done[data-turn="{turn}"]').wait_for()
    page.wait_for_function("() => ![...document.querySelectorAll('.ie-reason')].some(e => e.innerText.includes('writing why'))")


def card_ids(page) -> list[str]:
    """The cards' items in page order (shelf by shelf)."""
    return page.eval_on_selector_all("#shelves .ie-card", "cards => cards.map(c => c.dataset.item)")


def card(page, item_id: str):
    return page.locator(f'#shelves .ie-card[data-item="{item_id}"]')


def vote(page, item_id: str, liked: bool) -> None:
    card(page, item_id).locator("button.ie-up" if liked else "button.ie-down").click()


def choose_persona(page, name: str) -> None:
    page.get_by_role("combobox", name="Demo persona").click()
    page.get_by_role("option", name=name).click()
    wait_status(page, f"Started over with {name}'s history")


def bot_texts(page) -> list[str]:
    return page.locator("#chat [data-testid=bot]").all_inner_texts()


def save_screenshot(page, tmp_path: Path, name: str = "screenshot.png", selector: str | None = None) -> Path:
    """The whole page (or one element) as `name` under tmp_path, copied to $EXPLORER_SCREENSHOT_DIR if set."""
    shot = tmp_path / name
    if selector:
        page.locator(selector).screenshot(path=str(shot))
    else:
        page.screenshot(path=str(shot), full_page=True)
    if target := os.environ.get("EXPLORER_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / name)
    return shot


# ---------------------------------------------------------------- tests

def test_explore_dislike_edit_reload_and_restart(served, open_browser, explorer_fallback, tmp_path):
    catalog = explorer_fallback.catalog
    page = open_browser()
    page.goto(served.url)
    wait_status(page, "Showing")  # a new browser starts on the first persona
    choose_persona(page, "Raven")
    assert "horror" in page.input_value("#themes textarea")

    send(page, "surprise me")
    wait_answer(page, 1)
    first = card_ids(page)
    assert len(first) == 5 and page.locator("#shelves .ie-shelf .ie-badge").count() >= 1
    top = card(page, first[0])
    assert top.locator(".ie-title").inner_text() == catalog[first[0]].title
    assert top.get_attribute("data-mode") in {"deepen", "adjacent", "novel"}
    assert top.locator(".ie-cite").count() >= 1 and "query" in top.locator(".ie-whybox").text_content()
    assert "Your profile:" in bot_texts(page)[-1]
    assert page.locator("#map img, #map canvas, #map svg").count() >= 1  # the interest map is drawn
    shot = save_screenshot(page, tmp_path)
    assert shot.stat().st_size > 20_000

    # 👎 on the first card: it joins the history, and the next answer does not bring it back.
    vote(page, first[0], liked=False)
    wait_status(page, "👎 noted")
    assert "will not come back" in card(page, first[0]).inner_text()
    page.click("#recommend")
    wait_answer(page, 2)
    second = card_ids(page)
    assert second and first[0] not in second

    # Edit the profile: avoid a tag the current cards carry; the next answer follows the edit.
    tag = next(t for t in catalog[second[0]].tags if t not in page.input_value("#themes textarea").splitlines())
    page.fill("#avoid textarea", page.input_value("#avoid textarea") + f"\n{tag}")
    page.click("#save-profile")
    wait_status(page, "Profile saved")
    assert "edited by you" in page.locator("#profile-summary").inner_text()
    send(page, "")
    wait_answer(page, 3)
    third = card_ids(page)
    assert third and all(tag not in catalog[i].tags for i in third), tag
    transcript = bot_texts(page)

    # A reload gets the same session back: conversation, cards and the edited profile.
    page.reload()
    wait_status(page, "Welcome back")
    assert card_ids(page) == third
    assert bot_texts(page) == transcript
    assert tag in page.input_value("#avoid textarea").splitlines()

    # So does a restart of the app (state in SQLite, nothing in memory), on the same address.
    served.restart()
    page.reload()
    wait_status(page, "Welcome back")
    assert card_ids(page) == third and bot_texts(page) == transcript
    assert tag in page.input_value("#avoid textarea").splitlines()

    # Another browser is another person: a fresh session that sees none of this.
    other = open_browser()
    other.goto(served.url)
    wait_status(other, "Showing")
    assert bot_texts(other) == [] and card_ids(other) == []
    assert other.input_value("#avoid textarea") != page.input_value("#avoid textarea")
    assert page.dialogs == [] and other.dialogs == []


def test_html_in_titles_and_messages_is_shown_as_text(open_browser, tmp_path):
    from explorer import Catalog, Explorer, Item, Settings

    rows = [("s1", "Star Voyage", "film", ["space", "science fiction"]),
            ("s2", "Moon Base Alpha", "book", ["space", "science fiction"]),
            ("s3", "Red Planet Diaries", "book", ["space", "mars", "science fiction"]),
            ("x1", XSS_TITLE, "film", ["space", "science fiction"]),
            ("g1", "Orbit Tycoon", "game", ["space", "simulation"]),
            ("c1", "Cooking at Home", "book", ["cooking", "food"]),
            ("m1", "Deep Blue", "film", ["ocean", "documentary"]),
            ("j1", "Night Jazz", "album", ["jazz", "music"]),
            ("p1", "Garden Year", "podcast", ["gardening"])]
    items = {i: Item(id=i, title=t, kind=k, year=2000, tags=tags, creator="<b>someone</b>",
                     description="<script>alert(3)</script>A story of " + " and ".join(tags) + ".")
             for i, t, k, tags in rows}
    explorer = Explorer(Settings(data_dir=tmp_path / "data", llm={"backend": "none"}),
                        catalog=Catalog(items, name="xss-demo"))
    app = ServedApp(explorer).start()
    try:
        page = open_browser()
        page.goto(app.url)
        wait_status(page, "Paste or upload a history")  # this catalogue has no personas
        page.get_by_role("tab", name="Paste a history").click()
        page.fill("#pasted textarea", "Star Voyage, 5\nMoon Base Alpha, 4.5\n<i>Not a title</i>")
        page.click("#use-pasted")
        wait_status(page, "matched nothing")
        assert "<i>Not a title</i>" in page.locator("#status").inner_text()
        assert page.locator("#status i").count() == 0

        message = "<b>bold?</b> <img src=x onerror=alert(2)> space please"
        send(page, message)
        wait_answer(page, 1)
        assert "x1" in card_ids(page)
        titles = page.locator(".ie-card .ie-title").all_inner_texts()
        assert XSS_TITLE in titles
        assert message in page.locator("#chat [data-testid=user]").last.inner_text()
        assert "<img src=x onerror=alert(2)>" in page.locator("#shelves").text_content()  # the request, as text
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("#chat b, .ie-card b, .ie-card script, #status i").count() == 0
        page.wait_for_timeout(500)  # give any injected handler the chance to fire
        assert page.dialogs == []
    finally:
        app.stop()


def test_start_up_shows_progress_instead_of_a_frozen_page(open_browser, explorer_fallback):
    import threading

    from explorer.web.startup import Startup

    release = threading.Event()

    def build(on_stage):  # stands in for the first start's index build
        on_stage("indexing the catalogue (330 items)")
        release.wait(60)
        return explorer_fallback

    app = ServedApp(Startup(explorer_fallback.settings, build).start()).start()
    try:
        page = open_browser()
        page.goto(app.url)
        wait_status(page, "Starting up: indexing the catalogue (330 items)")
        release.set()
        wait_status(page, "Showing")
        page.get_by_role("combobox", name="Demo persona").click()
        assert "Raven" in page.get_by_role("option").all_inner_texts()
    finally:
        release.set()
        app.stop()


class Held:
    """A stand-in for a pipeline step (a fake, on purpose): the real step, whose `method` is held until the
    test releases it, so a slow step (a busy laptop, a big model) happens on cue instead of by luck."""

    def __init__(self, real, method: str):
        self.real, self.method = real, method
        self.started = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if name != self.method:
            return attr

        def held(*args, **kwargs):
            self.started.set()
            assert self.release.wait(120), f"the test never released {self.method}"
            return attr(*args, **kwargs)
        return held


def GatedProfileBuilder(real) -> Held:  # noqa: N802  (named for what it stands in for)
    """The profile builder, its `build` held: a slow profile rebuild on cue."""
    return Held(real, "build")


def offers_settled(page) -> int:
    return page.evaluate("() => window.ieProfileOffers || 0")


def sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


def test_shelves_why_and_an_avoid_edit_that_outlives_a_slow_rebuild(served, open_browser, explorer_fallback,
                                                                     tmp_path, monkeypatch):
    """The walk a person takes: a persona, shelves in several modes, why? opened, 👎 on a card, then typing
    in Avoid while the profile rebuild after the 👎 is held (GatedProfileBuilder): the rebuild lands and the
    typing stays; saved, it holds after a reload. Each answer is said in a few sentences, and no card's
    reason appears twice on the page."""
    catalog = explorer_fallback.catalog
    page = open_browser()
    page.goto(served.url)
    wait_status(page, "Showing")
    choose_persona(page, "Raven")
    send(page, "surprise me")
    wait_answer(page, 1)

    shelves = page.locator("#shelves .ie-shelf")
    modes = set(page.eval_on_selector_all("#shelves .ie-shelf", "s => s.map(x => x.dataset.mode)"))
    assert shelves.count() >= 2 and len(modes) >= 2, modes
    titles = shelves.locator(".ie-shelf-title").all_inner_texts()
    assert all(t.startswith(("Because you loved ", "A step beside ", "Something new: ")) for t in titles), titles
    ids = card_ids(page)
    assert len(ids) == 5 and all(card(page, i).locator(".ie-reason").inner_text().strip() for i in ids)

    # The chat says the answer in brief; each card's reason is on the page exactly once.
    answer = bot_texts(page)[-1]
    assert sentences(answer) <= 4 and len(answer) < 700, answer
    body = page.locator("body").inner_text()
    for item_id in ids:
        reason = card(page, item_id).locator(".ie-reason").inner_text().strip()
        assert body.count(reason) == 1, reason
        assert catalog[item_id].title not in answer or catalog[item_id].title in " ".join(titles)

    # why? opens the evidence and provenance of a card.
    first = card(page, ids[0])
    first.locator("summary").click()
    why = first.locator(".ie-whybox")
    assert why.get_attribute("open") is not None
    assert "because you liked" in why.inner_text() and "reason written by a template" in why.inner_text()
    page.locator("#map-text summary").click()  # the map's text alternative, opened for the picture
    save_screenshot(page, tmp_path, "screenshot-shelves.png")
    save_screenshot(page, tmp_path, "screenshot-why.png", "#shelves")
    assert save_screenshot(page, tmp_path, "screenshot-map.png", "#map-panel").stat().st_size > 20_000
    assert "interest regions" in page.locator("#map-text").inner_text()

    # 👎 on a card while the profile rebuild it starts is held: the person types in Avoid meanwhile.
    gate = GatedProfileBuilder(explorer_fallback.profiler)
    monkeypatch.setattr(explorer_fallback, "profiler", gate)
    items_before = int(page.locator("#profile-summary .ie-profile").get_attribute("data-items"))
    settled = offers_settled(page)
    vote(page, ids[1], liked=False)
    wait_status(page, "👎 noted")
    assert "will not come back" in card(page, ids[1]).inner_text()
    assert card(page, ids[0]).locator(".ie-whybox").get_attribute("open") is not None  # still open after the redraw
    assert gate.started.wait(60), "the 👎 did not start a profile rebuild"
    typed = page.input_value("#avoid textarea") + "\nwestern"
    page.fill("#avoid textarea", typed)
    gate.release.set()  # the rebuild lands now, after the typing
    page.locator(f'#profile-summary .ie-profile[data-items="{items_before + 1}"]').wait_for()
    page.wait_for_function(f"() => (window.ieProfileOffers || 0) > {settled}")
    assert page.input_value("#avoid textarea") == typed  # the rebuild did not overwrite the typing
    page.click("#save-profile")
    wait_status(page, "Profile saved")
    assert "western" in page.input_value("#avoid textarea").splitlines()
    assert "edited by you" in page.locator("#profile-summary").inner_text()

    page.reload()
    wait_status(page, "Welcome back")
    assert "western" in page.input_value("#avoid textarea").splitlines()
    assert "will not come back" in card(page, ids[1]).inner_text()
    assert page.dialogs == []


def test_typing_in_the_profile_while_a_slow_answer_is_written_is_kept(served, open_browser, explorer_fallback,
                                                                      monkeypatch):
    """An answer held at its plan step (Held planner, a stand-in): the person edits Themes meanwhile; when
    the answer lands, its profile is offered to the boxes, not forced on them, so the typing stays."""
    page = open_browser()
    page.goto(served.url)
    wait_status(page, "Showing")
    choose_persona(page, "Maya")
    planner = Held(explorer_fallback.planner, "plan")
    monkeypatch.setattr(explorer_fallback, "planner", planner)
    settled = offers_settled(page)
    page.click("#recommend")
    assert planner.started.wait(60), "the answer did not reach its plan step"
    typed = page.input_value("#themes textarea") + "\nwar and history"
    page.fill("#themes textarea", typed)
    planner.release.set()
    wait_answer(page, 1)
    page.wait_for_function(f"() => (window.ieProfileOffers || 0) > {settled}")
    assert page.input_value("#themes textarea") == typed and len(card_ids(page)) == 5
    page.click("#save-profile")
    wait_status(page, "Profile saved")
    assert "war and history" in page.input_value("#themes textarea").splitlines()


# ---------------------------------------------------------------- the real model in the browser (issue 13)

# Generous on purpose: the goal is 4 s on a quiet 2-core machine, and the exact figure is the bench's
# (`python -m explorer.tools.bench --sections browser`); this bound only catches an answer that hangs or
# waits on something it should not (a busy shared machine measured several times the quiet figure).
COMPLETE_ANSWER_BOUND_S = 60


@pytest.fixture
def served_llm(explorer_llm):
    app = ServedApp(explorer_llm).start()
    yield app
    app.stop()


def test_the_real_model_swaps_a_template_reason_for_its_checked_sentence_and_never_retracts(
        served_llm, open_browser, explorer_llm):
    """Enter to the complete answer in a real browser, the default backend writing the reasons: every card is
    drawn first with its template reason, some swap it for the model's sentence once that passed the checks,
    none ever takes a shown sentence back, and the page never says a text failed a check."""
    from explorer.tools.browser import timed_answer

    page = open_browser()
    page.goto(served_llm.url)
    wait_status(page, "Showing")
    choose_persona(page, "Maya")
    answers = [timed_answer(page, message, turn) for turn, message in
               enumerate(["surprise me", "something funny but clever, no horror please"], start=1)]
    print("\n" + "\n".join(f"answer {n}: first card {a.first_card_s:.2f} s, complete {a.complete_s:.2f} s after Enter"
                           for n, a in enumerate(answers, start=1)))
    for answer in answers:
        assert answer.complete_s <= COMPLETE_ANSWER_BOUND_S
        assert answer.first_card_s <= answer.complete_s
        firsts = [answer.shown(i)[0] for i in dict.fromkeys(s["item"] for s in answer.seen)]
        assert len(firsts) == 5 and all(f["path"] == "fallback" and f["text"] for f in firsts), firsts
        assert answer.retracted() == []
    swapped = [(a, i) for a in answers for i in a.swapped()]
    assert swapped, [a.seen for a in answers]
    for answer, item in swapped:
        template, final = answer.shown(item)[0]["text"], answer.shown(item)[-1]["text"]
        assert final != template
    for item in answers[-1].swapped():  # the last answer's cards are still on the page: they hold the sentence
        assert card(page, item).get_attribute("data-path") in ("llm", "composed")
        assert card(page, item).locator(".ie-reason").inner_text().strip() == answers[-1].shown(item)[-1]["text"]
    assert page.dialogs == []
