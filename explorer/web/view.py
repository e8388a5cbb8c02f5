"""HTML for the web chat's cards and panels. Every catalogue or user string goes through `html.escape`:
a title such as `<img src=x onerror=alert(1)>` is shown as those characters, never run."""

from __future__ import annotations

import html

from collections.abc import Callable, Sequence

from explorer.catalog import Ambiguous, Catalog, History
from explorer.chat.shelves import Shelf
from explorer.pipeline.values import InterestProfile, Recommendation

MODE_HINT = {"deepen": "more of what you like", "adjacent": "a step beside it", "novel": "something new"}


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def esc(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def chat_text(text: str) -> str:
    """A chat message as the Chatbot shows it (markdown off): escaped, so it reads as plain text."""
    return esc(text)


def transcript(turns: list[tuple[str, str]], briefs: Sequence[str] = ()) -> list[dict]:
    """The chat as the page shows it: each answer in brief (its cards are on the shelves, not repeated
    here); the full text only for a turn saved before briefs existed."""
    messages = []
    for n, (message, answer) in enumerate(turns):
        said = briefs[n] if n < len(briefs) and briefs[n] else answer
        messages.append({"role": "user", "content": chat_text(message or "(recommend)")})
        messages.append({"role": "assistant", "content": chat_text(said)})
    return messages


# The shelves' behaviour in the page: 👍/👎 buttons send a `vote` event naming their item, and a *why?*
# the person opened stays open when the shelves are redrawn (a vote, the next explanation arriving).
VOTE_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-vote]');
  if (b) trigger('vote', {item: b.dataset.item, liked: b.dataset.vote === 'up'});
});
const opened = new Set();
element.addEventListener('toggle', (e) => {
  const card = e.target.closest && e.target.closest('.ie-card');
  if (card) { if (e.target.open) opened.add(card.dataset.item); else opened.delete(card.dataset.item); }
}, true);
watch('value', () => {
  element.querySelectorAll('.ie-card').forEach((card) => {
    const box = card.querySelector('details.ie-whybox');
    if (box && opened.has(card.dataset.item)) box.open = true;
  });
});
"""


def shelves_html(shelves: Sequence[Shelf], catalog: Catalog, opinion_of: Callable[[str], bool | None],
                 writer: Callable[[str], str], writing: bool = False) -> str:
    """The answer as rows, one per exploratory query: a title in words, its mode, its cards side by side.

    `opinion_of(item_id)` is the person's 👍/👎 on it (None: none); `writer(path)` says who wrote a reason
    ("the language model (…)", "a template"); `writing` marks cards whose reason is still being written."""
    if not shelves:
        return ('<div class="ie-shelves ie-empty">Recommendations appear here as shelves, one per direction '
                'the explorer takes: press <b>Recommend</b> or ask for something.</div>')
    rows = []
    for s in shelves:
        hint = f"{MODE_HINT.get(s.mode, '')}: the query “{s.query}”" + (f" ({s.rationale})" if s.rationale else "")
        cards = "".join(shelf_card_html(n + 1, rec, s, catalog, opinion_of(rec.item_id), writer, writing)
                        for n, rec in s.items)
        rows.append(f'<section class="ie-shelf" data-mode="{esc(s.mode)}" data-query="{esc(s.query)}">'
                    f'<div class="ie-shelf-title" role="heading" aria-level="3" title="{esc(hint)}">'
                    f'<span>{esc(s.title)}</span> <span class="ie-badge ie-{esc(s.mode)}">{esc(s.mode)}</span></div>'
                    f'<div class="ie-row">{cards}</div></section>')
    return f'<div class="ie-shelves">{"".join(rows)}</div>'


def shelf_card_html(number: int, rec: Recommendation, shelf: Shelf, catalog: Catalog, opinion: bool | None,
                    writer: Callable[[str], str], writing: bool = False) -> str:
    """One card on a shelf: title, kind and year, its reason once (clamped to a line or two until *why?*
    opens), 👍/👎, and *why?* with the evidence and provenance (query, mode, who wrote the reason)."""
    meta = " · ".join(esc(v) for v in (rec.kind, rec.year) if v)
    if rec.explanation:
        reason, path = esc(rec.explanation), rec.explanation_served_by
    else:
        reason, path = ("writing why…" if writing else ""), "pending"
    cited = "".join(f'<span class="ie-cite">{esc(catalog[e].title)}</span>' for e in rec.evidence if e in catalog)
    state = {True: " ie-liked", False: " ie-disliked", None: ""}[opinion]
    note = {True: '<div class="ie-opinion">👍 liked: it joined your history</div>',
            False: '<div class="ie-opinion">👎 noted: it joined your history as a dislike and will not come back</div>',
            None: ""}[opinion]
    wrote = "" if path == "pending" else f"<li>reason written by {esc(writer(path))}</li>"
    item = esc(rec.item_id)
    return (f'<article class="ie-card{state}" data-item="{item}" data-rank="{int(number)}" data-mode="{esc(rec.mode)}" data-path="{esc(path)}">'
            f'<div class="ie-head"><span class="ie-num">{number}</span><span class="ie-title">{esc(rec.title)}</span></div>'
            f'<div class="ie-meta">{meta}</div>'
            f'<div class="ie-reason">{reason}</div>'
            f'<div class="ie-actions"><button class="ie-up" data-vote="up" data-item="{item}" title="more like this">👍</button>'
            f'<button class="ie-down" data-vote="down" data-item="{item}" title="not for me">👎</button></div>'
            f'<details class="ie-whybox"><summary>why?</summary><ul>'
            + (f"<li>because you liked {cited}</li>" if cited else "")
            + f'<li>found by the {esc(rec.mode)} query “{esc(rec.query)}” ({esc(MODE_HINT.get(rec.mode, ""))})</li>'
            + (f"<li>the plan: {esc(shelf.rationale)}</li>" if shelf.rationale else "")
            + wrote + "</ul></details>" + note + "</article>")


def ambiguous_items(ambiguous: Sequence[Ambiguous]) -> list[str]:
    """Lines naming several items, each with the choices to paste back ("Dune, 4.5: Dune (2021) or Dune (1965)")."""
    return [f"{a.line}: did you mean {' or '.join(f'{c.title} ({c.kind}, {c.year})' if c.year else f'{c.title} ({c.kind})' for c in a.candidates)}? "
            f"Write it as {' or '.join(a.choices())}." for a in ambiguous]


def profile_html(profile: InterestProfile, edited: bool, items: int = 0) -> str:
    """The profile's summary, themes and avoid list; `data-items` is the history's size it was built for."""
    tag = ' <span class="ie-path">edited by you</span>' if edited else ""
    themes = "".join(f'<span class="ie-theme" title="weight {t.weight:.2f}">{esc(t.label)}</span>' for t in profile.themes)
    avoid = "".join(f'<span class="ie-avoid">{esc(a)}</span>' for a in profile.avoid)
    return (f'<div class="ie-profile" data-items="{int(items)}"><p>{esc(profile.summary) or "(no summary)"}{tag}</p>'
            f'<div>{themes or "no themes"}</div>' + (f'<div>avoid: {avoid}</div>' if avoid else "") + "</div>")


def history_html(history: History, catalog: Catalog, label: str) -> str:
    rows = []
    for r in reversed(history.ratings):
        item = catalog.items.get(r.item_id)
        if item is None:
            continue
        mark = "👎" if r.disliked else "👍" if r.rating is not None and r.liked else "·"
        rating = f" {r.rating:g}" if r.rating is not None else ""
        rows.append(f'<li data-item="{esc(item.id)}">{mark}{esc(rating)} {esc(item.title)} '
                    f'<span class="ie-meta">({esc(item.kind)}{", " + esc(item.year) if item.year else ""})</span></li>')
    return (f'<div class="ie-history"><p>{esc(label)}: {count(len(history), "item")}, newest first</p>'
            f'<ul>{"".join(rows)}</ul></div>')


def notice_html(text: str, kind: str = "info", items: list[str] | None = None, turn: int | None = None) -> str:
    """A one-line notice, optionally with a list (e.g. unknown titles); `turn` marks which answer it is about."""
    listed = "".join(f"<li>{esc(i)}</li>" for i in items or ())
    marker = f' data-turn="{int(turn)}"' if turn is not None else ""
    return (f'<div class="ie-notice ie-{esc(kind)}"{marker}>{esc(text)}'
            + (f"<ul>{listed}</ul>" if listed else "") + "</div>")


def map_text_html(lines: Sequence[str]) -> str:
    """The interest map's text alternative: what the picture shows, region by region."""
    if not lines:
        return ""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines[1:])
    return (f'<details class="ie-maptext" aria-label="The interest map in words"><summary>{esc(lines[0])} '
            f'The map in words</summary><ul>{items}</ul></details>')
