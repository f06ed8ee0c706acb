"""Checkpoints: a state dict saved into a cache artifact (fixynn.store, whole or absent),
read back without unpickling code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fixynn.errors import FixynnError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    torch.save(state, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` (tensors and plain data only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise FixynnError(f"{path}: unreadable checkpoint ({type(exc).__name__}); delete its "
                          f"folder {path.parent} to retrain that stage") from exc
