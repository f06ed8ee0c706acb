"""Image-folder datasets: class folders, train/test subtrees, resizing, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixynn.data import dataset_info, load_dataset
from fixynn.errors import FixynnError

COLORS = {"daisy": (255, 0, 0), "rose": (0, 255, 0), "tulip": (0, 0, 255)}


def write_class(directory: Path, color: tuple[int, int, int], count: int) -> None:
    """`count` solid-color images of varied sizes and modes (RGB PNG, RGBA PNG, JPEG)."""
    directory.mkdir(parents=True)
    for i in range(count):
        size = (10 + 3 * i, 7 + 2 * i)
        if i % 3 == 2:
            Image.new("RGB", size, color).save(directory / f"img{i:02d}.jpg", quality=100)
        else:
            mode = "RGBA" if i % 3 else "RGB"
            Image.new(mode, size, color).save(directory / f"img{i:02d}.png")


def write_folder(root: Path, count: int = 5) -> None:
    for name, color in COLORS.items():
        write_class(root / name, color, count)
    (root / "daisy" / "README.txt").write_text("not an image, ignored")


def test_flat_folder_split_resize_and_labels(tmp_path: Path) -> None:
    write_folder(tmp_path)
    data = load_dataset("image-folder", root=tmp_path, image_size=(6, 8), channels=3)
    assert data.class_names == ("daisy", "rose", "tulip")
    assert data.train_images.shape == (12, 3, 6, 8) and data.test_images.shape == (3, 3, 6, 8)
    assert data.test_labels.tolist() == [0, 1, 2]
    for images, labels in (
        (data.train_images, data.train_labels),
        (data.test_images, data.test_labels),
    ):
        colors = np.array([COLORS[data.class_names[k]] for k in labels])
        # Solid colors survive resizing and JPEG within a couple of levels.
        assert np.abs(images.astype(int) - colors[:, :, None, None]).max() <= 3


def test_gray_and_folder_prefix(tmp_path: Path) -> None:
    write_folder(tmp_path)
    data = load_dataset(f"folder:{tmp_path}", image_size=4, channels=1)
    assert data.train_images.shape == (12, 1, 4, 4)
    # ITU-R 601 luma of pure red is 76 (Pillow's L conversion).
    assert abs(int(data.train_images[0, 0, 0, 0]) - 76) <= 2
    assert dataset_info(f"folder:{tmp_path}").name == "image-folder"


def test_train_test_subtrees(tmp_path: Path) -> None:
    for name, color in COLORS.items():
        write_class(tmp_path / "train" / name, color, 4)
    write_class(tmp_path / "test" / "rose", COLORS["rose"], 2)
    data = load_dataset("image-folder", root=tmp_path)  # defaults: 32x32 RGB
    assert data.train_images.shape == (12, 3, 32, 32)
    assert data.test_labels.tolist() == [1, 1]


def test_test_class_unknown_to_train(tmp_path: Path) -> None:
    write_class(tmp_path / "train" / "rose", COLORS["rose"], 2)
    write_class(tmp_path / "test" / "lily", COLORS["rose"], 2)
    with pytest.raises(FixynnError, match=r"\['lily'\] have no folder"):
        load_dataset("image-folder", root=tmp_path)


def test_empty_class_folder(tmp_path: Path) -> None:
    write_folder(tmp_path)
    (tmp_path / "violet").mkdir()
    (tmp_path / "violet" / "notes.txt").write_text("x")
    with pytest.raises(FixynnError, match="holds no images") as err:
        load_dataset("image-folder", root=tmp_path)
    assert str(tmp_path / "violet") in str(err.value)


@pytest.mark.parametrize("payload", [b"garbage, not a png", None])
def test_unreadable_image(tmp_path: Path, payload: bytes | None) -> None:
    write_folder(tmp_path)
    path = tmp_path / "rose" / "img01.png"
    path.write_bytes(payload if payload is not None else path.read_bytes()[:60])
    with pytest.raises(FixynnError, match="unreadable image") as err:
        load_dataset("image-folder", root=tmp_path)
    assert str(path) in str(err.value)


def test_bad_arguments(tmp_path: Path) -> None:
    write_folder(tmp_path)
    with pytest.raises(FixynnError, match="channels=2"):
        load_dataset("image-folder", root=tmp_path, channels=2)
    with pytest.raises(FixynnError, match="image_size=0"):
        load_dataset("image-folder", root=tmp_path, image_size=0)
    with pytest.raises(FixynnError, match="no class sub-folders"):
        load_dataset("image-folder", root=tmp_path / "daisy")
    with pytest.raises(FixynnError, match="not a directory"):
        load_dataset("image-folder", root=tmp_path / "absent")
    with pytest.raises(FixynnError, match="no directory given"):
        load_dataset("image-folder")
    with pytest.raises(FixynnError, match="apply only to image folders"):
        load_dataset("opencv-digits", image_size=32)
