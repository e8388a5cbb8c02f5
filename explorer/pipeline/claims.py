"""Claims, not capital letters: a generated explanation or profile summary may say only what its facts support.

A small model writes fluent sentences that state things nobody told it ("your personal journey with child
adoption", "inspired by an old Japanese film called ..."). Checking names alone lets those through, so the
check here reads every word of the model's own part of the text (the fixed opening is ours) and asks where it
comes from:

- every content word must trace to the facts the text was written from (the item's title, kind, year,
  creator, tags and description; the cited history items; the query; the profile; the person's own words),
  allowing for word forms (dystopian/dystopia), a few genre synonyms (funny/comedy) and the plain words any
  recommendation uses (because, enjoy, genre, ...);
- numbers, dates and quoted phrases must occur in the facts as they are;
- a claim about the person ("you're looking for ...", "you're interested in ...") must trace to what the
  person did or asked (the history items, the query, the profile, their words), never to the item alone;
- kind words (film, book, game, ...) must match the item's kind, and statements no fact can hold are refused
  outright: negations ("not a movie"), histories of a genre ("has been around since ..."), taxonomy ("a
  genre of science fiction"), influences ("inspired by", "influenced by").

Anything else rejects the text, and the template serves instead. The audit set in tests/data/claims_audit.jsonl
(texts from the real model, judged by hand) measures this check's precision and recall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

KIND_WORDS = {
    "film": {"film", "films", "movie", "movies", "cinema"},
    "book": {"book", "books", "novel", "novels", "novella", "read", "literature", "literary"},
    "game": {"game", "games", "gaming", "video", "videogame"},
    "album": {"album", "albums", "record", "records", "songs", "song"},
    "podcast": {"podcast", "podcasts", "episode", "episodes", "show", "series"},
}
ALL_KIND_WORDS = set().union(*KIND_WORDS.values())

# Words that carry no fact: grammar, and the plain vocabulary of saying why something fits.
GENERIC = set("""
a an the and or but nor so yet of in on at to for from by with about as into onto over under than then that this
these those there here it its it's itself they them their theirs he him his she her hers we us our you your yours
you're you've you'll youre i me my is are was were be been being am do does did done have has had having will
would can could may might must shall should which who whom whose what when where why how also too very much many
more most some any each every both either one ones other others another such same own just only even still again
ever all
because since while if whether though although like likes liked enjoy enjoys enjoyed enjoying enjoyment love loves
loved loving explore explores explored exploring exploration exploring interest interests interested interesting
looking look looks seek seeking search searching find finding found share shares shared sharing
recommend recommended recommendation recommendations pick picks choice choose suggest suggestion
genre genres subgenre theme themes thematic topic topics element elements style styles kind kinds sort type types
piece pieces work works title titles example examples way ways part parts aspect aspects mix blend blends
combine combines combining combined combination together both well
story stories tale tales world worlds experience experiences
case actually released release great good fine new fresh similar different familiar related close closer next another favourite favorites
taste tastes fit fits fitting match matches matching known
set based features feature featuring offers offer brings bring takes take make makes made uses use using
called named titled
given specific mentioned listed
often usually vs versus common involve involves involving deal deals dealing
realm fiction
""".split())
# Idioms of praise and filler that state nothing ("in a different light", "the right fit for your tastes").
FILLER = re.compile(r"\bin an? (?:new|different|fresh) light\b|\bthe right fit\b|\ba great example of\b|"
                    r"\bthe art of\b", re.I)

# Genre words a text may use for a tag it restates.
SYNONYMS = {
    "comedy": {"comedic", "humor", "humour", "humorous", "funny", "comic", "comedies", "laugh", "laughs"},
    "horror": {"scary", "frightening", "terrifying"},
    "sci-fi": {"science", "fiction", "scifi", "sf"},
    "science fiction": {"sci-fi", "scifi", "sf"},
    "rpg": {"role-playing", "roleplaying", "role", "playing"},
    "romance": {"romantic", "love"},
    "thriller": {"thrilling", "suspense", "suspenseful"},
    "documentary": {"documentaries", "nonfiction", "non-fiction"},
    "animation": {"animated", "cartoon"},
    "music": {"musical", "musician", "musicians", "sound", "sounds"},
    "musical": {"music", "songs"},
    "literary": {"literature"},
    "war": {"wartime", "military"},
    "children": {"kids", "family"},
    "family": {"kids", "children"},
    "atomic bomb": {"nuclear", "bomb", "bombing"},
    "nasa": {"space"},
    "ghosts": {"supernatural", "ghost", "haunted", "haunting"},
}

NEGATION = re.compile(r"\b(?:not|never|no|n't|nothing but|isn't|aren't|wasn't|doesn't|don't)\b", re.I)
WORLD_CLAIMS = re.compile(
    r"\b(?:has|have|had) been\b|\b(?:inspired|influenced|adapted|based) (?:by|on|from|into)\b|\bpredecessor\b|"
    r"\bsequel\b|\bprequel\b|\bwon (?:an?|the)\b|\baward", re.I)
# "a genre of thriller", "a type of fiction that ...": one genre filed under another, which no fact holds. "a type
# of animated film" or "a subgenre of the genre" only says what kind of thing the item is (the words are checked).
TAXONOMY = re.compile(r"\b(?:sub)?(?:genre|type|kind|form) of\s+(?:(?:the|a|an)\s+)?(?P<tail>[\w' -]*)", re.I)
# "you're looking for X", "you are reflecting on X", "you are a traveler": X (and the verb) must trace to the person.
PERSON_CLAIM = re.compile(
    r"\byou(?:'re| are)?\s+(?:also\s+)?(?P<what>(?:looking for|seeking|searching for|interested in|into|after|"
    r"\w+ing\b|an?\s)[^.;!?]*?)(?=$|[.;!?]|,| and you| which| because| but )", re.I)
QUOTED = re.compile(r"[\"“”]([^\"“”]{2,80})[\"“”]")
WORD = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'’\-]*|\d+(?:[.,]\d+)?")
SUFFIXES = ("ations", "ation", "ically", "ical", "ness", "ments", "ment", "ings", "ing", "ians", "ian", "ists", "ist",
            "ies", "ied", "ers", "er", "ed", "es", "ic", "al", "ly", "y", "s", "e")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    word = word.lower().replace("’", "'")
    word = re.sub(r"'s?$", "", word)
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def words_of(text: str) -> list[str]:
    """Words of `text`, hyphenated ones also as their parts, lower case."""
    out = []
    for w in WORD.findall(text):
        w = w.lower().replace("’", "'").strip("'-")
        if not w:
            continue
        out.append(w)
        if "-" in w:
            out.extend(p for p in w.split("-") if p)
    return out


@dataclass
class Facts:
    """What a text may draw on. `about_item`: the item's own facts; `about_person`: the history items, the query,
    the profile and the person's words; `kinds`: the kinds of thing the text may call the item."""

    about_item: list[str] = field(default_factory=list)
    about_person: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)

    def __post_init__(self):
        self._item = _vocabulary(self.about_item)
        self._person = _vocabulary(self.about_person)
        self._all = self._item | self._person
        self._text = normalise(" | ".join(self.about_item + self.about_person))

    def supports(self, word: str, person_only: bool = False) -> bool:
        """A claim about the person draws on what they did and asked; any other claim on the item's own facts."""
        return _supported(word, self._person if person_only else self._item)

    def holds(self, phrase: str) -> bool:
        return normalise(phrase) in self._text


