"""fixynn.frontend.to_verified_hwgraph: a user's own nn.Module (ResNet-style and
MobileNetV2-style, written in the tests) to a bit-exactly verified HwGraph in one call."""

from __future__ import annotations

from pathlib import Path

import pytest

import fixynn.hw.sim as sim
from fixynn.errors import FixynnError
from fixynn.frontend import to_verified_hwgraph
from fixynn.hw.golden import run_graph
from test_frontend_export import MobileNetV2ish, ResNetish, images, seeded

SIZE = 8  # small maps: each Verilator build takes seconds


@pytest.mark.parametrize(("make", "n_units"), [(ResNetish, 2), (MobileNetV2ish, 2)])
def test_a_module_to_a_verified_hwgraph_in_one_call(make: type, n_units: int,
                                                    tmp_path: Path) -> None:
    """The stem and a residual block (identity shortcut, residual add, for MobileNetV2 a
    linear bottleneck: signed values) through RTL, every output value compared."""
    model, pixels = seeded(make, 3), images(6, SIZE, seed=4)
    out = to_verified_hwgraph(model, pixels[:1].double() / 256, n_units, pixels[:4],
                              pixels[4:], tmp_path, verify_mode="whole")
    graph, result = out.export.graph, out.verification
    assert {node.kind for node in graph.layers} >= {"add"}
    assert result.mismatches == 0
    assert result.outputs_compared == 2 * sum(c * h * w for c, h, w in graph.shapes())


def test_a_mismatch_is_one_error_naming_the_count(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden model made to disagree by one: the call refuses the graph (the graph of
    the ResNet case above: its Verilator build is cached)."""
    monkeypatch.setattr(sim, "run_graph", lambda g, x: [o + 1 for o in run_graph(g, x)])
    pixels = images(6, SIZE, seed=4)
    with pytest.raises(FixynnError, match=r"the RTL differs from the golden executor in \d+ "):
        to_verified_hwgraph(seeded(ResNetish, 3), pixels[:1].double() / 256, 2, pixels[:4],
                            pixels[4:], tmp_path, verify_mode="whole")
