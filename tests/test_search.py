"""Design-space search of the PCA and the searched hybrid vs iso-area comparison."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fixynn.arch import back_end_layers, mobilenet_v1_layers
from fixynn.errors import FixynnError
from fixynn.hw.ppa import search
from fixynn.hw.ppa.pca import PcaConfig, evaluate_pca, weight_bytes
from fixynn.hw.ppa.search import KIB, SearchSpace, search_pca
from fixynn.hw.ppa.system import (
    FIXED_RULE,
    SizingOptions,
    evaluate_split,
    size_split,
)
from fixynn.hw.ppa.tech import load_tech

TECH = load_tech("16nm")
SMALL = SearchSpace(sides=(8, 16, 32), buffer_kib=(8.0, 16.0, 32.0, 64.0, 128.0, 256.0))
LAYERS = mobilenet_v1_layers(0.25, 64, num_classes=10)


@dataclass(frozen=True)
class StubFfe:
    area_mm2: float
    energy_per_frame_uj: float
    fps: float


@pytest.mark.parametrize("area", [0.15, 0.4])
@pytest.mark.parametrize("batch", [1, 4])
def test_descent_finds_the_exhaustive_optimum(area: float, batch: int) -> None:
    fast = search_pca(LAYERS, TECH, area, 30.0, space=SMALL, batch=batch)
    full = search_pca(LAYERS, TECH, area, 30.0, space=SMALL, batch=batch,
                      method="exhaustive")
    assert fast is not None and full is not None
    assert fast.best.energy_per_frame_uj == pytest.approx(full.best.energy_per_frame_uj)
    assert fast.evaluated < full.evaluated


def test_best_point_respects_area_and_fps_floor() -> None:
    floor = 2000.0
    found = search_pca(LAYERS, TECH, 0.3, floor, space=SMALL)
    assert found is not None
    assert found.best.area_mm2 <= 0.3 and found.best.fps >= floor
    # every feasible point that the search kept is no better than the best
    slow = search_pca(LAYERS, TECH, 0.3, 0.0, space=SMALL)
    assert slow is not None
    assert slow.best.energy_per_frame_uj <= found.best.energy_per_frame_uj


def test_nothing_feasible_is_none_and_a_system_error() -> None:
    assert search_pca(LAYERS, TECH, 0.3, 1e9, space=SMALL) is None
    with pytest.raises(FixynnError, match="lower the fps floor"):
        size_split(LAYERS, 0, TECH, PcaConfig(), None,
                     SizingOptions(fps_floor=1e9, space=SMALL))


def test_weight_storage_options() -> None:
    resident = search_pca(LAYERS, TECH, 0.6, 30.0, space=SMALL, weights="resident")
    streamed = search_pca(LAYERS, TECH, 0.6, 30.0, space=SMALL, weights="streamed")
    auto = search_pca(LAYERS, TECH, 0.6, 30.0, space=SMALL)
    assert resident is not None and streamed is not None and auto is not None
    assert resident.best.weights_resident and not streamed.best.weights_resident
    assert resident.best.config.filter_sram_kib * KIB >= weight_bytes(LAYERS)
    dram = streamed.best.layers
    assert sum(layer.counts.dram_filter_bytes for layer in dram) == weight_bytes(LAYERS)
    # auto may choose either, so it is never worse than both
    assert auto.best.energy_per_frame_uj <= min(resident.best.energy_per_frame_uj,
                                                 streamed.best.energy_per_frame_uj) + 1e-9


def test_batching_shares_one_weight_fetch() -> None:
    cfg = PcaConfig(rows=16, cols=16, ifmap_sram_kib=8, filter_sram_kib=8, ofmap_sram_kib=8)
    one = evaluate_pca(LAYERS, cfg, TECH, weight_storage="streamed")
    four = evaluate_pca(LAYERS, cfg, TECH, weight_storage="streamed", batch=4)

    def weights_per_frame(r):  # type: ignore[no-untyped-def]
        return sum(layer.counts.dram_filter_bytes for layer in r.layers) / r.batch

    assert weights_per_frame(four) == pytest.approx(weights_per_frame(one) / 4)
    assert four.macs == one.macs  # per frame
    assert four.fps > one.fps  # weight loads and fills amortised over four frames
    assert four.batch_latency_ms > one.batch_latency_ms  # but a batch takes longer
    # per frame: the same MAC energy, less DRAM (weights fetched once for four frames)
    mac = [r.energy_breakdown_uj()["mac_uj"] for r in (one, four)]
    assert mac[1] == pytest.approx(mac[0])
    assert four.energy_breakdown_uj()["dram_uj"] < one.energy_breakdown_uj()["dram_uj"]
    assert four.energy_per_frame_uj < one.energy_per_frame_uj


def test_dram_left_out_of_the_objective() -> None:
    counted = search_pca(LAYERS, TECH, 0.3, 30.0, space=SMALL)
    free = search_pca(LAYERS, TECH, 0.3, 30.0, space=SMALL, count_dram=False)
    assert counted is not None and free is not None

    def on_chip(r):  # type: ignore[no-untyped-def]
        return r.energy_per_frame_uj - r.energy_breakdown_uj()["dram_uj"]

    assert on_chip(free.best) <= on_chip(counted.best) + 1e-9
    assert counted.best.energy_per_frame_uj <= free.best.energy_per_frame_uj + 1e-9


def test_n0_both_designs_are_the_same_search() -> None:
    hybrid, programmable, record = size_split(LAYERS, 0, TECH, PcaConfig(), None,
                                                SizingOptions(space=SMALL))
    assert hybrid.energy_per_frame_uj == pytest.approx(programmable.energy_per_frame_uj)
    assert hybrid.pca["rows"] == programmable.pca["rows"]
    assert record["sizing"] == "search" and record["points_evaluated"]["hybrid"] > 0


def test_hybrid_back_end_gets_the_area_left_by_the_ffe() -> None:
    ffe = StubFfe(area_mm2=0.3, energy_per_frame_uj=1.0, fps=1e5)
    opts = SizingOptions(space=SMALL, area_mm2=0.7, handoff="dram")
    hybrid, programmable, record = size_split(LAYERS, 4, TECH, PcaConfig(), ffe, opts)
    assert record["total_area_mm2"] == 0.7
    assert hybrid.area_breakdown_mm2["pca"] <= 0.4 + 1e-12
    assert hybrid.area_mm2 <= 0.7 and programmable.area_mm2 <= 0.7
    assert "interface_dram_uj" in hybrid.energy_breakdown_uj


def test_handoff_buffer_is_a_double_buffered_frame_in_the_hybrid_area() -> None:
    ffe = StubFfe(area_mm2=0.3, energy_per_frame_uj=1.0, fps=1e5)
    first = back_end_layers(LAYERS, 4)[0]
    frame = first.in_channels * first.in_height * first.in_width  # int8 activations
    for batch in (1, 2):
        opts = SizingOptions(space=SMALL, area_mm2=0.7, handoff="buffer", batch=batch)
        hybrid, _, _ = size_split(LAYERS, 4, TECH, PcaConfig(), ffe, opts)
        assert hybrid.pca["handoff"] == "buffer"
        assert hybrid.pca["handoff_buffer_kib"] * KIB >= 2 * batch * frame
        assert hybrid.area_breakdown_mm2["handoff_buffer"] > 0
        assert "interface_sram_uj" in hybrid.energy_breakdown_uj
        assert "interface_dram_uj" not in hybrid.energy_breakdown_uj
    auto, _, _ = size_split(LAYERS, 4, TECH, PcaConfig(), ffe,
                              SizingOptions(space=SMALL, area_mm2=0.7))
    both = [size_split(LAYERS, 4, TECH, PcaConfig(), ffe,
                         SizingOptions(space=SMALL, area_mm2=0.7, handoff=h))[0]
            for h in ("dram", "buffer")]
    assert auto.energy_per_frame_uj == pytest.approx(min(p.energy_per_frame_uj for p in both))


def test_fixed_rule_is_the_old_sizing() -> None:
    ffe = StubFfe(area_mm2=0.5, energy_per_frame_uj=1.0, fps=1e5)
    hybrid, programmable, record = size_split(LAYERS, 3, TECH, PcaConfig(), ffe, FIXED_RULE)
    old = evaluate_split(LAYERS, 3, TECH, PcaConfig(), ffe)
    assert (hybrid, programmable) == old
    assert record["sizing"] == "fixed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sizing": "best"}, "sizing"), ({"batch": 0}, "batch"), ({"weights": "rom"}, "weight"),
     ({"handoff": "wire"}, "hand-off"), ({"area_mm2": -1.0}, "area"),
     ({"fps_floor": float("nan")}, "fps_floor: must be a number of frames/s"),
     ({"sizing": "fixed", "handoff": "buffer"}, "sizing fixed")],
)
def test_bad_options_are_errors(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(FixynnError, match=message):
        SizingOptions(**kwargs)


def test_area_below_the_ffe_is_an_error() -> None:
    ffe = StubFfe(area_mm2=1.0, energy_per_frame_uj=1.0, fps=1e5)
    with pytest.raises(FixynnError, match="leaves nothing for the PCA"):
        size_split(LAYERS, 2, TECH, PcaConfig(), ffe, SizingOptions(space=SMALL, area_mm2=0.5))


@dataclass(frozen=True)
class StubPca:
    fps: float
    energy_per_frame_uj: float
    area_mm2: float


def test_descent_from_an_infeasible_start_climbs_to_the_fps_floor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review item: the descent from a start under the fps floor. Here the floor needs two
    buffers changed at once (ifmap >= 32 KiB and filter exactly 32 KiB), so from either start
    (the smallest buffers; the largest filter buffer) every single move is still under it:
    the descent must not stop there, it must climb to the floor and then find the optimum."""

    def stub(layers: object, cfg: PcaConfig, tech: object, **kwargs: object) -> StubPca:
        fps = 40.0 + 30.0 * (cfg.ifmap_sram_kib >= 32) + 30.0 * (cfg.filter_sram_kib == 32)
        size = cfg.ifmap_sram_kib + cfg.filter_sram_kib + cfg.ofmap_sram_kib
        return StubPca(fps=fps, energy_per_frame_uj=size + cfg.rows, area_mm2=0.01)

    monkeypatch.setattr(search, "evaluate_pca", stub)
    space = SearchSpace(sides=(8, 16), buffer_kib=(8.0, 16.0, 32.0, 64.0))
    layers = mobilenet_v1_layers(1.0, 224)  # needs above 64 KiB: every rung of each ladder
    full = search_pca(layers, TECH, 100.0, 100.0, space=space, method="exhaustive")
    fast = search_pca(layers, TECH, 100.0, 100.0, space=space)
    assert full is not None and full.best.fps == 100.0
    assert fast is not None, "the descent stopped at its infeasible starts"
    assert fast.best == full.best
    assert fast.evaluated < full.evaluated


def test_descent_matches_the_optimum_when_the_best_shapes_start_is_under_the_floor() -> None:
    """A real problem (width 0.5, 128x128, batch 4) at an fps floor the smallest buffers of
    the best array shape miss: the descent still finds the exhaustive optimum."""
    layers = mobilenet_v1_layers(0.5, 128, num_classes=10)
    floor = 2300.0
    fast = search_pca(layers, TECH, 0.4, floor, space=SMALL, batch=4)
    full = search_pca(layers, TECH, 0.4, floor, space=SMALL, batch=4, method="exhaustive")
    assert fast is not None and full is not None
    shape = full.best.config
    smallest = evaluate_pca(layers, PcaConfig(rows=shape.rows, cols=shape.cols,
                                              ifmap_sram_kib=8.0, filter_sram_kib=8.0,
                                              ofmap_sram_kib=8.0), TECH, batch=4)
    assert smallest.fps < floor <= full.best.fps  # the start is infeasible, the optimum not
    assert fast.best.energy_per_frame_uj == pytest.approx(full.best.energy_per_frame_uj)