def normalise(text: str) -> str:
    return " ".join(words_of(text))


def _vocabulary(texts: list[str]) -> set[str]:
    vocabulary: set[str] = set()
    for text in texts:
        lowered = text.lower()
        for w in words_of(text):
            vocabulary.add(stem(w))
        for tag, alike in SYNONYMS.items():
            if re.search(rf"(?<![\w-]){re.escape(tag)}(?![\w-])", lowered):
                vocabulary.update(stem(a) for a in alike)
    return vocabulary


def _supported(word: str, vocabulary: set[str]) -> bool:
    s = stem(word)
    if s in vocabulary:
        return True
    if len(s) >= 5:  # a longer or shorter form of the same word: "dystop" / "dystopian", "litera" / "literary"
        return any(len(v) >= 5 and (v.startswith(s) or s.startswith(v)) for v in vocabulary)
    return False


def unsupported_claims(text: str, facts: Facts) -> list[str]:
    """What in `text` (the model's own words) its facts do not support; empty when every claim traces."""
    problems: list[str] = []
    for m in NEGATION.finditer(text):
        if not facts.holds(" ".join(words_of(text[m.start():])[:3])):  # "Jack Reacher: Never Go Back" is a title
            problems.append(f"a negative claim ({m.group(0)!r})")
            break
    for m in WORLD_CLAIMS.finditer(text):
        if not facts.holds(" ".join(words_of(text[m.start():])[:4])):  # a tag "based on true events" is a fact
            problems.append(f"a claim no fact can hold ({m.group(0)!r})")
            break
    for m in TAXONOMY.finditer(text):
        tail = words_of(m.group("tail"))[:5]
        if facts.holds(" ".join(words_of(text[m.start():])[:3])):  # a title "Kind of Blue", "in the form of a wolf"
            continue
        if tail and tail[0] not in GENERIC and not any(w in ALL_KIND_WORDS for w in tail):
            problems.append(f"a claim no fact can hold ({m.group(0).strip()!r})")
    text = FILLER.sub(" ", text)
    for quoted in QUOTED.findall(text):
        if not facts.holds(quoted):
            problems.append(f"a quotation the facts do not hold ({quoted!r})")
    for number in re.findall(r"\d+(?:[.,]\d+)?", text):
        if not facts.holds(number):
            problems.append(f"a number the facts do not hold ({number})")
    spans = []
    for m in PERSON_CLAIM.finditer(text):
        what = m.group("what")
        spans.append(m.span("what"))
        missing = [w for w in words_of(what) if w not in GENERIC and w not in ALL_KIND_WORDS
                   and not facts.supports(w, person_only=True)]
        if missing:
            problems.append(f"a claim about the person that their history and query do not support ({what.strip()!r})")
    rest = "".join(" " if any(a <= i < b for a, b in spans) else ch for i, ch in enumerate(text))
    for w in words_of(rest):
        if w.isdigit():
            continue
        if w in ALL_KIND_WORDS:
            if facts.kinds and not any(w in KIND_WORDS.get(k, ()) for k in facts.kinds) and not facts.supports(w):
                problems.append(f"calls it a {w}")
            continue
        if w in GENERIC or facts.supports(w):
            continue
        problems.append(f"{w!r} is in no fact")
    return list(dict.fromkeys(problems))


