"""Training-step cost of the two networks in PyTorch's two memory layouts, side by side:
contiguous (NCHW) against channels-last (NHWC), the layout `fixynn.train.loops` trains in.

One forward + backward of a batch, CPU seconds per step (one thread), each layout timed in
alternation `--rounds` times after a warm-up; the medians and their ratio are printed. The
depthwise convolutions are what the layout speeds up on the CPU.

    .venv/bin/python benchmarks/bench_channels_last.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from fixynn.nn.efficientnet_lite import efficientnet_lite0
from fixynn.nn.model import MobileNetV1


def step_seconds(model: nn.Module, x: torch.Tensor, steps: int) -> float:
    start = time.process_time()
    for _ in range(steps):
        model(x).sum().backward()
    return (time.process_time() - start) / steps


def compare(name: str, model: nn.Module, x: torch.Tensor, rounds: int, steps: int) -> None:
    layouts = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    times: dict[str, list[float]] = {layout: [] for layout in layouts}
    for _ in range(rounds + 1):  # the first round warms up and is dropped
        for layout, fmt in layouts.items():
            model.to(memory_format=fmt)
            times[layout].append(step_seconds(model, x.contiguous(memory_format=fmt), steps))
    med = {layout: statistics.median(t[1:]) for layout, t in times.items()}
    print(f"{name} {tuple(x.shape)}: contiguous {1e3 * med['contiguous']:.1f} ms/step, "
          f"channels-last {1e3 * med['channels_last']:.1f} ms/step, "
          f"speed-up {med['contiguous'] / med['channels_last']:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    compare("MobileNetV1 x0.25, batch 16", MobileNetV1(10).train(), torch.rand(16, 1, 28, 28),
            args.rounds, args.steps)
    compare("EfficientNet-Lite0, batch 32", efficientnet_lite0(64).train(),
            torch.rand(32, 3, 64, 64), args.rounds, args.steps)


if __name__ == "__main__":
    main()
