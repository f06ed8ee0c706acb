"""The registry, the CLI, and the real offline data installed by the Debian packages."""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fixynn.cli import app
from fixynn.data import dataset_info, fetch, is_available, list_datasets, load_dataset
from fixynn.data.offline import OPENCV_DIGITS_FILE
from fixynn.errors import FixynnError

needs_fashion = pytest.mark.needs_data("fashion-mnist")
needs_digits_png = pytest.mark.needs_data("opencv-digits")


def test_registry_names_and_unknown_name() -> None:
    names = [info.name for info in list_datasets()]
    assert names == [
        "fashion-mnist", "opencv-digits", "opencv-photos", "sklearn-digits", "cifar10", "cifar100",
        "image-folder", "idx",
    ]  # fmt: skip
    assert dataset_info("cifar100").num_classes == 100
    with pytest.raises(FixynnError, match="unknown dataset 'mnist'; valid names: fashion-mnist"):
        load_dataset("mnist")
    with pytest.raises(FixynnError, match="unknown dataset"):
        is_available("mnist")


@needs_fashion
def test_real_fashion_mnist() -> None:
    data = load_dataset("fashion-mnist")
    info = dataset_info("fashion-mnist")
    assert data.train_images.shape == (60000, 1, 28, 28) == (info.num_train, *info.image_shape)
    assert data.test_images.shape == (10000, 1, 28, 28)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data.train_labels), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(data.test_labels), np.full(10, 1000))
    # First training image of the official file is an ankle boot, first test one too.
    assert data.train_labels[0] == 9 and data.test_labels[0] == 9


@needs_digits_png
def test_real_opencv_digits() -> None:
    data = load_dataset("opencv-digits")
    np.testing.assert_array_equal(np.bincount(data.train_labels), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(data.test_labels), np.full(10, 100))
    pixels = np.asarray(Image.open(OPENCV_DIGITS_FILE).convert("L"))
    # Test sample 0 is class 0's 5th cell (row 0, col 4); test sample 100 is class 1's 5th
    # (row 5, col 4): every-5th split in reading order, 5 cell rows per class.
    np.testing.assert_array_equal(data.test_images[0, 0], pixels[0:20, 80:100])
    np.testing.assert_array_equal(data.test_images[100, 0], pixels[100:120, 80:100])
    again = load_dataset("opencv-digits")
    np.testing.assert_array_equal(again.train_images, data.train_images)


def test_real_sklearn_digits() -> None:
    from sklearn.datasets import load_digits

    data = load_dataset("sklearn-digits")
    assert data.train_images.shape[0] + data.test_images.shape[0] == 1797
    assert data.test_images.shape == (355, 1, 8, 8)
    bunch = load_digits()
    # Test samples keep file order; the first is the earliest 5th-of-its-class sample.
    first_test = min(np.flatnonzero(bunch.target == c)[4] for c in range(10))
    expected = (bunch.images[first_test].astype(int) * 255 + 8) // 16
    np.testing.assert_array_equal(data.test_images[0, 0], expected)
    assert data.test_labels[0] == bunch.target[first_test]
    assert data.train_images.max() == 255 and data.train_images.min() == 0
    with pytest.raises(FixynnError, match="takes no root"):
        load_dataset("sklearn-digits", root="/tmp")


runner = CliRunner()


def test_cli_list_and_get() -> None:
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0
    for text in ("fashion-mnist", "sklearn-digits", "CC BY 4.0", "1,442/355"):
        assert text in result.output
    result = runner.invoke(app, ["data", "get", "sklearn-digits"])
    assert result.exit_code == 0 and "sklearn-digits: available" in result.output


def test_cli_get_missing_apt_dataset_prints_command(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "get", "opencv-digits", "--root", str(tmp_path)])
    assert isinstance(result.exception, FixynnError)
    assert "apt-get install -y opencv-doc" in str(result.exception)


def test_cli_get_cifar_from_local_archive(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "src" / "cifar-100-python"
    source.mkdir(parents=True)
    data = np.zeros((2, 3072), np.uint8)
    for split in ("train", "test"):
        (source / split).write_bytes(pickle.dumps({b"fine_labels": [3, 99], b"data": data}, 2))
    names = [f"c{i}".encode() for i in range(100)]
    (source / "meta").write_bytes(pickle.dumps({b"fine_label_names": names}, 2))
    tarball = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(source, arcname="cifar-100-python")
    md5 = hashlib.md5(tarball.read_bytes()).hexdigest()
    monkeypatch.setitem(
        fetch.CIFAR_ARCHIVES, "cifar100", fetch.Archive(tarball.as_uri(), md5, "cifar-100-python")
    )
    monkeypatch.setenv("FIXYNN_DATA", str(tmp_path / "home"))
    result = runner.invoke(app, ["data", "get", "cifar100"])
    assert result.exit_code == 0, result.output
    assert is_available("cifar100")
    assert load_dataset("cifar100").train_labels.tolist() == [3, 99]
    result = runner.invoke(app, ["data", "get", "cifar100"])
    assert "cifar100: available" in result.output


def test_apt_install_needs_root(monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(FixynnError, match="run `sudo apt-get install -y opencv-doc`"):
        fetch.apt_install("opencv-doc")


def test_cli_show_folder(tmp_path: Path) -> None:
    for k in range(2):
        (tmp_path / f"c{k}").mkdir()
        for i in range(5):
            Image.new("L", (5, 5), 40 * k).save(tmp_path / f"c{k}" / f"{i}.png")
    result = runner.invoke(app, ["data", "show", f"folder:{tmp_path}", "--image-size", "4"])
    assert result.exit_code == 0, result.output
    assert "image shape (3, 4, 4)" in result.output
    assert "train: 8 images" in result.output and "test: 2 images" in result.output
