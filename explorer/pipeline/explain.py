"""Step 5: why this item, for this person. The opening that cites their history is fixed by the prompt;
the LLM continues it, and the text is used only if it names nothing outside the item and the history."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from langchain_core.output_parsers import StrOutputParser

from explorer.catalog import Catalog, History, Item
from explorer.pipeline.grounding import first_sentences, foreign_titles, item_facts, looks_degenerate, unsupported_names
from explorer.llm import BackendChatModel
from explorer.pipeline.prompts import Prompt
from explorer.config import ExplainConfig
from explorer.pipeline.prompts import select_prompt
from explorer.pipeline.values import ExploreQuery, StepResult

MAX_EXPLANATION_TOKENS = 48


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
    def __init__(self, catalog: Catalog, llm=None, prompt: Prompt | None = None):
        self.catalog, self.llm, self.prompt = catalog, llm, prompt
        self.chain = (prompt.template | BackendChatModel(backend=llm, max_new_tokens=MAX_EXPLANATION_TOKENS)
                      | StrOutputParser()) if llm is not None and prompt is not None else None

    @classmethod
    def from_config(cls, config: ExplainConfig, catalog: Catalog, llm, prompts_dir, variants: dict[str, str]):
        return cls(catalog, llm if config.with_llm else None, select_prompt(prompts_dir, "explain", variants.get("explain")))

    def stream(self, item: Item, evidence: list[Item], query: ExploreQuery) -> Iterator[str | StepResult[str]]:
        """Yields text pieces as the LLM writes them, then the final result (which may replace them)."""
        fallback = template_explanation(item, evidence, query)
        if self.chain is None or not evidence:
            yield StepResult(fallback, "fallback")
            return
        values = self._values(item, evidence, query)
        opening = self.prompt.opening(**values)
        yield opening
        pieces = []
        try:
            for piece in self.chain.stream(values):
                pieces.append(piece)
                yield piece
        except Exception as exc:
            yield StepResult(fallback, "fallback", [f"explain: generation failed ({type(exc).__name__}: {exc})"])
            return
        text = first_sentences(opening + "".join(pieces))
        allowed = {item.id, *(e.id for e in evidence)}
        facts = " ".join([*map(str, values.values()), *(e.title for e in evidence), " ".join(item.tags)])
        invented = unsupported_names(text, facts)
        problem = looks_degenerate(text[len(opening):]) or (
            "names items outside the item and history" if foreign_titles(text, self.catalog, allowed, item_facts(item, query.text)) else None) or (
            f"names what the facts do not: {', '.join(invented[:3])}" if invented else None)
        if problem:
            yield StepResult(fallback, "fallback", [f"explain: {item.title!r}: generation rejected ({problem})"])
        else:
            yield StepResult(text, "llm")

    def explain(self, item: Item, evidence: list[Item], query: ExploreQuery) -> StepResult[str]:
        *_, final = self.stream(item, evidence, query)
        return final

    @staticmethod
    def _values(item: Item, evidence: list[Item], query: ExploreQuery) -> dict:
        return {"evidence": " and ".join(e.title for e in evidence), "evidence_first": evidence[0].title,
                "item": item.title, "kind": item.kind, "year": item.year or "unknown year",
                "creator": item.creator or "unknown", "tags": ", ".join(item.tags[:5]),
                "description": item.description[:300] or "no description", "query": query.text}
