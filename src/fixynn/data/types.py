"""What a dataset is (`DatasetInfo`) and what a loader returns (`Dataset`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fixynn.errors import FixynnError


@dataclass(frozen=True)
class DatasetInfo:
    """Provenance and shape of a registered dataset, known without loading it.

    `num_train`/`num_test`/`num_classes`/`image_shape` are None where they depend on the user's
    files (image folders). `obtain` says in one line how to get the data onto this machine.
    """

    name: str
    description: str
    source: str  # provenance: who made it, where it comes from
    license: str
    obtain: str
    num_classes: int | None
    num_train: int | None
    num_test: int | None
    image_shape: tuple[int, int, int] | None  # (C, H, W)
    split: str  # how train/test are fixed
    apt_package: str | None = None
    url: str | None = None


@dataclass(frozen=True, eq=False)  # arrays have no single truth value; compare by identity
class Dataset:
    """uint8 NCHW images with int64 labels in [0, len(class_names)), split fixed by the loader."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            images = getattr(self, f"{part}_images")
            labels = getattr(self, f"{part}_labels")
            where = f"dataset {self.name!r} ({part})"
            if images.dtype != np.uint8 or images.ndim != 4:
                raise FixynnError(
                    f"{where}: images must be uint8 (N, C, H, W), got {images.dtype} "
                    f"{images.shape}; fix the loader or the files it reads"
                )
            if labels.dtype != np.int64 or labels.shape != (images.shape[0],):
                raise FixynnError(
                    f"{where}: {labels.shape[0] if labels.ndim else 0} labels for "
                    f"{images.shape[0]} images (dtype {labels.dtype}); each image needs one label"
                )
            if labels.size and (labels.min() < 0 or labels.max() >= len(self.class_names)):
                raise FixynnError(
                    f"{where}: labels span {labels.min()}..{labels.max()} but there are "
                    f"{len(self.class_names)} classes; fix the label files"
                )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise FixynnError(
                f"dataset {self.name!r}: train images are {self.train_images.shape[1:]} but test "
                f"images are {self.test_images.shape[1:]}; both splits need one image shape"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_images.shape[1:]
        return (int(c), int(h), int(w))
