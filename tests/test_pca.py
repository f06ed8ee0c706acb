"""PCA (weight-stationary systolic array) model: hand-computed cycles, traffic, energy, area."""

from __future__ import annotations

import math

import pytest

from fixynn.arch import LayerShape, mobilenet_v1_layers
from fixynn.errors import FixynnError
from fixynn.hw.ppa.pca import (
    PcaConfig,
    array_area_um2,
    evaluate_pca,
    layer_energy,
    map_layer,
    map_network,
    pca_area_mm2,
)
from fixynn.hw.ppa.tech import load_tech, sram_area_um2

TECH = load_tech("45nm")
BIG = 4096.0  # KiB: everything fits


def conv(cin: int, cout: int, k: int, size: int, stride: int = 1, pad: int = 0) -> LayerShape:
    return LayerShape("c", 0, "conv", cin, cout, k, stride, pad, size, size)


# Cycle counts of SCALE-Sim v3.0.0 (stall-free, channel-serial depthwise) for the layers of
# the tests below, measured on 2026-12-02; tests/test_pca_scalesim.py reruns SCALE-Sim on
# each to keep them true. Our model counts one cycle more per array run (SCALE-Sim ends a
# run's drain one cycle sooner): +1 per layer, +1 per channel of a depthwise layer.
SCALESIM_CYCLES: dict[str, tuple[LayerShape, PcaConfig, int]] = {
    "conv": (conv(3, 20, 3, 10), PcaConfig(rows=8, cols=8), 1031),
    "pointwise": (LayerShape("pw", 1, "pointwise", 16, 16, 1, 1, 0, 32, 32),
                  PcaConfig(rows=16, cols=16), 1069),
    "depthwise": (LayerShape("dw", 1, "depthwise", 10, 10, 3, 1, 1, 8, 8),
                  PcaConfig(rows=32, cols=8), 1330),
    "depthwise_row_folds": (LayerShape("dw", 1, "depthwise", 4, 4, 3, 1, 0, 7, 7),
                            PcaConfig(rows=8, cols=8), 372),
    "fc": (LayerShape("fc", 14, "fc", 64, 10, 1, 1, 0, 1, 1), PcaConfig(rows=32, cols=32), 189),
}


def test_conv_cycles_folds_and_reads_by_hand() -> None:
    # 10x10x3 input, 3x3 conv, 20 filters -> 8x8 out: Sr = 27, Sc = 20, T = 64.
    cfg = PcaConfig(rows=8, cols=8, ifmap_sram_kib=BIG, filter_sram_kib=BIG, ofmap_sram_kib=BIG)
    c = map_layer(SCALESIM_CYCLES["conv"][0], cfg)
    assert c.folds == 4 * 3  # ceil(27/8) x ceil(20/8)
    assert c.cycles == SCALESIM_CYCLES["conv"][2] + 1
    assert c.macs == 64 * 27 * 20
    assert c.utilization == pytest.approx(34560 / (64 * 1032))
    assert c.ifmap_sram_reads == 3 * 64 * 27  # ifmap re-streamed per column fold
    assert c.filter_sram_reads == 27 * 20
    assert c.ofmap_sram_writes == 4 * 64 * 20  # one write per row fold
    assert c.psum_sram_writes == c.psum_sram_reads == 3 * 64 * 20
    assert (c.dram_ifmap_bytes, c.dram_filter_bytes, c.dram_ofmap_bytes) == (300, 540, 1280)


def test_pointwise_that_fits_the_array_has_one_fold_and_near_full_utilization() -> None:
    layer, cfg, _ = SCALESIM_CYCLES["pointwise"]
    c = map_layer(layer, cfg)
    assert c.folds == 1
    assert c.cycles == SCALESIM_CYCLES["pointwise"][2] + 1 == 1070
    assert c.utilization == pytest.approx(16 * 16 * 1024 / (256 * 1070))


