"""`fixynn data list | get NAME | show NAME`: the dataset registry on the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from fixynn.data import dataset_info, is_available, list_datasets, load_dataset
from fixynn.data.fetch import apt_install, fetch_cifar
from fixynn.data.registry import YOUR_DIRECTORY, resolve_root
from fixynn.errors import FixynnError

RootOption = Annotated[
    Path | None, typer.Option("--root", help="directory holding the dataset's files")
]


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def list_command() -> None:
    """Print the registry: provenance, license, sizes, and whether each is here."""
    table = Table(title="fixynn datasets")
    for column in ("name", "classes", "train/test", "shape", "here"):
        table.add_column(column, no_wrap=True)
    for column in ("license", "source"):
        table.add_column(column, overflow="fold")
    for info in list_datasets():
        shape = "x".join(map(str, info.image_shape)) if info.image_shape else "your choice"
        here = (
            "n/a" if info.name in YOUR_DIRECTORY else ("yes" if is_available(info.name) else "no")
        )
        table.add_row(
            info.name,
            count(info.num_classes),
            f"{count(info.num_train)}/{count(info.num_test)}",
            shape,
            here,
            info.license,
            info.source,
        )
    # Off a terminal rich assumes 80 columns, which folds every cell; logs can be wider.
    Console(width=None if sys.stdout.isatty() else 130).print(table)


def get_command(
    name: Annotated[str, typer.Argument(help="a name from `fixynn data list`")],
    root: RootOption = None,
    install: Annotated[
        bool, typer.Option("--install", help="for apt datasets: run apt-get (needs root)")
    ] = False,
) -> None:
    """Make a dataset available: check apt data, download CIFAR (md5-checked)."""
    info = dataset_info(name)
    if is_available(name, root):
        print(f"{name}: available")
        return
    if info.apt_package:
        if not install:
            raise FixynnError(
                f"{name}: not installed; run `apt-get install -y {info.apt_package}` "
                f"(or `fixynn data get {name} --install` as root)"
            )
        apt_install(info.apt_package)
        if not is_available(name, root):
            raise FixynnError(f"{name}: {info.apt_package} installed but its files are missing")
        print(f"{name}: installed {info.apt_package}")
    elif info.url:
        target_root = resolve_root(name, root)
        print(f"{name}: fetching {info.url} into {target_root}")
        print(f"{name}: ready in {fetch_cifar(name, target_root)}")
    else:
        raise FixynnError(f"{name}: nothing to download; {info.obtain}, then pass --root DIR")


def show_command(
    name: Annotated[str, typer.Argument(help="a dataset name, or folder:DIR")],
    root: RootOption = None,
    image_size: Annotated[
        int | None, typer.Option("--image-size", help="image folders: side in pixels (32)")
    ] = None,
    channels: Annotated[
        int | None, typer.Option("--channels", help="image folders: 1 or 3 (3)")
    ] = None,
) -> None:
    """Load a dataset (validating every file) and print its shapes and class counts."""
    data = load_dataset(name, root, image_size=image_size, channels=channels)
    print(f"{data.name}: {data.num_classes} classes, image shape {data.image_shape}")
    for part, labels in (("train", data.train_labels), ("test", data.test_labels)):
        per_class = np.bincount(labels, minlength=data.num_classes)
        print(f"  {part}: {labels.size} images, per class min {per_class.min()} "
              f"max {per_class.max()}")  # fmt: skip


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Datasets: list the registry, get data, check a dataset.")
    data_app.command("list")(list_command)
    data_app.command("get")(get_command)
    data_app.command("show")(show_command)
    app.add_typer(data_app, name="data", no_args_is_help=True)
