"""`fixynn transfer`: the transfer-learning sweep (pretrain, fix, transfer per task and N)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fixynn.errors import FixynnError


def transfer_command(
    out: Annotated[Path, typer.Option("--out", help="output directory (resumed if it exists)")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML run config (docs/config.md); its [tasks], [model], [sweep] "
        "and [train] keys, sectioned or flat")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="smoke-test scale (quick.toml), "
                                        "before --config")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="random seed")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bars")] = False,
    executor: Annotated[str, typer.Option(
        "--executor", help="local (processes on this machine) or ray (docs/ray.md)")] = "local",
    ray_address: Annotated[str, typer.Option(
        "--ray-address", help="Ray cluster (default: RAY_ADDRESS, else a local one)")] = "",
) -> None:
    """Write OUT/transfer.json, OUT/transfer.md and OUT/hwgraph/N<k>/ for each split point
    (checkpoints and trainings are kept in OUT/cache/, resumed from there)."""
    from fixynn.config import load_config, replace_keys
    from fixynn.executors import EXECUTORS, local_workers, make_executor
    from fixynn.store import Store
    from fixynn.train.transfer import run_transfer

    cfg = load_config(config, quick=quick, stages=("transfer",))
    if seed is not None:
        cfg = replace_keys(cfg, {"train.seed": seed}, origin="--seed")
    if out.exists() and not out.is_dir():
        raise FixynnError(f"--out {out}: exists and is not a directory; pick another path")
    if executor not in EXECUTORS:
        raise FixynnError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    workers, store = local_workers(cfg.train.workers, cfg.train.threads), Store(out / "cache")
    with store.locked(), make_executor(executor, workers, cfg.train.threads,
                                       ray_address) as units:
        summary = run_transfer(cfg, out, store, progress=not no_progress, executor=units)
    typer.echo((out / "transfer.md").read_text())
    typer.echo(f"wrote {out / 'transfer.json'} ({len(summary['results'])} results)")


def register(app: typer.Typer) -> None:
    app.command("transfer")(transfer_command)
