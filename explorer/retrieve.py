"""Step 3: each query -> candidates from the Chroma collection, never an item the person has rated."""

from __future__ import annotations

from explorer.catalog import History
from explorer.embed import Embedder
from explorer.schema import Candidate, ExploreQuery
from explorer.store import ItemStore


def retrieve(queries: list[ExploreQuery], history: History, store: ItemStore, embedder: Embedder,
             per_query: int = 12, kinds: list[str] | None = None) -> list[Candidate]:
    seen = set(history.item_ids)  # liked, disliked and merely seen items are all excluded
    candidates = []
    for index, query in enumerate(queries):
        for hit in store.query(embedder.query(query.text), per_query, exclude=seen, kinds=kinds):
            candidates.append(Candidate(item_id=hit.item_id, query=index, similarity=hit.similarity))
    return candidates
