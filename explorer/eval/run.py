"""The prompt and pipeline evaluation: every method on the same users, the same split and the same k.

    python -m explorer.eval --data ../shared/data/movielens-small --users 100 --out eval-out
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.catalog import Catalog, History, load_catalog, load_personas
from explorer.config import PROJECT_ROOT, Settings
from explorer.eval import metrics as M
from explorer.eval.baselines import EmbeddingSimilarity, Interactions, ItemItemCF, Popularity
from explorer.eval.splits import UserSplit, sample_users
from explorer.pipeline.grounding import foreign_titles, item_facts
from explorer.pipeline.profile import history_facts
from explorer.pipeline.prompts import prompts_for_step

LLM_STEPS = ("profile_themes", "profile_summary", "plan", "explain")


@dataclass
class Dataset:
    name: str
    catalog: Catalog
    histories: dict[str, History]
    region: Callable[[str], object]  # an item's interest region, for the exploration hit rate


def load_dataset(path: Path | None, settings: Settings) -> Dataset:
    """A MovieLens folder (regions = exact genre combination), or the demo catalogue and personas."""
    if path is not None and Path(path).is_dir():
        from explorer.catalog.movielens import load_movielens_histories

        catalog = load_catalog(path, "movielens")
        genres = _movielens_genres(Path(path))
        return Dataset("movielens", catalog, load_movielens_histories(path), lambda i: genres.get(i, ""))
    catalog = load_catalog(settings.catalog)
    personas = load_personas(settings.personas, catalog)
    histories = {p.name: History.of(p.history, name=p.name) for p in personas.values()}
    return Dataset("demo", catalog, histories, lambda i: (catalog[i].kind, catalog[i].tags[0] if catalog[i].tags else ""))


def _movielens_genres(folder: Path) -> dict[str, str]:
    import csv

    with open(folder / "movies.csv", encoding="utf-8") as f:
        return {row["movieId"]: row["genres"] for row in csv.DictReader(f)}


@dataclass
class MethodRun:
    name: str
    lists: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    llm: dict = field(default_factory=dict)


@dataclass
class EvalConfig:
    data: Path | None
    users: int = 40
    k: int = 10
    seed: int = 42
    explore: float = 0.3
    audit_users: int = 5
    prompts: list[str] | None = None  # prompt variant names to evaluate; None = every variant found
    methods: list[str] | None = None  # None = all
    out: Path | None = None
    progress: bool = True
    frontier: list[float] | None = None  # explore settings for the accuracy-exploration frontier (fallback explorer)


def evaluate(config: EvalConfig, settings: Settings | None = None) -> dict:
    from tqdm.auto import tqdm

    from explorer.facade import Explorer

    settings = settings or Settings()
    dataset = load_dataset(config.data, settings)
    splits = sample_users(dataset.histories, config.users, config.seed)
    evaluated = {s.user for s in splits}
    # Training data: every user's history, and the full record of users who are not evaluated.
    train = {u: (next(s.history for s in splits if s.user == u) if u in evaluated else h)
             for u, h in dataset.histories.items()}
    base = Explorer(settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": "none"})}),
                    catalog=dataset.catalog, progress=config.progress, interactions=train)
    item_ids, vectors = base.store.all_embeddings()
    vec_of = dict(zip(item_ids, vectors))
    data = Interactions(train, item_ids)
    embedding = EmbeddingSimilarity(item_ids, vectors)
    expected = {s.user: set(embedding.recommend(s.history, 50)) for s in splits}

    variants = _variants(settings, config.prompts)
    runs: list[MethodRun] = []
    simple = [Popularity(data), ItemItemCF(data), embedding]
    for method in simple:
        if _wanted(method.name, config):
            runs.append(_run_simple(method.name, lambda h, m=method: m.recommend(h, config.k), splits, config))
    explorers = [("explorer (fallback)", base, None)]
    if settings.llm.backend != "none":
        explorers.append(("explorer (LLM)", Explorer(settings, catalog=dataset.catalog, interactions=train), None))
        for step, name in variants:
            if step != "explain":  # explain variants do not change the ranking: the audit below measures them
                tuned = settings.model_copy(update={"prompt_variants": {**settings.prompt_variants, step: name}})
                explorers.append((f"explorer (LLM, {name})", Explorer(tuned, catalog=dataset.catalog, interactions=train),
                                  None))
    by_cluster = base.clusters.of if base.clusters is not None else None
    for name, ex, _ in explorers:
        if _wanted(name, config):
            runs.append(_run_explorer(name, ex, splits, config, tqdm))
    frontier_runs = [_run_explorer(f"explore={x:g}", base, splits, config, tqdm, explore=x)
                     for x in (config.frontier or [])]
    audits = {}
    if settings.llm.backend != "none" and config.audit_users:
        audit_variants = [("explain", None)] + [(s, n) for s, n in variants if s == "explain"]
        for step, name in audit_variants:
            tuned = settings.model_copy(update={"prompt_variants": {**settings.prompt_variants, step: name}}) \
                if name else settings
            audits[name or "explain"] = _explain_audit(Explorer(tuned, catalog=dataset.catalog, interactions=train),
                                                       splits[: config.audit_users])

    table = {run.name: _score(run, splits, dataset, data, vec_of, expected, config.k, by_cluster) for run in runs}
    frontier = {run.name: _score(run, splits, dataset, data, vec_of, expected, config.k, by_cluster)
                for run in frontier_runs}
    report = {"settings": _settings_record(config, settings, dataset, splits), "methods": table,
              "frontier": frontier, "explain_audit": audits}
    if config.out:
        _write_outputs(report, Path(config.out))
    return report


def _wanted(name: str, config: EvalConfig) -> bool:
    return config.methods is None or any(m.lower() in name.lower() for m in config.methods)


def _variants(settings: Settings, selected: list[str] | None) -> list[tuple[str, str]]:
    found = [(step, name) for step in LLM_STEPS for name in prompts_for_step(settings.prompts_dir, step) if name != step]
    return [v for v in found if selected is None or v[1] in selected]


def _run_simple(name, recommend, splits: list[UserSplit], config: EvalConfig) -> MethodRun:
    run, start = MethodRun(name), time.perf_counter()
    for s in splits:
        run.lists[s.user] = recommend(s.history)
    run.seconds = (time.perf_counter() - start) / max(len(splits), 1)
    return run


def _run_explorer(name, ex, splits: list[UserSplit], config: EvalConfig, tqdm, explore: float | None = None) -> MethodRun:
    """Rankings only (explain=False): explanations do not move the ranking, and the audit measures them."""
    run, start = MethodRun(name), time.perf_counter()
    paths, stage_seconds, choice_failures, violations = Counter(), defaultdict(list), 0, 0
    for s in tqdm(splits, desc=name, disable=not config.progress, leave=False):
        result = ex.recommend(s.history, k=config.k, explore=config.explore if explore is None else explore,
                              explain=False)
        run.lists[s.user] = [r.item_id for r in result.recommendations]
        paths.update({f"profile:{result.served_by.profile}": 1, f"plan:{result.served_by.plan}": 1})
        for stage, secs in result.seconds.items():
            stage_seconds[stage].append(secs)
        choice_failures += sum("choice failed" in n for n in result.notes)
        violations += len(foreign_titles(result.profile.summary, ex.catalog, set(s.history.item_ids),
                                         history_facts(s.history, ex.catalog)))
        violations += sum(r.item_id not in ex.catalog for r in result.recommendations)
    n = max(len(splits), 1)
    run.seconds = (time.perf_counter() - start) / n
    llm_on = ex.llm is not None
    run.llm = {
        "profile_llm_rate": paths["profile:llm"] / n, "plan_llm_rate": paths["plan:llm"] / n,
        "fallback_rate": (paths["profile:fallback"] + paths["plan:fallback"]) / (2 * n),
        "schema_valid_rate": (1 - choice_failures / (2 * n)) if llm_on else M.NAN,
        "grounding_violations": violations,
        "seconds_per_stage": {k: round(float(np.mean(v)), 3) for k, v in stage_seconds.items()},
    }
    return run


def _explain_audit(ex, splits: list[UserSplit], k: int = 3) -> dict:
    """Explanations for the top k of a few users: how often the LLM's text survives the checks, and whether
    anything ungrounded reached the answer (must be 0)."""
    served, total, violations, seconds = 0, 0, 0, []
    for s in splits:
        result = ex.recommend(s.history, k=k, explore=0.3, explain=True)
        seconds.append(result.seconds.get("explain", 0.0))
        for rec in result.recommendations:
            total += 1
            served += rec.explanation_served_by == "llm"
            violations += len(foreign_titles(rec.explanation, ex.catalog, {rec.item_id, *rec.evidence},
                                             item_facts(ex.catalog[rec.item_id], rec.query)))
            cited = [ex.catalog[e].title for e in rec.evidence]
            violations += not any(t in rec.explanation for t in cited)  # must cite the history
    return {"prompt": ex.explainer.prompt.tag if ex.explainer.prompt else None, "explanations": total,
            "llm_served_rate": served / total if total else M.NAN, "grounding_violations": violations,
            "seconds_per_answer": round(float(np.mean(seconds)), 2) if seconds else M.NAN}


def _score(run: MethodRun, splits, dataset: Dataset, data: Interactions, vec_of, expected, k: int,
           cluster_of=None) -> dict:
    per_user = defaultdict(list)
    for s in splits:
        recs, rel = run.lists.get(s.user, []), set(s.relevant)
        visited = {dataset.region(i) for i in s.history.item_ids}
        if cluster_of is not None:
            touched = {cluster_of(i) for i in s.history.item_ids}
            per_user["exploration_hit_rate_cluster"].append(M.exploration_hit(recs, rel, cluster_of, touched, k))
        per_user["ndcg"].append(M.ndcg_at_k(recs, rel, k))
        per_user["recall"].append(M.recall_at_k(recs, rel, k))
        per_user["hit_rate"].append(M.hit_at_k(recs, rel, k))
        per_user["mrr"].append(M.mrr_at_k(recs, rel, k))
        per_user["intra_list_similarity"].append(M.intra_list_similarity([vec_of[i] for i in recs if i in vec_of]))
        per_user["novelty"].append(M.novelty(recs, data.popularity))
        per_user["serendipity"].append(M.serendipity(recs, rel, expected[s.user], k))
        per_user["exploration_hit_rate"].append(M.exploration_hit(recs, rel, dataset.region, visited, k))
    scores = {name: _mean(values) for name, values in per_user.items()}
    scores["coverage"] = M.coverage(run.lists.values(), len(dataset.catalog))
    scores["seconds_per_user"] = round(run.seconds, 3)
    scores["llm"] = run.llm
    return scores


def _mean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return round(float(np.mean(kept)), 4) if kept else M.NAN


def _settings_record(config: EvalConfig, settings: Settings, dataset: Dataset, splits) -> dict:
    from explorer.config import resolve_embedder_source, resolve_llm_source

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except OSError:
        commit = None
    prompts = {step: sorted(p.tag for p in prompts_for_step(settings.prompts_dir, step).values()) for step in LLM_STEPS}
    return {"data": str(config.data or "demo"), "dataset": dataset.name, "users": len(splits), "k": config.k,
            "seed": config.seed, "explore": config.explore, "history_share": 0.8, "positive_rating": 4.0,
            "llm": "/".join(x for x in resolve_llm_source(settings.llm) if x) if settings.llm.backend != "none" else "none",
            "embedder": resolve_embedder_source(settings.embed), "prompts": prompts,
            "prompt_variants": settings.prompt_variants, "git_commit": commit}


COLUMNS = [("ndcg", "NDCG"), ("recall", "Recall"), ("hit_rate", "Hit"), ("mrr", "MRR"),
           ("intra_list_similarity", "ILS"), ("coverage", "Coverage"), ("novelty", "Novelty"),
           ("serendipity", "Serendipity"), ("exploration_hit_rate", "Explore-hit (genres)"),
           ("exploration_hit_rate_cluster", "Explore-hit (clusters)"), ("seconds_per_user", "s/user")]


def markdown_table(report: dict) -> str:
    k = report["settings"]["k"]
    head = "| method | " + " | ".join(f"{label}@{k}" if key in ("ndcg", "recall", "hit_rate", "mrr") else label
                                      for key, label in COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (len(COLUMNS) + 1)]
    for name, scores in [*report["methods"].items(), *report.get("frontier", {}).items()]:
        label = f"explorer (fallback), {name}" if name.startswith("explore=") else name
        lines.append(f"| {label} | " + " | ".join(_fmt(scores.get(key, M.NAN)) for key, _ in COLUMNS) + " |")
    llm_rows = [(n, s["llm"]) for n, s in report["methods"].items() if s["llm"]]
    if llm_rows:
        lines += ["", "| method | profile by LLM | plan by LLM | fallback rate | schema-valid | grounding violations | "
                      "seconds per stage |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, llm in llm_rows:
            stages = ", ".join(f"{k} {v}" for k, v in llm["seconds_per_stage"].items())
            lines.append(f"| {name} | {_fmt(llm['profile_llm_rate'])} | {_fmt(llm['plan_llm_rate'])} | "
                         f"{_fmt(llm['fallback_rate'])} | {_fmt(llm['schema_valid_rate'])} | "
                         f"{llm['grounding_violations']} | {stages} |")
    if report["explain_audit"]:
        lines += ["", "| explain prompt | explanations | written by LLM | grounding violations | s per answer (3 items) |",
                  "| --- | --- | --- | --- | --- |"]
        for name, a in report["explain_audit"].items():
            lines.append(f"| {a['prompt']} | {a['explanations']} | {_fmt(a['llm_served_rate'])} | "
                         f"{a['grounding_violations']} | {_fmt(a['seconds_per_answer'])} |")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _write_outputs(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "report.json.tmp"  # written whole, then renamed: never a half-written report
    tmp.write_text(json.dumps(report, indent=2, allow_nan=True), encoding="utf-8")
    tmp.replace(out / "report.json")
    (out / "report.md").write_text(markdown_table(report) + "\n", encoding="utf-8")
    plot(report, out / "accuracy_vs_exploration.png")


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = report["settings"]["k"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    hit_key = "exploration_hit_rate_cluster" if any("exploration_hit_rate_cluster" in v
                                                    for v in report["methods"].values()) else "exploration_hit_rate"
    for ax, key, label in ((axes[0], "novelty", "novelty (mean −log2 popularity)"),
                           (axes[1], hit_key, "exploration hit rate" + (" (clusters)" if "cluster" in hit_key else ""))):
        for name, scores in report["methods"].items():
            ax.scatter(scores[key], scores["ndcg"], s=60)
            ax.annotate(name, (scores[key], scores["ndcg"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
        front = sorted(report.get("frontier", {}).items(), key=lambda kv: float(kv[0].split("=")[1]))
        if front:
            ax.plot([v[key] for _, v in front], [v["ndcg"] for _, v in front], "o--", color="grey", ms=4,
                    label="explorer (fallback) frontier over the explore knob")
            for name, v in front:
                ax.annotate(name, (v[key], v["ndcg"]), textcoords="offset points", xytext=(4, -10), fontsize=7,
                            color="grey")
            ax.legend(fontsize=7, loc="best")
        ax.set_xlabel(label)
        ax.set_ylabel(f"NDCG@{k}")
        ax.grid(alpha=0.3)
    s = report["settings"]
    fig.suptitle(f"Accuracy against exploration: {s['dataset']}, {s['users']} users, k={k}, seed={s['seed']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
