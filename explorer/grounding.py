"""Checks that generated text stays inside the catalogue and the person's history.

A small model can be fluent and still wrong; these checks decide whether its text is used or the
deterministic fallback serves instead.
"""

from __future__ import annotations

import re

from explorer.catalog import Catalog, normalise_title


def foreign_titles(text: str, catalog: Catalog, allowed_ids: set[str], facts: str = "") -> list[str]:
    """Catalogue titles named in `text` that are not among `allowed_ids` (grounding violations).

    A title that also occurs in `facts` (the tags and descriptions the text was written from: a tag
    "australia" beside a film called Australia) is quoting a fact, not naming another work.
    """
    lowered = normalise_title(text)
    allowed_titles = {normalise_title(catalog[i].title) for i in allowed_ids if i in catalog}
    if facts:
        allowed_titles.add(normalise_title(facts))
    hits = []
    for item_id, pattern in catalog.distinctive_titles:
        if item_id in allowed_ids:
            continue
        if pattern.search(lowered) and not any(pattern.search(t) for t in allowed_titles):
            hits.append(catalog[item_id].title)
    return list(dict.fromkeys(hits))


def item_facts(item, query: str = "") -> str:
    """What an explanation may quote: the item's description, tags and creator, and the query that found
    it (a description that mentions the film a novella inspired is a fact of the novella; a query
    "drama, thriller" does not name the album Thriller)."""
    return " | ".join([item.description, *item.tags, item.creator or "", query])


def looks_degenerate(text: str) -> str | None:
    """Why a generation is unusable (too short, repetitive, not prose), or None when it reads fine."""
    words = re.findall(r"[\w']+", text.lower())
    if len(words) < 4:
        return "too short"
    if len(set(words)) / len(words) < 0.5:
        return "repetitive"
    letters = sum(ch.isalpha() for ch in text)
    if letters / max(len(text), 1) < 0.6:
        return "not prose"
    if re.search(r"https?://|<[a-z/]", text, re.I):
        return "contains markup or links"
    return None


def first_sentences(text: str, limit: int = 2, max_chars: int = 360) -> str:
    """The first complete sentences of a generation; drops a trailing half-sentence."""
    text = re.sub(r"\s+", " ", text).strip()
    sentences = re.findall(r"[^.!?]+[.!?]+", text)
    kept = "".join(sentences[:limit]).strip() if sentences else ""
    return kept[:max_chars]


def unsupported_names(text: str, facts: str) -> list[str]:
    """Capitalised words (names) in `text` that the given facts never mention: likely invented.

    The first word of each sentence is skipped; "I" and common sentence openers are not names.
    """
    known = set(re.findall(r"[\w']+", facts.lower()))
    names = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for word in re.findall(r"[\w']+", sentence)[1:]:
            if word[0].isupper() and word.lower() not in known and word not in ("I", "I'm", "I've"):
                names.append(word)
    return names
