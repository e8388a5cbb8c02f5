"""A chat session: turns, feedback and profile edits over one person's history.

Messages are read for a handful of intents ("why the third one?", "less horror", "more like Arrival",
"surprise me"); anything else steers the next answer as a free-text request. The session is plain
data plus the facade, so a UI can store and restore it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from explorer.catalog import History
from explorer.schema import InterestProfile, RecommendResult

MAX_MESSAGE_CHARS = 500
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
            "fifth": 4, "5th": 4, "last": -1}
SURPRISE = re.compile(r"\b(surprise|something (new|different)|explore|anything)\b", re.I)
WHY = re.compile(r"\bwhy\b", re.I)
LESS = re.compile(r"\b(?:less|fewer|no more|no|without|not|avoid|skip)\s+([\w][\w\s'-]{1,40})", re.I)
MORE_LIKE = re.compile(r"\bmore like\s+(?:the\s+)?(.+)", re.I)


def clean_message(text: str) -> str:
    """Printable text only, bounded: control characters go, any script stays."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in text or "")
    return re.sub(r"\s+", " ", text).strip()[:MAX_MESSAGE_CHARS]


@dataclass
class Intent:
    kind: str  # why | less | more_like | surprise | request | recommend
    target: str | None = None


def read_intent(message: str) -> Intent:
    if not message:
        return Intent("recommend")
    if WHY.search(message):
        return Intent("why", message)
    if m := MORE_LIKE.search(message):
        return Intent("more_like", m.group(1).strip(" ?!.\"'"))
    if m := LESS.search(message):
        return Intent("less", re.sub(r"\b(please|thanks|stuff|things|items|ones)\b", "", m.group(1), flags=re.I).strip(" ?!.,"))
    if SURPRISE.search(message):
        return Intent("surprise")
    return Intent("request", message)


@dataclass
class ChatSession:
    explorer: object
    history: History
    explore: float = 0.3
    k: int = 5
    profile: InterestProfile | None = None  # an edited profile; None means "derive from the history"
    last: RecommendResult | None = None
    turns: list[tuple[str, str]] = field(default_factory=list)

    # ---------------------------------------------------------------- actions besides messages
    def feedback(self, item_id: str, liked: bool) -> None:
        """👍 or 👎 on an item: it joins the history, so the next answer follows it and never repeats it."""
        if item_id not in self.explorer.catalog:
            from explorer.errors import UnknownItemError
            raise UnknownItemError([item_id], "feedback")
        self.history = self.history.with_feedback(item_id, 5.0 if liked else 1.0)

    def edit_profile(self, profile: InterestProfile) -> None:
        self.profile = profile

    def current_profile(self) -> InterestProfile:
        return self.profile or self.explorer.profile(self.history).profile

    # ---------------------------------------------------------------- messages
    def send(self, message: str) -> Iterator[str]:
        """The answer as text pieces, streamed as they are written; `self.last` holds the result after."""
        message = clean_message(message)
        intent = read_intent(message)
        pieces: list[str] = []
        for piece in self._answer(intent):
            pieces.append(piece)
            yield piece
        self.turns.append((message, "".join(pieces)))

    def _answer(self, intent: Intent) -> Iterator[str]:
        explore, request = self.explore, None
        if intent.kind == "why":
            yield self._why(intent.target or "")
            return
        if intent.kind == "less" and intent.target:
            self._avoid(intent.target.lower())
            yield f"Noted: less {intent.target}.\n\n"
        elif intent.kind == "more_like" and intent.target:
            item = self._resolve(intent.target)
            if item is None:
                yield f"I could not find \"{intent.target}\" in the catalogue, so I kept your history as it is.\n\n"
            else:
                self.history = self.history.with_feedback(item.id, 5.0)
                if self.profile is not None:
                    self._add_theme_from(item)
                yield f"More like {item.title}, then.\n\n"
        elif intent.kind == "surprise":
            explore = max(explore, 0.8)
        elif intent.kind == "request":
            request = intent.target
        yield from self._recommend(explore, request)

    def _recommend(self, explore: float, request: str | None) -> Iterator[str]:
        streamed = False  # whether LLM text for the current item has already been shown
        for event in self.explorer.recommend_stream(self.history, self.k, explore, self.profile, request):
            if event.kind == "profile":
                yield f"Your profile: {event.data.summary}\n\n"
            elif event.kind == "item":
                rec = event.data
                year = f", {rec.year}" if rec.year else ""
                yield f"{event.index + 1}. {rec.title} ({rec.kind}{year}) [{rec.mode}: {rec.query}]\n   "
            elif event.kind == "token":
                streamed = True
                yield event.data
            elif event.kind == "explanation":
                if event.data.path == "llm":
                    yield "\n"
                elif streamed:
                    yield f"\n   (that text failed the grounding check; instead:) {event.data.text}\n"
                else:
                    yield f"{event.data.text}\n"
                streamed = False
            elif event.kind == "result":
                self.last = event.data
                paths = event.data.paths
                yield f"\n(profile: {paths.profile}, plan: {paths.plan}, explanations: {paths.explain})"

    def _why(self, text: str) -> str:
        if self.last is None or not self.last.recommendations:
            return "I have not recommended anything yet: ask for recommendations first."
        recs = self.last.recommendations
        pick = None
        for word, index in ORDINALS.items():
            if re.search(rf"\b{word}\b", text, re.I):
                pick = recs[index] if -len(recs) <= index < len(recs) else None
                break
        if pick is None and (m := re.search(r"#?\b(\d)\b", text)):
            n = int(m.group(1)) - 1
            pick = recs[n] if 0 <= n < len(recs) else None
        if pick is None:
            pick = next((r for r in recs if r.title.lower() in text.lower()), None)
        if pick is None:
            return "Which one? Say \"why the second one?\" or name it: " + "; ".join(r.title for r in recs)
        query = next((q for q in self.last.queries if q.text == pick.query), None)
        cited = ", ".join(self.explorer.catalog[e].title for e in pick.evidence) or "your history"
        return (f"{pick.title}: {pick.explanation}\nIt surfaced for the {pick.mode} query \"{pick.query}\""
                f"{' (' + query.rationale + ')' if query and query.rationale else ''}. Based on: {cited}.")

    def _resolve(self, text: str):
        catalog = self.explorer.catalog
        if self.last:
            for word, index in ORDINALS.items():
                if re.fullmatch(rf"{word}( one)?", text, re.I) and -len(self.last.recommendations) <= index < len(self.last.recommendations):
                    return catalog[self.last.recommendations[index].item_id]
        # find() refuses ambiguous titles ("Dune": book and film); in chat the first match is a fair guess.
        return catalog.find(text) or next((i for i in catalog.items.values() if i.title.lower() == text.lower()), None)

    def _avoid(self, what: str) -> None:
        profile = self.current_profile()
        themes = tuple(t for t in profile.themes if what not in t.label)
        self.profile = profile.model_copy(update={"avoid": tuple(dict.fromkeys([*profile.avoid, what])), "themes": themes})

    def _add_theme_from(self, item) -> None:
        from explorer.schema import Theme

        profile = self.current_profile()
        have = {t.label for t in profile.themes}
        new = [Theme(label=t, weight=0.5, evidence=(item.id,)) for t in item.tags[:2] if t not in have]
        self.profile = profile.model_copy(update={"themes": tuple(new) + profile.themes})
