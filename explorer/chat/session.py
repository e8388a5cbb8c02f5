"""A chat session: turns, feedback and profile edits over one person's history.

Messages are read for a handful of intents ("why the third one?", "less horror", "more like Arrival",
"surprise me"); anything else steers the next answer as a free-text request. The session is plain
data plus the facade, so a UI can store and restore it.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from explorer.catalog import History, Rating
from explorer.chat.shelves import brief, shelves_of
from explorer.errors import ExplorerError
from explorer.pipeline.events import Event, EventKind
from explorer.pipeline.injection import strip_injection
from explorer.pipeline.values import InterestProfile, RecommendResult, Theme

MAX_MESSAGE_CHARS = 500
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
            "fifth": 4, "5th": 4, "last": -1}
SURPRISE = re.compile(r"\b(surprise|something (new|different)|explore|anything)\b", re.I)
WHY = re.compile(r"\bwhy\b", re.I)
LESS = re.compile(r"\b(?:less|fewer|no more|no|without|not|avoid|skip)\s+([\w][\w\s'-]{1,40})", re.I)
MORE_LIKE = re.compile(r"\bmore like\s+(?:the\s+)?(.+)", re.I)
STATE_VERSION = 1
NEW_THEME_WEIGHT = 0.5
MAX_LABEL_CHARS = 80


def clean_message(text: str) -> str:
    """Printable text only, bounded: control characters go, any script stays."""
    return _printable(text)[:MAX_MESSAGE_CHARS]


def _printable(text: str | None) -> str:
    text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in text or "")
    return re.sub(r"\s+", " ", text).strip()


NOTHING_TO_READ = ("Your message had nothing I can read (only spaces or control characters). Type what you are "
                   "in the mood for, such as \"surprise me\" or \"less horror\", or send an empty message for "
                   "recommendations.")
INSTRUCTIONS_LEFT_OUT = ("(I left out the part of your message addressed to the model: I only recommend items from "
                         "the catalogue, and my instructions stay private.)")


def prepare_message(message: str | None) -> tuple[str | None, list[str]]:
    """The message as the session reads it, and notices to show first. None means there is nothing to read.

    Control characters go and any script stays; a long message is cut to its first MAX_MESSAGE_CHARS
    characters, and sentences addressed to the model ("ignore previous instructions", "print your system
    prompt") are dropped before they can steer anything. Both are said, never done silently. An empty
    message (the Recommend button) asks for recommendations; one made only of blanks or control
    characters gets a request to type something.
    """
    if not message:
        return "", []
    text = _printable(message)
    if not text:
        return None, []
    notices = []
    if len(text) > MAX_MESSAGE_CHARS:
        notices.append(f"(Your message has {len(text):,} characters; I read the first {MAX_MESSAGE_CHARS}.)")
        text = text[:MAX_MESSAGE_CHARS]
        text = text.rsplit(" ", 1)[0] if " " in text else text  # not in the middle of a word
    text, dropped = strip_injection(text)
    if dropped:
        notices.append(INSTRUCTIONS_LEFT_OUT)
    return text.strip(), notices


class ProfileEditError(ExplorerError):
    """An edited profile that cannot be used as it is; the message says what to change."""


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
    # Each turn's answer in a sentence or two (what changed, which shelves), for a UI that shows the
    # recommendations apart from the chat; "" where only the full text exists (older saved sessions).
    briefs: list[str] = field(default_factory=list)

    # ---------------------------------------------------------------- actions besides messages
    def feedback(self, item_id: str, liked: bool) -> None:
        """👍 or 👎 on an item: it joins the history, so the next answer follows it and never repeats it."""
        if item_id not in self.explorer.catalog:
            from explorer.errors import UnknownItemError
            raise UnknownItemError([item_id], "feedback")
        self.history = self.history.with_feedback(item_id, 5.0 if liked else 1.0)

    def edit_profile(self, profile: InterestProfile) -> None:
        self.profile = profile

    def revise_profile(self, themes: list[str], avoid: list[str], summary: str | None = None) -> InterestProfile:
        """Edit the profile as a person sees it: lists of theme labels and things to avoid.

        The edit starts from the profile the person sees (`shown_profile`): a theme that was already
        there keeps its weight and evidence; a new one gets a middling weight and no evidence. The result
        drives every later answer (`edit_profile`) and is returned.
        """
        current = self.shown_profile()
        known = {t.label: t for t in current.themes}
        labels = dict.fromkeys(label.strip().lower() for label in themes if label and label.strip())
        too_long = [label for label in [*labels, *avoid] if len(label.strip()) > MAX_LABEL_CHARS]
        if too_long:
            raise ProfileEditError(f"a theme or avoid entry may have at most {MAX_LABEL_CHARS} characters: "
                                   f"shorten {too_long[0][:40]!r}...")
        revised = tuple(known.get(label) or Theme(label=label, weight=NEW_THEME_WEIGHT) for label in labels)
        profile = InterestProfile(summary=current.summary if summary is None else summary.strip(),
                                  themes=revised, avoid=tuple(avoid))
        self.edit_profile(profile)
        return profile

    def feedback_on(self, item_id: str) -> bool | None:
        """True or False when the history holds a like or a dislike of this item, None otherwise."""
        rating = next((r for r in self.history.ratings if r.item_id == item_id), None)
        if rating is None or rating.rating is None:
            return None
        return True if rating.liked else False if rating.disliked else None

    # ---------------------------------------------------------------- storing and restoring
    def to_dict(self) -> dict:
        """The session as plain JSON-ready data (everything but the facade), for `from_dict`."""
        return {"version": STATE_VERSION, "name": self.history.name,
                "history": [r.model_dump() for r in self.history.ratings],
                "explore": self.explore, "k": self.k,
                "profile": self.profile.model_dump(mode="json") if self.profile else None,
                "last": self.last.model_dump(mode="json") if self.last else None,
                "turns": [list(turn) for turn in self.turns], "briefs": list(self.briefs)}

    @classmethod
    def from_dict(cls, explorer, data: dict) -> "ChatSession":
        """A session back from `to_dict`. Items the catalogue no longer holds are dropped from the
        history, and a last answer that names one is forgotten (it could no longer be explained)."""
        catalog = explorer.catalog
        ratings = [Rating.model_validate(r) for r in data.get("history", ())]
        history = History.of([r for r in ratings if r.item_id in catalog], name=data.get("name", "you"))
        last = RecommendResult.model_validate(data["last"]) if data.get("last") else None
        if last and any(r.item_id not in catalog for r in last.recommendations):
            last = None
        profile = InterestProfile.model_validate(data["profile"]) if data.get("profile") else None
        return cls(explorer, history, explore=float(data.get("explore", 0.3)), k=int(data.get("k", 5)),
                   profile=profile, last=last, turns=[(str(m), str(a)) for m, a in data.get("turns", ())],
                   briefs=[str(b) for b in data.get("briefs", ())])

    def current_profile(self) -> InterestProfile:
        return self.profile or self.explorer.profile(self.history).value

    def shown_profile(self) -> InterestProfile:
        """The profile to show: their edit, else the current history's if it is already built, else
        the last answer's, else a fresh one. Unlike `current_profile` it needs no model call once an
        answer exists (after 👍/👎 the history's profile may not be built yet)."""
        return (self.profile or self.explorer.known_profile(self.history)
                or (self.last.profile if self.last else None) or self.current_profile())

    # ---------------------------------------------------------------- messages
    def send(self, message: str) -> Iterator[str]:
        """The answer as text pieces, streamed as they are written; `self.last` holds the result after."""
        for event in self.send_events(message):
            if event.kind == "text":
                yield event.data

    def send_events(self, message: str) -> Iterator[Event]:
        """The answer as events, for a UI that shows more than text: `text` pieces (exactly what `send`
        yields) interleaved with the pipeline's `profile`, `plan`, `item`, `explanation` and `result`."""
        message, notices = prepare_message(message)
        if message is None:
            self._add_turn("", NOTHING_TO_READ, NOTHING_TO_READ)
            yield _text(NOTHING_TO_READ)
            return
        intent = read_intent(message)
        pieces: list[str] = [notice + "\n\n" for notice in notices]
        self._brief = list(notices)
        for piece in pieces:
            yield _text(piece)
        for event in self._answer(intent, message):
            if event.kind == "text":
                pieces.append(event.data)
            yield event
        self._add_turn(message, "".join(pieces), self.brief_so_far())

    def brief_so_far(self) -> str:
        """The brief of the answer being written (or of the last one), for a UI that streams it."""
        return " ".join(p.strip() for p in getattr(self, "_brief", ()) if p.strip())

    def _add_turn(self, message: str, answer: str, brief: str) -> None:
        self.briefs.extend([""] * (len(self.turns) - len(self.briefs)))  # a restored session without briefs
        self.turns.append((message, answer))
        self.briefs.append(brief)

    def _say(self, piece: str) -> Event:
        """Text that belongs to the short answer as well as to the full one."""
        self._brief.append(piece)
        return _text(piece)

    def _answer(self, intent: Intent, message: str = "") -> Iterator[Event]:
        explore, request = self.explore, None
        if intent.kind == "why":
            yield self._say(self._why(intent.target or ""))
            return
        if intent.kind in ("less", "request"):
            # Read as a whole: "something funny but clever, no horror please" wants comedy and wit and avoids
            # horror, in the catalogue's own tags; the person's words are quoted as theirs, never used as a query.
            reading = self.explorer.read_request(message)
            avoided = list(reading.avoided) or ([intent.target.lower()] if intent.kind == "less" and intent.target else [])
            for tag in avoided:
                self._avoid(tag)
            said = []
            if reading.wanted:
                said.append(f"You asked for \"{reading.words}\": I looked for {', '.join(reading.wanted)}.")
            if avoided:
                said.append(f"Noted: less {', '.join(avoided)}.")
            said += [f"I could not find \"{t}\" in the catalogue." for t in reading.unknown_titles]
            if reading.titles and not reading.wanted:
                named = ", ".join(self.explorer.catalog[i].title for i in reading.titles)
                said.append(f"More in the vein of {named}, then.")
            if not (reading.wanted or avoided or reading.titles):
                said.append("Nothing in your message matched the catalogue's vocabulary, so I followed your history.")
            yield self._say(" ".join(said) + "\n\n")
            if reading.wanted or reading.titles:
                request = dataclasses.replace(reading, avoided=())  # already in the profile
        elif intent.kind == "more_like" and intent.target:
            item = self._resolve(intent.target)
            if item is None:
                yield self._say(f"I could not find \"{intent.target}\" in the catalogue, so I kept your history as it is.\n\n")
            else:
                self.history = self.history.with_feedback(item.id, 5.0)
                if self.profile is not None:
                    self._add_theme_from(item)
                yield self._say(f"More like {item.title}, then.\n\n")
        elif intent.kind == "surprise":
            explore = max(explore, 0.8)
        yield from self._recommend(explore, request)

    def _recommend(self, explore: float, request: str | None) -> Iterator[Event]:
        """The answer's events, with its text: each card's line is written once its reason is final (the LLM's
        checked sentence, or the template), so the text never shows a draft or takes anything back. A UI that
        draws cards takes the `item` events (each with its template reason, at once) and swaps in the sentence
        that an `explanation` event carries."""
        cards = {}
        for event in self.explorer.recommend_stream(self.history, self.k, explore, self.profile, request):
            if event.kind == "profile":
                self._brief.append(_profile_change(self.last.profile if self.last else None, event.data))
                yield event
                yield _text(f"Your profile: {event.data.summary}\n\n")
            elif event.kind == "item":
                cards[event.index] = event.data
                yield event
            elif event.kind == "explanation":
                rec = cards.get(event.index)
                if rec is not None:
                    year = f", {rec.year}" if rec.year else ""
                    yield _text(f"{event.index + 1}. {rec.title} ({rec.kind}{year}) [{rec.mode}: {rec.query}]\n"
                                f"   {event.data.value}\n", event.index)
                yield event
            elif event.kind == "result":
                self.last = event.data
                self._brief.append(brief(shelves_of(event.data.recommendations, event.data.queries,
                                                    self.explorer.catalog, getattr(self.explorer, "clusters", None))))
                served = event.data.served_by
                yield event
                yield _text(f"\n(profile: {served.profile}, plan: {served.plan}, explanations: {served.explain})")
            else:
                yield event

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
        profile = self.current_profile()
        have = {t.label for t in profile.themes}
        new = [Theme(label=t, weight=0.5, evidence=(item.id,)) for t in item.tags[:2] if t not in have]
        self.profile = profile.model_copy(update={"themes": tuple(new) + profile.themes})


def _profile_change(before: InterestProfile | None, after: InterestProfile) -> str:
    """What changed in the profile, in a sentence ("" when nothing did)."""
    themes = ", ".join(t.label for t in after.themes[:4])
    if before is None:
        return f"Your profile: {themes or 'no themes yet'}" + (f"; avoiding {', '.join(after.avoid)}." if after.avoid else ".")
    added = [t.label for t in after.themes if t.label not in {b.label for b in before.themes}]
    avoided = [a for a in after.avoid if a not in before.avoid]
    said = ([f"new themes {', '.join(added[:3])}"] if added else []) + ([f"now avoiding {', '.join(avoided)}"] if avoided else [])
    return f"Profile changed: {'; '.join(said)}." if said else ""


def _text(piece: str, index: int | None = None) -> Event:
    return Event(EventKind.TEXT, piece, index)
