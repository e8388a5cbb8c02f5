"""`python -m explorer.eval` and `explorer eval`: the evaluation's command-line face."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def eval_command(
    data: Annotated[Optional[Path], typer.Option("--data", help="A MovieLens folder; omit for the demo personas.")] = None,
    users: Annotated[str, typer.Option("--users", help="Users sampled, or 'all' for every eligible user "
                                       "(40 with the LLM takes about 10 minutes on 2 cores).")] = "40",
    k: Annotated[int, typer.Option("--k", min=1, max=100)] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    explore: Annotated[Optional[float], typer.Option("--explore", min=0.0, max=1.0, help="The explorer's explore "
                                                     "setting; default: chosen on a validation split of the "
                                                     "training part.")] = None,
    no_sequence: Annotated[bool, typer.Option("--no-sequence", help="Skip the sequence model baseline.")] = False,
    no_tricks: Annotated[bool, typer.Option("--no-tricks", help="Skip the popularity-discount and MMR frontiers.")] = False,
    prompts: Annotated[Optional[list[str]], typer.Option("--prompts", help="Prompt variant names (repeatable); "
                                                         "default: every variant in prompts/.")] = None,
    methods: Annotated[Optional[list[str]], typer.Option("--method", help="Only methods whose name contains this "
                                                         "(repeatable).")] = None,
    audit_users: Annotated[int, typer.Option("--audit-users", min=0, help="Users whose explanations are audited.")] = 5,
    frontier: Annotated[Optional[str], typer.Option("--frontier", help="Explore settings for the frontier, e.g. "
                                                    "0,0.25,0.5,0.75,1 (fallback explorer).")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Skip the LLM methods.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for report.json, report.md and the plot.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", envvar="EXPLORER_DATA_DIR")] = None,
):
    """Evaluate baselines, the explorer and its prompt variants on a temporal split."""
    from explorer.config import Settings
    from explorer.eval.run import EvalConfig, evaluate, markdown_table

    overrides: dict = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if no_llm:
        overrides["llm"] = {"backend": "none"}
    if users.strip().lower() == "all":
        n_users = None
    elif users.strip().isdigit() and int(users) >= 1:
        n_users = int(users)
    else:
        raise typer.BadParameter(f"--users takes a positive number or 'all', not {users!r}")
    config = EvalConfig(data=data, users=n_users, k=k, sequence=not no_sequence, tricks=not no_tricks, seed=seed, explore=explore, audit_users=audit_users,
                        prompts=prompts, methods=methods, out=out,
                        frontier=[float(x) for x in frontier.split(",")] if frontier else None)
    report = evaluate(config, Settings(**overrides))
    typer.echo(markdown_table(report))
    if out:
        typer.echo(f"\nwrote {out}/report.json, {out}/report.md, {out}/ndcg_vs_novelty.png and "
                   f"{out}/ndcg_vs_explore_hit.png")


def main():
    from explorer.console import run_typer

    app = typer.Typer(add_completion=False)
    app.command()(eval_command)
    run_typer(app)
