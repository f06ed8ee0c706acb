"""Training and evaluation loops on in-memory tensors (no DataLoader: the data sets are small
and already decoded, so batching is an index into one tensor).

Inputs are stored compactly (uint8 pixels or integer features) and turned into the model's
float input batch by batch by a `transform` (by default `x * 2^-frac`). A model lives on the
CPU; `fit` and `evaluate` move it (and each batch) to their `device` for the call only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from fixynn.config import OPTIMIZERS
from fixynn.train.augment import Augment

Transform = Callable[[torch.Tensor], torch.Tensor]


def scaled(frac: int) -> Transform:
    """Integers with `frac` fractional bits -> their real values (float32)."""
    return lambda x: x.float() * 2.0**-frac


@contextmanager
def progress_bar(desc: str, total: int, enabled: bool) -> Iterator[Callable[[float], None]]:
    """Yield a `step(loss)` that advances a rich progress bar (a no-op when disabled)."""
    if not enabled:
        yield lambda loss: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(desc, total=total, loss="-")
        yield lambda loss: bar.update(task, advance=1, loss=f"{loss:.3f}")


CPU = torch.device("cpu")


# Convolutions run channels-last: a training step of MobileNetV1 x0.25 (EfficientNet-Lite0) is
# 1.43x (1.84x) faster on the CPU in that layout, mostly its depthwise convolutions
# (benchmarks/bench_channels_last.py, one thread).
LAYOUT = torch.channels_last


@contextmanager
def on_device(model: nn.Module, device: torch.device) -> Iterator[None]:
    """`model` on `device` (its conv weights channels-last) inside the block, back on the CPU
    after it."""
    model.to(device, memory_format=LAYOUT)
    try:
        yield
    finally:
        model.to(CPU)


def model_input(transform: Transform, batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A stored batch as the model's input on `device` (maps channels-last)."""
    x = transform(batch.to(device))
    return x.contiguous(memory_format=LAYOUT) if x.dim() == 4 else x


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    transform: Transform,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    optimizer: str = "adam",
    warmup: float = 0.0,
    label_smoothing: float = 0.0,
    weight_decay: float = 0.0,
    augment: Augment | None = None,
    desc: str = "train",
    progress: bool = False,
    device: torch.device = CPU,
) -> float:
    """Train `model`; returns the mean loss of the last epoch.

    `optimizer` "sgd" (Nesterov momentum 0.9) or "adam"; the learning rate rises linearly over
    the first `warmup` fraction of the steps, then decays to 0 on a cosine. Deterministic for
    a given seed (shuffling and `augment`, applied to each raw input batch, use their own
    generator).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    n = len(inputs)
    if n == 0 or epochs == 0:
        return float("nan")
    with on_device(model, device):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)  # on the CPU: same shuffles on every device
        params = [p for p in model.parameters() if p.requires_grad]
        opt = (torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True,
                               weight_decay=weight_decay) if optimizer == "sgd"
               else torch.optim.Adam(params, lr=lr, weight_decay=weight_decay))
        total = epochs * math.ceil(n / batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, total, warmup))
        model.train()
        last = float("nan")
        with progress_bar(desc, total, progress) as step:
            for _ in range(epochs):
                order = torch.randperm(n, generator=gen)
                running = 0.0
                for start in range(0, n, batch_size):
                    idx = order[start:start + batch_size]
                    batch = inputs[idx] if augment is None else augment(inputs[idx], gen)
                    loss = F.cross_entropy(model(model_input(transform, batch, device)),
                                           labels[idx].to(device),
                                           label_smoothing=label_smoothing)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    running += loss.item() * len(idx)
                    step(loss.item())
                last = running / n
        recalibrate_bn(model, inputs, transform, batch_size=256, device=device)
        return last


def lr_factor(step: int, total: int, warmup: float) -> float:
    """Learning-rate multiplier at `step` of `total`: linear warm-up over the first `warmup`
    fraction of the steps (from 1/warmup_steps), then a cosine decay from 1 towards 0."""
    ramp = math.ceil(warmup * total)
    if step < ramp:
        return (step + 1) / ramp
    return 0.5 * (1 + math.cos(math.pi * (step - ramp) / max(total - ramp, 1)))


@torch.no_grad()
def recalibrate_bn(model: nn.Module, inputs: torch.Tensor, transform: Transform,
                   batch_size: int = 256, max_images: int = 2048,
                   device: torch.device = CPU) -> None:
    """Re-estimate BatchNorm statistics from the trained weights (exact averages over up to
    `max_images` training inputs). With a few hundred steps, BN's exponential running averages
    still carry the statistics of early training; evaluation would use stale ones.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             and m.track_running_stats]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for start in range(0, min(len(inputs), max_images), batch_size):
        model(model_input(transform, inputs[start:start + batch_size], device))
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum


@torch.inference_mode()
def score(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, transform: Transform,
          batch_size: int = 512, device: torch.device = CPU,
          ) -> tuple[float, float, np.ndarray]:
    """(accuracy in %, mean cross-entropy, per-image correctness) of `model` in eval mode."""
    with on_device(model, device):
        model.eval()
        correct, loss = [], 0.0
        for start in range(0, len(inputs), batch_size):
            logits = model(model_input(transform, inputs[start:start + batch_size], device))
            target = labels[start:start + batch_size].to(device)
            correct.append((logits.argmax(dim=1) == target).cpu().numpy())
            loss += float(F.cross_entropy(logits, target, reduction="sum"))
    hits = np.concatenate(correct) if correct else np.zeros(0, dtype=bool)
    n = max(len(inputs), 1)
    return 100.0 * int(hits.sum()) / n, loss / n, hits


def evaluate(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
             transform: Transform, batch_size: int = 512,
             device: torch.device = CPU) -> tuple[float, float]:
    """(accuracy in %, mean cross-entropy) of `model` in eval mode."""
    acc, loss, _ = score(model, inputs, labels, transform, batch_size, device)
    return acc, loss
