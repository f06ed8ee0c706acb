"""IDX (Fashion-MNIST) and digit-grid (digits.png) loaders on tiny files in the real formats."""

from __future__ import annotations

import gzip
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fixynn.data import load_dataset
from fixynn.data.idx import encode_idx, parse_idx, read_idx
from fixynn.data.split import stratified_split
from fixynn.errors import FixynnError

STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def write_fashion(root: Path, n_train: int = 12, n_test: int = 5, gz: bool = True) -> dict:
    """Four IDX files: train gzipped (when `gz`), test raw; returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) * 3 % 10).astype(np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for part, array in arrays.items():
        data = encode_idx(array)
        if part.startswith("train") and gz:
            (root / f"{STEMS[part]}.gz").write_bytes(gzip.compress(data))
        else:
            (root / STEMS[part]).write_bytes(data)
    return arrays


def test_idx_header_and_big_endian_payload(tmp_path: Path) -> None:
    data = bytes([0, 0, 0x0C, 2, 0, 0, 0, 2, 0, 0, 0, 1]) + bytes(
        [0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFE]
    )
    array = parse_idx(data, tmp_path / "x")
    assert array.shape == (2, 1)
    assert array.dtype == np.dtype(np.int32)
    assert array.ravel().tolist() == [258, -2]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip_gz_and_raw(tmp_path: Path, dtype: type) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    raw, packed = tmp_path / "a-idx3", tmp_path / "a-idx3.gz"
    raw.write_bytes(encode_idx(array))
    packed.write_bytes(gzip.compress(encode_idx(array)))
    for path in (raw, packed):
        loaded = read_idx(path)
        assert loaded.dtype == array.dtype and loaded.flags.writeable
        np.testing.assert_array_equal(loaded, array)


def test_fashion_loader_reads_gz_and_raw(tmp_path: Path) -> None:
    arrays = write_fashion(tmp_path)
    data = load_dataset("fashion-mnist", root=tmp_path)
    assert data.train_images.shape == (12, 1, 28, 28) and data.test_images.shape == (5, 1, 28, 28)
    assert data.train_labels.dtype == np.int64
    np.testing.assert_array_equal(data.train_images[:, 0], arrays["train_images"])
    np.testing.assert_array_equal(data.test_images[:, 0], arrays["test_images"])
    np.testing.assert_array_equal(data.test_labels, [0, 3, 6, 9, 2])
    assert data.class_names[9] == "Ankle boot"


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda b: b"\x08\x03" + b[2:], "bad magic"),
        (lambda b: b[:2] + b"\x07" + b[3:], "dtype code"),
        (lambda b: b[:-1], "truncated"),
        (lambda b: b + b"\x00", "trailing"),
        (lambda b: b[:10], "truncated"),
    ],
)
def test_corrupt_idx_names_the_file(tmp_path: Path, corrupt, message: str) -> None:
    write_fashion(tmp_path, gz=False)
    path = tmp_path / STEMS["test_images"]
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(FixynnError, match=message) as err:
        load_dataset("fashion-mnist", root=tmp_path)
    assert str(path) in str(err.value)


def test_truncated_gzip(tmp_path: Path) -> None:
    write_fashion(tmp_path)
    path = tmp_path / f"{STEMS['train_images']}.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(FixynnError, match="gzip") as err:
        load_dataset("fashion-mnist", root=tmp_path)
    assert str(path) in str(err.value)


def test_label_count_mismatch(tmp_path: Path) -> None:
    write_fashion(tmp_path, gz=False)
    path = tmp_path / STEMS["train_labels"]
    path.write_bytes(encode_idx(np.zeros(11, np.uint8)))
    with pytest.raises(FixynnError, match="11 labels for 12 images") as err:
        load_dataset("fashion-mnist", root=tmp_path)
    assert str(path) in str(err.value)


def test_label_out_of_range(tmp_path: Path) -> None:
    write_fashion(tmp_path, gz=False)
    (tmp_path / STEMS["test_labels"]).write_bytes(encode_idx(np.array([1, 2, 10, 0, 0], np.uint8)))
    with pytest.raises(FixynnError, match="label 10 out of range"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_images_of_wrong_kind(tmp_path: Path) -> None:
    write_fashion(tmp_path, gz=False)
    (tmp_path / STEMS["test_images"]).write_bytes(encode_idx(np.zeros((5, 28, 28), np.int32)))
    with pytest.raises(FixynnError, match="expected uint8 images"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_missing_files_say_how_to_install(tmp_path: Path) -> None:
    write_fashion(tmp_path)
    (tmp_path / STEMS["test_labels"]).unlink()
    with pytest.raises(FixynnError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_stratified_split_every_fifth() -> None:
    labels = np.array([0, 0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1])
    train, test = stratified_split(labels)
    # class 0 sits at 0,1,3,4,6,10: its 5th member (index 6) is test; class 1's 5th is index 9.
    assert test.tolist() == [6, 9]
    assert sorted(train.tolist() + test.tolist()) == list(range(12))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=200),
    st.sampled_from([Fraction(1, 5), Fraction(1, 3), Fraction(3, 10)]),
)
def test_stratified_split_partitions_and_counts(labels: list[int], fraction: Fraction) -> None:
    labels_arr = np.array(labels)
    train, test = stratified_split(labels_arr, fraction)
    assert np.intersect1d(train, test).size == 0
    assert train.size + test.size == labels_arr.size
    for cls in np.unique(labels_arr):
        n = int((labels_arr == cls).sum())
        assert (
            int((labels_arr[test] == cls).sum()) == n * fraction.numerator // fraction.denominator
        )


def write_grid(path: Path, rows_per_class: int = 2, cols: int = 5, cell: int = 20) -> np.ndarray:
    """A digit grid whose cell i (reading order) is filled with the value i."""
    rows = 10 * rows_per_class
    values = np.arange(rows * cols, dtype=np.uint8).reshape(rows, cols)
    pixels = np.kron(values, np.ones((cell, cell), np.uint8))
    Image.fromarray(pixels).save(path)
    return values.ravel()


def test_digit_grid_cells_labels_and_split(tmp_path: Path) -> None:
    values = write_grid(tmp_path / "digits.png")
    data = load_dataset("opencv-digits", root=tmp_path)
    assert data.train_images.shape == (80, 1, 20, 20) and data.test_images.shape == (20, 1, 20, 20)
    # 10 cells per class in reading order; positions 4 and 9 of each class are test.
    test_cells = [10 * c + k for c in range(10) for k in (4, 9)]
    np.testing.assert_array_equal(data.test_images[:, 0, 7, 13], values[test_cells])
    np.testing.assert_array_equal(data.test_labels, np.repeat(np.arange(10), 2))
    np.testing.assert_array_equal(np.bincount(data.train_labels), np.full(10, 8))
    assert (data.train_images == data.train_images[:, :, :1, :1]).all()  # cells cut on the grid


def test_grid_of_wrong_geometry(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((200, 110), np.uint8)).save(tmp_path / "digits.png")
    with pytest.raises(FixynnError, match="not a whole grid"):
        load_dataset("opencv-digits", root=tmp_path)
    Image.fromarray(np.zeros((220, 100), np.uint8)).save(tmp_path / "digits.png")
    with pytest.raises(FixynnError, match="11 cell rows"):
        load_dataset("opencv-digits", root=tmp_path)


def test_truncated_grid_png(tmp_path: Path) -> None:
    path = tmp_path / "digits.png"
    write_grid(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(FixynnError, match="unreadable image") as err:
        load_dataset("opencv-digits", root=tmp_path)
    assert str(path) in str(err.value)
