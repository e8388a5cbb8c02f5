"""The model chooses, the sentence is composed: the second way an LLM's words can reach a card or a profile.

The 135M model writes fluent sentences that state things nobody told it; it chooses among enumerated options far
more reliably (the plan step lives on that). Here its choice is *what to say*: which tag a recommendation shares
with which cited history item and what it adds; which liked titles show a person's themes and which disliked tag
to name. Every option is a fact of the item or of the history, so the sentence composed around the choice from a
template in prompts/ (its `compose` section) states only those facts. The claims check still reads it before it
is shown, with the template's own words counted as ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from explorer.catalog import Item
from explorer.pipeline.claims import Facts
from explorer.pipeline.prompts import Prompt
from explorer.pipeline.values import ExploreQuery, parse_choices

# Tags about a list or a site, not about the work (MovieLens users' "in netflix queue", "imdb top 250"): true of
# the item, but nothing to tell a person why it fits.
NOT_ABOUT_THE_WORK = re.compile(r"netflix|imdb|test tag|bechdel|queue|watchlist|seen|to see", re.I)
MAX_LINKS = 10  # (tag, history item) options offered for what a recommendation has in common
MAX_ADDS = 2  # new tags the sentence may name
MAX_FAVOURITES = 2
FAVOURITE_OPTIONS = 8


@dataclass(frozen=True)
class ExplanationOptions:
    """What an explanation may say: `links` maps an option's words to (shared tag or None, history item);
    `adds` are the item's tags that no cited history item carries."""

    links: dict[str, tuple[str | None, Item]]
    adds: list[str]

    @property
    def real_choice(self) -> bool:
        """Whether the model had anything to choose (more than one option in some field)."""
        return len(self.links) > 1 or len(self.adds) > 1


def explanation_options(item: Item, evidence: list[Item]) -> ExplanationOptions:
    links: dict[str, tuple[str | None, Item]] = {}
    tags = [t for t in item.tags if not NOT_ABOUT_THE_WORK.search(t)]
    for e in evidence:
        for tag in tags:
            if tag in e.tags and len(links) < MAX_LINKS:
                links[f"{tag}, as in {e.title}"] = (tag, e)
    if not links:  # nothing in common by tag: the choice is which history item the sentence cites
        links = {e.title: (None, e) for e in evidence}
    adds = [t for t in tags if not any(t in e.tags for e in evidence)]
    return ExplanationOptions(links, adds)


def explanation_schema(options: ExplanationOptions) -> dict:
    properties = {"link": {"type": "string", "enum": list(options.links)}}
    if options.adds:
        properties["adds"] = {"type": "array", "items": {"type": "string", "enum": options.adds},
                              "minItems": 1, "maxItems": min(MAX_ADDS, len(options.adds))}
    return {"type": "object", "required": list(properties), "properties": properties}


def choose_explanation(llm, prompt: Prompt, item: Item, evidence: list[Item], query: ExploreQuery,
                       values: dict) -> str:
    """The model's choice among the item's and history's facts, composed into a sentence by `prompt`'s templates.
    Raises on a failed or empty choice (the caller falls back)."""
    options = explanation_options(item, evidence)
    messages = prompt.messages(**values, links="; ".join(options.links) or "nothing",
                               adds=", ".join(options.adds) or "nothing")
    raw = llm.choose(messages, explanation_schema(options), 60)
    picked = parse_choices({k: v if isinstance(v, list) else [v] for k, v in dict(raw).items()},
                           {"link": list(options.links), "adds": options.adds})
    if not picked["link"]:
        raise ValueError("the model chose no offered link")
    return compose_explanation(prompt, item, query, options, picked["link"][0], picked["adds"][:MAX_ADDS])


def compose_explanation(prompt: Prompt, item: Item, query: ExploreQuery, options: ExplanationOptions,
                        link: str, adds: list[str]) -> str:
    shared, history = options.links[link]
    fill = {"shared": shared or "", "history": history.title, "item": item.title, "adds": join(adds),
            "query": query.text}
    if shared and adds:
        sentence = prompt.composed("shared_and_new", **fill)
    elif shared:
        sentence = prompt.composed("shared", **fill)
    elif adds:
        sentence = prompt.composed("new", **fill)
    else:
        raise ValueError("nothing in common and nothing new to say")
    fact = first_fact(item)
    return prompt.composed("fact", sentence=sentence, fact=fact) if fact else sentence


def first_fact(item: Item) -> str:
    """The first sentence of the item's description, without its full stop ('' when it has none)."""
    return item.description.split(". ")[0].rstrip(".") if item.description else ""


def favourite_options(liked: list[Item]) -> list[str]:
    return list(dict.fromkeys(i.title for i in liked))[:FAVOURITE_OPTIONS]


def summary_schema(favourites: list[str], skip: list[str]) -> dict:
    properties = {"favourites": {"type": "array", "items": {"type": "string", "enum": favourites},
                                 "minItems": 1, "maxItems": min(MAX_FAVOURITES, len(favourites))}}
    if skip:
        properties["skip"] = {"type": "string", "enum": skip}
    return {"type": "object", "required": list(properties), "properties": properties}


def choose_summary(llm, prompt: Prompt, themes: list[str], liked: list[Item], skip: list[str],
                   values: dict) -> str:
    """The model picks the favourites that show the (already chosen) themes and the disliked tag to name; the
    summary is composed from `prompt`'s templates. Raises on a failed or empty choice (the caller falls back)."""
    favourites = favourite_options(liked)
    if not themes or not favourites:
        raise ValueError("no themes or no liked titles to choose from")
    hint = ", and the one thing they skip" if skip else ""
    raw = llm.choose(prompt.messages(**values, skip_hint=hint), summary_schema(favourites, skip), 60)
    picked = parse_choices({k: v if isinstance(v, list) else [v] for k, v in dict(raw).items()},
                           {"favourites": favourites, "skip": skip})
    if not picked["favourites"]:
        raise ValueError("the model chose no offered favourite")
    return compose_summary(prompt, themes, picked["favourites"][:MAX_FAVOURITES], picked["skip"][:1])


def compose_summary(prompt: Prompt, themes: list[str], favourites: list[str], skip: list[str]) -> str:
    sentence = prompt.composed("enjoy", themes=join(themes), favourites=join(favourites))
    return prompt.composed("skip", sentence=sentence, skip=skip[0]) if skip else sentence


def template_facts(prompt: Prompt, facts: Facts) -> Facts:
    """`facts` with the words of `prompt`'s compose templates added as the item's: those words are ours, so
    the claims check reads only what filled the slots."""
    ours = [re.sub(r"\{[^}]*\}", " ", text) for _, text in prompt.compose]
    return Facts(about_item=[*facts.about_item, *ours], about_person=facts.about_person, kinds=facts.kinds)


def join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""