def test_depthwise_channel_serial_vs_block_diagonal() -> None:
    layer = SCALESIM_CYCLES["depthwise"][0]  # T = 64, window 9
    serial = map_layer(layer, PcaConfig(rows=32, cols=8, depthwise_mapping="channel_serial"))
    packed = map_layer(layer, PcaConfig(rows=32, cols=8))
    per_channel = (SCALESIM_CYCLES["depthwise"][2] + 10) // 10  # one run per channel
    assert serial.folds == 10 and serial.cycles == 10 * per_channel == 1340
    # block-diagonal: 32 // 9 = 3 channels per fold, each fold as long as one channel's run
    assert packed.folds == math.ceil(10 / 3) and packed.cycles == 4 * per_channel
    assert serial.macs == packed.macs == 10 * 9 * 64
    assert packed.utilization == pytest.approx(3 * serial.utilization * 10 / 12)
    assert serial.ifmap_sram_reads == packed.ifmap_sram_reads == 10 * 9 * 64


def test_depthwise_wider_window_than_rows_needs_row_folds() -> None:
    layer = SCALESIM_CYCLES["depthwise_row_folds"][0]  # T = 25, window 9 > 8 rows
    c = map_layer(layer, PcaConfig(rows=8, cols=8, ofmap_sram_kib=BIG))
    assert c.folds == 4 * 2
    assert c.cycles == SCALESIM_CYCLES["depthwise_row_folds"][2] + 4  # 4 channels x 94


def test_fc_layer_is_a_matrix_vector_product() -> None:
    fc, cfg, _ = SCALESIM_CYCLES["fc"]
    c = map_layer(fc, cfg)
    assert c.folds == 2 and c.cycles == SCALESIM_CYCLES["fc"][2] + 1
    assert c.macs == 640


def test_dram_traffic_tiny_buffers_vs_big_buffers() -> None:
    # 28x28x64 -> 128 pointwise: ifmap 50176 B, weights 8192 B, 4 column folds on 32 columns.
    layer = LayerShape("pw", 5, "pointwise", 64, 128, 1, 1, 0, 28, 28)
    big = map_layer(layer, PcaConfig(ifmap_sram_kib=BIG, filter_sram_kib=BIG, ofmap_sram_kib=BIG))
    assert (big.dram_ifmap_bytes, big.dram_filter_bytes) == (50176, 8192)
    assert big.tiles == 1
    # 16 KiB ifmap, 4 KiB filter: order A re-fetches the ifmap 4x (200704 + 8192), order B
    # streams it once in ceil(50176/16384) = 4 tiles and re-fetches weights 4x (50176 + 32768).
    tiny = map_layer(layer, PcaConfig(ifmap_sram_kib=16, filter_sram_kib=4, ofmap_sram_kib=BIG))
    assert (tiny.dram_ifmap_bytes, tiny.dram_filter_bytes, tiny.tiles) == (50176, 32768, 4)
    assert tiny.dram_bytes > big.dram_bytes
    assert tiny.cycles == tiny.folds * (4 * (2 * 32 + 32 - 2) + 784)
    # Weights fit (8 KiB filter buffer): order B costs only the ifmap once.
    fit_w = map_layer(layer, PcaConfig(ifmap_sram_kib=16, filter_sram_kib=8, ofmap_sram_kib=BIG))
    assert (fit_w.dram_ifmap_bytes, fit_w.dram_filter_bytes) == (50176, 8192)


