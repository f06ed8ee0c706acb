"""A task on an image folder: decoded (first run) vs loaded from the content-keyed cache.

Writes a folder of JPEG images, then times `prepare_task` three ways, side by side in one
process: cold (decode + preprocess + store), warm (as a new process would: hash every file,
load the arrays), and after one image changed (a new key: decoded again). CPU time, so a
loaded machine does not inflate it.

    .venv/bin/python benchmarks/bench_task_cache.py [--images 2000] [--side 96] [--input 28]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from fixynn.data import taskcache
from fixynn.data.tasks import prepare_task
from fixynn.data.taskspec import parse_task


def write_folder(root: Path, images: int, side: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(images):
        directory = root / f"class{i % 4}"
        directory.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(directory / f"{i:05d}.jpg", quality=90)


def cpu_seconds(fn: object) -> float:
    start = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--side", type=int, default=96)
    parser.add_argument("--input", type=int, default=28)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FIXYNN_CACHE"] = str(Path(tmp) / "cache")
        write_folder(Path(tmp) / "pics", args.images, args.side)
        spec = parse_task({"name": "bench", "dataset": f"folder:{tmp}/pics"}, "bench")
        cold = cpu_seconds(lambda: prepare_task(spec, args.input, 3))
        taskcache._file_sha256.cache_clear()  # as a new process: every file hashed again
        warm = cpu_seconds(lambda: prepare_task(spec, args.input, 3))
        first = next((Path(tmp) / "pics" / "class0").iterdir())
        Image.new("RGB", (args.side, args.side)).save(first, quality=90)
        changed = cpu_seconds(lambda: prepare_task(spec, args.input, 3))
    print(f"{args.images} JPEGs of {args.side}x{args.side} -> 3x{args.input}x{args.input}, "
          "CPU seconds:")
    print(f"  cold (decode, preprocess, store): {cold:.2f}")
    print(f"  warm (hash files, load arrays):   {warm:.2f}  ({cold / warm:.1f}x faster)")
    print(f"  one image changed (decode again): {changed:.2f}")


if __name__ == "__main__":
    main()
