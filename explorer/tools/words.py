"""Which way of letting the LLM speak serves better: free text that is checked, a sentence composed around the
LLM's choice under a schema, or both (free if it passes, else the composition, else the template). Both ways
are run on the same cases, so every policy's shares come from one run:

    python -m explorer.tools.words --out docs/results/words.json [--movielens-users 30] [--personas 8]

Explanations: the demo personas' own answers (k = 5, explore 0.3) and MovieLens users (a liked film explained
by two others they liked that share a genre, users not in the audit set). Summaries: the demo personas and
MovieLens users. Prints, per policy, the share of served texts by path with counts and 95% Wilson intervals,
and writes every text with its path and check result to --out for the hand-read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

from explorer.config import Settings
from explorer.tools.audit import MOVIELENS, movielens_triples

POLICIES = ("free", "choice", "both")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a share k/n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def served_by_policy(free_ok: list[bool], choice_ok: list[bool]) -> dict[str, dict[str, int]]:
    """How many texts each policy serves by each path, from whether each case's free text and composition pass."""
    out = {}
    for policy in POLICIES:
        counts = {"llm": 0, "composed": 0, "fallback": 0}
        for f, c in zip(free_ok, choice_ok):
            if policy in ("free", "both") and f:
                counts["llm"] += 1
            elif policy in ("choice", "both") and c:
                counts["composed"] += 1
            else:
                counts["fallback"] += 1
        out[policy] = counts
    return out


