"""Where fixynn keeps its caches on this machine (one place, shared by every cache)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """$FIXYNN_CACHE/fixynn, else $XDG_CACHE_HOME/fixynn, else ~/.cache/fixynn."""
    base = os.environ.get("FIXYNN_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "fixynn"
