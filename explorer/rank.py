"""Step 4: merge and diversify. Queries take turns (so the explore knob's mix survives ranking), and
within a turn maximal marginal relevance picks the candidate that is relevant and unlike those chosen."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from explorer.catalog import Catalog
from explorer.schema import Candidate, InterestProfile


def avoided(tags: tuple[str, ...], avoid: tuple[str, ...]) -> bool:
    return any(a == t or a in t.split() or (len(a) > 3 and a in t) for a in avoid for t in tags)


def rank(candidates: list[Candidate], profile: InterestProfile, catalog: Catalog,
         embeddings: dict[str, np.ndarray], k: int, mmr_lambda: float = 0.7) -> list[tuple[Candidate, float]]:
    """Top k (candidate, score) pairs. Items tagged with something the profile avoids are dropped."""
    best: dict[str, Candidate] = {}
    for c in candidates:  # an item found by several queries keeps its best match
        if c.item_id not in best or c.similarity > best[c.item_id].similarity:
            best[c.item_id] = c
    pool = [c for c in best.values() if not avoided(catalog[c.item_id].tags, profile.avoid)]
    by_query: dict[int, list[Candidate]] = defaultdict(list)
    for c in pool:
        by_query[c.query].append(c)
    chosen: list[tuple[Candidate, float]] = []
    chosen_vecs: list[np.ndarray] = []
    turn = sorted(by_query)
    while len(chosen) < k and any(by_query.values()):
        for q in turn:
            if len(chosen) >= k or not by_query[q]:
                continue
            scored = [(_mmr(c, embeddings, chosen_vecs, mmr_lambda), c) for c in by_query[q]]
            score, pick = max(scored, key=lambda s: (s[0], s[1].item_id))
            by_query[q].remove(pick)
            chosen.append((pick, round(float(score), 4)))
            if pick.item_id in embeddings:
                chosen_vecs.append(embeddings[pick.item_id])
    return chosen


def _mmr(c: Candidate, embeddings: dict[str, np.ndarray], chosen: list[np.ndarray], lam: float) -> float:
    vec = embeddings.get(c.item_id)
    redundancy = max((float(vec @ v) for v in chosen), default=0.0) if vec is not None else 0.0
    return lam * c.similarity - (1 - lam) * redundancy
