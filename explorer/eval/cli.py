"""`python -m explorer.eval` and `explorer eval`: the evaluation's command-line face."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def eval_command(
    data: Annotated[Optional[Path], typer.Option("--data", help="A MovieLens folder; omit for the demo personas.")] = None,
    users: Annotated[int, typer.Option("--users", min=1, help="Users sampled (40 takes about 10 minutes on 2 cores).")] = 40,
    k: Annotated[int, typer.Option("--k", min=1, max=100)] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    explore: Annotated[float, typer.Option("--explore", min=0.0, max=1.0)] = 0.3,
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
    config = EvalConfig(data=data, users=users, k=k, seed=seed, explore=explore, audit_users=audit_users,
                        prompts=prompts, methods=methods, out=out,
                        frontier=[float(x) for x in frontier.split(",")] if frontier else None)
    report = evaluate(config, Settings(**overrides))
    typer.echo(markdown_table(report))
    if out:
        typer.echo(f"\nwrote {out}/report.json, {out}/report.md and {out}/accuracy_vs_exploration.png")


def main():
    from explorer.console import run_typer

    app = typer.Typer(add_completion=False)
    app.command()(eval_command)
    run_typer(app)
