"""The `fixynn` command: one app, one module per group of subcommands.

Each module in `COMMAND_MODULES` defines `register(app: typer.Typer) -> None`. Errors a user
can fix (FixynnError, bad flags) print as one line and exit with status 2, never as a stack
trace.
"""

from __future__ import annotations

import importlib
import sys

import typer

from fixynn.errors import INTERRUPTED, FixynnError

COMMAND_MODULES: tuple[str, ...] = (
    "data",
    "run",
    "power",
    "ppa",
    "rtl",
    "synth",
    "tasks",
    "transfer",
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
        status = app(standalone_mode=False)
    except FixynnError as exc:
        _fail(str(exc))
    except (KeyboardInterrupt, typer.Abort):
        status = INTERRUPTED
    except typer.TyperException as exc:  # typer's (vendored click) usage and parameter errors
        if not exc.format_message():  # bare `fixynn`: the help was already printed
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _fail(f"{exc.format_message()}{hint}")
    if status == INTERRUPTED:  # typer returns Ctrl-C inside a command as this status
        print("fixynn: interrupted; finished work is kept, rerun to resume", file=sys.stderr)
    sys.exit(status if isinstance(status, int) else 0)


def _fail(message: str) -> None:
    """One line on stderr, exit status 2."""
    print(f"fixynn: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)
