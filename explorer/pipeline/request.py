"""A person's request in the catalogue's own words: "something funny but clever, no horror please" is read as
wanted tags (comedy, wit) and avoided tags (horror), with the person's own words kept beside them to quote.

Deterministic: each part of the message is matched to the catalogue's tags by its words and word forms, a few
everyday synonyms ("funny" is comedy), and, for what is left, the nearest tags by the embedder (the packaged
sentence model, so the same words always give the same tags). A request never becomes a query made of its raw
text: a part that matches nothing is said to have matched nothing. A quoted title is looked up in the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from explorer.pipeline.claims import stem

AVOID_CUES = re.compile(r"^(?:(?:but|and|just)\s+)?(?:no|not|nothing|none|without|avoid|skip|less|fewer|never|minus|"
                        r"hate|dislike|don'?t (?:want|like|need)|no more|nothing like|anything but)\b\s*", re.I)
SPLIT = re.compile(r"\s*(?:[,;.!?]|\bbut\b|\band\b|\bthough\b|\balthough\b|\bplus\b|\bwith\b)\s*", re.I)
FILLER = set("""
i i'm im id i'd me my we us you your please pls thanks thank want wants wanting would like love looking look
for to a an the some something anything stuff things thing items ones one kind sort of more most really very
quite bit little lot lots maybe perhaps just also too is are be that this these those it its can could give show
recommend recommendation recommendations suggest find get me today tonight now mood in into feel feeling
watch read play listen hear new another other again
""".split())
SYNONYMS = {
    "funny": "comedy", "fun": "comedy", "hilarious": "comedy", "humorous": "comedy", "comic": "comedy",
    "comedic": "comedy", "laugh": "comedy", "laughs": "comedy", "witty": "wit", "clever": "wit", "smart": "wit",
    "scary": "horror", "frightening": "horror", "spooky": "horror", "creepy": "horror", "gory": "horror",
    "gore": "horror", "sci-fi": "science fiction", "scifi": "science fiction", "sf": "science fiction",
    "romantic": "romance", "love story": "romance", "sad": "melancholy", "uplifting": "feel-good",
    "cozy": "feel-good", "cosy": "feel-good", "heartwarming": "feel-good", "thoughtful": "philosophy",
    "slow": "slow burn", "tense": "thriller", "suspense": "thriller", "suspenseful": "thriller",
    "kids": "family", "children": "family", "animated": "animation", "cartoon": "animation",
    "historical": "history", "war": "war", "space": "space", "detective": "detective", "murder": "crime",
}
# A quotation: opened after a space (not the apostrophe of "I'm"), closed before a non-letter.
QUOTE = re.compile(r"(?:(?<=\s)|^)[\"“'‘]([^\"”’]{2,120}?)[\"”'’](?=[\s.,;:!?)]|$)")
MAX_TAGS_PER_PART = 2
EMBED_THRESHOLD = 0.55


@dataclass(frozen=True)
class RequestReading:
    """What a message asks for, in tags of the catalogue, and the person's words to quote."""

    words: str
    wanted: tuple[str, ...] = ()
    avoided: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()  # parts of the message that matched no tag
    titles: tuple[str, ...] = ()  # catalogue item ids a quoted title named
    unknown_titles: tuple[str, ...] = ()  # quoted titles the catalogue does not hold

    @property
    def query(self) -> str:
        return ", ".join(self.wanted)


@dataclass
class TagVocabulary:
    """The catalogue's tags (with how many items carry each), and optionally the embedder for the nearest tags."""

    counts: dict[str, int]
    embed: Callable[[list[str]], np.ndarray] | None = None
    _vectors: np.ndarray | None = field(default=None, repr=False)
    _tags: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self):
        self._by_stem: dict[str, str] = {}
        for tag in sorted(self.counts, key=lambda t: -self.counts[t]):
            self._by_stem.setdefault(" ".join(stem(w) for w in tag.split()), tag)

    def exact(self, phrase: str) -> str | None:
        if phrase in self.counts:
            return phrase
        return self._by_stem.get(" ".join(stem(w) for w in phrase.split()))

    def nearest(self, phrase: str) -> list[str]:
        if self.embed is None:
            return []
        if self._vectors is None:
            self._tags = sorted(self.counts)
            self._vectors = self.embed(self._tags)
        vector = self.embed([phrase])[0]
        sims = self._vectors @ vector
        order = np.argsort(-sims)[:MAX_TAGS_PER_PART]
        return [self._tags[i] for i in order if sims[i] >= EMBED_THRESHOLD]


def _tags_for(part: str, vocabulary: TagVocabulary) -> list[str]:
    words = [w for w in re.findall(r"[\w'&-]+", part.lower()) if w not in FILLER]
    found: list[str] = []
    i = 0
    while i < len(words):  # longest phrase first: "science fiction" before "science"
        for size in (3, 2, 1):
            phrase = " ".join(words[i:i + size])
            if len(words[i:i + size]) < size:
                continue
            tag = vocabulary.exact(phrase) or (SYNONYMS.get(phrase) if SYNONYMS.get(phrase) in vocabulary.counts else None)
            if tag:
                found.append(tag)
                i += size
                break
        else:
            rest = words[i]
            found += vocabulary.nearest(rest)
            i += 1
    return list(dict.fromkeys(found))


def read_request(message: str, vocabulary: TagVocabulary, find_title: Callable[[str], str | None] | None = None
                 ) -> RequestReading:
    """The message read as wanted and avoided tags. `find_title` maps a quoted title to a catalogue id."""
    words = message.strip()
    titles, unknown = [], []
    for quoted in QUOTE.findall(words):
        item_id = find_title(quoted) if find_title else None
        (titles if item_id else unknown).append(item_id or quoted)
    text = QUOTE.sub(" ", words)
    wanted, avoided, unmatched = [], [], []
    negate_next = False
    for part in SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        cue = AVOID_CUES.match(part)
        body = part[cue.end():] if cue else part
        tags = _tags_for(body, vocabulary)
        if not tags:
            if cue and not body.strip():
                negate_next = True  # "no, ..." / "not ..." split from what it negates
            elif [w for w in re.findall(r"[\w'&-]+", body.lower()) if w not in FILLER]:
                unmatched.append(body)
            continue
        (avoided if cue or negate_next else wanted).extend(tags)
        negate_next = False
    avoided = list(dict.fromkeys(avoided))
    wanted = [t for t in dict.fromkeys(wanted) if t not in avoided]
    return RequestReading(words, tuple(wanted), tuple(avoided), tuple(unmatched), tuple(titles), tuple(unknown))
