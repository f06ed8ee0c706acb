"""Design-space search: the programmable accelerator of least energy per frame in an area.

For a layer sequence, an area budget and an fps floor, choose the PCA's rows, columns and the
sizes of its three buffers (ifmap, filter, ofmap) to minimise energy per frame (optionally
with DRAM energy left out of the objective). Clock and depthwise mapping come from a base
configuration and are not searched.

Search space (SearchSpace, the defaults are the stated space):
* rows and columns each in 8, 16, 32, ..., 512, independently (non-square arrays included);
* each buffer in 8 KiB, 16 KiB, ..., 64 MiB (powers of two), and the filter buffer also at
  exactly the sequence's weights (rounded up to a KiB), the size at which they become
  resident. A buffer is never tried above the first size that holds everything it could hold
  (the largest map, psum tile or all weights): beyond it the mapping cannot change and every
  access costs more, so such sizes cannot win.

Method: every array shape whose MACs fit the area, and for each, steepest descent over the
buffers from two starts (the smallest buffers; the largest filter buffer): each round tries
every size of ifmap, of filter, of ofmap, and of ifmap and ofmap together (a layer-to-layer
on-chip hand-off needs both), the rest held, and takes the best single move, until none
helps. Points over the area or under the fps floor are infeasible. Every
evaluated point is memoised. benchmarks/bench_search.py times it and compares it with the
exhaustive search of the same space.

Weight storage options: "auto" (resident if the chosen filter buffer holds every weight,
otherwise streamed: the search picks), "resident" (the filter buffer is exactly the weights),
"streamed" (weights are fetched from DRAM every batch, whatever the filter buffer's size).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from fixynn.arch import LayerShape
from fixynn.errors import FixynnError
from fixynn.hw.ppa.pca import (
    ACC_BITS,
    ACT_BITS,
    WEIGHT_BITS,
    PcaConfig,
    PcaResult,
    array_area_um2,
    evaluate_pca,
    weight_bytes,
)
from fixynn.hw.ppa.tech import TechTable, sram_area_um2

WEIGHT_OPTIONS = ("auto", "resident", "streamed")
# The sizing choices of the system model (fixynn.hw.ppa.system), here so that the run config
# can name them without importing the FFE model.
SIZING_RULES = ("search", "fixed")
HANDOFF_OPTIONS = ("auto", "dram", "buffer")  # FFE -> PCA: the better of the two, or one
KIB = 1024


@dataclass(frozen=True)
class SearchSpace:
    """The candidate array sides and buffer sizes (KiB)."""

    sides: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
    buffer_kib: tuple[float, ...] = tuple(float(2**k) for k in range(3, 17))  # 8 KiB..64 MiB

    def as_dict(self) -> dict[str, list[float]]:
        return {"sides": list(self.sides), "buffer_kib": list(self.buffer_kib)}


@dataclass(frozen=True)
class SearchResult:
    best: PcaResult
    evaluated: int  # points the PCA model was run on
    feasible: int  # of which within the area and above the fps floor


def dram_free_uj(result: PcaResult) -> float:
    """Energy per frame with DRAM left out (the objective when DRAM is not counted)."""
    return result.energy_per_frame_uj - result.energy_breakdown_uj()["dram_uj"]


def _ladder(sizes: Sequence[float], need_bytes: float) -> list[float]:
    """`sizes` up to and including the first that holds `need_bytes`."""
    ladder = sorted(sizes)
    for i, kib in enumerate(ladder):
        if kib * KIB >= need_bytes:
            return ladder[: i + 1]
    return ladder


def _needs(layers: Sequence[LayerShape], batch: int) -> tuple[float, float]:
    """Bytes beyond which a bigger ifmap / ofmap buffer cannot change any layer's mapping."""
    ifmap = max(layer.in_channels * layer.in_height * layer.in_width for layer in layers)
    # the ofmap buffer holds partial sums at accumulator width (ACC_BITS >= ACT_BITS)
    ofmap = max(layer.out_channels * ACC_BITS // 8 * layer.out_height * layer.out_width
                for layer in layers)
    return ifmap * ACT_BITS // 8 * batch, ofmap * batch


@dataclass
class _Problem:
    """One search: the sequence, budget, options and the memo of evaluated points."""

    layers: Sequence[LayerShape]
    tech: TechTable
    budget_um2: float
    fps_floor: float
    base: PcaConfig
    input_on_chip: bool
    batch: int
    storage: str
    objective: Callable[[PcaResult], float]
    # every point looked at: its result, or None when over the area
    memo: dict[tuple[int, int, float, float, float], PcaResult | None] = field(
        default_factory=dict)
    evaluated: int = 0

    def area_um2(self, rows: int, cols: int, buffers_kib: float) -> float:
        return (array_area_um2(replace(self.base, rows=rows, cols=cols), self.tech)
                + sram_area_um2(self.tech, buffers_kib * KIB * 8))

    def cost(self, rows: int, cols: int, i: float, f: float, o: float) -> tuple[float, float]:
        """(fps shortfall below the floor, objective) at one point, (inf, inf) over the area.
        Compared as a pair, the descent climbs to the floor first and then lowers the
        objective: a start under the floor is not a dead end."""
        key = (rows, cols, i, f, o)
        if key not in self.memo:
            self.memo[key] = None
            if self.area_um2(rows, cols, i + f + o) <= self.budget_um2:
                self.evaluated += 1
                cfg = replace(self.base, rows=rows, cols=cols, ifmap_sram_kib=i,
                              filter_sram_kib=f, ofmap_sram_kib=o)
                self.memo[key] = evaluate_pca(self.layers, cfg, self.tech,
                                              input_on_chip=self.input_on_chip,
                                              batch=self.batch, weight_storage=self.storage)
        result = self.memo[key]
        if result is None:
            return math.inf, math.inf
        return max(0.0, self.fps_floor - result.fps), self.objective(result)

    def result(self) -> SearchResult | None:
        feasible = [r for r in self.memo.values() if r is not None and r.fps >= self.fps_floor]
        if not feasible:
            return None
        best = min(feasible, key=lambda r: (self.objective(r), r.area_mm2))
        return SearchResult(best=best, evaluated=self.evaluated, feasible=len(feasible))


