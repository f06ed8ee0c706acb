"""Where a layer's window stands on its input map: the geometry the window unit scans.

Read by the RTL window unit (`fixynn.hw.rtl.window`), the stage timing of the plan and the
FFE cost model, so all three agree on the virtual scan of (H + EH) x (W + EW) positions.
"""

from __future__ import annotations

from dataclasses import dataclass

from fixynn.hw.ir import HwLayer


@dataclass(frozen=True)
class WindowGeometry:
    """Where the window of one layer stands when each output pixel is complete."""

    kernel: int
    stride: int
    pad_top: int  # zero rows above the map (the bottom ones follow from out_height)
    pad_left: int  # zero columns left of it (the right ones follow from out_width)
    in_height: int
    in_width: int
    out_height: int
    out_width: int

    @classmethod
    def of(cls, layer: HwLayer, in_height: int, in_width: int) -> WindowGeometry:
        oh, ow = layer.out_size(in_height, in_width)
        top, _, left, _ = layer.padding
        return cls(layer.kernel, layer.stride, top, left, in_height, in_width, oh, ow)

    def _extra(self, size: int, out: int, before: int) -> int:
        """Virtual positions past the input edge: the last window's far edge beyond it."""
        return max(0, (out - 1) * self.stride - before + self.kernel - size)

    @property
    def extra_rows(self) -> int:
        return self._extra(self.in_height, self.out_height, self.pad_top)

    @property
    def extra_cols(self) -> int:
        return self._extra(self.in_width, self.out_width, self.pad_left)

    def _mask(self, out: int, length: int, before: int) -> list[bool]:
        hits = {o * self.stride - before + self.kernel - 1 for o in range(out)}
        return [v in hits for v in range(length)]

    def row_mask(self) -> list[bool]:
        return self._mask(self.out_height, self.in_height + self.extra_rows, self.pad_top)

    def col_mask(self) -> list[bool]:
        return self._mask(self.out_width, self.in_width + self.extra_cols, self.pad_left)
