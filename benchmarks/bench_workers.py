"""Target tasks trained in one process vs in parallel worker processes, side by side.

Both runs start from the same pretrained and fixed networks (trained once, first, and not
timed) and train the same baselines and back-ends with the same seeds: the results must be
identical, only the wall time differs. Prints wall and CPU seconds (workers included) and
the wall-time ratio.

    .venv/bin/python benchmarks/bench_workers.py [--workers 2] [--images 500] [--epochs 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from fixynn.train.transfer import TransferConfig, cpu_seconds, run_transfer


def timed_sweep(cfg: TransferConfig, out: Path) -> tuple[float, float, dict[str, Any]]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    summary = run_transfer(cfg, out, progress=False)
    return time.perf_counter() - wall, cpu_seconds() - cpu, summary


def comparable(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if "seconds" not in k} for row in summary["results"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=500, help="training images per task")
    parser.add_argument("--epochs", type=int, default=2, help="transfer epochs")
    args = parser.parse_args()

    base = dataclasses.replace(
        TransferConfig.default(), n_list=(4, 10), transfer_epochs=args.epochs,
        max_train_images=args.images, max_test_images=500, repeats=1, pretrain_epochs=1,
        max_source_images=1000, max_finetune_images=500)
    with tempfile.TemporaryDirectory() as tmp:
        serial_dir, parallel_dir = Path(tmp, "serial"), Path(tmp, "parallel")
        # train the shared networks once (untimed), then give both runs the same checkpoints
        run_transfer(dataclasses.replace(base, targets=base.targets[:1], workers=1),
                     serial_dir, progress=False)
        shutil.copytree(serial_dir / "ckpt", parallel_dir / "ckpt")
        shutil.rmtree(serial_dir / "results")
        runs = {}
        for name, workers, out in (("1 process", 1, serial_dir),
                                   (f"{args.workers} workers", args.workers, parallel_dir)):
            runs[name] = timed_sweep(dataclasses.replace(base, workers=workers), out)
    print(f"{len(base.targets)} target tasks x (baseline + N = 4, 10), {args.images} images x "
          f"{args.epochs} epochs each")
    print(f"{'':<12} {'wall s':>8} {'CPU s':>8}")
    for name, (wall, cpu, _) in runs.items():
        print(f"{name:<12} {wall:8.1f} {cpu:8.1f}")
    (serial_wall, _, serial), (parallel_wall, _, parallel) = runs.values()
    print(f"wall-time speed-up: {serial_wall / parallel_wall:.2f}x; results identical: "
          f"{comparable(serial) == comparable(parallel)}")


if __name__ == "__main__":
    main()