def explanation_cases(ex, n_users: int, rng: random.Random, exclude: set[str]):
    """(source, explainer, item, evidence, query, profile) for the demo personas' answers and MovieLens users."""
    cases = []
    for name in ex.personas:
        history = ex.persona(name)
        result = ex.recommend(history, k=5, explore=0.3, explain=False)
        queries = {q.text: q for q in result.queries}
        cases += [(f"demo:{name}", ex.catalog, ex.catalog[r.item_id], [ex.catalog[e] for e in r.evidence],
                   queries[r.query], result.profile) for r in result.recommendations if r.evidence]
    if n_users:
        from explorer.catalog.movielens import load_movielens_catalog, load_movielens_histories

        catalog, histories = load_movielens_catalog(MOVIELENS), load_movielens_histories(MOVIELENS)
        for source, item, evidence, query in movielens_triples(catalog, histories, n_users, rng, exclude):
            cases.append((source, catalog, item, evidence, query, None))
    return cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--movielens-users", type=int, default=30)
    parser.add_argument("--personas", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--explain-prompt", help="an explain prompt variant to measure (default: the configured one)")
    parser.add_argument("--summary-prompt", help="a profile_summary prompt variant to measure")
    parser.add_argument("--no-explanations", action="store_true", help="summaries only")
    parser.add_argument("--answers", action="store_true",
                        help="only time whole answers (k = 5) of every persona under each policy, interleaved")
    parser.add_argument("--no-summaries", action="store_true", help="explanations only")
    parser.add_argument("--exclude-from", type=Path, default=Path("tests/data/claims_audit.jsonl"),
                        help="an audit file whose MovieLens users are left out")
    args = parser.parse_args(argv)
    from explorer import Explorer
    from explorer.catalog.movielens import load_movielens_catalog, load_movielens_histories
    from explorer.pipeline.explain import Explainer
    from explorer.pipeline.profile import ProfileBuilder
    from explorer.pipeline.prompts import select_prompt

    if args.answers:
        answer_timing(args.out)
        return
    rng = random.Random(args.seed)
    exclude = {json.loads(line)["source"].split(" ", 1)[1] for line in args.exclude_from.read_text().splitlines()
               if line.strip() and json.loads(line)["source"].startswith("movielens:user ")}
    settings = Settings()
    ex = Explorer(settings)
    report: dict = {"settings": {"backend": settings.llm.backend, "model": settings.llm.model, "seed": args.seed,
                                 "personas": args.personas, "movielens_users": args.movielens_users},
                    "load_average": os.getloadavg()}

    # -------------------------------------------------------------- explanations
    cases = [] if args.no_explanations else explanation_cases(ex, args.movielens_users, rng, exclude)
    free_prompt = select_prompt(settings.prompts_dir, "explain", args.explain_prompt) if args.explain_prompt \
        else ex.explainer.prompt
    report["settings"]["explain_prompt"] = free_prompt.tag
    rows, seconds = [], {"free": 0.0, "choice": 0.0}
    by_catalog: dict[int, Explainer] = {}
    for source, catalog, item, evidence, query, profile in cases:
        explainer = by_catalog.setdefault(id(catalog), Explainer(catalog, ex.llm, free_prompt,
                                                                 ex.explainer.choice_prompt, "both"))
        start = time.perf_counter()
        free = explainer._free([(item, evidence, query)], [0], profile, None)[0]
        seconds["free"] += time.perf_counter() - start
        start = time.perf_counter()
        composed = explainer._composed(item, evidence, query, profile, None)
        seconds["choice"] += time.perf_counter() - start
        from explorer.pipeline.compose import explanation_options

        rows.append({"source": source, "item": item.title, "evidence": [e.title for e in evidence],
                     "query": query.text, "real_choice": explanation_options(item, evidence).real_choice,
                     "free": free.value if not isinstance(free, str) else None,
                     "free_problem": free if isinstance(free, str) else None,
                     "composed": composed.value if not isinstance(composed, str) else None,
                     "composed_problem": composed if isinstance(composed, str) else None})
    if rows:
        report["explanations"] = summarise("explanations", rows, seconds)

    # -------------------------------------------------------------- summaries
    jobs = [] if args.no_summaries else [(f"demo:{n}", ex.catalog, ex.persona(n))
                                         for n in list(ex.personas)[:args.personas]]
    if args.movielens_users and not args.no_summaries:
        ml_catalog, ml_histories = load_movielens_catalog(MOVIELENS), load_movielens_histories(MOVIELENS)
        users = [u for u in sorted(ml_histories, key=int) if len(ml_histories[u].liked) >= 5 and u not in exclude]
        jobs += [(f"movielens:user {u}", ml_catalog, ml_histories[u]) for u in rng.sample(users, args.movielens_users)]
    srows, sseconds = [], {"free": 0.0, "choice": 0.0}
    base = ex.profiler
    summary_prompt = select_prompt(settings.prompts_dir, "profile_summary", args.summary_prompt) \
        if args.summary_prompt else base.summary_prompt
    report["settings"]["summary_prompt"] = summary_prompt.tag
    for source, catalog, history in jobs:
        outcome = {}
        for policy in ("free", "choice"):
            builder = ProfileBuilder(catalog, ex.llm, base.themes_prompt, summary_prompt, base.max_history,
                                     base.choice_prompt, policy)
            start = time.perf_counter()
            outcome[policy] = builder.build(history)
            sseconds[policy] += time.perf_counter() - start
        srows.append({"source": source,
                      "free": outcome["free"].value.summary if outcome["free"].served_by == "llm" else None,
                      "free_problem": None if outcome["free"].served_by == "llm" else "; ".join(outcome["free"].notes),
                      "composed": outcome["choice"].value.summary if outcome["choice"].served_by == "composed" else None,
                      "composed_problem": None if outcome["choice"].served_by == "composed"
                      else "; ".join(outcome["choice"].notes),
                      "fallback": outcome["free"].value.summary if outcome["free"].served_by != "llm" else None})
    if srows:
        report["summaries"] = summarise("summaries", srows, sseconds)
    report["rows"] = {"explanations": rows, "summaries": srows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"load average {report['load_average'][0]:.1f}; rows -> {args.out}")


def answer_timing(out: Path, repeats: int = 2) -> None:
    """Seconds of the explain stage of whole answers (profile cached, k = 5, explore 0.3) for every demo persona
    under each policy, the policies interleaved so that the machine's load falls on all alike."""
    import statistics

    from explorer import Explorer
    from explorer.pipeline.explain import Explainer

    ex = Explorer(Settings())
    base = ex.explainer
    explainers = {p: Explainer(ex.catalog, ex.llm, base.prompt, base.choice_prompt, p) for p in POLICIES}
    seconds: dict[str, list[float]] = {p: [] for p in POLICIES}
    served: dict[str, list[str]] = {p: [] for p in POLICIES}
    for name in ex.personas:
        history = ex.persona(name)
        ex.profile(history)  # cached from here on
        for _ in range(repeats):
            for policy in POLICIES:
                ex.explainer = explainers[policy]
                result = ex.recommend(history, k=5, explore=0.3)
                seconds[policy].append(result.seconds["explain"])
                served[policy] += [r.explanation_served_by for r in result.recommendations]
    ex.explainer = base
    load = os.getloadavg()
    report = {"load_average": load, "seconds_explain": seconds, "served": served}
    for policy in POLICIES:
        counts = {k: served[policy].count(k) for k in ("llm", "composed", "fallback")}
        print(f"policy {policy:6}: explain stage median {statistics.median(seconds[policy]):.2f} s "
              f"(n = {len(seconds[policy])}); served {counts}")
    print(f"load average {load[0]:.1f}")
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")


def summarise(kind: str, rows: list[dict], seconds: dict[str, float]) -> dict:
    free_ok = [r["free"] is not None for r in rows]
    choice_ok = [r["composed"] is not None for r in rows]
    n = len(rows)
    served = served_by_policy(free_ok, choice_ok)
    out = {"n": n, "free_passing": sum(free_ok), "composed_passing": sum(choice_ok), "served": served,
           "seconds_per_case": {k: round(v / max(n, 1), 3) for k, v in seconds.items()}}
    print(f"\n{kind}: {n} cases; free text passes {sum(free_ok)}, composition passes {sum(choice_ok)}; "
          f"seconds per case: free {out['seconds_per_case']['free']}, choice {out['seconds_per_case']['choice']}")
    for policy, counts in served.items():
        parts = []
        for path in ("llm", "composed", "fallback"):
            lo, hi = wilson(counts[path], n)
            parts.append(f"{path} {counts[path]} ({100 * counts[path] / max(n, 1):.0f}%, {100 * lo:.0f}-{100 * hi:.0f})")
        print(f"  policy {policy:6}: " + ", ".join(parts))
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["source"].split(":")[0], []).append(r)
    for source, group in sorted(by_source.items()):
        f = sum(r["free"] is not None for r in group)
        c = sum(r["free"] is None and r["composed"] is not None for r in group)
        print(f"  {source:9}: {len(group)} cases; policy both serves llm {f}, composed {c}, fallback {len(group) - f - c}")
    return out


if __name__ == "__main__":
    main()
