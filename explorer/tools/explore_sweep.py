"""The validation sweep behind the exploring lanes' popularity discount (docs/results/movielens-small/RESULTS.md):
the fallback explorer on the validation split carved from the TRAINING part (never the evaluated futures), for
several discount exponents and explore settings, beside item-item CF on the same users.

    python -m explorer.tools.explore_sweep --data ../shared/data/movielens-small --betas 0,1 --explore 0.2,0.3,0.5

The users are the ones `explorer.eval.run.choose_explore` validates on (same split, same seeded sample), so the
numbers line up with the rule that picks the default explore. Prints one line per setting: NDCG@10, novelty,
cluster explore-hit.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import typer

app = typer.Typer(add_completion=False)


@app.command()
def sweep(data: Path = typer.Option(..., "--data", help="A MovieLens folder."),
          betas: str = typer.Option("0,1", help="Exploring-lane exponents β, comma-separated."),
          explore: str = typer.Option("0.1,0.2,0.3,0.5", help="Explore settings, comma-separated."),
          users: int = typer.Option(150, min=1), seed: int = 0, k: int = 10,
          l2: float = typer.Option(300.0, help="EASE's λ: the full run's validated choice on MovieLens-small.")):
    from explorer.config import Settings
    from explorer.eval import metrics as M
    from explorer.eval.run import _mean, load_dataset
    from explorer.eval.splits import sample_users
    from explorer.facade import Explorer
    from explorer.interest.base import validation_split
    from explorer.interest.collab import Interactions, ItemItemCF

    settings = Settings()
    dataset = load_dataset(data, settings)
    splits = sample_users(dataset.histories, len(dataset.histories), seed)  # --users all, as the full run
    evaluated = {s.user: s.history for s in splits}
    train = {u: evaluated.get(u, h) for u, h in dataset.histories.items()}
    split = validation_split(train)
    pool = sorted(set(split.targets) & set(evaluated), key=str)
    chosen = sorted(random.Random(seed).sample(pool, min(users, len(pool))), key=str)
    inner = settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": "none"}),
                                        "interest": settings.interest.model_copy(update={"ease_l2": l2})})
    ex = Explorer(inner, catalog=dataset.catalog, interactions=split.train)
    data_ = Interactions(split.train, ex.vectors.ids)

    def measure(lists: dict[str, list[str]]) -> str:
        nd, nov, hit = [], [], []
        for u in chosen:
            recs, relevant = lists[u], set(split.targets[u])
            nd.append(M.ndcg_at_k(recs, relevant, k))
            nov.append(M.novelty(recs, data_.popularity))
            touched = {ex.clusters.of(i) for i in split.inputs[u].item_ids}
            hit.append(M.exploration_hit(recs, relevant, ex.clusters.of, touched, k))
        return f"NDCG {_mean(nd):.4f}  novelty {_mean(nov):.3f}  explore-hit {_mean(hit):.4f}"

    cf = ItemItemCF(data_)
    typer.echo(f"{len(chosen)} validation users; load average {os.getloadavg()[0]:.1f}")
    typer.echo(f"item-item CF: {measure({u: cf.recommend(split.inputs[u], k) for u in chosen})}")
    for beta in (float(b) for b in betas.split(",")):
        ex.retriever.explore_discount = beta
        for x in (float(e) for e in explore.split(",")):
            start = time.perf_counter()
            lists = {u: [r.item_id for r in ex.recommend(split.inputs[u], k=k, explore=x, explain=False).recommendations]
                     for u in chosen}
            typer.echo(f"β {beta:g}, explore {x:g}: {measure(lists)}  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    app()
