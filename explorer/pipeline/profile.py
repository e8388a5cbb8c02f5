"""Step 1: history -> InterestProfile. The LLM picks themes (from an enum) and words the summary, in the order the
policy sets (ProfileConfig.policy: "choice" by default, as measured; "both"; "free"): its own sentence if it passes the checks (claims, and the
junk a person should not read: grounding.summary_junk), else a sentence composed around its choice of favourites
and of what they skip (explorer/pipeline/compose.py); tag statistics of the history are the fallback and the
source of weights and evidence."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from explorer.catalog import Catalog, History
from explorer.pipeline.claims import check_summary
from explorer.pipeline.compose import NOT_ABOUT_THE_WORK, choose_summary
from explorer.pipeline.grounding import first_sentences, foreign_titles, summary_junk, unreadable
from explorer.pipeline.prompts import Prompt
from explorer.config import ProfileConfig
from explorer.pipeline.prompts import select_prompt
from explorer.pipeline.values import InterestProfile, StepResult, Theme, parse_choices

MAX_THEMES = 4
MAX_AVOID = 4
MAX_DISLIKED_IN_PROMPT = 4
# The history in a prompt is bounded twice: by item count (settings) and by characters, so titles of any
# length and any max_history_in_prompt keep the prompt far inside a small model's context (SmolLM2: 8,192
# tokens); about 4 characters a token.
MAX_HISTORY_PROMPT_CHARS = 2400
MAX_TITLE_IN_PROMPT = 80


@dataclass(frozen=True)
class TagStats:
    """Per-tag evidence from a history: rating-weighted, scaled by how distinctive the tag is."""

    score: dict[str, float]
    evidence: dict[str, list[str]]  # tag -> liked item ids, best rated first
    avoid: list[str]  # tags that only disliked items carry, strongest first

    def top(self, n: int) -> list[str]:
        return sorted(self.score, key=lambda t: (-self.score[t], t))[:n]


def tag_stats(history: History, catalog: Catalog) -> TagStats:
    df = catalog.tag_counts()
    n_items = len(catalog)
    score: dict[str, float] = defaultdict(float)
    evidence: dict[str, list[tuple[float, str]]] = defaultdict(list)
    disliked: Counter = Counter()
    for r in history.ratings:
        item = catalog[r.item_id]
        if r.disliked:
            disliked.update(item.tags)
            continue
        if not r.liked:
            continue
        strength = 1.0 if r.rating is None else (r.rating - 2.5) / 2.5
        for tag in item.tags:
            idf = math.log(1 + n_items / (1 + df[tag]))
            score[tag] += strength * idf
            evidence[tag].append((-(r.rating or 4.0), r.item_id))
    avoid = [t for t, _ in disliked.most_common() if t not in score]
    return TagStats(dict(score), {t: [i for _, i in sorted(v)] for t, v in evidence.items()}, avoid)


def themes_from(labels: list[str], stats: TagStats) -> tuple[Theme, ...]:
    total = sum(stats.score.get(label, 0.0) for label in labels) or 1.0
    return tuple(Theme(label=label, weight=round(stats.score.get(label, 0.0) / total, 3),
                       evidence=tuple(stats.evidence.get(label, [])[:5])) for label in labels)


def fallback_summary(themes: tuple[Theme, ...], avoid: list[str], history: History, catalog: Catalog) -> str:
    kinds = Counter(catalog[r.item_id].kind for r in history.liked)
    best = sorted(history.liked, key=lambda r: -(r.rating or 4.0))[:2]
    parts = [f"You enjoy {_join([t.label for t in themes]) or 'a bit of everything'}"]
    if kinds:
        parts[0] += f", mostly as {_join([k + 's' for k, _ in kinds.most_common(2)])}"
    if best:
        parts.append(f"Favourites include {_join([catalog[r.item_id].title for r in best])}")
    if avoid:
        parts.append(f"You tend to skip {_join(avoid[:3])}")
    return ". ".join(parts) + "."


def history_facts(history: History, catalog: Catalog) -> str:
    """The tags of the history's items: words a profile may use without naming another work."""
    return " | ".join(" | ".join(catalog[r.item_id].tags) for r in history.ratings if r.item_id in catalog)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""


