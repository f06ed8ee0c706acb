"""What every part of the transfer sweep shares: a task's capped train/test tensors, stable
per-run seeds, the float training recipe from the config, and timing."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from fixynn.config import Config
from fixynn.data import Dataset
from fixynn.data.tasks import load_task, task_data_key
from fixynn.train.device import resolve_device


def data_key(cfg: Config, name: str) -> str:
    """Content-and-preprocessing key of a task's arrays (files hashed, nothing decoded)."""
    return task_data_key(cfg.tasks.spec(name), cfg.model.input_size, cfg.model.in_channels)


def load_split(cfg: Config, name: str, cap: int) -> Split:
    return Split(load_task(cfg.tasks.spec(name), cfg.model.input_size, cfg.model.in_channels),
                 cfg, cap)


def derived_seed(seed: int, *parts: object) -> int:
    """A stable per-run seed (same on resume, different per task and N)."""
    return zlib.crc32("/".join(map(str, (seed, *parts))).encode())


def repeat_tag(repeat: int) -> tuple[str, ...]:
    """Seed parts of a repeat (none for repeat 0, so a run with more repeats reuses the
    results of one with fewer)."""
    return () if repeat == 0 else (f"r{repeat}",)


class Split:
    """A task's (capped) train/test tensors: uint8 images, int64 labels."""

    def __init__(self, data: Dataset, cfg: Config, max_train: int) -> None:
        self.name, self.num_classes = data.name, data.num_classes
        rng = np.random.default_rng(derived_seed(cfg.train.seed, "subset", data.name))
        self.x_train, self.y_train = _capped(data.train_images, data.train_labels, max_train,
                                             rng)
        self.x_test, self.y_test = _capped(data.test_images, data.test_labels,
                                           cfg.train.max_test_images, rng)


def _capped(images: np.ndarray, labels: np.ndarray, cap: int,
            rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if cap and len(images) > cap:
        keep = np.sort(rng.permutation(len(images))[:cap])
        images, labels = images[keep], labels[keep]
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


def recipe(cfg: Config) -> dict[str, Any]:
    """`fit` keywords of the float training runs (pretraining, baselines, back-ends)."""
    t = cfg.train
    return {"batch_size": t.batch_size, "optimizer": t.optimizer, "lr": t.lr,
            "warmup": t.warmup, "label_smoothing": t.label_smoothing,
            "weight_decay": t.weight_decay, "device": device(cfg)}


def device(cfg: Config) -> torch.device:
    """Where this process trains and extracts features (`train.device` resolved here)."""
    return resolve_device(cfg.train.device)


def timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """fn()'s result plus its wall and CPU seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out | {"seconds": round(time.perf_counter() - start, 2),
                  "cpu_seconds": round(time.process_time() - cpu, 2)}
