"""When each pixel of each tensor leaves its stage: the stream timing of the plan.

Per tensor, per pixel (raster order), a `Stream` holds the cycle it leaves its stage under the
densest schedule the protocol allows (docs/rtl.md: no idle cycle inside a row, exactly
`row_gap` between rows) and its *source*: the image pixel whose arrival starts it. Both come
from what the RTL builds: a window unit registers its window at the scan position where it
is complete (`win_valid` one cycle later), walks right-padding columns one per cycle right
after a row's last real pixel and bottom-padding rows after the frame's last pixel with
`gap` idle cycles between them; a fused 1x1 stage reads its input stream as it comes; then
each pipeline register and the output register add a cycle. So every pixel leaves a constant
number of cycles after its source arrives, in any schedule: a schedule the protocol allows
(idle cycles anywhere, longer row gaps) delays image pixel e by some d(e), non-decreasing in
e, and every pixel whose source is e by exactly d(e).

An add stage pushes its earlier input into a buffer and pops it at each pixel of the other
(`buffer_depth`). With early stream A and late stream B, depth D holds in every schedule
exactly when, for every pixel n, B's pixel n leaves no later than A's pixel n + D both in
the dense schedule and in source order (`src_B[n] <= src_A[n + D]`: else a stall between the
two sources lets A push D + 1 pixels before B pops one). For a residual (A the skip tensor, B
computed from it) the second condition follows from the first; two computed branches (a
ResNet projection shortcut) need both. A is earlier in every schedule when `t_A[n] < t_B[n]`
and `src_A[n] <= src_B[n]` for every n. Where the sources are in order but some of B's
pixels leave first in the dense schedule (both waiting for the image's last pixel, B with the
shorter padding walk, or A behind a long chain), the plan delays B by registers until they
do not (`lower._join`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fixynn.hw.ir import HwGraphError
from fixynn.hw.lower.geometry import WindowGeometry


@dataclass(frozen=True, eq=False)
class Stream:
    """The pixels of one tensor as they leave its stage (raster order)."""

    times: np.ndarray  # cycle of each pixel in the dense schedule (image pixel 0 at cycle 0)
    sources: np.ndarray  # the image pixel (raster index) whose arrival starts each pixel

    def same_as(self, other: Stream) -> bool:
        """Both streams come in the same cycles in every schedule (an add of one tensor with
        itself, or two branches of equal latency from the same pixels)."""
        return (np.array_equal(self.times, other.times)
                and np.array_equal(self.sources, other.sources))

    def precedes(self, other: Stream) -> bool:
        """Every pixel of this stream leaves before the same pixel of `other`, in every
        schedule (so a buffer of this stream is never read before it is written)."""
        return bool(np.all(self.times < other.times) and np.all(self.sources <= other.sources))

    def delayed(self, cycles: int) -> Stream:
        return Stream(self.times + cycles, self.sources)


def input_stream(height: int, width: int, gap: int) -> Stream:
    """The image pixels in the dense schedule."""
    n = np.arange(height * width, dtype=np.int64)
    r, c = np.divmod(n, width)
    return Stream(r * (width + gap) + c, n)


def window_stream(s_in: Stream, geo: WindowGeometry, gap: int, latency: int) -> Stream:
    """Output pixels of a window stage: the scan position of each window, + 1 for
    `win_valid`, + `latency` registers after it."""
    h, w, eh, ew = geo.in_height, geo.in_width, geo.extra_rows, geo.extra_cols
    scan = np.empty((h + eh, w + ew), dtype=np.int64)
    src = np.empty_like(scan)
    scan[:h, :w], src[:h, :w] = s_in.times.reshape(h, w), s_in.sources.reshape(h, w)
    scan[:h, w:] = scan[:h, w - 1:w] + 1 + np.arange(ew)  # walked right after the row
    src[:h, w:] = src[:h, w - 1:w]
    if eh:  # walked after the frame's last pixel, `gap` idle cycles between rows
        start = scan[h - 1, -1] + 1 + gap
        row = (w + ew + gap) * np.arange(eh)[:, None] + np.arange(w + ew)[None, :]
        scan[h:] = start + row
        src[h:] = src[h - 1, w - 1]
    if h > 1 and np.any(scan[1:h, 0] <= scan[:h - 1, -1]):
        raise HwGraphError("internal: a row starts before the padding walk of the row above "
                           "ends (row gap too short)")
    pick = np.ix_(np.flatnonzero(geo.row_mask()), np.flatnonzero(geo.col_mask()))
    return Stream(scan[pick].ravel() + 1 + latency, src[pick].ravel())


def decimated_stream(s_in: Stream, geo: WindowGeometry, latency: int) -> Stream:
    """Output pixels of a 1x1 stage fused after another: its input pixels on the stride grid
    (combinational valid) + `latency` registers."""
    shape = (geo.in_height, geo.in_width)
    pick = np.ix_(np.flatnonzero(geo.row_mask()[:geo.in_height]),
                  np.flatnonzero(geo.col_mask()[:geo.in_width]))
    return Stream(s_in.times.reshape(shape)[pick].ravel() + latency,
                  s_in.sources.reshape(shape)[pick].ravel())


def last_pixel(s_in: Stream, latency: int) -> Stream:
    """The one output pixel of a stage that answers at its input's last pixel."""
    return Stream(s_in.times[-1:] + latency, s_in.sources[-1:])


def buffer_depth(early: Stream, late: Stream, where: str) -> int:
    """Entries the buffer of the `early` stream needs so that it never overflows in any
    schedule (module docstring): the most pixels pushed and not yet popped after any clock
    edge of the dense schedule (push at early's valid, pop at late's), or more where a stall
    between the two streams' sources would hold more. 0 when both come in the same cycles."""
    if early.same_as(late):
        return 0
    if not early.precedes(late):
        raise HwGraphError(f"{where}: the input it buffers does not come before the other "
                           "for every pixel")
    n = len(early.times)
    popped = np.searchsorted(late.times, early.times, side="right")
    dense = (np.arange(1, n + 1) - popped).max(initial=0)
    # the first pixel of `early` whose source is no earlier than late pixel n's: n + D must
    # reach it (or the end of the frame)
    first = np.searchsorted(early.sources, late.sources, side="left")
    by_source = (first - np.arange(n)).max(initial=0)
    return int(max(dense, by_source))
