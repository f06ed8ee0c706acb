"""Named tasks: a dataset, a class subset and the preprocessing to the common FFE input.

One fixed front-end serves every task, so every task is mapped to the same input: a 1-channel
`size` x `size` uint8 image (28x28 by default), light strokes on a dark background as in
Fashion-MNIST. Digits are framed like MNIST (the glyph in a 20x20 box centred in 28x28).
Why each default task is there: docs/transfer.md. No torch here: the hardware side uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from fixynn.data import Dataset, load_dataset
from fixynn.errors import FixynnError

INPUT_SIZE = 28
# MNIST's framing: a 20x20 glyph box centred in 28x28 (LeCun et al., MNIST page).
_BOX_FRACTION = 20 / 28

Prep = Literal["fit", "box"]


@dataclass(frozen=True)
class Task:
    name: str
    dataset: str
    classes: tuple[int, ...] | None  # dataset label indices kept, in new label order; None = all
    prep: Prep  # "fit": resize the whole image to size; "box": glyph into the MNIST box
    invert: bool = False  # dark strokes on a light background
    why: str = ""


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "fashion-mnist-a",
            "fashion-mnist",
            (0, 1, 2, 3, 4),
            "fit",
            why="source: T-shirt, trouser, pullover, dress, coat",
        ),
        Task(
            "fashion-mnist-b",
            "fashion-mnist",
            (5, 6, 7, 8, 9),
            "fit",
            why="same domain, unseen classes: sandal, shirt, sneaker, bag, ankle boot",
        ),
        Task(
            "opencv-digits",
            "opencv-digits",
            None,
            "box",
            why="other domain: handwritten digits (an MNIST subset), 20x20 framed as MNIST",
        ),
        Task(
            "sklearn-digits",
            "sklearn-digits",
            None,
            "box",
            why="other domain and sensor: 8x8, 17-level digits upsampled (UCI optdigits)",
        ),
        Task(
            "opencv-digits-inverted",
            "opencv-digits",
            None,
            "box",
            invert=True,
            why="other domain and contrast: dark ink on white paper, as scanned documents",
        ),
    )
}
DEFAULT_SOURCE = "fashion-mnist-a"
DEFAULT_TARGETS: tuple[str, ...] = (
    "fashion-mnist-b",
    "opencv-digits",
    "sklearn-digits",
    "opencv-digits-inverted",
)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise FixynnError(f"task {name!r} is unknown; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def to_input(
    images: np.ndarray, prep: Prep, invert: bool = False, size: int = INPUT_SIZE
) -> np.ndarray:
    """uint8 (N, C, H, W) -> uint8 (N, 1, size, size): grey, resized/framed, maybe inverted."""
    if images.ndim != 4 or images.dtype != np.uint8:
        raise FixynnError(f"images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
    grey = images[:, 0] if images.shape[1] == 1 else np.rint(images.mean(axis=1)).astype(np.uint8)
    box = size if prep == "fit" else round(size * _BOX_FRACTION)
    if grey.shape[1:] != (box, box):
        grey = (
            np.stack(
                [
                    np.asarray(Image.fromarray(img).resize((box, box), Image.Resampling.BILINEAR))
                    for img in grey
                ]
            )
            if len(grey)
            else np.zeros((0, box, box), np.uint8)
        )
    lo = (size - box) // 2
    out = np.zeros((len(grey), 1, size, size), dtype=np.uint8)
    out[:, 0, lo : lo + box, lo : lo + box] = grey
    return 255 - out if invert else out


def _subset(
    images: np.ndarray, labels: np.ndarray, classes: tuple[int, ...] | None
) -> tuple[np.ndarray, np.ndarray]:
    if classes is None:
        return images, labels
    remap = np.full(int(labels.max(initial=0)) + 1, -1, dtype=np.int64)
    remap[list(classes)] = np.arange(len(classes))
    keep = np.isin(labels, classes)
    return images[keep], remap[labels[keep]]


def _split(task: Task, data: Dataset, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _subset(getattr(data, f"{split}_images"), getattr(data, f"{split}_labels"),
                             task.classes)
    return to_input(images, task.prep, task.invert, size), labels


def load_task(name: str, size: int = INPUT_SIZE) -> Dataset:
    """The task's train/test split: images preprocessed to 1 x size x size, labels 0..k-1."""
    task = get_task(name)
    data = load_dataset(task.dataset)
    names = data.class_names if task.classes is None else tuple(
        data.class_names[c] for c in task.classes)
    return Dataset(task.name, *_split(task, data, "train", size),
                   *_split(task, data, "test", size), names)


def task_images(name: str, split: str = "test", limit: int | None = None,
                size: int = INPUT_SIZE) -> np.ndarray:
    """Preprocessed uint8 (N, 1, size, size) images of a task's split (the first `limit`)."""
    task = get_task(name)
    if split not in ("train", "test"):
        raise FixynnError(f"split {split!r} is not 'train' or 'test'")
    if limit is not None and limit < 1:
        raise FixynnError(f"limit must be >= 1, got {limit}")
    images, _ = _split(task, load_dataset(task.dataset), split, size)
    return images if limit is None else images[:limit]
