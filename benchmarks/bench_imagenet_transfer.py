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

`--integer`: for each k the stem and blocks 0..k-1 are also quantized to an integer HwGraph
(`fixynn.frontend.to_hwgraph`, 8-bit weights and activations, formats calibrated on
`--calib` training images of each of `--calib-tasks`), the back-end is trained on its exact
integer features (with the same seeds), and the loss "int k" is measured against the float
front-end "k" of the same k: what the integer front-end costs.

    .venv/bin/python benchmarks/bench_imagenet_transfer.py --out /tmp/imagenet-transfer.json
    .venv/bin/python benchmarks/bench_imagenet_transfer.py --integer --k 2 4 --no-baseline
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
from fixynn.frontend import to_hwgraph
from fixynn.frontend.exact import run_graph_torch
from fixynn.hw.ir import HwGraph
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


@torch.no_grad()
def integer_features(graph: HwGraph, images: torch.Tensor) -> torch.Tensor:
    """The integer front-end's output as real values q * 2^-frac (exact integer semantics,
    the torch executor that equals the golden one)."""
    (name,) = graph.outputs
    frac = graph.tensor_formats()[name].frac
    return torch.cat([run_graph_torch(graph, images[start:start + 256])[name].float()
                      * 2.0**-frac for start in range(0, len(images), 256)])


def calibration_images(args: argparse.Namespace) -> torch.Tensor:
    """`--calib` training images (seeded pick) of each of `--calib-tasks`, uint8."""
    rng = np.random.default_rng(1)
    picks = []
    for task in args.calib_tasks:
        train = load_task(task, args.size, channels=3).train_images
        picks.append(train[np.sort(rng.permutation(len(train))[:args.calib])])
    return torch.from_numpy(np.concatenate(picks))


def integer_front_ends(args: argparse.Namespace) -> dict[int, HwGraph]:
    """k -> the integer HwGraph of the stem and blocks 0..k-1; prints each one's gap."""
    calib = calibration_images(args)
    model = efficientnet_lite0(args.size)
    graphs = {}
    for k in (k for k in args.k if k != FC_ONLY):
        start = time.perf_counter()
        out = to_hwgraph(model, normalize(calib[:1]), k + 1, calib, pixel_offset=127,
                         pixel_scale=128, name=f"efficientnet_lite0_k{k}", executor="torch")
        print(f"\nk = {k}: {len(out.graph.layers)} nodes, exported in "
              f"{time.perf_counter() - start:.1f} s; " + out.gap.table(), flush=True)
        graphs[k] = out.graph
    return graphs


def run_task(task: str, args: argparse.Namespace,
             graphs: dict[int, HwGraph] | None = None) -> dict[str, Any]:
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

    for seed in range(args.repeats if args.baseline else 0):
        torch.manual_seed(seed)
        model = copy.deepcopy(pretrained)
        model.new_classifier(data.num_classes)
        trained("baseline", model, x_train, x_test, normalize, seed)
    fronts = [(k, "fc" if k == FC_ONLY else f"k{k}",
               lambda x, k=k: frozen_features(pretrained, x, k)) for k in args.k]
    fronts += [(k, f"int{k}", lambda x, g=g: integer_features(g, x))
               for k, g in (graphs or {}).items()]
    for k, name, features in fronts:
        start = time.process_time()
        f_train, f_test = features(x_train), features(x_test)
        results.setdefault("feature_cpu_s", {})[name] = round(time.process_time() - start, 1)
        for seed in range(args.repeats):
            torch.manual_seed(seed)
            model = copy.deepcopy(pretrained)
            model.new_classifier(data.num_classes)
            trained(name, BackEnd(model, k), f_train, f_test, lambda x: x, seed)
    return results


def summarise(results: dict[str, Any]) -> list[dict[str, Any]]:
    images = results["test_images"]
    correct = {name: np.stack([unpack_correct(r["correct"], images) for r in runs])
               for name, runs in results["runs"].items()}
    rows = []
    for name, runs in results["runs"].items():
        accs = [r["acc"] for r in runs]
        row = {"task": results["task"], "frozen": name, "acc": round(float(np.mean(accs)), 2),
               "accs": accs, "cpu_s": sum(r["cpu_s"] for r in runs)}
        # the integer front-end against the float one of the same k, the rest the baseline
        against = f"k{name[3:]}" if name.startswith("int") else "baseline"
        if name != "baseline" and against in correct:
            row["against"] = against
            v = loss_verdict(correct[against], correct[name], seed=len(rows))
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
    parser.add_argument("--integer", action="store_true",
                        help="also the integer front-end of each k, against the float one")
    parser.add_argument("--calib", type=int, default=32,
                        help="calibration images per calibration task (--integer)")
    parser.add_argument("--calib-tasks", nargs="+", default=[
        "fashion-mnist-a", "fashion-mnist-b", "opencv-digits", "sklearn-digits",
        "opencv-digits-inverted"])
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip full fine-tuning (the integer-vs-float loss needs none)")
    parser.add_argument("--out", default=None, help="write every run (and the table) as JSON")
    args = parser.parse_args()
    start = time.perf_counter()
    torch.set_num_threads(1)
    graphs = integer_front_ends(args) if args.integer else None
    with ProcessPoolExecutor(max_workers=min(len(args.tasks), 2)) as pool:
        results = list(pool.map(run_task, args.tasks, [args] * len(args.tasks),
                                [graphs] * len(args.tasks)))
    rows = [row for r in results for row in summarise(r)]
    print(f"\n{args.images} training images x {args.epochs} epochs at {args.size}x{args.size}, "
          f"{args.repeats} seeds; wall {time.perf_counter() - start:.0f} s")
    print("| task (test images) | frozen | accuracy (seeds) | loss [95%] | against | verdict "
          "| CPU s |")
    print("|---|---|---|---|---|---|---|")
    tests = {r["task"]: r["test_images"] for r in results}
    for row in rows:
        accs = " / ".join(f"{a:.1f}" for a in row["accs"])
        loss = ("-" if "loss" not in row else
                f"{row['loss']:+.2f} [{row['ci95'][0]:+.2f}, {row['ci95'][1]:+.2f}]")
        print(f"| {row['task']} ({tests[row['task']]}) | {row['frozen']} | {row['acc']:.2f} "
              f"({accs}) | {loss} | {row.get('against', '-')} | {row.get('verdict', '-')} "
              f"| {row['cpu_s']:.0f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results, "table": rows}, f)


if __name__ == "__main__":
    main()
