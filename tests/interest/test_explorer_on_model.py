"""The explorer on top of the interest model (real embedder, real Chroma, EASE), on the demo catalogue."""

from __future__ import annotations

import random

import pytest

from explorer.catalog import History, Rating, load_catalog
from explorer.config import Settings
from tests.tiers import needs


@pytest.fixture(scope="module")
def crowd() -> dict[str, History]:
    """120 made-up users, each drawing 12 items from one of four fixed slices of the catalogue (seeded):
    enough users for the interest model to be fully trusted (collab_full_trust_users = 100)."""
    ids = sorted(load_catalog(Settings().catalog).items)
    slices = [ids[n::4] for n in range(4)]
    rng = random.Random(0)
    out = {}
    for u in range(120):
        items = rng.sample(slices[u % 4], 12)
        out[f"u{u}"] = History.of([Rating(item_id=i, rating=rng.choice([3.0, 4.0, 5.0]), timestamp=t)
                                   for t, i in enumerate(items)], name=f"u{u}")
    return out


@pytest.fixture(scope="module")
@needs("index")
def explorer_on_ease(data_dir, crowd):
    from explorer import Explorer

    return Explorer(Settings(data_dir=data_dir, llm={"backend": "none"}), interactions=crowd)


def test_explore_zero_is_exactly_the_base_models_list(explorer_on_ease, crowd):
    ex = explorer_on_ease
    assert ex.retriever.trust == 1.0 and ex.interest.name == "EASE"
    for user in ("u1", "u2", "u7"):
        history = History.of(crowd[user].ratings[:8], name=user)
        got = [r.item_id for r in ex.recommend(history, k=10, explore=0.0, explain=False).recommendations]
        assert got == ex.interest.recommend(history, 10)


def test_exploring_slots_come_from_planned_clusters_in_the_models_order(explorer_on_ease, crowd):
    ex = explorer_on_ease
    history = History.of(crowd["u3"].ratings[:8], name="u3")
    result = ex.recommend(history, k=10, explore=0.3, explain=False)
    exploring = [r for r in result.recommendations if r.mode != "deepen"]
    assert len(exploring) == 3  # 30% of the list
    by_text = {q.text: q for q in result.queries}
    for rec in exploring:
        assert ex.clusters.of(rec.item_id) == by_text[rec.query].cluster
    deepen = [r.item_id for r in result.recommendations if r.mode == "deepen"]
    taken = {r.item_id for r in exploring}  # an item both lanes found is counted once, as exploring
    assert deepen == [i for i in ex.interest.recommend(history, 20) if i not in taken][:7]  # the model's own order


def test_with_a_handful_of_personas_the_model_shrinks_to_the_content_signal(explorer_fallback):
    assert explorer_fallback.retriever.trust == pytest.approx(8 / 100)


def _exploring_picks(ex, history, explore):
    result = ex.recommend(history, k=10, explore=explore, explain=False)
    return [r.item_id for r in result.recommendations if r.mode != "deepen"], result


def test_exploring_slots_take_the_models_best_less_known_items_in_their_cluster(explorer_on_ease, crowd):
    """Each exploring pick is among its lane's best by the model's score ÷ popularity^β inside the planned
    cluster; with the discount on, the exploring picks are less known than with it off, while the deepen lane
    (and so explore = 0) stays the model's own ranking."""
    from explorer.pipeline.retrieve import discounted

    ex = explorer_on_ease
    retriever = ex.retriever
    beta = retriever.explore_discount
    assert beta > 0 and retriever.popularity is not None
    popularity = dict(zip(ex.interest.item_ids, retriever.popularity))
    mean_popularity = {}
    try:
        for setting in (0.0, beta):
            retriever.explore_discount = setting
            known = []
            for user in ("u0", "u1", "u2", "u3", "u5", "u6"):
                history = History.of(crowd[user].ratings[:8], name=user)
                picks, result = _exploring_picks(ex, history, 0.3)
                assert len(picks) == 3
                scores = discounted(ex.interest.scores(history).astype(float), retriever.popularity, setting)
                by_text = {q.text: q for q in result.queries}
                seen = set(history.item_ids)
                for rec in (r for r in result.recommendations if r.mode != "deepen"):
                    cluster = by_text[rec.query].cluster
                    inside = [i for i in ex.interest.item_ids if ex.clusters.of(i) == cluster and i not in seen]
                    best = sorted(inside, key=lambda i: -scores[ex.interest.index[i]])[:retriever.per_query]
                    assert rec.item_id in best
                known += [popularity[i] for i in picks]
            mean_popularity[setting] = sum(known) / len(known)
    finally:
        retriever.explore_discount = beta
    assert mean_popularity[beta] < mean_popularity[0.0]
