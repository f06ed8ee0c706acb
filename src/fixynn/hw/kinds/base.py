"""What one entry of the kinds table provides, the error every IR rule raises, and the
strict field checks every node uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fixynn.errors import FixynnError
from fixynn.hw.numfmt import TensorFormat

if TYPE_CHECKING:
    from fixynn.hw.lower.add import AddDatapath
    from fixynn.hw.lower.datapath import LayerDatapath
    from fixynn.hw.lower.pool import PoolDatapath

Shape = tuple[int, int, int]  # (channels, height, width)
Padding = tuple[int, int, int, int]  # zeros before/after: (top, bottom, left, right)
SIDES = ("top", "bottom", "left", "right")


class HwGraphError(FixynnError, ValueError):
    """An HwGraph (or its files) violates the IR's rules; the message says which rule."""


@dataclass(frozen=True)
class KindSpec:
    """Everything the tool flow knows about one layer kind, in one place.

    node_type:    the Python class of its nodes (validates itself on construction);
    arity:        number of input tensors;
    check_inputs: (node, input shapes, input formats) -> output shape, or an HwGraphError
                  saying which input disagrees;
    golden:       its exact integer semantics: input tensors (B, C, H, W) int64 -> output;
    out_range:    the (lo, hi) its output integers can take (the value-range analysis);
    json_fields / to_json / from_json / arrays: its fields in graph.json and weights.npz
                  (beyond name, kind, inputs, activation, format, which every node has);
    datapath:     its lowering to arithmetic for an adder style and its input's shape, read
                  by the plan, the RTL emitter and the cost model (`fixynn.hw.lower`);
                  None: no hardware yet.
    """

    name: str
    node_type: type
    arity: int
    check_inputs: Callable[[Any, list[Shape], list[TensorFormat]], Shape]
    golden: Callable[[Any, list[np.ndarray]], np.ndarray]
    out_range: Callable[[Any], tuple[int, int]]
    json_fields: tuple[str, ...]
    to_json: Callable[[Any], dict[str, Any]]
    from_json: Callable[..., Any]  # (name, spec, in_shapes, in_formats, arrays) -> node
    arrays: tuple[str, ...]
    datapath: Callable[[Any, str, Shape], LayerDatapath | AddDatapath | PoolDatapath] | None


def strict_int(value: Any, what: str) -> int:
    """`value` as a Python int; a float (even 2.0), bool, string or None is an error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise HwGraphError(f"{what} must be an integer, got {value!r}")
    return int(value)


def strict_bool(value: Any, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise HwGraphError(f"{what} must be true or false, got {value!r}")
    return bool(value)


def strict_padding(value: Any, what: str) -> Padding:
    """`value` (an int: the same on every side, or 4 ints (top, bottom, left, right)) as the
    4-tuple; the range 0..kernel-1 is checked by `check_padding` once the kernel is known."""
    if isinstance(value, (tuple, list)):
        if len(value) != 4:
            raise HwGraphError(f"{what} must be an integer or 4 integers (top, bottom, left, "
                               f"right), got {list(value)!r}")
        return tuple(strict_int(v, f"{what}[{i}] ({side})")  # type: ignore[return-value]
                     for i, (v, side) in enumerate(zip(value, SIDES, strict=True)))
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise HwGraphError(f"{what} must be an integer or 4 integers (top, bottom, left, "
                           f"right), got {value!r}")
    return (int(value),) * 4


def check_padding(padding: Padding, kernel: int, where: str) -> None:
    """Each side pads 0..kernel-1 (a window then always covers a real pixel)."""
    for side, p in zip(SIDES, padding, strict=True):
        if not 0 <= p < kernel:
            raise HwGraphError(f"{where}: padding ({side}) {p} must be in 0..kernel-1 "
                               f"(0..{kernel - 1})")


def padding_json(padding: Padding) -> int | list[int]:
    """graph.json's form: one int when every side agrees, else [top, bottom, left, right]."""
    return padding[0] if len(set(padding)) == 1 else list(padding)


def window_out_size(size: int, kernel: int, stride: int, before: int, after: int) -> int:
    """Output positions of a k x k, stride-s window on `size` inputs padded before/after."""
    return (size + before + after - kernel) // stride + 1


def choice(value: Any, choices: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise HwGraphError(f"{what} {value!r} is not one of {', '.join(choices)}")
    return value


def node_arrays(arrays: dict[str, np.ndarray], name: str, keys: tuple[str, ...],
                npz_path: Path) -> dict[str, np.ndarray]:
    """The arrays `name.key` of one node in weights.npz."""
    out = {}
    for key in keys:
        if f"{name}.{key}" not in arrays:
            raise HwGraphError(f"{npz_path}: array '{name}.{key}' missing")
        out[key] = arrays[f"{name}.{key}"]
    return out


def as_int_array(value: Any, what: str) -> np.ndarray:
    """An int64 copy of `value`; floats only when every entry is an exactly held integer."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
                and np.abs(arr).max(initial=0) < 2**53):
            raise HwGraphError(f"{what}: expected integers, got non-integer {arr.dtype} values")
    elif arr.dtype.kind == "u":
        if arr.max(initial=0) >= 2**63:
            raise HwGraphError(f"{what}: values do not fit in int64")
    elif arr.dtype.kind != "i":
        raise HwGraphError(f"{what}: expected integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr.astype(np.int64))
