"""Loaders for the datasets that ship with Debian packages or scikit-learn (the photo
patches of opencv-doc: `fixynn.data.photos`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fixynn.data.files import find_first
from fixynn.data.grid import read_digit_grid
from fixynn.data.idx import read_idx
from fixynn.data.split import stratified_split
from fixynn.data.types import Dataset
from fixynn.errors import FixynnError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
OPENCV_DATA_DIR = Path("/usr/share/doc/opencv-doc/examples/data")  # OpenCV's samples/data
OPENCV_DIGITS_FILE = OPENCV_DATA_DIR / "digits.png"
DIGIT_CLASSES = tuple(str(d) for d in range(10))


def idx_files(root: Path) -> dict[str, Path | None]:
    """The four MNIST-named IDX files under `root` (gzipped or raw); None where one is missing."""
    stems = {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
    return {part: find_first(root, (f"{stem}.gz", stem)) for part, stem in stems.items()}


def read_idx_split(
    images_path: Path, labels_path: Path, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, H, W) uint8 images and int64 labels from an MNIST-style IDX pair, cross-checked."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise FixynnError(
            f"{images_path}: expected uint8 images of 3 dims (N, H, W), got {images.dtype} "
            f"{images.shape}; this is not an IDX image file"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise FixynnError(
            f"{labels_path}: expected uint8 labels of 1 dim, got {labels.dtype} {labels.shape}; "
            "this is not an IDX label file"
        )
    if labels.shape[0] != images.shape[0]:
        raise FixynnError(
            f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in "
            f"{images_path.name}; the pair does not match"
        )
    if labels.size and labels.max() >= num_classes:
        raise FixynnError(
            f"{labels_path}: label {labels.max()} out of range 0..{num_classes - 1}; "
            "the file is corrupt"
        )
    return images[:, None, :, :], labels.astype(np.int64)


def present_idx_files(root: Path, fix: str) -> dict[str, Path]:
    """`idx_files(root)`, or a FixynnError naming the missing ones and `fix`."""
    if not root.is_dir():
        raise FixynnError(f"{root}: not a directory; {fix}")
    files = idx_files(root)
    missing = [part for part, path in files.items() if path is None]
    if missing:
        raise FixynnError(f"{root}: IDX files missing ({', '.join(missing)}); {fix}")
    return {part: path for part, path in files.items() if path is not None}


def load_idx_dir(name: str, root: Path, class_names: tuple[str, ...] | None, fix: str
                 ) -> Dataset:
    """The train/test split of an MNIST-style IDX directory; classes named by their label
    ("0", "1", ...) unless `class_names` are given."""
    files = present_idx_files(root, fix)
    limit = 256 if class_names is None else len(class_names)  # uint8 labels
    train_x, train_y = read_idx_split(files["train_images"], files["train_labels"], limit)
    test_x, test_y = read_idx_split(files["test_images"], files["test_labels"], limit)
    if class_names is None:
        count = int(max(train_y.max(initial=0), test_y.max(initial=0))) + 1
        class_names = tuple(str(label) for label in range(count))
    return Dataset(name, train_x, train_y, test_x, test_y, class_names)


FASHION_MNIST_FIX = ("run `apt-get install dataset-fashion-mnist` or pass a root holding the "
                     "4 IDX files")
IDX_FIX = ("expected train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
           "t10k-labels-idx1-ubyte (each optionally .gz)")


def load_fashion_mnist(root: Path | None) -> Dataset:
    """The official 60k/10k split from the four IDX files (gzipped or raw)."""
    root = FASHION_MNIST_DIR if root is None else root
    return load_idx_dir("fashion-mnist", root, FASHION_MNIST_CLASSES, FASHION_MNIST_FIX)


def split_dataset(
    name: str, images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]
) -> Dataset:
    train, test = stratified_split(labels)
    return Dataset(name, images[train], labels[train], images[test], labels[test], class_names)


def opencv_file(directory: Path, name: str) -> Path:
    """`directory`/`name`, a file of opencv-doc's sample data, or a FixynnError naming it."""
    path = directory / name
    if not path.is_file():
        raise FixynnError(f"{path}: not found; run `apt-get install opencv-doc` or pass a root "
                          f"holding {name}")
    return path


def load_opencv_digits(root: Path | None) -> Dataset:
    """5000 20x20 digits cut from digits.png; 400 train / 100 test per class (every 5th)."""
    path = opencv_file(root or OPENCV_DIGITS_FILE.parent, OPENCV_DIGITS_FILE.name)
    images, labels = read_digit_grid(path, cell=20, num_classes=10)
    return split_dataset("opencv-digits", images, labels, DIGIT_CLASSES)


def sklearn_digits_file() -> Path:
    """The data file scikit-learn's `load_digits` reads (bundled in its wheel)."""
    from importlib import resources

    return Path(str(resources.files("sklearn.datasets.data") / "digits.csv.gz"))


def load_sklearn_digits(root: Path | None) -> Dataset:
    """scikit-learn's 1797 8x8 digits, 0..16 scaled to 0..255, split every 5th per class."""
    if root is not None:
        raise FixynnError(
            "sklearn-digits: the data is bundled with scikit-learn and takes no root; drop --root"
        )
    from sklearn.datasets import load_digits  # heavy import, only when asked

    bunch = load_digits()
    levels = np.asarray(bunch.images, dtype=np.int64)  # integers 0..16
    images = ((levels * 255 + 8) // 16).astype(np.uint8)[:, None, :, :]
    labels = np.asarray(bunch.target, dtype=np.int64)
    return split_dataset("sklearn-digits", images, labels, DIGIT_CLASSES)