def says_nothing_new(text: str, opening: str) -> bool:
    """Whether the model's part of `text` adds no content word to its opening ("..., and you're also interested in
    thriller." after an opening that names thriller): true but vacuous, so a composed sentence serves better."""
    own = text[len(opening):] if opening and text.startswith(opening) else text
    said = {stem(w) for w in words_of(opening)}
    return not [w for w in words_of(own) if w not in GENERIC and w not in ALL_KIND_WORDS and stem(w) not in said
                and not w.isdigit()]


def explanation_facts(item, evidence, query: str, profile=None, words: str | None = None) -> Facts:
    """The facts an explanation of `item` may use: the item's own, the cited history items', the query's, the
    profile's themes and the person's words."""
    def of(i) -> list[str]:
        return [i.title, i.kind, str(i.year or ""), i.creator or "", *i.tags, i.description]

    person = [t for e in evidence for t in of(e)] + [query]
    if profile is not None:
        person += [t.label for t in profile.themes] + list(profile.avoid)
    if words:
        person.append(words)
    return Facts(about_item=[*of(item), query, *(e.title for e in evidence)], about_person=person, kinds={item.kind})


def check_explanation(text: str, opening: str, facts: Facts) -> list[str]:
    """Problems with the model's part of an explanation (the text after our fixed opening)."""
    own = text[len(opening):] if opening and text.startswith(opening) else text
    return unsupported_claims(own, facts)


DISLIKE_VERB = r"(?:you|they)\s+(?:tend to\s+)?(?:dislike|disliked|don't like|avoid|skip)\b"


def check_summary(text: str, liked: list, disliked: list, themes: list[str], opening: str = "You enjoy",
                  ours: list[str] = ()) -> list[str]:
    """Problems with a profile summary: what it says they enjoy must trace to their liked items and themes, what
    it says they dislike to their disliked items; a title followed by "(tags)" must carry those tags. `ours`:
    the words of a template the summary was composed from, which need no fact."""
    own = text[len(opening):] if opening and text.startswith(opening) else text
    own = re.sub(r"(?:^|(?<=[\s:;]))\d+\.(?=\s|$)", " ", own)  # list numbers ("1. Toy Story; 2.") count nothing
    parts = re.split(rf"(?i)\b(?={DISLIKE_VERB})", own, maxsplit=1)
    enjoy, dislike = parts[0], parts[1] if len(parts) > 1 else ""

    def facts_of(items, extra: list[str]) -> Facts:
        texts = [t for i in items for t in (i.title, i.kind, *i.tags)] + extra + list(ours)
        return Facts(about_item=texts, about_person=texts, kinds={i.kind for i in items})

    liked_facts = facts_of(liked, list(themes))
    disliked_facts = facts_of(disliked, [] if disliked else ["nothing"])
    problems = [f"says they enjoy: {p}" for p in unsupported_claims(enjoy, liked_facts)]
    if dislike:
        body = re.sub(rf"(?i)^{DISLIKE_VERB}", "", dislike)
        if not disliked and re.match(r"\W*nothing\s*(?:$|[.(])", body, re.I):  # "nothing (no specific examples given)": true
            body = ""
        problems += [f"says they dislike: {p}" for p in unsupported_claims(body, disliked_facts)]
    known = [i.title.lower() for i in [*liked, *disliked]]
    for item in [*liked, *disliked]:  # "Kill Bill: Vol. 2 (comedy)": the tags in brackets after a title are its own
        for tags in re.findall(rf"(?i){re.escape(item.title)}\s*\(([^()]+)\)", own):
            if any(f"{item.title} ({tags})".lower() in t for t in known):  # "... the Ring (Original Soundtrack)"
                continue
            for tag in re.split(r"[,;/]\s*", tags):
                tag = tag.strip().lower()
                if tag and tag not in item.tags and not all(w in item.tags for w in re.split(r"[\s-]+", tag) if w):
                    problems.append(f"gives {item.title} a tag it does not carry ({tag!r})")
    for item in disliked:
        if item.title.lower() in enjoy.lower() and len(item.title) > 3:
            problems.append(f"says they enjoy {item.title}, which they disliked")
    return list(dict.fromkeys(problems))
