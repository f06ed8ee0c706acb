"""opencv-photos: colour patches of opencv-doc's photographs, train and test from disjoint
column bands, and the built-in task photo-textures made of them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixynn.data import dataset_info, is_available, load_dataset
from fixynn.data.offline import OPENCV_DATA_DIR
from fixynn.data.photos import GRID, PATCH, PHOTOS, band, patch_origins
from fixynn.data.registry import source_files
from fixynn.data.tasks import load_task
from fixynn.errors import FixynnError

needs_photos = pytest.mark.needs_data("opencv-photos")


@needs_photos
def test_real_patches_counts_shapes_and_pixels() -> None:
    data = load_dataset("opencv-photos")
    info = dataset_info("opencv-photos")
    assert data.train_images.shape == (1280, 3, 32, 32) == (info.num_train, *info.image_shape)
    assert data.test_images.shape == (400, 3, 32, 32) == (info.num_test, *info.image_shape)
    assert data.train_images.dtype == np.uint8 and data.test_labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data.train_labels), np.full(10, 128))
    np.testing.assert_array_equal(np.bincount(data.test_labels), np.full(10, 40))
    assert data.class_names[0] == "baboon" and data.class_names[-1] == "aloe"
    # test patch 3 of board (class 3) is the photograph's pixels at its recorded corner
    photo = np.asarray(Image.open(OPENCV_DATA_DIR / "board.jpg").convert("RGB"))
    x, y = patch_origins("test", photo.shape[1], photo.shape[0])[3]
    np.testing.assert_array_equal(data.test_images[3 * 40 + 3].transpose(1, 2, 0),
                                  photo[y:y + 32, x:x + 32])
    again = load_dataset("opencv-photos")
    np.testing.assert_array_equal(again.train_images, data.train_images)
    np.testing.assert_array_equal(again.test_images, data.test_images)


@needs_photos
def test_real_bands_are_disjoint_with_a_patch_wide_gap() -> None:
    for _, file in PHOTOS:
        width, height = Image.open(OPENCV_DATA_DIR / file).size
        train, test = patch_origins("train", width, height), patch_origins("test", width, height)
        assert len(train) == 128 and len(test) == 40
        assert len(np.unique(test, axis=0)) == 40  # no patch cut twice
        assert train.min() >= 0 and test[:, 0].max() + PATCH <= width
        assert max(train[:, 1].max(), test[:, 1].max()) + PATCH <= height
        # every train pixel lies a patch width or more left of every test pixel
        assert test[:, 0].min() - (train[:, 0].max() + PATCH) >= PATCH, file


def write_coordinate_photos(root: Path, width: int = 300, height: int = 80) -> None:
    """Each photograph (PNG bytes under its .jpg name: lossless) holds its own column in red
    and green (x = r + 256 g) and the class index in blue."""
    x = np.arange(width)
    for label, (_, file) in enumerate(PHOTOS):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[..., 0], rgb[..., 1], rgb[..., 2] = x % 256, x // 256, label
        Image.fromarray(rgb).save(root / file, format="PNG")


def columns(images: np.ndarray) -> np.ndarray:
    """The photograph column each pixel of `write_coordinate_photos` patches came from."""
    return images[:, 0].astype(np.int64) + 256 * images[:, 1].astype(np.int64)


def test_loader_cuts_train_and_test_from_their_bands(tmp_path: Path) -> None:
    write_coordinate_photos(tmp_path)
    data = load_dataset("opencv-photos", root=tmp_path)
    for split in ("train", "test"):
        images, labels = getattr(data, f"{split}_images"), getattr(data, f"{split}_labels")
        np.testing.assert_array_equal(images[:, 2, 0, 0], labels)  # blue: the photograph
        cols = columns(images)
        start, stop = band(split, 300)
        assert cols.min() >= start and cols.max() < stop, split
        per_photo = GRID[split][0] * GRID[split][1]
        np.testing.assert_array_equal(cols[:per_photo, 0, 0],
                                      patch_origins(split, 300, 80)[:, 0])
    assert (band("train", 300), band("test", 300)) == ((0, 210), (242, 300))
    unused = columns(data.test_images).min() - columns(data.train_images).max() - 1
    assert unused >= PATCH  # columns neither split uses: at least a patch wide


def test_grey_and_colour_inputs(tmp_path: Path) -> None:
    write_coordinate_photos(tmp_path)
    raw = load_dataset("opencv-photos", root=tmp_path)
    (tmp_path / "my.toml").write_text(f'[[tasks.define]]\nname = "p"\ndataset = "opencv-photos"\n'
                                      f'root = "{tmp_path}"\n')
    from fixynn.config import load_config

    spec = load_config(tmp_path / "my.toml").tasks.spec("p")
    grey = load_task(spec, size=32, channels=1)  # no resize: only the colour conversion
    assert grey.test_images.shape == (400, 1, 32, 32)
    np.testing.assert_array_equal(grey.test_images[:, 0],
                                  np.rint(raw.test_images.mean(axis=1)).astype(np.uint8))
    assert load_task(spec).train_images.shape == (1280, 1, 28, 28)  # the default input
    colour = load_task(spec, size=64, channels=3)
    assert colour.test_images.shape == (400, 3, 64, 64)
    assert (colour.test_images[:, 2] == raw.test_labels[:, None, None]).all()  # colour kept


@needs_photos
def test_builtin_task_is_rgb_photos() -> None:
    task = load_task("photo-textures", size=32, channels=3)
    raw = load_dataset("opencv-photos")
    np.testing.assert_array_equal(task.test_images, raw.test_images)
    assert task.class_names == raw.class_names
    # real colour: the channels differ (a grey photograph would have r == g == b)
    assert np.abs(task.train_images[:, 0].astype(int) - task.train_images[:, 2]).mean() > 10


def test_missing_photo_names_file_and_package(tmp_path: Path, fixynn_cmd: list[str]) -> None:
    write_coordinate_photos(tmp_path)
    (tmp_path / "butterfly.jpg").unlink()
    assert not is_available("opencv-photos", root=tmp_path)
    expected = f"{tmp_path / 'butterfly.jpg'}: not found; run `apt-get install opencv-doc`"
    with pytest.raises(FixynnError, match=re.escape(expected)):
        load_dataset("opencv-photos", root=tmp_path)
    with pytest.raises(FixynnError, match=r"butterfly\.jpg: not found"):
        source_files("opencv-photos", root=tmp_path)
    done = subprocess.run([*fixynn_cmd, "data", "show", "opencv-photos", "--root",
                           str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_too_narrow_photo_is_an_error(tmp_path: Path) -> None:
    write_coordinate_photos(tmp_path)
    Image.new("RGB", (200, 80)).save(tmp_path / "home.jpg", format="PNG")  # test band: 28
    with pytest.raises(FixynnError, match=r"home\.jpg: 200x80 pixels is too small"):
        load_dataset("opencv-photos", root=tmp_path)
