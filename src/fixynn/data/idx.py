"""The IDX format of MNIST / Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Header: two zero bytes, a dtype code, the number of dimensions, then one big-endian uint32 per
dimension; the data follow in C order, big-endian. Files may be gzipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fixynn.data.files import read_maybe_gzip
from fixynn.errors import FixynnError

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Decode IDX bytes into an array (native byte order); `path` is only for error messages."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise FixynnError(f"{path}: not an IDX file (bad magic number); expected MNIST-style IDX")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise FixynnError(f"{path}: unknown IDX dtype code 0x{code:02x}; the file is corrupt")
    if ndim == 0:
        raise FixynnError(f"{path}: IDX header declares 0 dimensions; the file is corrupt")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise FixynnError(f"{path}: truncated IDX header; re-download or reinstall the file")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "has trailing bytes"
        raise FixynnError(
            f"{path}: IDX file {state} ({len(data)} bytes, header {shape} needs {expected}); "
            "re-download or reinstall the file"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    # A writable native-order copy: frombuffer views of bytes are read-only.
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(read_maybe_gzip(path), path)


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for `array` (the inverse of parse_idx; used to write test fixtures and exports)."""
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    big = IDX_DTYPES[codes[native]]
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=big).tobytes()
