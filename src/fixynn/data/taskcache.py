"""Preprocessed task arrays cached by content: decoded once, reused while nothing changed.

A task's key hashes its dataset's content (every file the loader reads: relative name, size,
sha256 of the bytes), its definition (classes, preprocessing, split) and the model input it
is preprocessed to. Change one image and only the tasks whose dataset holds it get a new key.
The arrays live in `<cache home>/tasks/<key>.npz` (see fixynn.paths), written atomically.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fixynn.atomic import atomic_write
from fixynn.data.types import Dataset
from fixynn.paths import cache_home

# Bump when the preprocessing's output changes for the same definition (old entries go stale).
PREP_VERSION = 1
CHUNK = 1 << 20


@functools.lru_cache(maxsize=65536)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file; memoised per (path, size, mtime) within one process."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_digest(files: list[Path]) -> str:
    """sha256 over the files' names (relative to their common folder), sizes and hashes."""
    if not files:
        return hashlib.sha256(b"").hexdigest()
    base = Path(os.path.commonpath([str(p.parent) for p in files]))
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(json.dumps([str(path.relative_to(base)), stat.st_size,
                                  _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)])
                      .encode())
    return digest.hexdigest()


def task_key(identity: dict[str, Any], content: str, input_shape: tuple[int, int, int]) -> str:
    doc = {"task": identity, "content": content, "input": list(input_shape),
           "prep_version": PREP_VERSION}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def cache_path(key: str) -> Path:
    return cache_home() / "tasks" / f"{key}.npz"


def load_cached(key: str, name: str) -> Dataset | None:
    """The arrays stored under `key` as a Dataset called `name`, or None."""
    path = cache_path(key)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return Dataset(name, npz["train_images"], npz["train_labels"], npz["test_images"],
                           npz["test_labels"], tuple(str(c) for c in npz["class_names"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError):  # a damaged entry (a disk fault): recompute it
        path.unlink(missing_ok=True)
        return None


def store(key: str, data: Dataset) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as file:
            np.savez(file, train_images=data.train_images, train_labels=data.train_labels,
                     test_images=data.test_images, test_labels=data.test_labels,
                     class_names=np.asarray(data.class_names, dtype=str))

    atomic_write(cache_path(key), write)
