"""Step 5: why this item, for this person. The opening that cites their history is fixed by the prompt; the LLM
continues it for all items of an answer in one batched call, and a sentence is used only if every claim in it
traces to the item's facts, the cited history, the query, the profile or the person's words. Nothing unchecked
is ever handed on: the caller shows the template at once and swaps in a sentence only after it passed."""

from __future__ import annotations

import numpy as np

from explorer.catalog import Catalog, History, Item
from explorer.pipeline.claims import check_explanation, explanation_facts
from explorer.pipeline.grounding import first_sentences, foreign_titles, item_facts, unreadable
from explorer.llm.base import generate_batch
from explorer.pipeline.prompts import Prompt
from explorer.config import ExplainConfig
from explorer.pipeline.prompts import select_prompt
from explorer.pipeline.values import ExploreQuery, InterestProfile, StepResult

MAX_EXPLANATION_TOKENS = 48
# The opening and one sentence of the model's: in the audit set, its second sentences were mostly where it
# invented ("You might enjoy Dumb & Dumber (Dumbo)...", "You're also interested in space exploration!").
EXPLANATION_SENTENCES = 1


def pick_evidence(item_id: str, history: History, embeddings: dict[str, np.ndarray], n: int = 2,
                  theme_evidence: tuple[str, ...] = ()) -> list[str]:
    """The liked history items closest to the recommendation (its own theme's evidence first)."""
    liked = [r.item_id for r in history.liked]
    vec = embeddings.get(item_id)
    def closeness(h: str) -> float:
        return float(vec @ embeddings[h]) if vec is not None and h in embeddings else 0.0
    ranked = sorted(liked, key=lambda h: (h not in theme_evidence, -closeness(h)))
    return ranked[:n]


def template_explanation(item: Item, evidence: list[Item], query: ExploreQuery) -> str:
    cited = " and ".join(e.title for e in evidence) or "what you rated"
    fact = item.description.split(". ")[0].rstrip(".") if item.description else ", ".join(item.tags[:3])
    where = f"{item.kind}, {item.year}" if item.year else item.kind
    return f"Because you enjoyed {cited}: {item.title} ({where}) came up for \"{query.text}\". {fact}."


class Explainer:
    """Explains the items of one answer together: one batched LLM call for all of them, each sentence checked
    claim by claim (explorer/pipeline/claims.py) before anyone sees it; the template serves where one fails."""

    def __init__(self, catalog: Catalog, llm=None, prompt: Prompt | None = None):
        self.catalog, self.llm, self.prompt = catalog, llm, prompt

    @classmethod
    def from_config(cls, config: ExplainConfig, catalog: Catalog, llm, prompts_dir, variants: dict[str, str]):
        return cls(catalog, llm if config.with_llm else None, select_prompt(prompts_dir, "explain", variants.get("explain")))

    def explain_all(self, jobs: list[tuple[Item, list[Item], ExploreQuery]], profile: InterestProfile | None = None,
                    words: str | None = None) -> list[StepResult[str]]:
        """One result per (item, cited history items, query): the LLM's checked sentence, or the template with a
        note saying why. `profile` and `words` (the person's message) are facts a sentence about them may use."""
        results = [StepResult(template_explanation(item, evidence, query), "fallback") for item, evidence, query in jobs]
        asked = [i for i, (_, evidence, _) in enumerate(jobs) if evidence]
        if self.llm is None or self.prompt is None or not asked:
            return results
        values = [self._values(*jobs[i]) for i in asked]
        try:
            written = generate_batch(self.llm, [self.prompt.messages(**v) for v in values], MAX_EXPLANATION_TOKENS,
                                     EXPLANATION_SENTENCES)
        except Exception as exc:  # the whole batch failed (timeout, backend error): every item keeps its template
            note = f"explain: generation failed ({type(exc).__name__}: {exc})"
            return [StepResult(r.value, "fallback", [note] if i in asked else []) for i, r in enumerate(results)]
        for i, v, raw in zip(asked, values, written):
            item, evidence, query = jobs[i]
            opening = self.prompt.opening(**v)
            # Sentences are cut from the model's part only: a title in the opening ("Twelve Monkeys (a.k.a. ...)")
            # is no sentence end.
            text = f"{opening} {first_sentences(raw, EXPLANATION_SENTENCES)}".rstrip()
            problem = self.problem(text, opening, item, evidence, query, profile, words)
            if problem:
                results[i] = StepResult(results[i].value, "fallback", [f"explain: {item.title!r}: the LLM's sentence was "
                                                                       f"not used ({problem})"])
            else:
                results[i] = StepResult(text, "llm")
        return results

    def problem(self, text: str, opening: str, item: Item, evidence: list[Item], query: ExploreQuery,
                profile: InterestProfile | None = None, words: str | None = None) -> str | None:
        """Why `text` may not be shown (unreadable, naming other catalogue items, or claiming what the facts do
        not hold), or None."""
        if bad := unreadable(text, opening):
            return bad
        allowed = {item.id, *(e.id for e in evidence)}
        if foreign_titles(text, self.catalog, allowed, item_facts(item, query.text)):
            return "names items outside the item and history"
        claims = check_explanation(text, opening, explanation_facts(item, evidence, query.text, profile, words))
        return "; ".join(claims[:3]) if claims else None

    def explain(self, item: Item, evidence: list[Item], query: ExploreQuery) -> StepResult[str]:
        return self.explain_all([(item, evidence, query)])[0]

    @staticmethod
    def _values(item: Item, evidence: list[Item], query: ExploreQuery) -> dict:
        return {"evidence": " and ".join(e.title for e in evidence), "evidence_first": evidence[0].title,
                "item": item.title, "kind": item.kind, "year": item.year or "unknown year",
                "creator": item.creator or "unknown", "tags": ", ".join(item.tags[:5]),
                "description": item.description[:300] or "no description", "query": query.text}
