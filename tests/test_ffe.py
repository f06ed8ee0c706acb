"""Analytic FFE model: hand-computed totals, line buffers, throughput, conventions, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixynn.arch import front_end_layers, mobilenet_v1_layers
from fixynn.errors import FixynnError
from fixynn.hw.ir import HwGraph, HwLayer
from fixynn.hw.lower.datapath import plan_datapath
from fixynn.hw.ppa.ffe import (
    ELEMENT_GE,
    MEASURED_ADDER_ACTIVITY,
    adder_bits,
    estimate_ffe,
    live_storage,
)
from fixynn.hw.ppa.tech import load_tech
from fixynn.hw.synthetic import random_graph_from_shapes, random_layer

TECH = load_tech("45nm")


def tiny_graph() -> HwGraph:
    """Pointwise 2 -> 1 on a 4x4 map of 4-bit pixels, weights (3, 0), no bias, shift 0."""
    layer = HwLayer(
        name="pw", kind="pointwise", in_channels=2, out_channels=1, kernel=1, stride=1,
        padding=0, weight=np.array([3, 0]).reshape(1, 2, 1, 1), bias=np.zeros(1),
        weight_bits=4, weight_frac=np.zeros(1), in_bits=4, in_frac=4, out_bits=4, out_frac=4,
        activation="relu",
    )
    return HwGraph("tiny", 2, 4, 4, (layer,), input_bits=4, input_frac=4)


def test_tiny_graph_by_hand() -> None:
    est = estimate_ffe(tiny_graph(), TECH, freq_mhz=500.0, adder_activity=1.0)
    (layer,) = est.layers
    # 3x = (x << 2) - x on 4-bit x: bits 0-1 are -x's low bits (2 half adders, ~x + 1);
    # bits 2-3 overlap both operands (the lowest has no carry in: 1 half + 1 full adder);
    # bits 4-5 carry through x << 2 only (2 half adders); bit 6 is the sign (a half adder).
    # acc = 0..45 (7 bits) > 15 = relu clamp -> a 7-bit compare; no bias adder, shift 0.
    assert (layer.adder_bits.full, layer.adder_bits.half) == (1, 6)
    assert (layer.adder_bits.const_add, layer.adder_bits.compare) == (0, 7)
    ge = {
        "adders": 1 * 7.0 + 6 * 10 / 3 + 7 * 4 / 3,  # FA 7 GE, HA 3.33 GE, compare 1.33 GE
        "registers": 4 * 4.522 / 0.798,  # 4-bit output register
        # 1x1 window, 4 bits of enabled flops (DFF + MUX2): channel 1 meets only a zero
        # weight, so its cell is not built
        "window": 4 * 8.0,
        "output_select": 4 * 11 / 3,  # AND2 + MUX2 per output bit
        "control": 8 * 7.0 + 4 * 10 / 3,  # 2+2 counter bits + 4 flags; 4 incrementer bits
    }
    for key, value in ge.items():
        assert layer.area_ge[key] == pytest.approx(value, rel=1e-3), key
    assert est.area_ge == pytest.approx(175.0, rel=1e-3)
    assert est.area_um2 == pytest.approx(175.0 * 0.798, rel=1e-3)
    assert est.cycles_per_frame == 16 and est.fps == pytest.approx(500e6 / 16)
    assert est.ops_per_frame == 2 * 16 * 2  # dense: the zero weight counts
    assert layer.nonzero_ops_per_frame == 2 * 16
    adders_pj = (ge["adders"] / 7.0) * 0.00375 * 16  # per full-adder GE, one add per pixel
    registers_pj = (4 + 8) * 0.003984 * 16  # output + control flops, clocked every cycle
    assert layer.energy_pj["adders"] == pytest.approx(adders_pj)
    assert layer.energy_pj["registers"] == pytest.approx(registers_pj)
    assert layer.energy_pj["window"] == pytest.approx(4 * 0.003984 * 16)
    assert est.energy_per_frame_pj == pytest.approx(1.331333, rel=1e-5)
    assert est.tops_per_w == pytest.approx(64 / 1.331333, rel=1e-5)
    doc = json.loads(json.dumps(est.to_dict()))  # plain JSON types all the way down
    assert doc["tops_per_w"] == pytest.approx(est.tops_per_w)
    assert doc["layers"][0]["adder_bits_by_kind"]["half"] == 6


def test_sram_line_buffer_by_hand() -> None:
    layer = random_layer(np.random.default_rng(1), "c", "conv", 2, 2, 3, 1, 1)
    graph = HwGraph("lb", 2, 8, 8, (layer,), input_bits=8, input_frac=layer.in_frac)
    est = estimate_ffe(graph, TECH)
    (lay,) = est.layers
    assert lay.line_buffer_bits == 2 * 8 * 16  # K-1 rows x W x (C x bits)
    assert lay.area_um2["line_buffer"] == pytest.approx(256 * 0.346 / 0.7)
    # 2 rows of 16 B each; 32 bits read + 32 written per pixel; E(16 B) = E(8 KB) (16/8192)^0.5
    e_bit = 10 / 64 * (16 / 8192) ** 0.5
    assert lay.energy_pj["line_buffer"] == pytest.approx(64 * 64 * e_bit)
    ff = estimate_ffe(graph, TECH, line_buffer="ff").layers[0]
    assert ff.area_ge["line_buffer"] == pytest.approx(256 * ELEMENT_GE["line_buffer_ff_bit"])
    assert ff.area_um2["line_buffer"] > 10 * lay.area_um2["line_buffer"]


def test_storage_read_only_by_zero_weights_is_not_built() -> None:
    # depthwise 3x3 on 2 channels: channel 0 uses only the newest row's oldest cell (2, 0);
    # channel 1 uses only the oldest row's newest cell (0, 2).
    w = np.zeros((2, 1, 3, 3), dtype=np.int64)
    w[0, 0, 2, 0] = 5
    w[1, 0, 0, 2] = -3
    layer = HwLayer(name="dw", kind="depthwise", in_channels=2, out_channels=2, kernel=3,
                    stride=1, padding=1, weight=w, bias=np.zeros(2), weight_bits=4,
                    weight_frac=np.zeros(2, dtype=np.int64), in_bits=4, in_frac=4,
                    out_bits=4, out_frac=4)
    live = live_storage(layer, in_width=10, fused_input=False)
    # channel 0: cells (2, 0..2) are live (the value shifts from j=2 down to j=0) -> 3 cells,
    # no line buffer (row 2 is the current input row); channel 1: cell (0, 2) only, fed by
    # line-buffer row 2, itself fed by row 1 -> 2 rows x 10 pixels
    assert live.window_bits == (3 + 1) * 4
    assert live.shifted_window_bits == 2 * 4  # channel 0's cells (2, 0) and (2, 1)
    assert live.line_buffer_bits_per_pixel == 2 * 4
    assert live.line_buffer_bits == 2 * 4 * 10 and live.line_buffer_rows == 2
    assert live_storage(layer, 10, fused_input=True).window_bits == 0


def test_synthesis_merges_identical_products_whatever_the_style() -> None:
    rng = np.random.default_rng(3)
    for kind, k in (("conv", 3), ("depthwise", 3), ("pointwise", 1)):
        out = 4 if kind == "depthwise" else 8
        layer = random_layer(rng, kind, kind, 4, out, k, 1, k // 2, weight_bits=4, sparsity=0.3)
        csd, shared = (adder_bits(plan_datapath(layer, s)) for s in ("csd", "shared"))
        assert csd == shared
        bits = csd
        assert bits.full > bits.half > 0 and bits.total > 0
    # one input times 3 in two output channels: one multiplier, two tree leaves
    w = np.array([3, 3]).reshape(2, 1, 1, 1)
    layer = HwLayer(name="p", kind="pointwise", in_channels=1, out_channels=2, kernel=1,
                    stride=1, padding=0, weight=w, bias=np.zeros(2), weight_bits=4,
                    weight_frac=np.zeros(2, dtype=np.int64), in_bits=4, in_frac=4, out_bits=4,
                    out_frac=4, activation="relu")
    one = adder_bits(plan_datapath(layer, "csd"))
    assert (one.full, one.half) == (1, 6)  # as in test_tiny_graph_by_hand, counted once
    assert one.compare == 2 * 7


def test_mobilenet_front_end_throughput_ops_and_trends() -> None:
    shapes = front_end_layers(mobilenet_v1_layers(0.25, 224), 2)
    graph = random_graph_from_shapes(shapes, seed=0, calibration_images=1)
    est = estimate_ffe(graph, TECH, freq_mhz=500.0)
    assert est.cycles_per_frame == 224 * 224  # one pixel per clock, layer 0 is the slowest
    assert est.fps == pytest.approx(500e6 / 224**2)
    macs = sum(layer.weight.size * h * w for layer, (_, h, w)
               in zip(graph.layers, graph.shapes(), strict=True))
    assert est.ops_per_frame == 2 * macs
    sparse = estimate_ffe(random_graph_from_shapes(shapes, seed=0, sparsity=0.5,
                                                   calibration_images=1), TECH)
    assert sparse.ops_per_frame == est.ops_per_frame
    assert sparse.area_um2 < est.area_um2 and sparse.energy_per_frame_pj < est.energy_per_frame_pj
    # clock gating: layer 1's window is clocked on its 112x112 input pixels, not 224x224 cycles
    gated = estimate_ffe(graph, TECH, freq_mhz=500.0, clock_gating=True)
    assert gated.area_um2 == est.area_um2
    assert gated.layers[1].energy_pj["window"] == pytest.approx(
        est.layers[1].energy_pj["window"] * 112**2 / 224**2)
    assert gated.layers[0].energy_pj == est.layers[0].energy_pj
    small = estimate_ffe(graph, load_tech("16nm"))
    assert small.area_mm2 == pytest.approx(est.area_mm2 * 0.19, rel=1e-6)
    assert small.tops_per_w > 5 * est.tops_per_w


def test_bad_arguments() -> None:
    graph = tiny_graph()
    with pytest.raises(FixynnError, match="naive"):
        estimate_ffe(graph, TECH, style="naive")
    with pytest.raises(FixynnError, match="freq_mhz"):
        estimate_ffe(graph, TECH, freq_mhz=0)
    with pytest.raises(FixynnError, match="line_buffer"):
        estimate_ffe(graph, TECH, line_buffer="dram")  # type: ignore[arg-type]
    with pytest.raises(FixynnError, match="adder_activity"):
        estimate_ffe(graph, TECH, adder_activity=2.0)
    with pytest.raises(FixynnError, match=r"adder_activity.*\(pw\)"):
        estimate_ffe(graph, TECH, layer_activity={"pw": -0.1})


def test_prefix_equals_estimate_of_the_prefix_graph() -> None:
    # pointwise on 8x8 (64 cycles) then a padded 3x3 conv whose scan is 9x9 (81 cycles): the
    # frame period of the 1-layer prefix is shorter than the whole graph's
    rng = np.random.default_rng(2)
    a = random_layer(rng, "a", "pointwise", 2, 3, 1, 1, 0)
    b = random_layer(rng, "b", "conv", 3, 2, 3, 1, 1, in_frac=a.out_frac)
    c = random_layer(rng, "c", "depthwise", 2, 2, 3, 2, 1, in_frac=b.out_frac)
    graph = HwGraph("p", 2, 8, 8, (a, b, c), input_bits=8, input_frac=a.in_frac)
    tech = load_tech("45nm")
    # overhead and an FF line buffer exercise every frame-period-dependent term
    tech = type(tech)(**{**tech.__dict__, "overhead_fraction": 0.25})
    assert estimate_ffe(graph, tech).cycles_per_frame == 81
    for n, gating in ((1, False), (3, False), (1, True), (3, True)):
        full = estimate_ffe(graph, tech, line_buffer="ff", clock_gating=gating)
        part = HwGraph(graph.name, graph.input_channels, graph.input_height, graph.input_width,
                       graph.layers[:n], graph.input_bits, graph.input_frac)
        direct = estimate_ffe(part, tech, line_buffer="ff", clock_gating=gating)
        cut = full.prefix(n)
        assert cut.cycles_per_frame == direct.cycles_per_frame
        assert cut.energy_per_frame_pj == pytest.approx(direct.energy_per_frame_pj)
        assert cut.area_um2 == pytest.approx(direct.area_um2)
        assert cut.overhead_pj == pytest.approx(0.25 / 1.25 * direct.energy_per_frame_pj)
    with pytest.raises(FixynnError, match="prefix"):
        full.prefix(9)


def test_same_padding_on_an_even_map_walks_one_padding_row_and_column() -> None:
    """A 3x3 stride-2 conv on 8x8: TF SAME padding (0, 1, 0, 1) ends its last window one
    row and column past the frame, (1, 1, 1, 1) does not; the scan, and so the frame period
    and the counters, follow the per-side padding (window storage does not)."""
    rng = np.random.default_rng(3)
    same = random_layer(rng, "l", "conv", 2, 3, 3, 2, (0, 1, 0, 1), in_frac=8)
    sym = HwLayer(**{**same.__dict__, "padding": 1})
    est = [estimate_ffe(HwGraph("g", 2, 8, 8, (layer,)), TECH) for layer in (same, sym)]
    assert [e.cycles_per_frame for e in est] == [9 * 9, 8 * 8]
    assert [e.layers[0].control_bits for e in est] == [4 + 4 + 4, 3 + 3 + 4]
    assert est[0].layers[0].window_register_bits == est[1].layers[0].window_register_bits


def test_adders_switch_at_the_measured_activity_by_default() -> None:
    full = estimate_ffe(tiny_graph(), TECH, adder_activity=1.0)
    default = estimate_ffe(tiny_graph(), TECH)
    assert 0 < MEASURED_ADDER_ACTIVITY < 1
    assert default.layers[0].energy_pj["adders"] == pytest.approx(
        MEASURED_ADDER_ACTIVITY * full.layers[0].energy_pj["adders"])
    assert default.layers[0].energy_pj["registers"] == full.layers[0].energy_pj["registers"]
    assert "measured default" in default.assumptions["adders"]
    # a layer's own measured factor wins over the default
    own = estimate_ffe(tiny_graph(), TECH, layer_activity={"pw": 0.25})
    assert own.layers[0].adder_activity == 0.25
    assert own.layers[0].energy_pj["adders"] == pytest.approx(
        0.25 * full.layers[0].energy_pj["adders"])
