"""Shelves: an answer's recommendations as rows, one per exploratory query, each titled in words.

A shelf says why it is there the way people know from the services they use: "Because you loved
Arrival: first contact, linguistics" for a query that deepens an interest (the history item behind its
cards, and the interest cluster's label), "Something new: war, history" for one that explores. The web
page draws shelves; the chat's short answer names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from explorer.pipeline.values import ExploreQuery, Recommendation

MODE_WORDS = {"deepen": "more of what you like", "adjacent": "a step beside it", "novel": "something new"}


@dataclass(frozen=True)
class Shelf:
    title: str  # in words: "Because you loved Arrival: first contact, linguistics"
    mode: str
    query: str
    label: str  # the interest cluster's label, else the query's theme or text
    because: str | None  # the history item behind it (an id), when the shelf grows from one
    rationale: str
    items: tuple[tuple[int, Recommendation], ...]  # (rank in the answer, recommendation)


def shelves_of(recommendations: Sequence[Recommendation], queries: Sequence[ExploreQuery], catalog,
               clusters=None) -> list[Shelf]:
    """The recommendations grouped by the query that found them, in the order the queries first appear."""
    by_text = {q.text: q for q in queries}
    groups: dict[str, list[tuple[int, Recommendation]]] = {}
    for rank, rec in enumerate(recommendations):
        groups.setdefault(rec.query, []).append((rank, rec))
    shelves = []
    for text, items in groups.items():
        query = by_text.get(text)
        mode = items[0][1].mode
        label = _label(query, clusters) or text
        because = next((e for _, r in items for e in r.evidence if e in catalog), None)
        shelves.append(Shelf(_title(mode, label, catalog[because].title if because else None), mode, text, label,
                             because, query.rationale if query else "", tuple(items)))
    return shelves


def _label(query: ExploreQuery | None, clusters) -> str | None:
    if query is None:
        return None
    if clusters is not None and query.cluster is not None and 0 <= query.cluster < len(clusters.clusters):
        return clusters.clusters[query.cluster].label
    return query.anchor


def _title(mode: str, label: str, because: str | None) -> str:
    if mode == "novel" or because is None:
        return f"Something new: {label}"
    if mode == "adjacent":
        return f"A step beside {because}: {label}"
    return f"Because you loved {because}: {label}"


def brief(shelves: Sequence[Shelf]) -> str:
    """The answer's shelves in one sentence, for the chat (the cards themselves are shown apart)."""
    if not shelves:
        return "I found nothing new to show for this history."
    n = sum(len(s.items) for s in shelves)
    names = "; ".join(s.title if s.mode == "novel" or s.because is None else s.title.split(": ", 1)[0]
                      for s in shelves)  # the labels are on the shelves themselves
    return f"{n} picks on {len(shelves)} {'shelf' if len(shelves) == 1 else 'shelves'} below: {names}."
