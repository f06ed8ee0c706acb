"""Float transfer from ImageNet: EfficientNet-Lite0's stem + first k blocks frozen (a cached
feature extractor, what FixyNN would fix in silicon) vs fine-tuning every layer.

Per task: the baseline fine-tunes every layer from the ImageNet weights; for each k the stem
and blocks 0..k-1 are frozen (their features computed once, in eval mode) and blocks k..15 +
head + a new classifier are trained on them; "fc" freezes everything but the classifier (a
linear probe on the 1280 pooled features). Same images, epochs and recipe for all, `--repeats`
seeds each, one task per worker process. The loss versus the baseline carries its 95% interval
and verdict from `fixynn.train.verdict` (paired bootstrap over test images and seeds).

Task images are loaded at `--size` x `--size` with 3 channels (fixynn.data.tasks resizes and
replicates grey data), then normalised as the ImageNet weights expect ((p - 127) / 128).

    .venv/bin/python benchmarks/bench_imagenet_transfer.py --out /tmp/imagenet-transfer.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fixynn.data.tasks import load_task
from fixynn.nn.efficientnet_lite import BLOCKS, EfficientNetLite0, efficientnet_lite0, normalize
from fixynn.train.loops import fit, score
from fixynn.train.verdict import loss_verdict, pack_correct, unpack_correct

FC_ONLY = len(BLOCKS) + 1  # "k" of the linear probe: every block and the head conv frozen


class BackEnd(nn.Module):
    """Blocks k..15 + head of `model` (k = FC_ONLY: the classifier alone)."""

    def __init__(self, model: EfficientNetLite0, k: int) -> None:
        super().__init__()
        self.model, self.k = model, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.k == FC_ONLY:
            return self.model._fc(x)
        return self.model.head(self.model.run_blocks(x, self.k))


@torch.no_grad()
def frozen_features(model: EfficientNetLite0, images: torch.Tensor, k: int) -> torch.Tensor:
    """Front-end output (eval mode, ImageNet statistics) for uint8 RGB images."""
    model.eval()
    out = []
    for start in range(0, len(images), 256):
        x = normalize(images[start:start + 256])
        if k == FC_ONLY:
            x = model.features(x)
            out.append(F.relu6(model._bn1(model._conv_head(x))).mean(dim=(2, 3)))
        else:
            out.append(model.features(x, k))
    return torch.cat(out)


def run_task(task: str, args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(1)
    data = load_task(task, args.size, channels=3)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.permutation(len(data.train_images))[:args.images])
    x_train = torch.from_numpy(data.train_images[pick])
    y_train = torch.from_numpy(data.train_labels[pick])
    x_test, y_test = torch.from_numpy(data.test_images), torch.from_numpy(data.test_labels)
    pretrained = efficientnet_lite0(args.size)
    recipe = {"epochs": args.epochs, "batch_size": args.batch, "lr": args.lr,
              "optimizer": "sgd", "warmup": 0.1, "label_smoothing": 0.1,
              "weight_decay": 5e-5}
    results: dict[str, Any] = {"task": task, "train_images": len(x_train),
                               "test_images": len(x_test), "runs": {}}

    def trained(name: str, model: nn.Module, inputs: torch.Tensor, test: torch.Tensor,
                transform: Any, seed: int) -> None:
        start = time.process_time()
        fit(model, inputs, y_train, transform, seed=seed, **recipe)
        acc, _, correct = score(model, test, y_test, transform)
        run = {"acc": acc, "seed": seed, "cpu_s": round(time.process_time() - start, 1),
               "correct": pack_correct(correct)}
        results["runs"].setdefault(name, []).append(run)
        # one JSON line per run as it finishes, so a stopped measurement keeps what it did
        print(json.dumps({"task": task, "run": name, "test_images": len(x_test)} | run),
              flush=True)

    for seed in range(args.repeats):
        torch.manual_seed(seed)
        model = copy.deepcopy(pretrained)
        model.new_classifier(data.num_classes)
        trained("baseline", model, x_train, x_test, normalize, seed)
    for k in args.k:
        f_train, f_test = (frozen_features(pretrained, x, k) for x in (x_train, x_test))
        for seed in range(args.repeats):
            torch.manual_seed(seed)
            model = copy.deepcopy(pretrained)
            model.new_classifier(data.num_classes)
            name = "fc" if k == FC_ONLY else f"k{k}"
            trained(name, BackEnd(model, k), f_train, f_test, lambda x: x, seed)
    return results


def summarise(results: dict[str, Any]) -> list[dict[str, Any]]:
    images = results["test_images"]
    correct = {name: np.stack([unpack_correct(r["correct"], images) for r in runs])
               for name, runs in results["runs"].items()}
    base = correct["baseline"]
    rows = []
    for name, runs in results["runs"].items():
        accs = [r["acc"] for r in runs]
        row = {"task": results["task"], "frozen": name, "acc": round(float(np.mean(accs)), 2),
               "accs": accs, "cpu_s": sum(r["cpu_s"] for r in runs)}
        if name != "baseline":
            v = loss_verdict(base, correct[name], seed=len(rows))
            row |= {"loss": v.loss, "ci95": [v.low, v.high], "verdict": v.verdict}
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["opencv-digits-inverted",
                                                       "sklearn-digits"])
    parser.add_argument("--k", nargs="+", type=int, default=[6, 9, FC_ONLY],
                        help=f"blocks frozen after the stem ({FC_ONLY} = all but the classifier)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None, help="write every run (and the table) as JSON")
    args = parser.parse_args()
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(len(args.tasks), 2)) as pool:
        results = list(pool.map(run_task, args.tasks, [args] * len(args.tasks)))
    rows = [row for r in results for row in summarise(r)]
    print(f"\n{args.images} training images x {args.epochs} epochs at {args.size}x{args.size}, "
          f"{args.repeats} seeds; wall {time.perf_counter() - start:.0f} s")
    print("| task (test images) | frozen | accuracy (seeds) | loss vs baseline [95%] | verdict "
          "| CPU s |")
    print("|---|---|---|---|---|---|")
    tests = {r["task"]: r["test_images"] for r in results}
    for row in rows:
        accs = " / ".join(f"{a:.1f}" for a in row["accs"])
        loss = ("-" if "loss" not in row else
                f"{row['loss']:+.2f} [{row['ci95'][0]:+.2f}, {row['ci95'][1]:+.2f}]")
        print(f"| {row['task']} ({tests[row['task']]}) | {row['frozen']} | {row['acc']:.2f} "
              f"({accs}) | {loss} | {row.get('verdict', '-')} | {row['cpu_s']:.0f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results, "table": rows}, f)


if __name__ == "__main__":
    main()