def _problem(
    layers: Sequence[LayerShape], tech: TechTable, area_mm2: float, fps_floor: float,
    base: PcaConfig | None, space: SearchSpace | None, input_on_chip: bool, batch: int,
    weights: str, count_dram: bool,
) -> tuple[_Problem, tuple[list[float], list[float], list[float]], SearchSpace]:
    """The problem and its three buffer ladders (ifmap, filter, ofmap)."""
    if weights not in WEIGHT_OPTIONS:
        raise FixynnError(f"weight storage {weights!r} is not one of {WEIGHT_OPTIONS}")
    space = space or SearchSpace()
    objective: Callable[[PcaResult], float] = (
        (lambda r: r.energy_per_frame_uj) if count_dram else dram_free_uj
    )
    ifmap_need, ofmap_need = _needs(layers, batch)
    exact_kib = math.ceil(weight_bytes(layers) / KIB) or 1
    if weights == "resident":
        filter_ladder = [float(exact_kib)]
    elif weights == "streamed":  # a bigger buffer only spares loop order B's weight re-fetch
        largest = max(layer.weights for layer in layers) * WEIGHT_BITS // 8
        filter_ladder = _ladder(space.buffer_kib, largest)
    else:
        filter_ladder = _ladder(sorted({*space.buffer_kib, float(exact_kib)}), exact_kib * KIB)
    ladders = (_ladder(space.buffer_kib, ifmap_need), filter_ladder,
               _ladder(space.buffer_kib, ofmap_need))
    problem = _Problem(
        layers=layers, tech=tech, budget_um2=area_mm2 * 1e6, fps_floor=fps_floor,
        base=base or PcaConfig(), input_on_chip=input_on_chip, batch=batch,
        storage="streamed" if weights == "streamed" else "auto", objective=objective)
    return problem, ladders, space


SEARCH_METHODS = ("descent", "exhaustive")


def search_pca(
    layers: Sequence[LayerShape],
    tech: TechTable,
    area_mm2: float,
    fps_floor: float,
    *,
    base: PcaConfig | None = None,
    space: SearchSpace | None = None,
    input_on_chip: bool = False,
    batch: int = 1,
    weights: str = "auto",
    count_dram: bool = True,
    method: str = "descent",
) -> SearchResult | None:
    """The configuration of least energy per frame; None when no point of the space is
    feasible. `method`: steepest descent per array shape, or every point of the space (the
    reference the descent is checked against)."""
    if method not in SEARCH_METHODS:
        raise FixynnError(f"search method {method!r} is not one of {SEARCH_METHODS}")
    problem, ladders, space = _problem(layers, tech, area_mm2, fps_floor, base, space,
                                       input_on_chip, batch, weights, count_dram)
    ifmap, filt, ofmap = ladders
    if method == "exhaustive":
        for rows, cols, i, f, o in itertools.product(space.sides, space.sides, *ladders):
            problem.cost(rows, cols, i, f, o)
        return problem.result()
    # Two starts: the smallest buffers, and the largest filter buffer (weights resident when
    # they can be) with the smallest others; from either, descent only ever grows what pays.
    starts = {(ifmap[0], filt[0], ofmap[0]), (ifmap[0], filt[-1], ofmap[0])}
    for rows in space.sides:
        for cols in space.sides:
            if problem.area_um2(rows, cols, ifmap[0] + filt[0] + ofmap[0]) > problem.budget_um2:
                continue  # the array alone leaves too little room
            for start in sorted(starts):
                _descend(lambda i, f, o, r=rows, c=cols: problem.cost(r, c, i, f, o), start,
                         *ladders)
    return problem.result()


def _descend(
    cost: Callable[[float, float, float], tuple[float, float]],
    start: tuple[float, float, float],
    ifmap: list[float],
    filt: list[float],
    ofmap: list[float],
) -> None:
    """Steepest descent over (ifmap, filter, ofmap) from `start`; `cost` memoises points and
    orders them by (fps shortfall, objective)."""
    state = start
    best = cost(*state)
    moves: list[Callable[[tuple[float, float, float]], list[tuple[float, float, float]]]] = [
        lambda s: [(v, s[1], s[2]) for v in ifmap],
        lambda s: [(s[0], v, s[2]) for v in filt],
        lambda s: [(s[0], s[1], v) for v in ofmap],
        lambda s: [(v, s[1], v) for v in ifmap if v in ofmap],
    ]
    while True:  # steepest descent: the best single move of the round, until none helps
        candidates = [c for move in moves for c in move(state)]
        step = min(candidates, key=lambda c: cost(*c))
        if cost(*step) >= best:
            return
        best, state = cost(*step), step
