"""A chat answer as a person sees it, timed in a real browser: Debian's Chromium driven by Playwright.

Shared by the bench (section "browser": the exact figures) and tests/test_browser.py (a generous bound and
what the page shows). From the moment Enter is pressed it records when the first card is drawn, when the
answer is complete (the status line says "Answer N ready"), and every reason each card showed on the way,
with who wrote it (`data-path`: "fallback" for the template, "llm" for the model's checked sentence), so a
swap of the template for the model's sentence, or any retraction, can be seen as the page showed it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying the network (docs/architecture.md, tests).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# What the page must never say about a sentence (it is shown only after it passed, issue 13): the old
# retraction said "(that text failed the ... check; instead:)".
RETRACTIONS = re.compile(r"failed the \w+ check|that text failed|; instead:")

# Records each card's reason and its writer every time the shelves change, with the time since Enter.
_OBSERVER = """() => {
  const cards = () => document.querySelectorAll('#shelves .ie-card');
  window.ieSeen = [];
  window.ieFirstCard = null;
  window.ieCleared = cards().length === 0;  // a new answer's shelves start empty; the old cards go first
  window.ieT0 = performance.now();
  const record = () => {
    const t = performance.now() - window.ieT0;
    const now = cards();
    if (now.length === 0) { window.ieCleared = true; window.ieSeen = []; return; }
    if (!window.ieCleared) return;
    if (window.ieFirstCard === null) window.ieFirstCard = t;
    for (const c of now) {
      const r = c.querySelector('.ie-reason');
      const last = window.ieSeen.filter(s => s.item === c.dataset.item).pop();
      const text = r ? r.innerText.trim() : '';
      if (!last || last.text !== text || last.path !== c.dataset.path)
        window.ieSeen.push({item: c.dataset.item, path: c.dataset.path, text: text, t: t});
    }
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                       attributes: true});
}"""


# The model's checked sentence: written freely ("llm") or composed around its choice ("composed").
MODEL_PATHS = ("llm", "composed")


@dataclass
class BrowserAnswer:
    """One answer as the page showed it; seconds are from Enter."""

    first_card_s: float
    complete_s: float
    seen: list[dict] = field(default_factory=list)  # {item, path, text, t (ms)} each time a card's reason changed
    page_text: str = ""

    def shown(self, item: str) -> list[dict]:
        return [s for s in self.seen if s["item"] == item]

    def swapped(self) -> list[str]:
        """Cards first drawn with the template reason that then showed the model's checked sentence."""
        items = dict.fromkeys(s["item"] for s in self.seen)
        return [i for i in items if (shown := [s for s in self.shown(i) if s["text"] and s["text"] != "writing why…"])
                and shown[0]["path"] == "fallback" and shown[-1]["path"] in MODEL_PATHS]

    def retracted(self) -> list[str]:
        """Cards whose model sentence was taken back after it was shown, and any retraction in the page's text."""
        taken_back = [i for i in dict.fromkeys(s["item"] for s in self.seen)
                      if any(a["path"] in MODEL_PATHS and b["path"] not in MODEL_PATHS
                             for a, b in zip(self.shown(i), self.shown(i)[1:]))]
        said = [m.group(0) for m in RETRACTIONS.finditer(self.page_text)]
        return taken_back + said


def launch(playwright, profile_dir: Path):
    """A headless Chromium with its own profile (its own localStorage: a person of its own) and its page."""
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000})
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(120_000)
    return context, page


def choose_persona(page, name: str) -> None:
    page.get_by_role("combobox", name="Demo persona").click()
    page.get_by_role("option", name=name).click()
    page.locator("#status").get_by_text(f"Started over with {name}'s history").first.wait_for()


def timed_answer(page, message: str, turn: int, timeout_s: float = 120) -> BrowserAnswer:
    """Type `message`, press Enter and wait for answer number `turn` to be complete, timing it."""
    page.fill("#message textarea", message)
    page.evaluate(_OBSERVER)
    start = time.perf_counter()
    page.press("#message textarea", "Enter")
    page.locator(f'#status .ie-done[data-turn="{turn}"]').wait_for(timeout=timeout_s * 1000)
    complete = time.perf_counter() - start
    first_ms = page.evaluate("() => window.ieFirstCard")
    return BrowserAnswer(complete if first_ms is None else first_ms / 1000, complete,
                         page.evaluate("() => window.ieSeen"), page.locator("body").inner_text())


def measure(url: str, persona: str, messages: list[str], profile_dir: Path) -> list[BrowserAnswer]:
    """Each message sent in turn by one person in a fresh browser, after picking `persona`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context, page = launch(playwright, profile_dir)
        try:
            page.goto(url)
            page.locator("#status").get_by_text("Showing").first.wait_for()
            choose_persona(page, persona)
            return [timed_answer(page, m, turn) for turn, m in enumerate(messages, start=1)]
        finally:
            context.close()
