"""Tasks as the front-end sees them: a dataset's classes, preprocessed to the model input.

One fixed front-end serves every task, so every task is mapped to the same input: a
`channels` x `size` x `size` uint8 image (1x28x28 by default). Grey data is replicated when
the model takes 3 channels; colour is kept (3) or averaged to grey (1, or `grey = true`).
`prep = "box"` frames a glyph like MNIST (a 20x20 box centred in 28x28). What a task is:
`fixynn.data.taskspec`; the built-in ones: `fixynn/data/tasks.toml`. No torch here: the
hardware side uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fixynn.data import taskcache
from fixynn.data.folder import fit
from fixynn.data.registry import is_folder, load_dataset, source_files
from fixynn.data.taskspec import Prep, TaskSpec, resolve_task
from fixynn.data.types import Dataset
from fixynn.errors import FixynnError

INPUT_SIZE = 28
INPUT_CHANNELS = 1
# MNIST's framing: a 20x20 glyph box centred in 28x28 (LeCun et al., MNIST page).
_BOX_FRACTION = 20 / 28

DEFAULT_SOURCE = "fashion-mnist-a"
DEFAULT_TARGETS: tuple[str, ...] = (
    "fashion-mnist-b",
    "opencv-digits",
    "sklearn-digits",
    "opencv-digits-inverted",
)


@dataclass(frozen=True, eq=False)
class TaskData:
    """A task's preprocessed split and where it came from (for results.json and reports)."""

    data: Dataset
    provenance: dict[str, Any]


def as_spec(task: str | TaskSpec, defined: tuple[TaskSpec, ...] = ()) -> TaskSpec:
    """A task given by name (built in, or one of `defined`) or as its definition."""
    return task if isinstance(task, TaskSpec) else resolve_task(task, defined)


def box_side(prep: Prep, size: int) -> int:
    """Side of the image inside the input: all of it ("fit") or the MNIST box ("box")."""
    return size if prep == "fit" else round(size * _BOX_FRACTION)


