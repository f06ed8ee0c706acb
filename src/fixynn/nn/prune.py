"""Magnitude pruning: zero the smallest weights of each layer (a zero costs no hardware)."""

from __future__ import annotations

import torch


@torch.no_grad()
def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """0/1 mask (weight's dtype) zeroing the `floor(sparsity * numel)` smallest |weights|.

    Ties are broken by position so the count is exact.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    flat = weight.detach().abs().flatten()
    k = int(sparsity * flat.numel())
    mask = torch.ones_like(flat)
    if k:
        mask[torch.argsort(flat, stable=True)[:k]] = 0
    return mask.reshape(weight.shape)


def sparsity_of(weight: torch.Tensor) -> float:
    """Fraction of exactly-zero entries."""
    return float((weight == 0).sum()) / max(weight.numel(), 1)
