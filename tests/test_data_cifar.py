"""CIFAR loaders (pickle and binary layouts, restricted unpickling) and the fetch helpers."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fixynn.data import fetch, is_available, load_dataset
from fixynn.errors import FixynnError

NAMES10 = [b"airplane", b"automobile", b"bird", b"cat", b"deer",
           b"dog", b"frog", b"horse", b"ship", b"truck"]  # fmt: skip


def batch_arrays(n: int, offset: int, num_classes: int) -> tuple[np.ndarray, list[int]]:
    """Rows whose R plane holds the sample index, G its label, B 7 (the official layout)."""
    labels = [(offset + i) * 7 % num_classes for i in range(n)]
    data = np.zeros((n, 3072), np.uint8)
    data[:, :1024] = (offset + np.arange(n))[:, None]
    data[:, 1024:2048] = np.array(labels)[:, None]
    data[:, 2048:] = 7
    return data, labels


def dump(path: Path, obj: dict, protocol: int = 2) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def write_cifar10_py(root: Path, per_batch: int = 3, protocol: int = 2) -> Path:
    """The official python layout: bytes keys, list labels, uint8 (N, 3072) data."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        data, labels = batch_arrays(per_batch, (i - 1) * per_batch, 10)
        name = f"data_batch_{i}"
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [b"x.png"] * per_batch}  # fmt: skip
        dump(folder / name, batch, protocol)
    data, labels = batch_arrays(2, 100, 10)
    dump(folder / "test_batch", {b"labels": labels, b"data": data}, protocol)
    dump(folder / "batches.meta", {b"label_names": NAMES10, b"num_cases_per_batch": per_batch})
    return folder


def test_cifar10_pickle_layout(tmp_path: Path) -> None:
    write_cifar10_py(tmp_path)
    data = load_dataset("cifar10", root=tmp_path)
    assert data.train_images.shape == (15, 3, 32, 32) and data.test_images.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(data.train_images[:, 0, 31, 31], np.arange(15))
    np.testing.assert_array_equal(data.train_images[:, 1, 0, 0], data.train_labels)
    assert (data.train_images[:, 2] == 7).all()
    np.testing.assert_array_equal(data.test_labels, [100 * 7 % 10, 101 * 7 % 10])
    assert data.class_names[1] == "automobile"
    assert data.test_images.flags.writeable and data.test_images.flags.c_contiguous


def test_pickles_of_protocol_5_and_str_keys_load(tmp_path: Path) -> None:
    folder = write_cifar10_py(tmp_path, protocol=5)
    data, labels = batch_arrays(2, 100, 10)
    dump(folder / "test_batch", {"labels": np.array(labels), "data": data}, protocol=5)
    assert load_dataset("cifar10", root=folder).test_labels.tolist() == [0, 7]


class Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    folder = write_cifar10_py(tmp_path)
    pwned = tmp_path / "pwned"
    data, labels = batch_arrays(2, 0, 10)
    dump(folder / "test_batch", {b"labels": labels, b"data": data, b"x": Evil(pwned)})
    with pytest.raises(FixynnError, match=r"posix\.mkdir.*refusing") as err:
        load_dataset("cifar10", root=tmp_path)
    assert str(folder / "test_batch") in str(err.value)
    assert not pwned.exists()


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({b"labels": [1, 2, 3], b"data": np.zeros((2, 3072), np.uint8)}, "3 labels for 2 images"),
        ({b"labels": [1, 12], b"data": np.zeros((2, 3072), np.uint8)}, "outside 0..9"),
        ({b"labels": [1, 2], b"data": np.zeros((2, 3000), np.uint8)}, r"uint8 \(N, 3072\)"),
        ({b"labels": [1, 2], b"data": np.zeros((2, 3072), np.int16)}, r"uint8 \(N, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'labels' entry"),
        ({b"labels": [1.5, 2.0], b"data": np.zeros((2, 3072), np.uint8)}, "not integers"),
    ],
)
def test_bad_batches_name_the_file(tmp_path: Path, batch: dict, message: str) -> None:
    folder = write_cifar10_py(tmp_path)
    dump(folder / "data_batch_3", batch)
    with pytest.raises(FixynnError, match=message) as err:
        load_dataset("cifar10", root=tmp_path)
    assert str(folder / "data_batch_3") in str(err.value)


def test_truncated_and_missing_batches(tmp_path: Path) -> None:
    folder = write_cifar10_py(tmp_path)
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(FixynnError, match="corrupt or truncated pickle"):
        load_dataset("cifar10", root=tmp_path)
    path.unlink()
    with pytest.raises(FixynnError, match="data_batch_2: file not found"):
        load_dataset("cifar10", root=tmp_path)


