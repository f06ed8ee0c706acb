"""The named datasets: what each is (`DatasetInfo`), where it lives, and how to load it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from fixynn.data import cifar, fetch, folder, offline, photos
from fixynn.data.types import Dataset, DatasetInfo
from fixynn.errors import FixynnError

FOLDER_PREFIX = "folder:"
IDX_PREFIX = "idx:"
YOUR_DIRECTORY = ("image-folder", "idx")  # datasets that are wherever the user points
EVERY_FIFTH = "fixed stratified: in each class, every 5th sample (in file order) is test"

INFOS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="fashion-mnist",
            description="Zalando article images, 28x28 grayscale",
            source="Zalando Research, Xiao et al. 2017 (Debian dataset-fashion-mnist)",
            license="MIT (Expat)",
            obtain="apt-get install dataset-fashion-mnist",
            num_classes=10,
            num_train=60000,
            num_test=10000,
            image_shape=(1, 28, 28),
            split="official 60k train / 10k test",
            apt_package="dataset-fashion-mnist",
        ),
        DatasetInfo(
            name="opencv-digits",
            description="handwritten digits tiled in OpenCV's samples/data/digits.png, 20x20",
            source="OpenCV sample data, an MNIST subset (Debian opencv-doc)",
            license="Apache-2.0 AND BSD-3-Clause",
            obtain="apt-get install opencv-doc",
            num_classes=10,
            num_train=4000,
            num_test=1000,
            image_shape=(1, 20, 20),
            split=EVERY_FIFTH + " (400 train / 100 test per class)",
            apt_package="opencv-doc",
        ),
        DatasetInfo(
            name="opencv-photos",
            description="32x32 colour patches of 10 photographs (one class each), texture",
            source="OpenCV sample data: baboon, fruits, building, ... (Debian opencv-doc)",
            license="Apache-2.0 AND BSD-3-Clause (Debian's copyright file, Files: *)",
            obtain="apt-get install opencv-doc",
            num_classes=len(photos.PHOTOS),
            num_train=len(photos.PHOTOS) * photos.GRID["train"][0] * photos.GRID["train"][1],
            num_test=len(photos.PHOTOS) * photos.GRID["test"][0] * photos.GRID["test"][1],
            image_shape=(3, photos.PATCH, photos.PATCH),
            split="disjoint column bands: train left 70% of each photograph, test right of a "
                  "one-patch gap",
            apt_package="opencv-doc",
        ),
        DatasetInfo(
            name="sklearn-digits",
            description="UCI optical recognition of handwritten digits, 8x8, 17 grey levels",
            source="UCI optdigits, Alpaydin & Kaynak 1998 (in scikit-learn)",
            license="CC BY 4.0",
            obtain="bundled with scikit-learn (a fixynn dependency)",
            num_classes=10,
            num_train=1442,
            num_test=355,
            image_shape=(1, 8, 8),
            split=EVERY_FIFTH,
        ),
        DatasetInfo(
            name="cifar10",
            description="tiny natural images, 32x32 RGB",
            source="Krizhevsky 2009, www.cs.toronto.edu/~kriz/cifar.html",
            license="none stated; cite Krizhevsky 2009",
            obtain="fixynn data get cifar10 (downloads ~163 MB) or --root DIR holding the batches",
            num_classes=10,
            num_train=50000,
            num_test=10000,
            image_shape=(3, 32, 32),
            split="official 50k train / 10k test",
            url=fetch.CIFAR_ARCHIVES["cifar10"].url,
        ),
        DatasetInfo(
            name="cifar100",
            description="tiny natural images, 32x32 RGB, 100 fine classes",
            source="Krizhevsky 2009, www.cs.toronto.edu/~kriz/cifar.html",
            license="none stated; cite Krizhevsky 2009",
            obtain="fixynn data get cifar100 (downloads ~161 MB) or --root DIR holding the files",
            num_classes=100,
            num_train=50000,
            num_test=10000,
            image_shape=(3, 32, 32),
            split="official 50k train / 10k test",
            url=fetch.CIFAR_ARCHIVES["cifar100"].url,
        ),
        DatasetInfo(
            name="image-folder",
            description="your images, one sub-folder per class (Flowers-102, Cars, Caltech...)",
            source="your directory: root=DIR or the name folder:DIR",
            license="that of your images",
            obtain="convert to DIR/<class>/*.png or DIR/{train,test}/<class>/*.png",
            num_classes=None,
            num_train=None,
            num_test=None,
            image_shape=None,
            split="DIR/train + DIR/test if present, else " + EVERY_FIFTH,
        ),
        DatasetInfo(
            name="idx",
            description="your MNIST-style IDX files (MNIST, EMNIST, KMNIST...), classes 0..K-1",
            source="your directory: root=DIR or the name idx:DIR",
            license="that of your files",
            obtain="put the 4 MNIST-named IDX files (optionally .gz) in DIR",
            num_classes=None,
            num_train=None,
            num_test=None,
            image_shape=None,
            split="the IDX files' own train (train-*) / test (t10k-*)",
        ),
    )
}

Loader = Callable[[Path | None], Dataset]
LOADERS: dict[str, Loader] = {
    "fashion-mnist": offline.load_fashion_mnist,
    "opencv-digits": offline.load_opencv_digits,
    "sklearn-digits": offline.load_sklearn_digits,
    "opencv-photos": photos.load_opencv_photos,
    "cifar10": lambda root: cifar.load_cifar("cifar10", resolve_root("cifar10", root)),
    "cifar100": lambda root: cifar.load_cifar("cifar100", resolve_root("cifar100", root)),
}


def data_home() -> Path:
    """Where `fixynn data get` puts downloads: $FIXYNN_DATA, else ~/.cache/fixynn/datasets."""
    env = os.environ.get("FIXYNN_DATA")
    return Path(env) if env else Path.home() / ".cache" / "fixynn" / "datasets"


def resolve_root(name: str, root: str | Path | None) -> Path:
    """The directory a downloadable dataset is read from: `root`, else the data home."""
    return Path(root).expanduser() if root is not None else data_home() / name


def list_datasets() -> list[DatasetInfo]:
    return list(INFOS.values())


def dataset_info(name: str) -> DatasetInfo:
    if name.startswith(FOLDER_PREFIX):
        return INFOS["image-folder"]
    if name.startswith(IDX_PREFIX):
        return INFOS["idx"]
    if name not in INFOS:
        raise FixynnError(
            f"unknown dataset {name!r}; valid names: {', '.join(INFOS)} (or folder:DIR, idx:DIR)"
        )
    return INFOS[name]


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
) -> Dataset:
    """Load a registered dataset with its fixed train/test split (deterministic).

    `root` overrides where the files are read from. `image_size` (S or (H, W)) and `channels`
    (1 or 3) apply to image folders only: `load_dataset("image-folder", root=DIR, ...)` or
    `load_dataset("folder:DIR", ...)`; they default to 32 and 3.
    """
    dataset_info(name)  # unknown names fail here with the list of valid ones
    if is_folder(name):
        return folder.load_image_folder(
            folder_root(name, root),
            image_size=32 if image_size is None else image_size,
            channels=3 if channels is None else channels,
        )
    if image_size is not None or channels is not None:
        raise FixynnError(
            f"{name}: image_size/channels apply only to image folders; resize in your task"
        )
    if is_idx(name):
        directory = prefixed_root(name, IDX_PREFIX, "idx", root)
        return offline.load_idx_dir(f"idx:{directory}", directory, None, offline.IDX_FIX)
    return LOADERS[name](None if root is None else Path(root).expanduser())


def is_folder(name: str) -> bool:
    return name == "image-folder" or name.startswith(FOLDER_PREFIX)


def is_idx(name: str) -> bool:
    return name == "idx" or name.startswith(IDX_PREFIX)


def folder_root(name: str, root: str | Path | None) -> Path:
    """The directory of an image-folder dataset, given as folder:DIR or as root."""
    return prefixed_root(name, FOLDER_PREFIX, "image-folder", root)


def prefixed_root(name: str, prefix: str, plain: str, root: str | Path | None) -> Path:
    """The directory of a dataset named `prefix`DIR, or `plain` with root=DIR."""
    if name.startswith(prefix):
        if root is not None:
            raise FixynnError(f"{name}: give the directory either as {prefix}DIR or as root, "
                              "not both")
        root = name[len(prefix) :]
    if not root:
        raise FixynnError(f"{plain}: no directory given; pass root=DIR or {prefix}DIR")
    return Path(root).expanduser()


def source_files(name: str, root: str | Path | None = None) -> list[Path]:
    """Every file the loader of `name` reads, sorted (nothing is decoded): what a dataset's
    content digest covers. A missing directory or file, or an empty class folder, is a
    FixynnError naming it, as the loader would raise."""
    dataset_info(name)
    if is_folder(name):
        return folder.folder_files(folder_root(name, root))
    root_path = None if root is None else Path(root).expanduser()
    if is_idx(name):
        directory = prefixed_root(name, IDX_PREFIX, "idx", root)
        return sorted(offline.present_idx_files(directory, offline.IDX_FIX).values())
    if name == "fashion-mnist":
        directory = root_path or offline.FASHION_MNIST_DIR
        return sorted(offline.present_idx_files(directory, offline.FASHION_MNIST_FIX).values())
    if name == "opencv-digits":
        return [offline.opencv_file(root_path or offline.OPENCV_DIGITS_FILE.parent,
                                    offline.OPENCV_DIGITS_FILE.name)]
    if name == "opencv-photos":
        return sorted(photos.photo_files(root_path))
    if name == "sklearn-digits":
        return [offline.sklearn_digits_file()]
    return cifar.cifar_files(name, resolve_root(name, root))


def is_available(name: str, root: str | Path | None = None) -> bool:
    """Whether the dataset's files are present (a cheap check: nothing is decoded)."""
    dataset_info(name)
    if is_folder(name):
        return (name != "image-folder" or root is not None) and folder_root(name, root).is_dir()
    if is_idx(name):
        if name == "idx" and root is None:
            return False
        directory = prefixed_root(name, IDX_PREFIX, "idx", root)
        return all(path is not None for path in offline.idx_files(directory).values())
    root_path = None if root is None else Path(root).expanduser()
    if name == "fashion-mnist":
        files = offline.idx_files(root_path or offline.FASHION_MNIST_DIR)
        return all(path is not None for path in files.values())
    if name == "opencv-digits":
        directory = root_path or offline.OPENCV_DIGITS_FILE.parent
        return (directory / offline.OPENCV_DIGITS_FILE.name).is_file()
    if name == "opencv-photos":
        directory = root_path or offline.OPENCV_DATA_DIR
        return all((directory / file).is_file() for _, file in photos.PHOTOS)
    if name == "sklearn-digits":
        return True
    return cifar.find_layout(name, resolve_root(name, root)) is not None
