"""System model under the fixed sizing rule: hybrid pipelining, interface energy, iso-area
scaling, ratios, JSON (the search is tested in test_search.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from fixynn.arch import back_end_layers, front_end_layers, mobilenet_v1_layers, with_classes
from fixynn.errors import FixynnError
from fixynn.frontend import layer_shapes
from fixynn.hw.ppa.pca import PcaConfig, evaluate_pca, pca_area_mm2
from fixynn.hw.ppa.system import (
    FIXED_RULE,
    SizingOptions,
    check_graph_matches,
    evaluate_split,
    evaluate_system,
    front_end_graph,
    iso_area_config,
    size_split,
)
from fixynn.hw.ppa.tech import load_tech
from fixynn.nn.efficientnet_lite import EfficientNetLite0
from fixynn.nn.model import MobileNetV1

TECH = load_tech("45nm")


@dataclass(frozen=True)
class StubFfe:
    """Stand-in FFE numbers (the system model needs only these three)."""

    area_mm2: float
    energy_per_frame_uj: float
    fps: float


@pytest.mark.parametrize("factor", [1.0, 1.3, 4.0, 25.0, 120.0])
def test_iso_area_scaling_hits_the_target_area(factor: float) -> None:
    base = PcaConfig()
    target = pca_area_mm2(base, TECH) * factor
    cfg = iso_area_config(base, target, TECH)
    assert pca_area_mm2(cfg, TECH) == pytest.approx(target, rel=1e-9)
    assert cfg.rows >= base.rows and cfg.cols >= base.cols
    assert cfg.ifmap_sram_kib >= base.ifmap_sram_kib
    assert cfg.ifmap_sram_kib / cfg.ofmap_sram_kib == pytest.approx(1.0)  # proportions kept
    if factor >= 4:
        assert cfg.rows == cfg.cols > base.rows  # the array grows, square stays square


def test_iso_area_below_base_is_an_error() -> None:
    with pytest.raises(FixynnError, match="below the base PCA"):
        iso_area_config(PcaConfig(), 0.5 * pca_area_mm2(PcaConfig(), TECH), TECH)


def test_n0_hybrid_is_the_programmable_accelerator() -> None:
    result = evaluate_system(0.25, 224, 0, TECH, options=FIXED_RULE)
    assert result.ratios == pytest.approx({"tops_per_w": 1, "fps": 1, "energy_per_frame": 1,
                                           "area": 1})
    assert result.hybrid.area_breakdown_mm2.keys() == {"pca"}


def test_hybrid_throughput_is_the_slower_stage() -> None:
    layers = mobilenet_v1_layers(0.25, 224)
    pca_fps = evaluate_pca(back_end_layers(layers, 3), PcaConfig(), TECH).fps
    slow = evaluate_system(0.25, 224, 3, TECH, ffe=StubFfe(1.0, 10.0, fps=pca_fps / 4),
                           options=FIXED_RULE)
    fast = evaluate_system(0.25, 224, 3, TECH, ffe=StubFfe(1.0, 10.0, fps=pca_fps * 4),
                           options=FIXED_RULE)
    assert slow.hybrid.fps == pytest.approx(pca_fps / 4)
    assert fast.hybrid.fps == pytest.approx(pca_fps)
    assert fast.hybrid.fps_breakdown == pytest.approx({"ffe": pca_fps * 4, "pca": pca_fps})


def test_hybrid_energy_area_and_ops_add_up() -> None:
    layers = mobilenet_v1_layers(0.25, 224)
    ffe = StubFfe(area_mm2=2.0, energy_per_frame_uj=7.0, fps=1e4)
    result = evaluate_system(0.25, 224, 1, TECH, ffe=ffe, options=FIXED_RULE)
    pca = evaluate_pca(back_end_layers(layers, 1), PcaConfig(), TECH)
    h = result.hybrid
    image_uj = 224 * 224 * 3 * TECH.dram_pj_per_byte * 1e-6
    handoff_uj = 8 * 112 * 112 * TECH.dram_pj_per_byte * 1e-6  # b0 output, 0.25 x 32 channels
    assert h.energy_breakdown_uj["image_dram_uj"] == pytest.approx(image_uj)
    assert h.energy_breakdown_uj["interface_dram_uj"] == pytest.approx(handoff_uj)
    assert h.energy_per_frame_uj == pytest.approx(7.0 + image_uj + handoff_uj
                                                  + pca.energy_per_frame_uj)
    assert h.area_mm2 == pytest.approx(2.0 + pca.area_mm2)
    ops = 2 * sum(layer.macs for layer in layers)
    assert h.ops_per_frame == result.iso_area_programmable.ops_per_frame == ops
    assert h.tops_per_w == pytest.approx(ops / (h.energy_per_frame_uj * 1e6))
    iso = result.iso_area_programmable
    assert iso.area_mm2 == pytest.approx(h.area_mm2, rel=1e-9)
    assert result.ratios["tops_per_w"] == pytest.approx(h.tops_per_w / iso.tops_per_w)
    assert result.ratios["energy_per_frame"] == pytest.approx(
        h.energy_per_frame_uj / iso.energy_per_frame_uj)


def test_fully_fixed_hands_the_pooled_vector_to_the_classifier() -> None:
    result = evaluate_system(1.0, 224, 14, TECH, ffe=StubFfe(50.0, 10.0, 1e4), options=FIXED_RULE)
    assert result.hybrid.energy_breakdown_uj["interface_dram_uj"] == pytest.approx(
        1024 * TECH.dram_pj_per_byte * 1e-6)
    assert result.hybrid.pca["cycles"] > 0  # the fc still runs on the PCA


def test_as_dict_is_json_with_the_documented_keys() -> None:
    result = evaluate_system(0.5, 224, 2, TECH, ffe=StubFfe(1.0, 5.0, 1e3), options=FIXED_RULE)
    doc = json.loads(json.dumps(result.as_dict()))
    for key in ("hybrid", "iso_area_programmable"):
        assert {"tops_per_w", "fps", "area_mm2", "energy_per_frame_uj"} <= doc[key].keys()
    assert doc["ratios"].keys() == {"tops_per_w", "fps", "energy_per_frame", "area"}
    assert doc["fixed_layers"] == 2 and doc["width"] == 0.5


def test_bigger_iso_area_baseline_is_faster() -> None:
    result = evaluate_system(0.25, 224, 5, TECH, ffe=StubFfe(20.0, 5.0, 1e4), options=FIXED_RULE)
    iso = result.iso_area_programmable
    assert iso.pca["rows"] > PcaConfig().rows
    base = evaluate_pca(mobilenet_v1_layers(0.25, 224), PcaConfig(), TECH)
    assert iso.fps > base.fps


def test_user_graph_must_match_the_split() -> None:
    layers = mobilenet_v1_layers(0.25, 32)
    graph = front_end_graph(layers, 2, sparsity=0.5)
    assert len(graph.layers) == len(front_end_layers(layers, 2))
    check_graph_matches(graph, layers, 2)
    with pytest.raises(FixynnError, match="--fixed-layers 3 needs 5"):
        check_graph_matches(graph, layers, 3)
    with pytest.raises(FixynnError, match="--width"):
        check_graph_matches(graph, mobilenet_v1_layers(0.5, 32), 2)
    with pytest.raises(FixynnError, match="--resolution"):
        check_graph_matches(graph, mobilenet_v1_layers(0.25, 64), 2)


@pytest.mark.parametrize("n", [-1, 15])
def test_bad_split_point_is_an_error(n: int) -> None:
    with pytest.raises(FixynnError, match="--fixed-layers"):
        evaluate_system(0.25, 224, n, TECH, options=FIXED_RULE)


def test_bad_sparsity_is_an_error() -> None:
    with pytest.raises(FixynnError, match="--sparsity"):
        front_end_graph(mobilenet_v1_layers(0.25, 32), 1, sparsity=1.0)


def test_ffe_prefix_equals_estimating_the_prefix_graph() -> None:

    from fixynn.hw.ppa.ffe import estimate_ffe
    from fixynn.hw.ppa.system import ffe_prefix

    layers = mobilenet_v1_layers(0.25, 32)
    graph = front_end_graph(layers, 4, sparsity=0.3)
    full = estimate_ffe(graph, TECH)
    for n in (1, 3):
        count = len(front_end_layers(layers, n))
        direct = estimate_ffe(graph.prefix(count), TECH)
        derived = ffe_prefix(full, graph, count, TECH)
        assert derived.area_mm2 == pytest.approx(direct.area_mm2)
        assert derived.energy_per_frame_uj == pytest.approx(direct.energy_per_frame_uj)
        assert derived.fps == pytest.approx(direct.fps)


def test_real_ffe_hybrid_at_small_size() -> None:
    result = evaluate_system(0.25, 32, 2, TECH, sparsity=0.5, options=FIXED_RULE)
    h = result.hybrid
    assert h.area_breakdown_mm2["ffe"] > 0 and h.energy_breakdown_uj["ffe_uj"] > 0
    assert h.fps == min(h.fps_breakdown.values())
    assert result.weights == "random sparsity=0.5"


def test_any_network_splits_at_its_own_units() -> None:
    """The system model prices a traced network's layers (EfficientNet-Lite0 at 64 x 64: 18
    units, adds and pools) with no MobileNetV1 assumption; N beyond its units is refused."""
    layers = layer_shapes(EfficientNetLite0(10, 64), torch.zeros(1, 3, 64, 64))
    ffe = StubFfe(area_mm2=0.5, energy_per_frame_uj=2.0, fps=1e4)
    hybrid, programmable = evaluate_split(layers, 17, TECH, PcaConfig(), ffe)
    back = back_end_layers(layers, 17)
    assert [layer.kind for layer in back] == ["pointwise", "global_avgpool", "fc"]
    alone = evaluate_pca(back, PcaConfig(), TECH)
    assert hybrid.energy_breakdown_uj["pca_vector_uj"] == pytest.approx(
        alone.energy_breakdown_uj()["vector_uj"]) and alone.energy_breakdown_uj()["vector_uj"] > 0
    # the head's input map (320 x 2 x 2) crosses through DRAM
    assert hybrid.energy_breakdown_uj["interface_dram_uj"] == pytest.approx(
        320 * 4 * TECH.dram_pj_per_byte * 1e-6)
    assert hybrid.ops_per_frame == programmable.ops_per_frame == 2 * sum(
        layer.macs for layer in layers)
    h, p, _ = size_split(layers, 9, TECH, PcaConfig(), ffe, SizingOptions(fps_floor=1.0))
    assert h.energy_per_frame_uj > 0 and p.pca["cycles"] > 0
    with pytest.raises(FixynnError, match="runs from 0 to 17"):
        size_split(layers, 18, TECH, PcaConfig(), ffe, SizingOptions())


def test_traced_mobilenet_v1_at_n14_prices_as_mobilenet_v1_layers() -> None:
    """The traced list's head pool is taken at the FFE output when it starts the back-end
    (as mobilenet_v1_layers, which has no pool, always assumed): the same hybrid, number for
    number. Below N = 14 the pool runs on the PCA and costs a little (docs/ppa-system.md)."""
    ref = mobilenet_v1_layers(0.25, 32, 1, 10, "small")
    traced = with_classes(layer_shapes(MobileNetV1(4, 0.25, 32, 1, "small"),
                                       torch.zeros(1, 1, 32, 32)), 10)
    ffe = StubFfe(area_mm2=0.5, energy_per_frame_uj=2.0, fps=1e4)
    assert evaluate_split(traced, 14, TECH, PcaConfig(), ffe)[0] == evaluate_split(
        ref, 14, TECH, PcaConfig(), ffe)[0]
    below = [evaluate_split(lay, 13, TECH, PcaConfig(), ffe)[0] for lay in (ref, traced)]
    assert below[1].energy_breakdown_uj["pca_vector_uj"] > 0
    assert 0 < below[1].energy_per_frame_uj / below[0].energy_per_frame_uj - 1 < 0.01