def test_partial_sums_that_overflow_the_ofmap_buffer_are_tiled_not_spilled() -> None:
    # Sr = 64 -> 2 row folds on 32 rows; psums of one column fold: 784 x 32 x 4 B = 100352 B.
    layer = LayerShape("pw", 5, "pointwise", 64, 32, 1, 1, 0, 28, 28)
    roomy = map_layer(layer, PcaConfig(ofmap_sram_kib=128))
    tight = map_layer(layer, PcaConfig(ofmap_sram_kib=16))  # 128 pixels per tile -> 7 tiles
    assert roomy.tiles == 1 and tight.tiles == math.ceil(784 / 128)
    assert tight.cycles - roomy.cycles == 2 * 6 * (2 * 32 + 32 - 2)
    assert tight.filter_sram_reads == 7 * roomy.filter_sram_reads
    assert tight.dram_bytes == roomy.dram_bytes


def test_network_keeps_small_maps_on_chip_and_resident_weights() -> None:
    layers = [
        LayerShape("a", 0, "conv", 3, 8, 3, 1, 1, 8, 8),
        LayerShape("b", 1, "pointwise", 8, 8, 1, 1, 0, 8, 8),
    ]
    counts, resident = map_network(layers, PcaConfig())
    assert resident  # 216 + 64 weight bytes fit 64 KiB
    assert counts[0].dram_ofmap_bytes == 0 and counts[0].handoff_bytes == 512
    assert counts[1].dram_ifmap_bytes == 0 and counts[1].dram_ofmap_bytes == 512
    assert counts[0].dram_ifmap_bytes == 192
    assert counts[0].dram_filter_bytes == counts[1].dram_filter_bytes == 0
    small = PcaConfig(ifmap_sram_kib=0.25, filter_sram_kib=0.25, ofmap_sram_kib=0.25)
    counts, resident = map_network(layers, small)
    assert not resident
    assert counts[0].dram_ofmap_bytes == 512 and counts[1].dram_ifmap_bytes == 512


def test_energy_by_hand_for_one_layer() -> None:
    cfg = PcaConfig(rows=8, cols=8, ifmap_sram_kib=8, filter_sram_kib=8, ofmap_sram_kib=8)
    layer = LayerShape("pw", 1, "pointwise", 8, 8, 1, 1, 0, 4, 4)
    c = map_layer(layer, cfg)
    e = layer_energy(c, cfg, TECH)
    sram_bit = 0.15625  # Horowitz 8 KB point, read = write
    assert e.mac_pj == pytest.approx(1024 * 0.3)
    assert e.register_pj == pytest.approx((1024 * 40 + 64 * 8) * TECH.register_pj_per_bit)
    reads_bits = (c.ifmap_sram_reads + c.filter_sram_reads) * 8
    fills_bits = (128 + 64) * 8  # ifmap + weights from DRAM
    out_bits = 128 * 8 * 2  # written by the array, drained to DRAM
    assert e.sram_pj == pytest.approx((reads_bits + fills_bits + out_bits) * sram_bit)
    assert e.dram_pj == pytest.approx((128 + 64 + 128) * TECH.dram_pj_per_byte)
    assert e.overhead_pj == 0.0


def test_area_is_array_plus_buffers() -> None:
    cfg = PcaConfig(rows=4, cols=2, ifmap_sram_kib=1, filter_sram_kib=2, ofmap_sram_kib=1)
    pe = TECH.mac_int8_area_um2 + 48 * TECH.flip_flop_area_um2
    assert array_area_um2(cfg, TECH) == pytest.approx(8 * pe)
    expected = 8 * pe + sram_area_um2(TECH, 4096 * 8)
    assert pca_area_mm2(cfg, TECH) == pytest.approx(expected * 1e-6)


def test_whole_mobilenet_totals_are_consistent() -> None:
    layers = mobilenet_v1_layers(1.0, 224)
    result = evaluate_pca(layers, PcaConfig(), TECH)
    assert result.macs == sum(layer.macs for layer in layers)
    assert result.cycles == sum(layer.counts.cycles for layer in result.layers)
    assert result.fps == pytest.approx(500e6 / result.cycles)
    assert 0 < result.utilization < 1
    breakdown = result.energy_breakdown_uj()
    assert sum(breakdown.values()) == pytest.approx(result.energy_per_frame_uj)
    assert not result.weights_resident  # 4.2 MB of weights
    assert result.as_dict()["layers"][0]["name"] == "b0_conv"


