"""Colour texture patches cut from photographs: one class per photograph.

Ten colour photographs of OpenCV's sample data (Debian `opencv-doc`) are cut into
`PATCH` x `PATCH` RGB patches at their own pixels (nothing is resampled here; the task
resizes to the model input as it does any dataset). Train and test come from disjoint column
bands of each photograph: train from the left 70% of its columns, test from the columns right
of that after a gap `GAP` wide, so no test pixel, nor any pixel within a patch of one, was
seen in training: the test measures generalisation to unseen parts of the scene, not
memorised pixels. In each band the patches' top-left corners are an evenly spaced integer
grid (`GRID` columns x rows, neighbours may overlap), the same count for every photograph
whatever its size, so the classes are balanced. No random generator is involved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fixynn.data.files import read_image
from fixynn.data.offline import OPENCV_DATA_DIR, opencv_file
from fixynn.data.types import Dataset
from fixynn.errors import FixynnError

NAME = "opencv-photos"
# (class, file): colour photographs with distinct content (the drawings, logos, greyscale
# and synthetic images of samples/data, and stereo twins such as aloeR, are left out).
PHOTOS: tuple[tuple[str, str], ...] = (
    ("baboon", "baboon.jpg"),  # mandrill's face: fur, red and blue skin
    ("fruits", "fruits.jpg"),  # cut citrus, kiwi, cabbage
    ("building", "building.jpg"),  # office facade, windows, trees
    ("board", "board.jpg"),  # green circuit board, components
    ("home", "home.jpg"),  # yellow villa against blue sky
    ("butterfly", "butterfly.jpg"),  # black and white wings on a green leaf
    ("aero", "aero1.jpg"),  # aerial view of a town
    ("squirrel", "squirrel_cls.jpg"),  # squirrel on a branch, foliage
    ("leuven", "leuvenA.jpg"),  # brick houses, cobbled street, grey sky
    ("aloe", "aloeL.jpg"),  # aloe plant in a pot before patterned wallpaper
)
CLASSES = tuple(name for name, _ in PHOTOS)
PATCH = 32  # side in pixels: CIFAR's; 3 fit side by side in the narrowest test band (116)
TRAIN_COLUMNS = (7, 10)  # train band: the left 7/10 of the columns
GAP = PATCH  # columns between the bands: no patch straddles train and test
GRID = {"train": (8, 16), "test": (4, 10)}  # patch columns x rows per photograph
SPLITS = tuple(GRID)


def band(split: str, width: int) -> tuple[int, int]:
    """Columns [start, stop) of a photograph `width` wide that `split`'s patches lie in."""
    cut = width * TRAIN_COLUMNS[0] // TRAIN_COLUMNS[1]
    return (0, cut) if split == "train" else (cut + GAP, width)


def _spaced(start: int, stop: int, count: int) -> np.ndarray:
    """`count` patch starts evenly spaced (integers) so that every patch lies in [start, stop)."""
    last = stop - PATCH
    return start + np.arange(count) * (last - start) // max(count - 1, 1)


def patch_origins(split: str, width: int, height: int) -> np.ndarray:
    """(N, 2) int64 top-left corners (x, y) of `split`'s patches in a width x height
    photograph, row by row: exactly where the loader cuts them."""
    start, stop = band(split, width)
    columns, rows = GRID[split]
    xs, ys = _spaced(start, stop, columns), _spaced(0, height, rows)
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.int64)


def photo_files(root: Path | None) -> list[Path]:
    """The photographs, in class order; a missing one is a FixynnError naming it."""
    return [opencv_file(root or OPENCV_DATA_DIR, file) for _, file in PHOTOS]


def _cut(path: Path) -> dict[str, np.ndarray]:
    """split -> (N, 3, PATCH, PATCH) uint8 patches of one photograph."""
    pixels = np.asarray(read_image(path, "RGB"), dtype=np.uint8)  # H, W, 3
    height, width = pixels.shape[:2]
    start, stop = band("test", width)
    if stop - start < PATCH or height < PATCH:
        raise FixynnError(f"{path}: {width}x{height} pixels is too small to cut {PATCH}x{PATCH} "
                          "test patches right of the train band; use the opencv-doc original")
    out = {}
    for split in SPLITS:
        patches = [pixels[y:y + PATCH, x:x + PATCH] for x, y in patch_origins(split, width,
                                                                                height)]
        out[split] = np.stack(patches).transpose(0, 3, 1, 2)
    return out


def load_opencv_photos(root: Path | None) -> Dataset:
    """128 train / 40 test 32x32 RGB patches per photograph, from disjoint column bands."""
    parts: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    for path in photo_files(root):
        for split, patches in _cut(path).items():
            parts[split].append(patches)
    images = {split: np.ascontiguousarray(np.concatenate(parts[split])) for split in SPLITS}
    labels = {split: np.repeat(np.arange(len(PHOTOS), dtype=np.int64), GRID[split][0] *
                               GRID[split][1]) for split in SPLITS}
    return Dataset(NAME, images["train"], labels["train"], images["test"], labels["test"],
                   CLASSES)
