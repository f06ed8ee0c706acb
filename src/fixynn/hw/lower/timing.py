"""When each pixel of each tensor leaves its stage: the stream timing of the plan.

The cycle of every output pixel under the densest schedule the protocol allows (docs/rtl.md:
no idle cycle inside a row, exactly `row_gap` between rows), derived from what the RTL
builds: a window unit registers its window at the scan position where it is complete
(`win_valid` one cycle later), walks right-padding columns one per cycle right after a row's
last real pixel and bottom-padding rows after the frame's last pixel with `gap` idle cycles
between them; a fused 1x1 stage reads its input stream as it comes; then each pipeline
register and the output register add a cycle.

The add stage sizes its skip buffer from these times. Every time is `arrival(e) + c` for
an input pixel e and a constant c, so when the skip tensor lies on every path to the other
input (a residual), a sparser schedule only delays the branch's pixels behind the skip's:
the densest schedule holds the most skip pixels at once, and the buffer sized for it is
exact (one entry less overflows under that schedule).
"""

from __future__ import annotations

import numpy as np

from fixynn.hw.ir import HwGraphError
from fixynn.hw.lower.geometry import WindowGeometry


def input_times(height: int, width: int, gap: int) -> np.ndarray:
    """Cycle of each image pixel (raster order) in the dense schedule."""
    r, c = np.divmod(np.arange(height * width, dtype=np.int64), width)
    return r * (width + gap) + c


def window_times(t_in: np.ndarray, geo: WindowGeometry, gap: int, latency: int) -> np.ndarray:
    """Output cycles of a window stage: the scan position of each window, + 1 for
    `win_valid`, + `latency` registers after it."""
    h, w, eh, ew = geo.in_height, geo.in_width, geo.extra_rows, geo.extra_cols
    scan = np.empty((h + eh, w + ew), dtype=np.int64)
    scan[:h, :w] = t_in.reshape(h, w)
    scan[:h, w:] = scan[:h, w - 1:w] + 1 + np.arange(ew)
    if eh:
        start = scan[h - 1, -1] + 1 + gap
        row = (w + ew + gap) * np.arange(eh)[:, None] + np.arange(w + ew)[None, :]
        scan[h:] = start + row
    if h > 1 and np.any(scan[1:h, 0] <= scan[:h - 1, -1]):
        raise HwGraphError("internal: a row starts before the padding walk of the row above "
                           "ends (row gap too short)")
    rows = np.flatnonzero(geo.row_mask())
    cols = np.flatnonzero(geo.col_mask())
    return scan[np.ix_(rows, cols)].ravel() + 1 + latency


def decimated_times(t_in: np.ndarray, geo: WindowGeometry, latency: int) -> np.ndarray:
    """Output cycles of a 1x1 stage fused after another: its input pixels on the stride grid
    (combinational valid) + `latency` registers."""
    t = t_in.reshape(geo.in_height, geo.in_width)
    rows = np.flatnonzero(geo.row_mask()[:geo.in_height])
    cols = np.flatnonzero(geo.col_mask()[:geo.in_width])
    return t[np.ix_(rows, cols)].ravel() + latency


def skip_depth(t_skip: np.ndarray, t_branch: np.ndarray, where: str) -> int:
    """Entries the skip path's buffer needs: the most skip pixels pushed and not yet popped
    after any clock edge (push at the skip's valid, pop at the branch's). 0 when both
    streams come in the same cycles (the same tensor twice): no buffer."""
    if np.array_equal(t_skip, t_branch):
        return 0
    if np.any(t_skip >= t_branch):
        n = int(np.flatnonzero(t_skip >= t_branch)[0])
        raise HwGraphError(f"{where}: pixel {n} of the skip input comes no earlier than the "
                           "other input's; the add's hardware buffers the skip path only")
    popped = np.searchsorted(t_branch, t_skip, side="right")
    return int((np.arange(1, len(t_skip) + 1) - popped).max(initial=0))
