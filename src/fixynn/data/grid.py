"""Digit grids: one image tiled with equal square cells, class-major rows.

OpenCV's samples/data/digits.png is 2000x1000 pixels of 20x20 cells, 50 rows x 100 columns;
each run of 5 rows holds one digit class, 0 first (500 samples per class, a subset of MNIST).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fixynn.data.files import read_image
from fixynn.errors import FixynnError


def read_digit_grid(path: Path, cell: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut `path` into (N, 1, cell, cell) uint8 images in reading order, with int64 labels."""
    pixels = np.asarray(read_image(path, "L"), dtype=np.uint8)
    height, width = pixels.shape
    rows, cols = height // cell, width // cell
    if height % cell or width % cell or rows == 0 or cols == 0:
        raise FixynnError(
            f"{path}: {width}x{height} pixels is not a whole grid of {cell}x{cell} cells; "
            "this is not a digit grid image"
        )
    if rows % num_classes:
        raise FixynnError(
            f"{path}: {rows} cell rows cannot be split evenly into {num_classes} classes; "
            "this is not a digit grid image"
        )
    cells = pixels.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3)
    images = np.ascontiguousarray(cells.reshape(rows * cols, 1, cell, cell))
    rows_per_class = rows // num_classes
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), rows_per_class * cols)
    return images, labels