@pytest.mark.parametrize(
    ("field", "value"),
    [("rows", 0), ("cols", 2.5), ("freq_mhz", -1.0), ("ofmap_sram_kib", float("nan")),
     ("depthwise_mapping", "diagonal")],
)
def test_bad_config_is_a_one_line_fixynn_error(field: str, value: object) -> None:
    with pytest.raises(FixynnError, match=field if field != "depthwise_mapping" else "depthwise"):
        PcaConfig(**{field: value})  # type: ignore[arg-type]


def test_buffers_beyond_the_largest_table_sram_cost_one_bank_per_access() -> None:
    layer = LayerShape("pw", 1, "pointwise", 8, 8, 1, 1, 0, 4, 4)
    one_mb = PcaConfig(ifmap_sram_kib=1024, filter_sram_kib=1024, ofmap_sram_kib=1024)
    huge = PcaConfig(ifmap_sram_kib=8192, filter_sram_kib=8192, ofmap_sram_kib=8192)
    counts = map_layer(layer, one_mb)
    assert counts == map_layer(layer, huge)
    assert layer_energy(counts, huge, TECH).sram_pj == layer_energy(counts, one_mb, TECH).sram_pj
    assert pca_area_mm2(huge, TECH) > 7 * pca_area_mm2(one_mb, TECH) / 2  # area still grows


# ---- elementwise kinds on the vector unit ----------------------------------------------------


def test_add_and_pools_are_priced_on_the_vector_unit() -> None:
    cfg = PcaConfig(rows=16, cols=8)
    add = LayerShape("add", 3, "add", 24, 24, 1, 1, 0, 16, 16)
    mx = LayerShape("max", 0, "maxpool", 8, 8, 3, 2, 1, 16, 16)
    gap = LayerShape("gap", 4, "global_avgpool", 64, 64, 1, 1, 0, 7, 5)
    elements = 24 * 16 * 16
    a = map_layer(add, cfg)
    assert (a.macs, a.folds, a.cycles) == (0, 0, math.ceil(2 * elements / 8))
    assert (a.vector_ops, a.vector_scales, a.ifmap_sram_reads) == (2 * elements, elements,
                                                                  2 * elements)
    # first operand + the shortcut written and read back, the output written
    assert (a.dram_ifmap_bytes, a.dram_ofmap_bytes, a.dram_filter_bytes) == (
        3 * elements, elements, 0)
    m = map_layer(mx, cfg)
    assert (mx.out_height, m.vector_ops, m.vector_scales) == (8, 8 * 8 * 8 * 9, 0)
    g = map_layer(gap, cfg, input_on_chip=True, output_on_chip=True)
    assert (gap.out_height, gap.out_width, g.vector_ops, g.vector_scales) == (1, 1, 64 * 35, 64)
    assert (g.dram_bytes, g.handoff_bytes) == (0, 64)
    e = layer_energy(a, cfg, TECH)
    assert e.mac_pj == 0 and e.vector_pj == pytest.approx(
        2 * elements * 32 * (TECH.add_pj_per_bit + TECH.register_pj_per_bit)
        + elements * TECH.mult_int8_pj)
    assert e.total_pj > e.vector_pj + e.dram_pj  # SRAM reads/writes are charged too
    result = evaluate_pca([mx, add], cfg, TECH)
    assert result.macs == 0 and result.energy_breakdown_uj()["vector_uj"] > 0


def test_mobilenet_v1_has_no_vector_work() -> None:
    result = evaluate_pca(mobilenet_v1_layers(0.25, 64), PcaConfig(), TECH)
    assert result.energy_breakdown_uj()["vector_uj"] == 0
    assert all(layer.counts.vector_ops == 0 for layer in result.layers)
