"""The command line: `python -m explorer` or `explorer`. A thin face over the Explorer facade.

Errors a user can fix are printed as one line (with the fix) and exit with status 2, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from explorer.console import err, out, run_typer
from explorer.errors import ExplorerError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Interest Explorer: profile, explore and explain, on a local LLM and a Chroma catalogue.")

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", envvar="EXPLORER_DATA_DIR",
                                                 help="Where the index and state live.")]
CatalogOpt = Annotated[Optional[Path], typer.Option("--catalog", help="Catalogue file or MovieLens folder "
                                                                      "(default: the demo catalogue).")]
PersonaOpt = Annotated[Optional[str], typer.Option("--persona", help="A demo persona's name.")]
HistoryOpt = Annotated[Optional[Path], typer.Option("--history", help="History file: JSONL, CSV or titles a line.")]
UserOpt = Annotated[Optional[str], typer.Option("--user", help="A MovieLens user id (with a MovieLens --catalog).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
NoLLM = Annotated[bool, typer.Option("--no-llm", help="Serve every step from its deterministic fallback.")]


def _explorer(data_dir: Path | None, catalog: Path | None = None, no_llm: bool = False, progress: bool = True):
    from explorer.config import Settings
    from explorer.facade import Explorer

    overrides: dict = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if no_llm:
        overrides["llm"] = {"backend": "none"}
    return Explorer(Settings(**overrides), catalog=catalog, progress=progress)


def _history(ex, persona: str | None, history: Path | None, user: str | None):
    from explorer.catalog import require_usable

    given = [x for x in (persona, history, user) if x]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of --persona, --history or --user")
    if persona:
        return ex.persona(persona)
    if user:
        from explorer.catalog.movielens import load_movielens_histories

        histories = load_movielens_histories(ex.catalog.source)
        if user not in histories:
            raise ExplorerError(f"unknown MovieLens user {user!r} (ids run from 1 to {len(histories)})")
        return histories[user]
    parsed = ex.load_history(history)
    if parsed.unknown:
        err.print(f"[yellow]skipped {len(parsed.unknown)} line(s) not in the catalogue:[/] "
                  + ", ".join(parsed.unknown[:10]))
    for asked in parsed.ambiguous:  # a title naming several items: say which lines would pick each
        err.print(f"[yellow]which one?[/] {escape(asked.line)} names {len(asked.candidates)} items; write it as "
                  + " or ".join(escape(c) for c in asked.choices()) + " (skipped for now)", highlight=False)
    for note in parsed.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    return require_usable(parsed.history, ex.catalog, parsed.unknown + [a.line for a in parsed.ambiguous])


@app.command()
def ingest(path: Annotated[Path, typer.Argument(help="Catalogue: .jsonl, .csv or a MovieLens folder.")],
           format: Annotated[Optional[str], typer.Option("--format", help="jsonl, csv or movielens.")] = None,
           data_dir: DataDir = None):
    """Index a catalogue into Chroma (idempotent: unchanged items are not embedded again)."""
    from explorer.catalog import load_catalog

    catalog = load_catalog(path, format)  # validated in full before the index is touched
    ex = _explorer(data_dir, catalog, no_llm=True)
    report = ex.sync_report
    out.print(f"{catalog.name}: {report.total} items in collection {ex.store.name!r} "
              f"({report.embedded} embedded, {report.removed} removed, {report.total - report.embedded} unchanged)")


@app.command()
def personas(data_dir: DataDir = None):
    """List the demo personas."""
    ex = _explorer(data_dir, no_llm=True, progress=False)
    for persona in ex.personas.values():
        out.print(f"[bold]{persona.name}[/] ({len(persona.history)} ratings): {persona.about}")


@app.command()
def profile(persona: PersonaOpt = None, history: HistoryOpt = None, user: UserOpt = None, catalog: CatalogOpt = None,
            as_json: JsonOpt = False, no_llm: NoLLM = False, data_dir: DataDir = None):
    """Write the interest profile for a history."""
    ex = _explorer(data_dir, catalog, no_llm)
    outcome = ex.profile(_history(ex, persona, history, user))
    if as_json:
        print(json.dumps({"profile": outcome.value.model_dump(), "served_by": outcome.served_by, "notes": outcome.notes},
                         indent=2, ensure_ascii=False))
        return
    _print_profile(outcome.value, ex)
    out.print(f"[dim]served by: {outcome.served_by}[/]")


@app.command()
def recommend(persona: PersonaOpt = None, history: HistoryOpt = None, user: UserOpt = None,
              catalog: CatalogOpt = None,
              k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many items.")] = 5,
              explore: Annotated[float, typer.Option("--explore", min=0.0, max=1.0,
                                                     help="0 = more of what I like, 1 = something new.")] = 0.3,
              as_json: JsonOpt = False, no_llm: NoLLM = False, data_dir: DataDir = None):
    """Recommend k catalogue items with the queries that found them and why."""
    ex = _explorer(data_dir, catalog, no_llm)
    result = ex.recommend(_history(ex, persona, history, user), k=k, explore=explore)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    _print_profile(result.profile, ex)
    table = Table("#", "item", "mode", "query", "why", show_lines=True)
    for n, rec in enumerate(result.recommendations, 1):
        table.add_row(str(n), f"{rec.title}\n[dim]{rec.kind}, {rec.year or '?'}[/]", rec.mode, rec.query,
                      f"{rec.explanation}\n[dim]({rec.explanation_served_by})[/]")
    out.print(table)
    out.print(f"[dim]paths: {result.served_by.model_dump()}  seconds: {result.seconds}[/]")
    for note in result.notes:
        out.print(f"[dim]note: {note}[/]")


def _print_profile(profile, ex):
    out.print(f"[bold]Profile[/]: {profile.summary}")
    for theme in profile.themes:
        cited = ", ".join(ex.catalog[i].title for i in theme.evidence if i in ex.catalog)
        out.print(f"  • {theme.label} ({theme.weight:.2f}) — {cited}")
    if profile.avoid:
        out.print(f"  avoid: {', '.join(profile.avoid)}")


# The evaluation and the benchmark keep their heavy imports inside the commands.
from explorer.tools.bench import bench_command  # noqa: E402
from explorer.eval.cli import eval_command  # noqa: E402

app.command("eval")(eval_command)
app.command("bench")(bench_command)


def main():
    run_typer(app)
