"""`fixynn tasks list | show TASK`: the tasks a run config can use, and how they come out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fixynn.atomic import atomic_write_bytes
from fixynn.config import Config, load_config

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="run config whose \\[\\[tasks.define]] tasks and model input to use")]


def _console() -> Console:
    # Off a terminal rich assumes 80 columns, which folds every cell; logs can be wider.
    return Console(width=None if sys.stdout.isatty() else 130)


def list_command(config: ConfigOption = None) -> None:
    """Every task: the built-in ones and those the config defines."""
    from fixynn.data.taskspec import BUILTIN_TASKS

    cfg = load_config(config)
    table = Table(title="fixynn tasks")
    for column in ("name", "dataset", "classes", "prep", "split", "why"):
        table.add_column(column, overflow="fold")
    for spec in (*BUILTIN_TASKS.values(), *cfg.tasks.define):
        classes = "all" if spec.classes is None else ", ".join(map(str, spec.classes))
        prep = spec.prep + (", inverted" if spec.invert else "") + (", grey" if spec.grey else "")
        split = "own" if spec.test_fraction is None else f"{spec.test_fraction:g} test"
        table.add_row(spec.name, spec.dataset, classes, prep, split, spec.why)
    _console().print(table)


def show_command(
    task: Annotated[str, typer.Argument(help="a task from `fixynn tasks list`")],
    config: ConfigOption = None,
    sheet: Annotated[Path | None, typer.Option(
        "--sheet", help="where to write the contact sheet PNG (default TASK.png)")] = None,
    per_class: Annotated[int, typer.Option(
        "--per-class", min=1, max=64, help="images per class on the sheet")] = 8,
) -> None:
    """Load TASK as the run would (every file checked), print its counts per class and
    split, write a contact sheet of its preprocessed images."""
    from fixynn.data.preview import class_counts, contact_sheet
    from fixynn.data.tasks import prepare_task

    cfg: Config = load_config(config)
    prepared = prepare_task(cfg.tasks.spec(task), cfg.model.input_size, cfg.model.in_channels)
    data, prov = prepared.data, prepared.provenance
    console = _console()
    console.print(f"{task}: {prov['dataset']} ({prov['files']} files, content "
                  f"{prov['content_digest'][:12]}), input {'x'.join(map(str, data.image_shape))}, "
                  f"split: {prov['split']}", soft_wrap=True)
    table = Table()
    for column in ("label", "class", "train", "test"):
        table.add_column(column, justify="right" if column in ("train", "test") else "left")
    counts = class_counts(data)
    for label, (name, train, test) in enumerate(counts):
        table.add_row(str(label), name, str(train), str(test))
    table.add_row("", "total", str(sum(c[1] for c in counts)), str(sum(c[2] for c in counts)))
    console.print(table)
    path = atomic_write_bytes(sheet or Path(f"{task}.png"), contact_sheet(data, per_class))
    console.print(f"contact sheet: {path}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    tasks_app = typer.Typer(help="Tasks: list them, look at one as the front-end sees it.")
    tasks_app.command("list")(list_command)
    tasks_app.command("show")(show_command)
    app.add_typer(tasks_app, name="tasks", no_args_is_help=True)
