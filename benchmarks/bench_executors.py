"""The same small sweep in one process, in local worker processes and on a local Ray cluster,
side by side: wall time, and each executor's overhead per unit against one process.

Every run starts from the same pretrained and fixed networks (trained once, first, untimed)
and trains the same baselines and back-ends with the same seeds: the results must be
identical, only the wall time differs. The Ray cluster (`ray.init(num_cpus=WORKERS)`) is
started before its run, untimed; its workers start (import torch) inside the timed run, as
the local pool's do.

    .venv/bin/python benchmarks/bench_executors.py [--workers 2] [--images 300] [--epochs 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from fixynn.config import Config, default_config, replace_keys
from fixynn.executors import Executor, make_executor
from fixynn.train.mobilenet import FIXED, PRETRAINED
from fixynn.train.transfer import run_transfer


def timed_sweep(cfg: Config, out: Path,
                executor: Executor) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    summary = run_transfer(cfg, out, progress=False, executor=executor)
    return time.perf_counter() - start, summary


def comparable(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if "seconds" not in k} for row in summary["results"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=300, help="training images per task")
    parser.add_argument("--epochs", type=int, default=1, help="transfer epochs")
    args = parser.parse_args()

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    # the --quick sweep with the default's 4 targets, 2 repeats and the chosen budget
    targets = default_config().tasks.targets
    base = replace_keys(default_config(quick=True, stages=("transfer",)), {
        "tasks.targets": targets, "train.transfer_epochs": args.epochs,
        "train.max_train_images": args.images, "train.repeats": 2})
    units = len(targets) * (1 + len(base.sweep.n_list)) * base.train.repeats
    runs: dict[str, tuple[float, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp, "networks")
        run_transfer(replace_keys(base, {"tasks.targets": targets[:1], "train.workers": 1}),
                     first, progress=False)  # the shared networks, once, untimed
        for name, kind, workers in (("1 process", "local", 1),
                                    (f"{args.workers} local processes", "local", args.workers),
                                    (f"Ray, {args.workers} CPUs", "ray", args.workers)):
            out = Path(tmp, name.replace(" ", "-").replace(",", ""))
            for kind in (PRETRAINED, FIXED):
                shutil.copytree(first / "cache" / kind, out / "cache" / kind)
            if kind == "ray":
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            with make_executor(kind, workers) as executor:
                runs[name] = timed_sweep(base, out, executor)
            if kind == "ray":
                ray.shutdown()
    print(f"{len(targets)} target tasks x (baseline + N = {base.sweep.n_list}) x "
          f"{base.train.repeats} repeats = {units} training units (+ {len(targets)} feature "
          "units), "
          f"{args.images} images x {args.epochs} epoch(s) each")
    one_wall, one = runs["1 process"]
    print(f"{'':<20} {'wall s':>8} {'speed-up':>9} {'overhead/unit s':>16} identical")
    for name, (wall, summary) in runs.items():
        # overhead: wall time beyond a perfect split of the one-process time over the workers
        workers = 1 if name == "1 process" else args.workers
        overhead = (wall - one_wall / workers) / units
        print(f"{name:<20} {wall:8.1f} {one_wall / wall:8.2f}x {overhead:16.2f} "
              f"{comparable(summary) == comparable(one)}")


if __name__ == "__main__":
    main()
