"""The `fixynn` command: one app, one module per group of subcommands.

Each module in `COMMAND_MODULES` defines `register(app: typer.Typer) -> None`. Errors a user
can fix (FixynnError) print as one line and exit with status 2, never as a stack trace.
"""

from __future__ import annotations

import importlib
import sys

import typer

from fixynn.errors import FixynnError

COMMAND_MODULES: tuple[str, ...] = (
)

app = typer.Typer(
    name="fixynn",
    help="FixyNN toolflow: train -> fix -> RTL -> verify -> synth -> PPA -> report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in COMMAND_MODULES:
    importlib.import_module(f"fixynn.cli.{_module}").register(app)


def main() -> None:
    try:
        app()
    except FixynnError as exc:
        print(f"fixynn: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("fixynn: interrupted; finished work is kept, rerun to resume", file=sys.stderr)
        sys.exit(130)
