"""Step 5: why this item, for this person. Two ways for the LLM's words, in the order the policy sets
(ExplainConfig.policy: "choice" by default, measured in docs/results/words-RESULTS.md; "both"; "free"): the opening that cites their history is fixed by the prompt and the
LLM continues it freely, for all items of an answer in one batched call, and a sentence is used only if every
claim in it traces to the item's facts, the cited history, the query, the profile or the person's words
(served_by "llm"); where that fails, the LLM chooses what to say among those facts under a schema and the
sentence is composed around its choice (explorer/pipeline/compose.py, served_by "composed"); else the template
(served_by "fallback"). Nothing unchecked is ever handed on: the caller shows the template at once and swaps in
a sentence only after it passed."""

from __future__ import annotations

import numpy as np

from explorer.catalog import Catalog, History, Item
from explorer.pipeline.claims import check_explanation, explanation_facts, says_nothing_new
from explorer.pipeline.compose import choose_explanation, template_facts
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

    def __init__(self, catalog: Catalog, llm=None, prompt: Prompt | None = None, choice_prompt: Prompt | None = None,
                 policy: str = "both"):
        self.catalog, self.llm, self.prompt, self.choice_prompt = catalog, llm, prompt, choice_prompt
        self.policy = policy

    @classmethod
    def from_config(cls, config: ExplainConfig, catalog: Catalog, llm, prompts_dir, variants: dict[str, str]):
        return cls(catalog, llm if config.with_llm else None, select_prompt(prompts_dir, "explain", variants.get("explain")),
                   select_prompt(prompts_dir, "explain_choice", variants.get("explain_choice")), config.policy)

    def explain_all(self, jobs: list[tuple[Item, list[Item], ExploreQuery]], profile: InterestProfile | None = None,
                    words: str | None = None) -> list[StepResult[str]]:
        """One result per (item, cited history items, query): the LLM's checked sentence ("llm"), a checked sentence
        composed around its choice ("composed"), or the template with notes saying why ("fallback"). `profile` and `words` (the person's message) are facts a sentence about them may use."""
        results = [StepResult(template_explanation(item, evidence, query), "fallback") for item, evidence, query in jobs]
        asked = [i for i, (_, evidence, _) in enumerate(jobs) if evidence]
        if self.llm is None or not asked:
            return results
        notes: dict[int, list[str]] = {i: [] for i in asked}
        if self.policy in ("free", "both") and self.prompt is not None:
            for i, outcome in zip(asked, self._free(jobs, asked, profile, words)):
                if isinstance(outcome, StepResult):
                    results[i] = outcome
                else:
                    notes[i].append(outcome)
        if self.policy in ("choice", "both") and self.choice_prompt is not None:
            for i in asked:
                if results[i].served_by == "fallback":
                    outcome = self._composed(*jobs[i], profile, words)
                    if isinstance(outcome, StepResult):  # why the free sentence was not used stays said
                        results[i] = StepResult(outcome.value, "composed", notes[i])
                    else:
                        notes[i].append(outcome)
        for i in asked:
            if results[i].served_by == "fallback" and notes[i]:
                results[i] = StepResult(results[i].value, "fallback", notes[i])
        return results

    def _free(self, jobs, asked: list[int], profile, words) -> list[StepResult[str] | str]:
        """The LLM's own continuations of the openings, one batched call: each a checked result or a note."""
        values = [self._values(*jobs[i]) for i in asked]
        try:
            written = generate_batch(self.llm, [self.prompt.messages(**v) for v in values], MAX_EXPLANATION_TOKENS,
                                     EXPLANATION_SENTENCES)
        except Exception as exc:  # the whole batch failed (timeout, backend error): every item goes on without it
            return [f"explain: generation failed ({type(exc).__name__}: {exc})"] * len(asked)
        out: list[StepResult[str] | str] = []
        for i, v, raw in zip(asked, values, written):
            item, evidence, query = jobs[i]
            opening = self.prompt.opening(**v)
            # Sentences are cut from the model's part only: a title in the opening ("Twelve Monkeys (a.k.a. ...)")
            # is no sentence end.
            text = f"{opening} {first_sentences(raw, EXPLANATION_SENTENCES)}".rstrip()
            problem = self.problem(text, opening, item, evidence, query, profile, words)
            if problem is None and says_nothing_new(text, opening):  # true but empty: the composition says more
                problem = "it adds nothing to its opening"
            out.append(f"explain: {item.title!r}: the LLM's sentence was not used ({problem})" if problem
                       else StepResult(text, "llm"))
        return out

    def _composed(self, item: Item, evidence: list[Item], query: ExploreQuery, profile, words) -> StepResult[str] | str:
        """The LLM's choice of what to say, composed into a sentence and checked: a result, or a note."""
        try:
            text = choose_explanation(self.llm, self.choice_prompt, item, evidence, query, self._values(item, evidence, query))
        except Exception as exc:
            return f"explain: {item.title!r}: the LLM's choice failed ({type(exc).__name__}: {exc})"
        problem = self.problem(text, "", item, evidence, query, profile, words, composed=True)
        if problem:
            return f"explain: {item.title!r}: the composed sentence was not used ({problem})"
        return StepResult(text, "composed")

    def problem(self, text: str, opening: str, item: Item, evidence: list[Item], query: ExploreQuery,
                profile: InterestProfile | None = None, words: str | None = None, composed: bool = False) -> str | None:
        """Why `text` may not be shown (unreadable, naming other catalogue items, or claiming what the facts do
        not hold), or None. A `composed` text's template words are ours; only what filled its slots is read."""
        if bad := unreadable(text, opening):
            return bad
        allowed = {item.id, *(e.id for e in evidence)}
        if foreign_titles(text, self.catalog, allowed, item_facts(item, query.text)):
            return "names items outside the item and history"
        facts = explanation_facts(item, evidence, query.text, profile, words)
        if composed:
            facts = template_facts(self.choice_prompt, facts)
        claims = check_explanation(text, opening, facts)
        return "; ".join(claims[:3]) if claims else None

    def explain(self, item: Item, evidence: list[Item], query: ExploreQuery) -> StepResult[str]:
        return self.explain_all([(item, evidence, query)])[0]

    @staticmethod
    def _values(item: Item, evidence: list[Item], query: ExploreQuery) -> dict:
        return {"evidence": " and ".join(e.title for e in evidence), "evidence_first": evidence[0].title,
                "item": item.title, "kind": item.kind, "year": item.year or "unknown year",
                "creator": item.creator or "unknown", "tags": ", ".join(item.tags[:5]),
                "description": item.description[:300] or "no description", "query": query.text}
