"""Checkpoints: written atomically (temp + rename), read without unpickling code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fixynn.atomic import atomic_write
from fixynn.errors import FixynnError


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` (tensors and plain data only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise FixynnError(f"{path}: unreadable checkpoint ({type(exc).__name__}); delete it "
                          "to retrain that stage") from exc
