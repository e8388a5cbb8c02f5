"""The prompt and pipeline evaluation: every method on the same users, the same split and the same k.

    python -m explorer.eval --data ../shared/data/movielens-small --users all --seed 0 --no-llm \
        --frontier 0,0.1,0.2,0.3,0.5,0.75,1 --out docs/results/movielens-small

Every method's per-user values are kept in the report; each is compared with item-item CF by a paired
bootstrap over the users (explorer/eval/bootstrap.py).
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
from explorer.eval.baselines import (MMRCF, EmbeddingSimilarity, Interactions, ItemItemCF, ModelRanking, Popularity,
                                     PopularityDiscountCF)
from explorer.eval.bootstrap import bootstrap_ci, paired_difference_ci
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
    users: int | None = 40  # None: every eligible user
    k: int = 10
    seed: int = 42
    explore: float | None = 0.3  # None: chosen on a validation split of the training part (see choose_explore)
    audit_users: int = 5
    prompts: list[str] | None = None  # prompt variant names to evaluate; None = every variant found
    methods: list[str] | None = None  # None = all
    out: Path | None = None
    progress: bool = True
    frontier: list[float] | None = None  # explore settings for the accuracy-exploration frontier (fallback explorer)
    tricks: bool = True  # the cheap-trick frontiers: CF ÷ popularity^β and MMR-diversified CF
    sequence: bool = True  # train (or read from the cache) the sequence model and evaluate it
    boot: int = 2000  # bootstrap resamples


BETAS = (0.0, 0.1, 0.2, 0.3, 0.5)
LAMBDAS = (1.0, 0.9, 0.7, 0.5)
CI_METRICS = ("ndcg", "novelty", "exploration_hit_rate_cluster")


def evaluate(config: EvalConfig, settings: Settings | None = None) -> dict:
    from tqdm.auto import tqdm

    from explorer.facade import Explorer

    settings = settings or Settings()
    dataset = load_dataset(config.data, settings)
    splits = sample_users(dataset.histories, config.users if config.users is not None else len(dataset.histories),
                          config.seed)
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
    training_seconds = {}
    if getattr(base.interest, "seconds", None):
        training_seconds[base.interest.name] = round(base.interest.seconds, 1)
    simple = [Popularity(data), ItemItemCF(data), embedding]
    if base.interest is not None and settings.interest.model != "itemcf":
        simple.append(ModelRanking(base.interest))
    if config.sequence and settings.interest.model != "sequence":
        from explorer.interest.sequence import cached_sequence

        start = time.perf_counter()
        sequence, built = cached_sequence(Path(settings.data_dir) / "interest", train, base.vectors.ids,
                                          settings.interest.sequence)  # ids in sorted order: a key any run rebuilds
        training_seconds["sequence"] = round(sequence.seconds, 1) if built else f"cached ({sequence.seconds:.0f} s when trained)"
        training_seconds["sequence, this run"] = round(time.perf_counter() - start, 1)
        simple.append(ModelRanking(sequence))
    for method in simple:
        if _wanted(method.name, config):
            runs.append(_run_simple(method.name, lambda h, m=method: m.recommend(h, config.k), splits, config))
    tricks = []
    if config.tricks:
        tricks = [PopularityDiscountCF(data, b) for b in BETAS] + [MMRCF(data, vectors, lam) for lam in LAMBDAS]
    trick_runs = [_run_simple(m.name, lambda h, m=m: m.recommend(h, config.k), splits, config) for m in tricks]
    chosen = None
    if config.explore is None:
        chosen = choose_explore(dataset, settings, train, splits, config, l2=getattr(base.interest, "l2", None))
        config = EvalConfig(**{**config.__dict__, "explore": chosen["explore"]})
    explorers = [("explorer (fallback)", base, None)]
    if settings.llm.backend != "none":
        explorers.append(("explorer (LLM)", Explorer(settings, catalog=dataset.catalog, interactions=train), None))
        for step, name in variants:
            if step != "explain":  # explain variants do not change the ranking: the audit below measures them
                tuned = settings.model_copy(update={"prompt_variants": {**settings.prompt_variants, step: name}})
                explorers.append((f"explorer (LLM, {name})", Explorer(tuned, catalog=dataset.catalog, interactions=train),
                                  None))
    by_cluster = base.clusters.of if base.clusters is not None else None
    frontier_runs = [_run_explorer(f"explore={x:g}", base, splits, config, tqdm, explore=x)
                     for x in (config.frontier or [])]
    for name, ex, _ in explorers:
        if _wanted(name, config):
            same = next((r for r in frontier_runs if ex is base and r.name == f"explore={config.explore:g}"), None)
            runs.append(MethodRun(name, same.lists, same.seconds, same.llm) if same is not None else
                        _run_explorer(name, ex, splits, config, tqdm))  # the frontier's run at this setting
    audits = {}
    if settings.llm.backend != "none" and config.audit_users:
        audit_variants = [("explain", None)] + [(s, n) for s, n in variants if s == "explain"]
        for step, name in audit_variants:
            tuned = settings.model_copy(update={"prompt_variants": {**settings.prompt_variants, step: name}}) \
                if name else settings
            audits[name or "explain"] = _explain_audit(Explorer(tuned, catalog=dataset.catalog, interactions=train),
                                                       splits[: config.audit_users])

    per_user: dict[str, dict[str, list[float]]] = {}
    table = {run.name: _score(run, splits, dataset, data, vec_of, expected, config.k, by_cluster, per_user)
             for run in runs}
    frontier = {run.name: _score(run, splits, dataset, data, vec_of, expected, config.k, by_cluster, per_user)
                for run in frontier_runs}
    trick_table = {run.name: _score(run, splits, dataset, data, vec_of, expected, config.k, by_cluster, per_user)
                   for run in trick_runs}
    record = _settings_record(config, settings, dataset, splits)
    record["training_seconds"] = training_seconds
    if base.interest is not None and getattr(base.interest, "validation", None):
        record["interest_validation"] = {str(k): v for k, v in base.interest.validation.items()}
    if chosen is not None:
        record["explore_chosen_on_validation"] = chosen
    report = {"settings": record, "methods": table, "frontier": frontier, "tricks": trick_table,
              "explain_audit": audits, "users": [s.user for s in splits], "per_user": per_user}
    report["ci"] = confidence_intervals(per_user, "item-item CF", config.boot, config.seed)
    report["criteria"] = criteria(report)
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
           cluster_of=None, keep: dict | None = None) -> dict:
    """Means over the users; `keep` collects each method's per-user values of the CI metrics (NaN kept, so the
    lists stay aligned with the users for pairing)."""
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
    if keep is not None:
        keep[run.name] = {m: [round(v, 5) for v in per_user[m]] for m in CI_METRICS if m in per_user}
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
            "prompt_variants": settings.prompt_variants, "git_commit": commit,
            "explore_discount": settings.pipeline.retrieve.explore_discount}


COLUMNS = [("ndcg", "NDCG"), ("recall", "Recall"), ("hit_rate", "Hit"), ("mrr", "MRR"),
           ("intra_list_similarity", "ILS"), ("coverage", "Coverage"), ("novelty", "Novelty"),
           ("serendipity", "Serendipity"), ("exploration_hit_rate", "Explore-hit (genres)"),
           ("exploration_hit_rate_cluster", "Explore-hit (clusters)"), ("seconds_per_user", "s/user")]


def ci_table(report: dict) -> str:
    """Each method's NDCG, novelty and cluster explore-hit with bootstrap 95% intervals, and its paired
    difference from item-item CF."""
    k = report["settings"]["k"]
    ci = report.get("ci", {})
    lines = [f"| method | NDCG@{k} [95% CI] | Δ vs CF [95% CI] | novelty [95% CI] | Δ vs CF | explore-hit (clusters) "
             f"[95% CI] | Δ vs CF |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, metrics in ci.items():
        label = f"explorer (fallback), {name}" if name.startswith("explore=") else name
        cells = []
        for m in CI_METRICS:
            e = metrics.get(m)
            if e is None:
                cells += ["n/a", "n/a"]
                continue
            cells.append(f"{_fmt(e['mean'])} [{_fmt(e['lo'])}, {_fmt(e['hi'])}]")
            cells.append(f"{e['diff']:+.3f} [{e['diff_lo']:+.3f}, {e['diff_hi']:+.3f}]" if "diff" in e else "n/a")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(report: dict) -> str:
    k = report["settings"]["k"]
    head = "| method | " + " | ".join(f"{label}@{k}" if key in ("ndcg", "recall", "hit_rate", "mrr") else label
                                      for key, label in COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (len(COLUMNS) + 1)]
    for name, scores in [*report["methods"].items(), *report.get("tricks", {}).items(),
                         *report.get("frontier", {}).items()]:
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
    if report.get("ci"):
        lines += ["", ci_table(report)]
    if report.get("criteria"):
        lines += ["", "Done-when checks: " + json.dumps(report["criteria"], default=str)]
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
    plot(report, out)


PLOTS = (("novelty", "novelty (mean −log2 popularity)", "ndcg_vs_novelty.png"),
         ("exploration_hit_rate_cluster", "cluster explore-hit rate", "ndcg_vs_explore_hit.png"))


def plot(report: dict, out: Path) -> list[Path]:
    """One plot per pair of axes: NDCG against novelty, NDCG against cluster explore-hit; the explorer's
    frontier and the two trick frontiers as lines, the baselines as points, bootstrap 95% intervals as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k, ci = report["settings"]["k"], report.get("ci", {})
    s = report["settings"]
    written = []
    tricks = report.get("tricks", {})
    families = [("explorer (fallback) over explore", sorted(report.get("frontier", {}),
                                                             key=lambda n: float(n.split("=")[1])), "C3"),
                ("item-CF ÷ popularity^β", [n for n in tricks if n.startswith("CF ÷ pop^")], "C0"),
                ("MMR-diversified item-CF", [n for n in tricks if n.startswith("MMR CF")], "C2")]
    scores = {**report["methods"], **tricks, **report.get("frontier", {})}

    def bars(name, key):
        e = ci.get(name, {}).get(key)
        if e is None:
            return None
        return [[e["mean"] - e["lo"]], [e["hi"] - e["mean"]]]

    for key, label, filename in PLOTS:
        if not any(key in v for v in scores.values()):
            continue
        fig, ax = plt.subplots(figsize=(7.5, 5.5))
        for family, names, colour in families:
            names = [n for n in names if key in scores[n]]
            if not names:
                continue
            xs, ys = [scores[n][key] for n in names], [scores[n]["ndcg"] for n in names]
            ax.plot(xs, ys, "-", color=colour, alpha=0.6, label=family)
            for n, x, y in zip(names, xs, ys):
                ax.errorbar(x, y, xerr=bars(n, key), yerr=bars(n, "ndcg"), fmt="o", color=colour, ms=4,
                            elinewidth=0.8, capsize=2)
                ax.annotate(n.split("=")[-1] if "=" in n else n.split("^")[-1], (x, y), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color=colour)
        for name, v in report["methods"].items():
            if key not in v or name.startswith("explorer"):
                continue
            ax.errorbar(v[key], v["ndcg"], xerr=bars(name, key), yerr=bars(name, "ndcg"), fmt="s", color="black",
                        ms=5, elinewidth=0.8, capsize=2)
            ax.annotate(name, (v[key], v["ndcg"]), textcoords="offset points", xytext=(5, -10), fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel(f"NDCG@{k}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        ax.set_title(f"{s['dataset']}, {s['users']} users, k={k}, seed={s['seed']}; bars: bootstrap 95% CI",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(out / filename, dpi=110)
        plt.close(fig)
        written.append(out / filename)
    return written


# ---------------------------------------------------------------- confidence intervals and the done-when checks
def confidence_intervals(per_user: dict[str, dict[str, list[float]]], reference: str, n_boot: int,
                         seed: int) -> dict:
    """For every method and CI metric: its mean with a bootstrap 95% interval, and its paired difference from
    `reference` (item-item CF) with a paired bootstrap 95% interval."""
    out = {}
    ref = per_user.get(reference, {})
    for name, metrics in per_user.items():
        out[name] = {}
        for metric, values in metrics.items():
            mean, lo, hi = bootstrap_ci(values, n_boot, seed)
            entry = {"mean": _r(mean), "lo": _r(lo), "hi": _r(hi)}
            if metric in ref:
                d, dlo, dhi = paired_difference_ci(values, ref[metric], n_boot, seed)
                entry.update({"diff": _r(d), "diff_lo": _r(dlo), "diff_hi": _r(dhi)})
            out[name][metric] = entry
    return out


def _r(x: float) -> float:
    return round(x, 5) if not math.isnan(x) else x


def dominates(ours: list[tuple[float, float]], theirs: list[tuple[float, float]]) -> list[bool]:
    """For each of their (x, y) points: does some point of ours have x and y at least as large?"""
    return [any(ox >= tx and oy >= ty for ox, oy in ours) for tx, ty in theirs]


def criteria(report: dict) -> dict:
    """The issue's done-when checks, computed from the report itself (point estimates and bootstrap intervals)."""
    ci, methods = report["ci"], report["methods"]
    hit = "exploration_hit_rate_cluster"
    cf = methods.get("item-item CF")
    front = report.get("frontier", {})
    out: dict = {}
    if cf is None:
        return out
    baselines = [n for n in methods if not n.startswith("explorer")]
    best = max(baselines, key=lambda n: methods[n]["ndcg"])
    if "explore=0" in front:
        zero, best_ci = ci["explore=0"]["ndcg"], ci[best]["ndcg"]
        out["explore0_vs_best_baseline"] = {
            "best_baseline": best, "best_ndcg": best_ci["mean"], "best_lo": best_ci["lo"],
            "explore0_ndcg": zero["mean"], "explore0_lo": zero["lo"], "explore0_hi": zero["hi"],
            "holds": zero["mean"] >= best_ci["lo"]}
    default = methods.get("explorer (fallback)")
    if default is not None and hit in default:
        out["default_explore"] = {
            "explore": report["settings"]["explore"],
            "ndcg": default["ndcg"], "cf_ndcg": cf["ndcg"], "ndcg_holds": default["ndcg"] >= cf["ndcg"],
            "novelty_ratio": round(default["novelty"] / cf["novelty"], 3),
            "novelty_holds": default["novelty"] >= 1.3 * cf["novelty"],
            "explore_hit_ratio": round(default[hit] / cf[hit], 3) if cf.get(hit) else math.nan,
            "explore_hit_holds": default[hit] >= 2 * cf[hit]}
    tricks = report.get("tricks", {})
    if front and tricks:
        for axis in ("novelty", hit):
            if not all(axis in v for v in front.values()):
                continue
            ours = [(v[axis], v["ndcg"]) for v in front.values()]
            for family, prefix in (("popularity discount", "CF ÷ pop^"), ("MMR", "MMR CF")):
                names = [n for n in tricks if n.startswith(prefix)]
                ok = dominates(ours, [(tricks[n][axis], tricks[n]["ndcg"]) for n in names])
                out[f"dominates {family} on NDCG vs {axis}"] = {
                    "holds": all(ok), "not_dominated": [n for n, good in zip(names, ok) if not good]}
    return out


def choose_explore(dataset: Dataset, settings: Settings, train: dict[str, History], splits: list[UserSplit],
                   config: EvalConfig, grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0),
                   users: int = 150, l2: float | None = None) -> dict:
    """The default explore, chosen on a validation split of the TRAINING part (each training history cut in time
    again), never on the evaluated futures; the rule is in `rule` below."""
    import random

    from explorer.facade import Explorer
    from explorer.interest.base import validation_split

    split = validation_split(train)
    evaluated = sorted(set(split.targets) & {s.user for s in splits}, key=str)
    chosen_users = sorted(random.Random(config.seed).sample(evaluated, min(users, len(evaluated))), key=str)
    # λ was chosen on this same split (EASE.fit_validated): reuse it rather than carve a split of the split.
    inner_settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": "none"}),
                                                 "interest": settings.interest.model_copy(update={"ease_l2": l2})})
    ex = Explorer(inner_settings, catalog=dataset.catalog, interactions=split.train)
    data = Interactions(split.train, ex.vectors.ids)
    cf = ItemItemCF(data)
    k, hit = config.k, "exploration_hit_rate_cluster"

    def measure(lists: dict[str, list[str]]) -> dict:
        nd, nov, hits = [], [], []
        for u in chosen_users:
            recs, rel = lists[u], set(split.targets[u])
            nd.append(M.ndcg_at_k(recs, rel, k))
            nov.append(M.novelty(recs, data.popularity))
            touched = {ex.clusters.of(i) for i in split.inputs[u].item_ids} if ex.clusters else set()
            hits.append(M.exploration_hit(recs, rel, ex.clusters.of, touched, k) if ex.clusters else M.NAN)
        return {"ndcg": _mean(nd), "novelty": _mean(nov), hit: _mean(hits)}

    found = {"item-item CF": measure({u: cf.recommend(split.inputs[u], k) for u in chosen_users})}
    for x in grid:
        found[f"explore={x:g}"] = measure({u: [r.item_id for r in ex.recommend(
            split.inputs[u], k=k, explore=x, explain=False).recommendations] for u in chosen_users})
    base = found["item-item CF"]
    good = [x for x in grid if found[f"explore={x:g}"]["ndcg"] >= base["ndcg"]]
    best = [x for x in good if found[f"explore={x:g}"]["novelty"] >= 1.3 * base["novelty"]
            and found[f"explore={x:g}"][hit] >= 2 * base[hit]]
    explore = max(best) if best else (max(good) if good else 0.0)
    rule = ("the largest explore with validation NDCG@10 >= item-item CF's, novelty >= 1.3x and cluster "
            "explore-hit >= 2x CF's; else the largest with NDCG >= CF's; else 0")
    return {"explore": explore, "users": len(chosen_users), "rule": rule, "validation": found}
