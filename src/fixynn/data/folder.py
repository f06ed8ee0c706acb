"""Image-folder datasets: DIR/<class>/<image>, or DIR/train/<class>/... and DIR/test/<class>/...

This is the layout Flowers-102, Stanford Cars, FGVC Aircraft or Caltech-101 are converted to.
Class names are the sub-folder names, sorted; images are read in sorted file-name order with
Pillow, converted to `channels` (1: "L", 3: "RGB"), scaled so they cover `image_size` and
center-cropped to it (aspect ratio kept). Without train/ and test/ the split is the fixed
stratified one of `fixynn.data.split`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from fixynn.data.files import read_image
from fixynn.data.split import stratified_split
from fixynn.data.types import Dataset
from fixynn.errors import FixynnError

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp"}
)
MODES = {1: "L", 3: "RGB"}


def class_dirs(root: Path) -> dict[str, Path]:
    """Visible sub-directories of `root`, by name, sorted."""
    if not root.is_dir():
        raise FixynnError(f"{root}: not a directory; pass the folder holding one folder per class")
    dirs = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    if not dirs:
        raise FixynnError(f"{root}: no class sub-folders; expected {root}/<class>/<images>")
    return dirs


def image_files(directory: Path) -> list[Path]:
    files = [
        p for p in sorted(directory.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]  # fmt: skip
    if not files:
        raise FixynnError(
            f"{directory}: class folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
            "add images or remove the folder"
        )
    return files


def fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale `image` to cover (H, W) = `size`, keeping its aspect ratio, then center-crop."""
    height, width = size
    scale = max(height / image.height, width / image.width)
    scaled = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(scaled, Image.Resampling.BILINEAR)
    left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


def read_split(
    dirs: dict[str, Path], class_names: tuple[str, ...], size: tuple[int, int], mode: str
) -> tuple[np.ndarray, np.ndarray]:
    images: list[np.ndarray] = []
    labels: list[int] = []
    for name, directory in dirs.items():
        for path in image_files(directory):
            pixels = np.asarray(fit(read_image(path, mode), size), dtype=np.uint8)
            images.append(pixels.reshape(size[0], size[1], -1).transpose(2, 0, 1))
            labels.append(class_names.index(name))
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def normalise_size(image_size: int | tuple[int, int]) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise FixynnError(f"image_size={image_size!r}: give a positive int or (height, width)")
    return size  # type: ignore[return-value]


def split_dirs(root: Path) -> dict[str, dict[str, Path]]:
    """{"train": class dirs, "test": class dirs} of a DIR/train + DIR/test folder, else
    {"all": class dirs}."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return {"train": class_dirs(root / "train"), "test": class_dirs(root / "test")}
    return {"all": class_dirs(root)}


def folder_files(root: Path) -> list[Path]:
    """Every image file the loader reads, in its order (an empty class folder is an error)."""
    return [path for dirs in split_dirs(root).values() for directory in dirs.values()
            for path in image_files(directory)]


def load_image_folder(root: Path, image_size: int | tuple[int, int], channels: int) -> Dataset:
    size = normalise_size(image_size)
    if channels not in MODES:
        raise FixynnError(f"channels={channels!r}: image folders load as 1 (gray) or 3 (RGB)")
    mode = MODES[channels]
    name = f"folder:{root}"
    parts = split_dirs(root)
    if "all" not in parts:
        train_dirs, test_dirs = parts["train"], parts["test"]
        unknown = sorted(set(test_dirs) - set(train_dirs))
        if unknown:
            raise FixynnError(
                f"{root / 'test'}: classes {unknown} have no folder in {root / 'train'}; "
                "every test class needs training images"
            )
        class_names = tuple(train_dirs)
        train_x, train_y = read_split(train_dirs, class_names, size, mode)
        test_x, test_y = read_split(test_dirs, class_names, size, mode)
        return Dataset(name, train_x, train_y, test_x, test_y, class_names)
    dirs = parts["all"]
    class_names = tuple(dirs)
    images, labels = read_split(dirs, class_names, size, mode)
    train, test = stratified_split(labels)
    return Dataset(name, images[train], labels[train], images[test], labels[test], class_names)