def test_wrong_number_of_class_names(tmp_path: Path) -> None:
    folder = write_cifar10_py(tmp_path)
    dump(folder / "batches.meta", {b"label_names": NAMES10[:9]})
    with pytest.raises(FixynnError, match="9 class names, expected 10"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar100_pickle_uses_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for split, n, offset in (("train", 6, 0), ("test", 3, 40)):
        data, labels = batch_arrays(n, offset, 100)
        coarse = [label // 5 for label in labels]
        dump(folder / split, {b"fine_labels": labels, b"coarse_labels": coarse, b"data": data})
    names = [f"class{i}".encode() for i in range(100)]
    dump(folder / "meta", {b"fine_label_names": names, b"coarse_label_names": names[:20]})
    data = load_dataset("cifar100", root=tmp_path)
    assert data.num_classes == 100 and data.class_names[42] == "class42"
    np.testing.assert_array_equal(data.test_labels, [280 % 100, 287 % 100, 294 % 100])
    np.testing.assert_array_equal(data.train_images[:, 1, 5, 5], data.train_labels)


def write_binary(path: Path, labels: list[list[int]], pixel: int) -> None:
    rows = [bytes(label) + bytes([pixel]) * 1024 + bytes([pixel + 1]) * 2048 for label in labels]
    path.write_bytes(b"".join(rows))


def test_cifar10_binary_layout(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i in range(1, 6):
        write_binary(folder / f"data_batch_{i}.bin", [[i], [9 - i]], pixel=10 * i)
    write_binary(folder / "test_batch.bin", [[3]], pixel=200)
    (folder / "batches.meta.txt").write_text("\n".join(n.decode() for n in NAMES10) + "\n\n")
    data = load_dataset("cifar10", root=tmp_path)
    assert data.train_labels.tolist() == [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]
    assert data.train_images[::2, 0, 0, 0].tolist() == [10, 20, 30, 40, 50]
    assert (data.test_images[0, 0] == 200).all() and (data.test_images[0, 1:] == 201).all()
    assert data.class_names[-1] == "truck"
    assert is_available("cifar10", tmp_path)

    path = folder / "data_batch_4.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(FixynnError, match="whole number of 3073-byte records") as err:
        load_dataset("cifar10", root=folder)
    assert str(path) in str(err.value)


def test_cifar100_binary_reads_the_fine_label(tmp_path: Path) -> None:
    write_binary(tmp_path / "train.bin", [[1, 55], [2, 99]], pixel=1)
    write_binary(tmp_path / "test.bin", [[3, 0]], pixel=2)
    (tmp_path / "fine_label_names.txt").write_text("\n".join(f"c{i}" for i in range(100)))
    data = load_dataset("cifar100", root=tmp_path)
    assert data.train_labels.tolist() == [55, 99] and data.test_labels.tolist() == [0]
    write_binary(tmp_path / "test.bin", [[3, 100]], pixel=2)
    with pytest.raises(FixynnError, match=r"outside 0\.\.99"):
        load_dataset("cifar100", root=tmp_path)


def test_missing_cifar_points_to_data_get(tmp_path: Path) -> None:
    with pytest.raises(FixynnError, match="fixynn data get cifar10"):
        load_dataset("cifar10", root=tmp_path)
    assert not is_available("cifar10", tmp_path)


def make_tarball(tmp_path: Path, extra: str | None = None) -> tuple[Path, str]:
    """A gzipped tar of a small cifar-10-batches-py folder (plus an `extra` member name)."""
    write_cifar10_py(tmp_path / "src")
    tarball = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        if extra:
            info = tarfile.TarInfo(extra)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
    return tarball, hashlib.md5(tarball.read_bytes()).hexdigest()


def test_checksum_and_atomic_extraction(tmp_path: Path) -> None:
    tarball, md5 = make_tarball(tmp_path)
    fetch.verify_md5(tarball, md5)
    with pytest.raises(FixynnError, match="does not match the published"):
        fetch.verify_md5(tarball, "0" * 32)
    dest = tmp_path / "data"
    target = fetch.extract_archive(tarball, dest, "cifar-10-batches-py")
    assert target == dest / "cifar-10-batches-py"
    assert [p.name for p in dest.iterdir()] == ["cifar-10-batches-py"]  # no temp dir left
    assert load_dataset("cifar10", root=dest).train_images.shape[0] == 15


@pytest.mark.parametrize("extra", ["../escape.txt", "other/file.txt"])
def test_extraction_rejects_stray_members(tmp_path: Path, extra: str) -> None:
    tarball, _ = make_tarball(tmp_path, extra)
    dest = tmp_path / "data"
    with pytest.raises(FixynnError, match="expected every member under"):
        fetch.extract_archive(tarball, dest, "cifar-10-batches-py")
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_corrupt_tarball(tmp_path: Path) -> None:
    tarball = tmp_path / "x.tar.gz"
    tarball.write_bytes(b"\x1f\x8b" + b"not really" * 10)
    with pytest.raises(FixynnError, match="cannot extract"):
        fetch.extract_archive(tarball, tmp_path / "d", "cifar-10-batches-py")
    assert list((tmp_path / "d").iterdir()) == []


def test_fetch_cifar_downloads_verifies_extracts(tmp_path: Path, monkeypatch) -> None:
    tarball, md5 = make_tarball(tmp_path)
    archive = fetch.Archive(tarball.as_uri(), md5, "cifar-10-batches-py")
    monkeypatch.setitem(fetch.CIFAR_ARCHIVES, "cifar10", archive)
    root = tmp_path / "home"
    fetch.fetch_cifar("cifar10", root)
    assert [p.name for p in root.iterdir()] == ["cifar-10-batches-py"]  # tarball removed
    assert load_dataset("cifar10", root=root).test_labels.tolist() == [0, 7]


def test_download_with_bad_checksum_leaves_nothing(tmp_path: Path) -> None:
    tarball, _ = make_tarball(tmp_path)
    dest = tmp_path / "dl" / "file.tar.gz"
    with pytest.raises(FixynnError, match="does not match"):
        fetch.download(tarball.as_uri(), dest, "f" * 32)
    assert list(dest.parent.iterdir()) == []
    with pytest.raises(FixynnError, match="download failed"):
        fetch.download((tmp_path / "absent.tar.gz").as_uri(), dest, "f" * 32)
