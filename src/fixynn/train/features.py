"""Feature passes: the frozen integer front-end's output, computed once per (task, N) and
held in memory for every back-end training of that (task, N).

The fixed front-end at every N is a prefix of one `FixedNet`, so the features at N2 > N1 are
blocks N1..N2-1 applied to the features at N1 (exactly: both are integers). A sweep over N
therefore runs each block once per image. They are not stored in the cache (fixynn.store): a
resumed sweep recomputes them, exactly, for the trainings still due.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from fixynn.nn.fixed import FixedNet

_BATCH = 256  # images per exact forward: bounds the float buffers
CPU = torch.device("cpu")


def compact(x: torch.Tensor) -> torch.Tensor:
    """An integer tensor in the smallest of uint8 / int8 / int16 / int32 that holds it."""
    if not x.numel():
        return x.to(torch.uint8)
    low, high = int(x.min()), int(x.max())
    for dtype in (torch.uint8, torch.int8, torch.int16):
        if torch.iinfo(dtype).min <= low and high <= torch.iinfo(dtype).max:
            return x.to(dtype)
    return x.to(torch.int32)


@torch.inference_mode()
def front_end_features(fixed: FixedNet, x: torch.Tensor, start: int, stop: int,
                       device: torch.device = CPU) -> torch.Tensor:
    """Integer output of blocks start..stop-1 for the integer input x of block `start`,
    computed on `device` (default: the CPU) and returned on the CPU, the same on any device."""
    if start == stop:
        return x
    params = fixed.int_params_of(start, stop)
    parts = [compact(fixed.exact(x[i:i + _BATCH].to(device), start, stop, params)).cpu()
             for i in range(0, len(x), _BATCH)]
    return compact(torch.cat(parts)) if parts else x


def feature_sweep(fixed: FixedNet, images: torch.Tensor, n_list: list[int],
                  device: torch.device = CPU) -> Iterator[tuple[int, torch.Tensor]]:
    """(N, features at N) for N in ascending `n_list`, each block run once per image."""
    x, at = images, 0
    for n in sorted(n_list):
        x, at = front_end_features(fixed, x, at, n, device), n
        yield n, x
