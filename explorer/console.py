"""What every command-line face shares: the consoles, and running a typer app so that errors a user can fix
are one line (exit status 2), never a traceback."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from explorer.errors import ExplorerError

out = Console()
err = Console(stderr=True)


def run_typer(typer_app: typer.Typer) -> None:
    """Run a typer app; errors a user can fix become one line and exit status 2, never a traceback."""
    try:
        typer_app(standalone_mode=False)
    except ExplorerError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)  # a copied command must not break
        sys.exit(2)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
