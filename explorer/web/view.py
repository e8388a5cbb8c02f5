"""HTML for the web chat's cards and panels. Every catalogue or user string goes through `html.escape`:
a title such as `<img src=x onerror=alert(1)>` is shown as those characters, never run."""

from __future__ import annotations

import html

from explorer.catalog import Catalog, History
from explorer.pipeline.values import InterestProfile, Recommendation

MODE_HINT = {"deepen": "more of what you like", "adjacent": "a step beside it", "novel": "something new"}


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def esc(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def chat_text(text: str) -> str:
    """A chat message as the Chatbot shows it (markdown off): escaped, so it reads as plain text."""
    return esc(text)


def transcript(turns: list[tuple[str, str]]) -> list[dict]:
    messages = []
    for message, answer in turns:
        messages.append({"role": "user", "content": chat_text(message or "(recommend)")})
        messages.append({"role": "assistant", "content": chat_text(answer)})
    return messages


def card_html(number: int, rec: Recommendation, catalog: Catalog, opinion: bool | None = None,
              writing: bool = False) -> str:
    """One recommendation: title, kind, year, the mode badge, its query, the explanation and what it cites."""
    meta = " · ".join(esc(v) for v in (rec.kind, rec.year) if v)
    cited = "".join(f'<span class="ie-cite">{esc(catalog[e].title)}</span>' for e in rec.evidence if e in catalog)
    why = esc(rec.explanation) if rec.explanation else ("writing why…" if writing else "")
    note = {True: '<div class="ie-opinion">👍 liked: it joined your history</div>',
            False: '<div class="ie-opinion">👎 noted: it joined your history as a dislike and will not come back</div>',
            None: ""}[opinion]
    state = {True: " ie-liked", False: " ie-disliked", None: ""}[opinion]
    source = "" if rec.explanation_served_by == "fallback" or not rec.explanation else f' <span class="ie-path">{esc(rec.explanation_served_by)}</span>'
    return (f'<div class="ie-card{state}" data-item="{esc(rec.item_id)}" data-mode="{esc(rec.mode)}">'
            f'<div class="ie-head"><span class="ie-num">{number}</span>'
            f'<span class="ie-title">{esc(rec.title)}</span>'
            f'<span class="ie-badge ie-{esc(rec.mode)}" title="{esc(MODE_HINT.get(rec.mode, ""))}">{esc(rec.mode)}</span></div>'
            f'<div class="ie-meta">{meta}</div>'
            f'<div class="ie-query">query: “{esc(rec.query)}”</div>'
            f'<div class="ie-why">{why}{source}</div>'
            + (f'<div class="ie-cites">because of {cited}</div>' if cited else "")
            + note + "</div>")


def profile_html(profile: InterestProfile, edited: bool) -> str:
    tag = ' <span class="ie-path">edited by you</span>' if edited else ""
    themes = "".join(f'<span class="ie-theme" title="weight {t.weight:.2f}">{esc(t.label)}</span>' for t in profile.themes)
    avoid = "".join(f'<span class="ie-avoid">{esc(a)}</span>' for a in profile.avoid)
    return (f'<div class="ie-profile"><p>{esc(profile.summary) or "(no summary)"}{tag}</p>'
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
