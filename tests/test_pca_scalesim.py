"""PCA cycle model vs SCALE-Sim v3 on MobileNetV1 layers (skipped without the `bench` extra)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from fixynn.arch import mobilenet_v1_layers
from fixynn.hw.ppa.pca import PcaConfig
from fixynn.hw.ppa.search import SearchSpace, search_pca
from fixynn.hw.ppa.tech import load_tech

pytest.importorskip("scalesim", reason="SCALE-Sim not installed (pip install -e .[bench])")

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scalesim.py"
sys.path.insert(0, str(Path(__file__).parent))
from test_pca import SCALESIM_CYCLES  # noqa: E402


def _bench_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_scalesim", _BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cycles_within_ten_percent_of_scalesim_on_every_layer_kind() -> None:
    layers = mobilenet_v1_layers(0.25, 32, num_classes=10)
    picked = [layer for layer in layers
              if layer.name in {"b0_conv", "b1_dw", "b2_pw", "b5_pw", "b13_dw", "b13_pw", "fc"}]
    rows, _, _ = _bench_module().compare(picked, PcaConfig(rows=16, cols=16))
    assert {row["kind"] for row in rows} == {"conv", "depthwise", "pointwise", "fc"}
    for row in rows:
        assert abs(row["rel_diff"]) <= 0.10, row
        # Same fold/fill/drain convention: SCALE-Sim counts one cycle fewer per run.
        runs = next(layer.in_channels for layer in picked if layer.name == row["name"]) \
            if row["kind"] == "depthwise" else 1
        assert row["ours"] - row["scalesim"] == runs, row


def test_configurations_the_search_picks_agree_with_scalesim() -> None:
    layers = mobilenet_v1_layers(0.25, 32, num_classes=10)
    space = SearchSpace(sides=(8, 16, 32, 64), buffer_kib=tuple(float(2**k) for k in range(3, 11)))
    picked = []
    for area in (0.05, 0.1, 0.4):
        found = search_pca(layers, load_tech("16nm"), area, 30.0, space=space)
        assert found is not None
        picked.append(found.best.config)
    assert any(cfg.rows != cfg.cols for cfg in picked)  # the search does pick non-square arrays
    sample = [layer for layer in layers
              if layer.name in {"b0_conv", "b1_dw", "b2_pw", "b13_pw", "fc"}]
    for cfg in picked:
        rows, _, _ = _bench_module().compare(sample, cfg)
        assert {row["kind"] for row in rows} == {"conv", "depthwise", "pointwise", "fc"}
        for row in rows:
            assert abs(row["rel_diff"]) <= 0.10, (cfg, row)


@pytest.mark.slow
def test_whole_mobilenet_within_ten_percent_of_scalesim() -> None:
    layers = mobilenet_v1_layers(0.25, 64)
    rows, _, _ = _bench_module().compare(layers, PcaConfig())
    assert len(rows) == len(layers)
    assert max(abs(row["rel_diff"]) for row in rows) <= 0.10


@pytest.mark.parametrize("case", sorted(SCALESIM_CYCLES))
def test_the_hand_counted_cases_are_scalesims_counts(case: str) -> None:
    """The SCALE-Sim counts test_pca.py asserts against, rerun in SCALE-Sim itself."""
    layer, cfg, cycles = SCALESIM_CYCLES[case]
    rows, _, _ = _bench_module().compare([layer], cfg)
    assert rows[0]["scalesim"] == cycles
