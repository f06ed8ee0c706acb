"""Back-end training with vs without the feature cache, side by side, for each split point N.

Without the cache every batch of every epoch runs the exact integer front-end (blocks 0..N-1)
again; with it the front-end runs once per image (time included) and the back-end trains on
the stored integer features. Same seed, same initial weights, same batches: the accuracies
must agree (the features are the same integers either way).

    .venv/bin/python benchmarks/bench_feature_cache.py [--run DIR] [--images 400] [--epochs 3]

With `--run DIR` (a finished `fixynn transfer --out DIR` with the default config) the trained
fixed network and pretrained back-end weights are used; without it, untrained ones (the
timings are the same; the accuracies are then near chance).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from fixynn.config import Config, load_config, replace_keys
from fixynn.data.tasks import load_task
from fixynn.nn.fixed import FixedNet
from fixynn.nn.model import BackEnd, MobileNetV1
from fixynn.store import Store
from fixynn.train.common import recipe
from fixynn.train.features import front_end_features
from fixynn.train.loops import evaluate, fit, scaled
from fixynn.train.mobilenet import load_networks


def train_once(fixed: FixedNet, base: MobileNetV1, n: int, data: dict[str, torch.Tensor],
               cfg: Config, cached: bool) -> tuple[float, float]:
    """(seconds, test accuracy %) of one back-end training at split point n (cfg's recipe)."""
    torch.manual_seed(0)
    back = BackEnd(copy.deepcopy(base), n)
    frac = fixed.out_frac(n)
    start = time.process_time()  # CPU time: a loaded machine inflates wall time
    if cached:
        x_train = front_end_features(fixed, data["x_train"], 0, n)
        x_test = front_end_features(fixed, data["x_test"], 0, n)
        transform = scaled(frac)
    else:
        # Without a cache the exact integer front-end runs on every batch (its integer
        # weights are frozen, so they are quantized once, not per batch).
        x_train, x_test = data["x_train"], data["x_test"]
        params = fixed.int_params_of(0, n)

        def transform(x: torch.Tensor) -> torch.Tensor:
            return fixed.exact(x, 0, n, params).float() * 2.0**-frac

    fit(back, x_train, data["y_train"], transform, epochs=cfg.train.transfer_epochs, seed=0,
        **recipe(cfg))
    acc, _ = evaluate(back, x_test, data["y_test"], transform)
    return time.process_time() - start, acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished `fixynn transfer` output dir")
    parser.add_argument("--config", type=Path, help="that run's config (default: the default)")
    parser.add_argument("--task", default="opencv-digits")
    parser.add_argument("--images", type=int, default=400, help="training (and test) images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 4, 7, 10, 13, 14])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = replace_keys(load_config(args.config, stages=("transfer",)),
                       {"train.transfer_epochs": args.epochs})

    task = load_task(args.task)
    gen = torch.Generator().manual_seed(0)
    data = {}
    for split in ("train", "test"):  # a random subset: the files are sorted by class
        images = getattr(task, f"{split}_images")
        pick = torch.randperm(len(images), generator=gen)[:args.images]
        data[f"x_{split}"] = torch.from_numpy(images)[pick]
        data[f"y_{split}"] = torch.from_numpy(getattr(task, f"{split}_labels"))[pick]
    if args.run:
        base, fixed = load_networks(cfg, Store(args.run / "cache"))
    else:
        torch.manual_seed(0)
        base = MobileNetV1(task.num_classes).eval()
        fixed = FixedNet(base)
    base.new_classifier(task.num_classes)

    print(f"task {args.task}, {args.images} train/test images, {args.epochs} epochs, batch "
          f"{cfg.train.batch_size}, {args.threads} thread(s); times are CPU seconds")
    # The cache can at most save the front-end's forward pass: its share of the MACs bounds
    # the speed-up (the back-end is trained, forward and backward, either way).
    convs = [s for s in base.shapes if s.kind != "fc"]
    print(f"{'N':>3} {'FE MACs':>8} {'no cache s':>11} {'cache s':>9} {'speed-up':>9} "
          f"{'acc no cache':>13} {'acc cache':>10} {'diff':>6}")
    # Warm up (oneDNN primitive creation, allocator) so it is not charged to the first row.
    train_once(fixed, base, args.n[0], {k: v[:64] for k, v in data.items()},
               replace_keys(cfg, {"train.transfer_epochs": 1}), cached=False)
    for n in args.n:
        share = sum(s.macs for s in convs if s.block < n) / sum(s.macs for s in convs)
        t_raw, acc_raw = train_once(fixed, base, n, data, cfg, cached=False)
        t_cache, acc_cache = train_once(fixed, base, n, data, cfg, cached=True)
        print(f"{n:>3} {share:>7.0%} {t_raw:>11.2f} {t_cache:>9.2f} {t_raw / t_cache:>8.2f}x "
              f"{acc_raw:>13.2f} {acc_cache:>10.2f} {acc_cache - acc_raw:>+6.2f}")


if __name__ == "__main__":
    main()
