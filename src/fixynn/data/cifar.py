"""CIFAR-10 / CIFAR-100 from the official files (https://www.cs.toronto.edu/~kriz/cifar.html).

Two layouts are read: the "python version" (pickled dicts holding a uint8 `data` array of
N x 3072 = 1024 R, 1024 G, 1024 B row-major, and a label list) and the binary version (records
of label byte(s) + 3072 pixel bytes). The pickles are never plainly unpickled: a restricted
Unpickler resolves only the few globals a numpy array needs and rejects everything else.
"""

from __future__ import annotations

import codecs
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fixynn.data.types import Dataset
from fixynn.errors import FixynnError

PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class Layout:
    """File names of one CIFAR variant in one format."""

    folder: str  # the directory name inside the official archive
    train: tuple[str, ...]
    test: str
    meta: str
    label_key: str  # pickle: the labels entry; binary: unused
    names_key: str  # pickle: the class-names entry of the meta file; binary: unused
    label_bytes: int  # binary: bytes before the pixels; the last one is the label
    num_classes: int


LAYOUTS: dict[tuple[str, str], Layout] = {
    ("cifar10", "pickle"): Layout(
        "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
        "batches.meta", "labels", "label_names", 0, 10,
    ),
    ("cifar10", "binary"): Layout(
        "cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        "test_batch.bin", "batches.meta.txt", "", "", 1, 10,
    ),
    ("cifar100", "pickle"): Layout(
        "cifar-100-python", ("train",), "test", "meta", "fine_labels", "fine_label_names", 0, 100,
    ),
    ("cifar100", "binary"): Layout(
        "cifar-100-binary", ("train.bin",), "test.bin", "fine_label_names.txt", "", "", 2, 100,
    ),
}  # fmt: skip

# The only globals a CIFAR pickle needs: numpy array/dtype reconstruction (protocol 2, as
# written by Python 2 and by `pickle.dump(..., protocol=2)`), numpy's protocol-5 buffer path,
# and the bytes constructor Python 3 emits for protocol 2.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other global is refused."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")  # as Python 2 wrote the official batches
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in SAFE_GLOBALS:
            raise FixynnError(
                f"{self.path}: pickle asks for {module}.{name}, which CIFAR files never need; "
                "refusing to load it (use the official files)"
            )
        return SAFE_GLOBALS[(module, name)]


def load_pickle(path: Path) -> dict[str, Any]:
    """A CIFAR pickle as a dict with str keys (Python 2 wrote them as bytes/str)."""
    try:
        with path.open("rb") as file:
            obj = RestrictedUnpickler(file, path).load()
    except FileNotFoundError:
        raise FixynnError(f"{path}: file not found; the CIFAR directory is incomplete") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as exc:  # fmt: skip
        raise FixynnError(
            f"{path}: corrupt or truncated pickle ({type(exc).__name__}); re-download it"
        ) from None
    if not isinstance(obj, dict):
        raise FixynnError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def as_text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def check_labels(labels: np.ndarray, num_classes: int, path: Path) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise FixynnError(
            f"{path}: labels span {labels.min()}..{labels.max()}, outside 0..{num_classes - 1}; "
            "the file is corrupt"
        )
    return labels


def read_pickle_batch(path: Path, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    batch = load_pickle(path)
    for key in ("data", layout.label_key):
        if key not in batch:
            raise FixynnError(f"{path}: no {key!r} entry; this is not a CIFAR batch file")
    data = batch["data"]
    shape = getattr(data, "shape", type(data).__name__)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or shape[1:] != (PIXELS,):
        raise FixynnError(f"{path}: 'data' must be uint8 (N, {PIXELS}), got {shape}; corrupt")
    try:
        labels = np.asarray(batch[layout.label_key])
    except ValueError:  # a ragged list
        raise FixynnError(f"{path}: {layout.label_key!r} is not a flat list; corrupt") from None
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise FixynnError(
            f"{path}: {labels.size} labels for {data.shape[0]} images; the batch is corrupt"
        )
    if labels.size and labels.dtype.kind not in "iu":
        raise FixynnError(f"{path}: {layout.label_key!r} holds {labels.dtype}, not integers")
    labels = labels.astype(np.int64)
    check_labels(labels, layout.num_classes, path)
    return data.reshape(-1, 3, 32, 32), labels


def read_binary_batch(path: Path, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise FixynnError(f"{path}: file not found; the CIFAR directory is incomplete") from None
    record = layout.label_bytes + PIXELS
    if raw.size == 0 or raw.size % record:
        raise FixynnError(
            f"{path}: {raw.size} bytes is not a whole number of {record}-byte records; "
            "the file is truncated or corrupt"
        )
    rows = raw.reshape(-1, record)
    labels = check_labels(
        rows[:, layout.label_bytes - 1].astype(np.int64), layout.num_classes, path
    )
    return rows[:, layout.label_bytes :].reshape(-1, 3, 32, 32), labels


def read_class_names(directory: Path, layout: Layout, kind: str) -> tuple[str, ...]:
    path = directory / layout.meta
    if kind == "pickle":
        meta = load_pickle(path)
        if layout.names_key not in meta:
            raise FixynnError(f"{path}: no {layout.names_key!r} entry; not a CIFAR meta file")
        names = tuple(as_text(n) for n in meta[layout.names_key])
    else:
        try:
            lines = path.read_text(encoding="latin1").splitlines()
        except FileNotFoundError:
            raise FixynnError(f"{path}: file not found; CIFAR directory incomplete") from None
        names = tuple(line.strip() for line in lines if line.strip())
    if len(names) != layout.num_classes:
        raise FixynnError(
            f"{path}: {len(names)} class names, expected {layout.num_classes}; corrupt meta file"
        )
    return names


def find_layout(name: str, root: Path) -> tuple[str, Path] | None:
    """(format, directory) of the CIFAR files under `root` or its official sub-folder."""
    for kind in ("pickle", "binary"):
        layout = LAYOUTS[(name, kind)]
        for directory in (root, root / layout.folder):
            if (directory / layout.test).is_file():
                return kind, directory
    return None


def located_layout(name: str, root: Path) -> tuple[str, Path]:
    """`find_layout`, or a FixynnError saying how to get the files."""
    found = find_layout(name, root)
    if found is None:
        raise FixynnError(
            f"{root}: no {name} files (python pickle batches or binary .bin) found; run "
            f"`fixynn data get {name}` or pass --root to the extracted official archive"
        )
    return found


def cifar_files(name: str, root: Path) -> list[Path]:
    """The batch and meta files `load_cifar` reads (missing ones are reported by it)."""
    kind, directory = located_layout(name, root)
    layout = LAYOUTS[(name, kind)]
    return sorted(directory / file for file in (*layout.train, layout.test, layout.meta))


def load_cifar(name: str, root: Path) -> Dataset:
    """Official train/test split of `name` ("cifar10" or "cifar100") from `root`."""
    kind, directory = located_layout(name, root)
    layout = LAYOUTS[(name, kind)]
    read = read_pickle_batch if kind == "pickle" else read_binary_batch
    train = [read(directory / file, layout) for file in layout.train]
    test_x, test_y = read(directory / layout.test, layout)
    return Dataset(
        name,
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        test_x.copy(),  # contiguous and writable, like the train arrays
        test_y,
        read_class_names(directory, layout, kind),
    )