def to_input(images: np.ndarray, prep: Prep, invert: bool = False, size: int = INPUT_SIZE,
             channels: int = INPUT_CHANNELS, grey: bool = False) -> np.ndarray:
    """uint8 (N, C, H, W) -> uint8 (N, channels, size, size): colour converted, resized or
    framed, maybe inverted."""
    if images.ndim != 4 or images.dtype != np.uint8:
        raise FixynnError(f"images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
    if channels not in (1, 3):
        raise FixynnError(f"channels={channels}: the model input has 1 (grey) or 3 (RGB)")
    if images.shape[1] == 3 and (grey or channels == 1):
        images = np.rint(images.mean(axis=1, keepdims=True)).astype(np.uint8)
    box = box_side(prep, size)
    if images.shape[2:] != (box, box):
        images = _resized(images, prep, box)
    lo = (size - box) // 2
    out = np.zeros((len(images), images.shape[1], size, size), dtype=np.uint8)
    out[:, :, lo : lo + box, lo : lo + box] = images
    if out.shape[1] != channels:  # grey data for a colour model: replicated
        out = np.repeat(out, channels, axis=1)
    return 255 - out if invert else out


def _resized(images: np.ndarray, prep: Prep, box: int) -> np.ndarray:
    """Each image bilinearly to box x box: "fit" covers it keeping the aspect ratio and
    centre-crops, "box" stretches the glyph into the box."""
    out = np.zeros((len(images), images.shape[1], box, box), dtype=np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
        pil = fit(pil, (box, box)) if prep == "fit" else pil.resize(
            (box, box), Image.Resampling.BILINEAR)
        out[i] = np.asarray(pil).reshape(box, box, -1).transpose(2, 0, 1)
    return out


def _class_indices(spec: TaskSpec, names: tuple[str, ...]) -> list[int]:
    if spec.classes is None:
        return list(range(len(names)))
    picked = []
    for i, cls in enumerate(spec.classes):
        if isinstance(cls, int):
            if cls >= len(names):
                raise FixynnError(f"{spec.origin}.classes[{i}]: index {cls} is out of range; "
                                  f"{spec.dataset} has {len(names)} classes (0..{len(names) - 1})")
            picked.append(cls)
        elif cls in names:
            picked.append(names.index(cls))
        else:
            raise FixynnError(f"{spec.origin}.classes[{i}]: class {cls!r} is not in "
                              f"{spec.dataset}; its classes: {', '.join(names)}")
    if len(set(picked)) != len(picked):
        raise FixynnError(f"{spec.origin}.classes: a class is listed twice (by name and index)")
    return picked


def _subset(images: np.ndarray, labels: np.ndarray, picked: list[int], num_classes: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """The images of the `picked` classes, labelled by their position in `picked`."""
    remap = np.full(num_classes, -1, dtype=np.int64)
    remap[picked] = np.arange(len(picked))
    keep = np.isin(labels, picked)
    return images[keep], remap[labels[keep]]


def _resplit(data: Dataset, fraction: float, seed: int, where: str) -> Dataset:
    """Both splits pooled, then in each class a seeded random `fraction` (at least one
    image, never all) goes to test."""
    images = np.concatenate([data.train_images, data.test_images])
    labels = np.concatenate([data.train_labels, data.test_labels])
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), dtype=bool)
    for cls in range(data.num_classes):
        members = rng.permutation(np.flatnonzero(labels == cls))
        if members.size < 2:
            raise FixynnError(f"{where}.test_fraction: class {data.class_names[cls]!r} has "
                              f"{members.size} image(s); splitting needs at least 2")
        count = min(max(round(members.size * fraction), 1), members.size - 1)
        is_test[members[:count]] = True
    return Dataset(data.name, images[~is_test], labels[~is_test], images[is_test],
                   labels[is_test], data.class_names)


def _check_counts(data: Dataset, where: str) -> None:
    train = np.bincount(data.train_labels, minlength=data.num_classes)
    test = np.bincount(data.test_labels, minlength=data.num_classes)
    for cls, name in enumerate(data.class_names):
        if train[cls] == 0:
            raise FixynnError(
                f"{where}: class {name!r} has no training images ({test[cls]} test); every "
                "class needs training images: add some or drop the class from `classes`")
    if data.num_classes < 2:
        raise FixynnError(f"{where}: the task has {data.num_classes} class; a classifier needs "
                          "at least 2")


def _build(spec: TaskSpec, channels: int, size: int) -> Dataset:
    """Decode and preprocess (no cache)."""
    if is_folder(spec.dataset):  # decoded straight to the size the input needs, colour kept
        raw = load_dataset(spec.dataset, spec.root, image_size=box_side(spec.prep, size),
                           channels=3)
    else:
        raw = load_dataset(spec.dataset, spec.root)
    picked = _class_indices(spec, raw.class_names)
    parts = []
    for split in ("train", "test"):
        images, labels = _subset(getattr(raw, f"{split}_images"),
                                 getattr(raw, f"{split}_labels"), picked, raw.num_classes)
        parts += [to_input(images, spec.prep, spec.invert, size, channels, spec.grey), labels]
    data = Dataset(spec.name, *parts, tuple(raw.class_names[c] for c in picked))
    if spec.test_fraction is not None:
        data = _resplit(data, spec.test_fraction, spec.split_seed, spec.origin)
    _check_counts(data, spec.origin)
    return data


def prepare_task(task: str | TaskSpec, size: int = INPUT_SIZE, channels: int = INPUT_CHANNELS,
                 defined: tuple[TaskSpec, ...] = ()) -> TaskData:
    """A task's preprocessed train/test split (from the content-keyed cache when there) and
    its provenance. Any problem with its data is one FixynnError naming where the task was
    defined and the file."""
    spec = as_spec(task, defined)
    with _named(spec):
        files, content, key = _content_key(spec, size, channels)
        data = taskcache.load_cached(key, spec.name)
        if data is None:
            data = _build(spec, channels, size)
            taskcache.store(key, data)
    return TaskData(data, provenance(spec, data, files, content, key))


@contextmanager
def _named(spec: TaskSpec) -> Iterator[None]:
    """Prefix a data error with where the task was defined (once)."""
    try:
        yield
    except FixynnError as exc:
        if str(exc).startswith(spec.origin):
            raise
        raise FixynnError(f"{spec.origin}: {exc}") from None


def _content_key(spec: TaskSpec, size: int, channels: int) -> tuple[list[Path], str, str]:
    files = source_files(spec.dataset, spec.root)
    content = taskcache.content_digest(files)
    return files, content, taskcache.task_key(spec.identity(), content, (channels, size, size))


def task_data_key(task: str | TaskSpec, size: int = INPUT_SIZE,
                  channels: int = INPUT_CHANNELS, defined: tuple[TaskSpec, ...] = ()) -> str:
    """The cache key of a task's arrays: its files are hashed, nothing is decoded."""
    spec = as_spec(task, defined)
    with _named(spec):
        return _content_key(spec, size, channels)[2]


def provenance(spec: TaskSpec, data: Dataset, files: list[Path], content: str,
               key: str) -> dict[str, Any]:
    train = np.bincount(data.train_labels, minlength=data.num_classes)
    test = np.bincount(data.test_labels, minlength=data.num_classes)
    split = ("the dataset's own" if spec.test_fraction is None else
             f"seeded stratified: {spec.test_fraction:g} of each class to test "
             f"(seed {spec.split_seed})")
    return {"task": spec.name, "dataset": spec.dataset, "root": spec.root,
            "definition": spec.to_dict(), "defined_in": spec.origin, "files": len(files),
            "content_digest": content, "data_key": key, "split": split,
            "input_shape": list(data.image_shape), "classes": list(data.class_names),
            "train_images": int(data.train_labels.size),
            "test_images": int(data.test_labels.size),
            "train_per_class": train.tolist(), "test_per_class": test.tolist()}


def load_task(task: str | TaskSpec, size: int = INPUT_SIZE, channels: int = INPUT_CHANNELS,
              defined: tuple[TaskSpec, ...] = ()) -> Dataset:
    """The task's train/test split: images preprocessed to channels x size x size,
    labels 0..k-1 in the task's class order."""
    return prepare_task(task, size, channels, defined).data


def task_images(task: str | TaskSpec, split: str = "test", limit: int | None = None,
                size: int = INPUT_SIZE, channels: int = INPUT_CHANNELS,
                defined: tuple[TaskSpec, ...] = ()) -> np.ndarray:
    """Preprocessed uint8 (N, channels, size, size) images of a task's split (the first
    `limit`)."""
    if split not in ("train", "test"):
        raise FixynnError(f"split {split!r} is not 'train' or 'test'")
    if limit is not None and limit < 1:
        raise FixynnError(f"limit must be >= 1, got {limit}")
    images = getattr(load_task(task, size, channels, defined), f"{split}_images")
    return images if limit is None else images[:limit]
