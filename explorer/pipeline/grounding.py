"""Checks that generated text stays inside the catalogue and the person's history.

A small model can be fluent and still wrong; these checks decide whether its text is used or the
deterministic fallback serves instead.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from explorer.catalog import Catalog, normalise_title
from explorer.config import PROJECT_ROOT
from explorer.pipeline.injection import find_injection, strip_injection

ECHO_WORDS = 6  # this many words in a row copied from a system prompt is an echo of it


def foreign_titles(text: str, catalog: Catalog, allowed_ids: set[str], facts: str = "") -> list[str]:
    """Catalogue titles named in `text` that are not among `allowed_ids` (grounding violations).

    A title that also occurs in `facts` (the tags and descriptions the text was written from: a tag
    "australia" beside a film called Australia) is quoting a fact, not naming another work.
    """
    lowered = normalise_title(text)
    allowed_titles = {normalise_title(catalog[i].title) for i in allowed_ids if i in catalog}
    facts = strip_injection(facts)[0]  # "recommend <title>" addressed to the model is no fact of the item
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


def unreadable(text: str, opening: str = "") -> str | None:
    """Why a generation cannot be read at all (nothing written after its fixed opening, or degenerate text),
    or None. The first gate of every check on model text: explanations, summaries and the audit alike."""
    own = text[len(opening):] if opening and text.startswith(opening) else text
    if not own.strip(" .,;:"):
        return "nothing after the opening"
    return looks_degenerate(text)


# A summary speaks to the person ("You enjoy ..."): these are the marks of one that copied the prompt's lists
# instead ("You enjoy : Science fiction, comedy; 1 more. They disliked: ...").
SUMMARY_JUNK = (
    (re.compile(r"^[:;,.!?]|\s[:;,.!?]"), "punctuation soup (a mark with no words before it)"),
    (re.compile(r"[*_#`|]|^\s*-|:\s*-"), "markup"),
    (re.compile(r"(?:^|[\s:;])\d+[.)](?:\s|$)"), "a numbered list"),
    (re.compile(r"\b\d[\d,]*\s+more\b", re.I), "a count copied from the prompt ('N more')"),
    (re.compile(r"\b(?:they|them|their|theirs|themselves|he|she|his|her)\b", re.I), "speaks of the person as 'they'"),
    (re.compile(r"\b(?:the|a|an|and|or|of|vs|mr|mrs|dr|st)\.?$", re.I), "stops mid-sentence"),
)


def summary_junk(text: str, opening: str = "") -> str | None:
    """Why a profile summary is not fit to show a person though it may state nothing false (list punctuation,
    markup, counts copied from the prompt, "they" for "you", a cut-off end), or None."""
    own = text[len(opening):] if opening and text.startswith(opening) else text
    for pattern, why in SUMMARY_JUNK:
        if pattern.search(own.strip()):
            return why
    return None


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
    if re.search(r"https?://|<[a-z/|]", text, re.I):
        return "contains markup or links"
    if hit := find_injection(text):
        return f"addresses the model ({hit!r})"
    if echoes_prompt(text):
        return "repeats the system prompt"
    return None


@lru_cache(maxsize=4)
def system_prompt_ngrams(prompts_dir: Path = PROJECT_ROOT / "prompts") -> frozenset[tuple[str, ...]]:
    """Every run of ECHO_WORDS words in the system messages of the prompt files (placeholders split runs)."""
    import yaml

    grams = set()
    for path in sorted(Path(prompts_dir).glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for role, template in spec.get("messages", ()):
            if role != "system":
                continue
            for fragment in re.split(r"\{[^}]*\}", str(template)):
                words = re.findall(r"[\w']+", fragment.lower())
                grams.update(tuple(words[i:i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1))
    return frozenset(grams)


def echoes_prompt(text: str, prompts_dir: Path = PROJECT_ROOT / "prompts") -> bool:
    """Whether `text` copies ECHO_WORDS or more words in a row from a system prompt."""
    words = re.findall(r"[\w']+", text.lower())
    grams = system_prompt_ngrams(prompts_dir)
    return any(tuple(words[i:i + ECHO_WORDS]) in grams for i in range(len(words) - ECHO_WORDS + 1))


def first_sentences(text: str, limit: int = 2, max_chars: int = 360) -> str:
    """The first complete sentences of a generation; drops a trailing half-sentence."""
    text = re.sub(r"\s+", " ", text).strip()
    sentences = re.findall(r"[^.!?]+[.!?]+", text)
    kept = "".join(sentences[:limit]).strip() if sentences else ""
    return kept[:max_chars]
