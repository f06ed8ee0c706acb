"""`fixynn transfer`: the transfer-learning sweep (pretrain, fix, transfer per task and N)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from fixynn.errors import FixynnError


def transfer_command(
    out: Annotated[Path, typer.Option("--out", help="output directory (resumed if it exists)")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML file whose keys are TransferConfig fields")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="smoke-test scale")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="random seed")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bars")] = False,
    executor: Annotated[str, typer.Option(
        "--executor", help="local (processes on this machine) or ray (docs/ray.md)")] = "local",
    ray_address: Annotated[str, typer.Option(
        "--ray-address", help="Ray cluster (default: RAY_ADDRESS, else a local one)")] = "",
) -> None:
    """Write OUT/transfer.json, OUT/transfer.md and OUT/hwgraph/N<k>/ for each split point."""
    from fixynn.executors import EXECUTORS, local_workers, make_executor
    from fixynn.train.transfer import TransferConfig, load_config, run_transfer

    cfg = TransferConfig.quick() if quick else TransferConfig.default()
    if config is not None:
        cfg = load_config(config, base=cfg)
    if seed is not None:
        if seed < 0:
            raise FixynnError(f"--seed must be >= 0, got {seed}")
        cfg = dataclasses.replace(cfg, seed=seed)
    if out.exists() and not out.is_dir():
        raise FixynnError(f"--out {out}: exists and is not a directory; pick another path")
    if executor not in EXECUTORS:
        raise FixynnError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    with make_executor(executor, local_workers(cfg.workers, cfg.threads), cfg.threads,
                       ray_address) as units:
        summary = run_transfer(cfg, out, progress=not no_progress, executor=units)
    typer.echo((out / "transfer.md").read_text())
    typer.echo(f"wrote {out / 'transfer.json'} ({len(summary['results'])} results)")


def register(app: typer.Typer) -> None:
    app.command("transfer")(transfer_command)