class ProfileBuilder:
    """Builds profiles; the LLM is optional and every failure of it is a note, not an error."""

    def __init__(self, catalog: Catalog, llm=None, themes_prompt: Prompt | None = None,
                 summary_prompt: Prompt | None = None, max_history_in_prompt: int = 12,
                 choice_prompt: Prompt | None = None, policy: str = "both"):
        self.catalog, self.llm = catalog, llm
        self.themes_prompt, self.summary_prompt, self.choice_prompt = themes_prompt, summary_prompt, choice_prompt
        self.max_history, self.policy = max_history_in_prompt, policy

    @classmethod
    def from_config(cls, config: ProfileConfig, catalog: Catalog, llm, prompts_dir, variants: dict[str, str]):
        return cls(catalog, llm if config.with_llm else None,
                   select_prompt(prompts_dir, "profile_themes", variants.get("profile_themes")),
                   select_prompt(prompts_dir, "profile_summary", variants.get("profile_summary")),
                   config.max_history_in_prompt,
                   select_prompt(prompts_dir, "profile_choice", variants.get("profile_choice")), config.policy)

    def build(self, history: History) -> StepResult[InterestProfile]:
        stats = tag_stats(history, self.catalog)
        options = stats.top(8)
        avoid = stats.avoid[:MAX_AVOID]
        fallback_themes = themes_from(options[:MAX_THEMES], stats)
        notes: list[str] = []
        if self.llm is None or self.themes_prompt is None or len(options) < 2:
            summary = fallback_summary(fallback_themes, avoid, history, self.catalog)
            return StepResult(InterestProfile(summary=summary, themes=fallback_themes, avoid=avoid), "fallback", notes)

        liked, disliked, shown = self._history_lines(history)
        if shown < (telling := len(history.liked) + len(history.disliked)):  # neutral ratings are never shown
            notes.append(f"profile: the LLM read {shown} of {telling:,} ratings of likes and dislikes (the best-rated and latest "
                         f"likes, the latest dislikes); the themes' weights and evidence use all of them")
        themes, summary, llm_themes = fallback_themes, None, False
        try:
            schema = {"type": "object", "properties": {"themes": {
                "type": "array", "items": {"type": "string", "enum": options}, "minItems": 2, "maxItems": MAX_THEMES}},
                "required": ["themes"]}
            picked = self.llm.choose(self.themes_prompt.messages(liked=liked, disliked=disliked,
                                                                 options=", ".join(options)), schema, 60)
            chosen = [t for t in parse_choices(picked, {"themes": options})["themes"] if t in stats.score]
            if len(chosen) >= 2:
                themes, llm_themes = themes_from(chosen, stats), True
            else:
                notes.append("profile: the LLM picked fewer than two distinct themes")
        except Exception as exc:  # any LLM failure means the fallback serves
            notes.append(f"profile: theme choice failed ({type(exc).__name__}: {exc})")
        values = dict(liked=liked, disliked=disliked, themes=", ".join(t.label for t in themes))
        summary_by = "fallback"
        if self.policy in ("free", "both") and self.summary_prompt is not None:
            try:
                opening = self.summary_prompt.opening(**values)
                raw = self.llm.generate(self.summary_prompt.messages(**values), 60)
                text = first_sentences(f"{opening} {raw.strip()}")
                problem = self.summary_problem(text, opening, history, [t.label for t in themes])
                if problem:
                    notes.append(f"profile: summary rejected ({problem})")
                else:
                    summary, summary_by = text, "llm"
            except Exception as exc:
                notes.append(f"profile: summary failed ({type(exc).__name__}: {exc})")
        if summary is None and self.policy in ("choice", "both") and self.choice_prompt is not None:
            try:
                shown_liked, shown_disliked = self._shown(history)
                # Favourites that show a chosen theme (its evidence), and tags that only the dislikes it can cite carry.
                evidence = {i for t in themes for i in t.evidence}
                showing = [i for i in shown_liked if i.id in evidence] or shown_liked
                cited = {tag for i in shown_disliked for tag in i.tags if not NOT_ABOUT_THE_WORK.search(tag)}
                text = choose_summary(self.llm, self.choice_prompt, [t.label for t in themes], showing,
                                      [a for a in avoid if a in cited][:3], values)
                problem = self.summary_problem(text, "", history, [t.label for t in themes], composed=True)
                if problem:
                    notes.append(f"profile: composed summary rejected ({problem})")
                else:
                    summary, summary_by = text, "composed"
            except Exception as exc:
                notes.append(f"profile: summary choice failed ({type(exc).__name__}: {exc})")
        served = summary_by if summary is not None and llm_themes else "fallback"
        summary = summary or fallback_summary(themes, avoid, history, self.catalog)
        return StepResult(InterestProfile(summary=summary, themes=themes, avoid=avoid), served, notes)

    def summary_problem(self, text: str, opening: str, history: History, themes: list[str],
                        composed: bool = False) -> str | None:
        """Why a generated summary may not be shown (unreadable, junk a person should not read, naming other
        items, or claiming what the history does not hold: explorer/pipeline/claims.py), or None. A `composed`
        summary's template words are ours: only what filled its slots is read."""
        # A composed summary's marks and numbers are its template's and its titles' ("as in Apollo 13."): no junk.
        if bad := unreadable(text, opening) or (None if composed else summary_junk(text, opening)):
            return bad
        if foreign_titles(text, self.catalog, set(history.item_ids), history_facts(history, self.catalog)):
            return "names items outside the history"
        liked, disliked = self._shown(history)
        ours = [re.sub(r"\{[^}]*\}", " ", t) for _, t in self.choice_prompt.compose] if composed else []
        claims = check_summary(text, liked, disliked, themes, opening, ours)
        return "; ".join(claims[:3]) if claims else None

    def _shown(self, history: History) -> tuple[list, list]:
        """The liked and disliked items the summary prompt can show (before its character budget)."""
        best = sorted(history.liked, key=lambda r: (-(r.rating or 4.0), -(r.timestamp or 0)))[: self.max_history]
        return ([self.catalog[r.item_id] for r in best],
                [self.catalog[r.item_id] for r in history.disliked[-MAX_DISLIKED_IN_PROMPT:]])

    def prompt_messages(self, history: History) -> dict[str, list[dict]]:
        """The chats the LLM would be sent for this history (themes, and summary with the fallback themes),
        without generating: for checking their length against the model's context."""
        stats = tag_stats(history, self.catalog)
        options = stats.top(8)
        liked, disliked, _ = self._history_lines(history)
        themes = ", ".join(t.label for t in themes_from(options[:MAX_THEMES], stats))
        return {"themes": self.themes_prompt.messages(liked=liked, disliked=disliked, options=", ".join(options)),
                "summary": self.summary_prompt.messages(liked=liked, disliked=disliked, themes=themes)}

    def _history_lines(self, history: History) -> tuple[str, str, int]:
        """Short lists for the prompt, and how many ratings they show. A long history is cut to its
        best-rated and latest likes and latest dislikes, within a character budget; the caller says so."""
        def describe(r) -> str:
            item = self.catalog[r.item_id]
            return f"{item.title[:MAX_TITLE_IN_PROMPT]} ({', '.join(item.tags[:2])})"

        def fit(ratings, budget: int) -> list[str]:
            lines, used = [], 0
            for r in ratings:
                line = describe(r)
                if lines and used + len(line) + 2 > budget:
                    break
                lines.append(line)
                used += len(line) + 2
            return lines

        best = sorted(history.liked, key=lambda r: (-(r.rating or 4.0), -(r.timestamp or 0)))[: self.max_history]
        disliked = fit(history.disliked[-MAX_DISLIKED_IN_PROMPT:], MAX_HISTORY_PROMPT_CHARS // 4)
        liked = fit(best, MAX_HISTORY_PROMPT_CHARS - sum(len(d) + 2 for d in disliked))
        more = len(history.liked) - len(liked)
        liked_text = "; ".join(liked) + (f"; and {more:,} more" if more > 0 else "")
        return liked_text or "nothing yet", "; ".join(disliked) or "nothing", len(liked) + len(disliked)
