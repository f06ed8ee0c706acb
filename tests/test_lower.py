"""The lowering step: fusion as a plan option, stage timing, and what every backend reads."""

import numpy as np
import pytest

from fixynn.hw.ir import HwGraph, HwGraphError
from fixynn.hw.lower import HwOptions, lower
from fixynn.hw.rtl.emit import graph_verilog
from fixynn.hw.synthetic import random_layer


def _graph(hint: list[str] | None = None) -> HwGraph:
    rng = np.random.default_rng(0)
    return HwGraph("g", 2, 7, 6, (
        random_layer(rng, "c", "conv", 2, 3, 3, 2, 1, in_frac=8),
        random_layer(rng, "dw", "depthwise", 3, 3, 3, 1, 1),
        random_layer(rng, "pw", "pointwise", 3, 4, 1, 1, 0),
        random_layer(rng, "dw2", "depthwise", 4, 4, 3, 2, 1),
    ), meta={} if hint is None else {"fuse": hint})


def test_fusion_is_a_plan_option() -> None:
    g = _graph()
    flags = lambda plan: [(s.fused_input, s.fused_output) for s in plan.stages]  # noqa: E731
    unfused = [(False, False)] * 4
    assert flags(lower(g)) == unfused  # no hint in meta
    assert flags(lower(g, HwOptions(fuse="none"))) == unfused
    fused = [(False, False), (False, True), (True, False), (False, False)]
    assert flags(lower(g, HwOptions(fuse="all"))) == fused  # dw2 has no pointwise after it
    assert flags(lower(g, HwOptions(fuse=["dw"]))) == fused
    assert flags(lower(_graph(["dw"]))) == fused  # the graph's own hint
    assert flags(lower(_graph("all"))) == fused
    with pytest.raises(HwGraphError, match="fuse must be a list"):
        lower(_graph(3))  # type: ignore[arg-type]
    with pytest.raises(HwGraphError, match="cannot fuse layer 'dw2'"):
        lower(g, HwOptions(fuse=["dw2"]))
    with pytest.raises(HwGraphError, match="fuse 'some'"):
        HwOptions(fuse="some")
    with pytest.raises(HwGraphError, match="style 'fancy'"):
        HwOptions(style="fancy")


def test_stage_cycles_and_row_gap() -> None:
    plan = lower(_graph(), HwOptions(fuse="all"))
    # conv k3 s2 p1 on 7x6: out 4x3, the last window reaches row 7 and column 5 (1 extra
    # row, 0 extra columns); dw k3 s1 p1 on 4x3: 1 extra row and column; pw reads dw's stream.
    assert [s.cycles for s in plan.stages][:3] == [8 * 6, 5 * 4, 5 * 4]
    assert plan.frame_cycles == 48
    assert plan.row_gap == sum(s.geometry.extra_cols for s in plan.stages) == 2
    # a fused pair builds no window for the pointwise stage and no register for the dw stage
    dw, pw = plan.stages[1].structure, plan.stages[2].structure
    assert pw.window_register_bits == pw.line_buffer_bits == 0
    unfused = lower(_graph()).stages
    assert dw.pipeline_register_bits == unfused[1].structure.pipeline_register_bits - 3 * 8


def test_the_emitter_follows_the_plan() -> None:
    fused = graph_verilog(_graph(), fuse="all")
    plain = graph_verilog(_graph(), fuse="none")
    assert "wire win_valid = in_valid;" in fused["fixynn_g_pw.v"]
    assert "wire win_valid = in_valid;" not in plain["fixynn_g_pw.v"]
    assert "reg y_valid;" not in fused["fixynn_g_dw.v"] and "reg y_valid;" in plain["fixynn_g_dw.v"]


def test_branches_and_linear_layers_lower() -> None:
    """A tensor read by two stages and an activation-none layer (signed output) lower."""
    from dataclasses import replace

    g = _graph()
    branch = replace(g.layers[3], name="dw2_b", inputs=("dw",), in_channels=3, out_channels=3,
                     weight=g.layers[3].weight[:3], bias=g.layers[3].bias[:3],
                     weight_frac=g.layers[3].weight_frac[:3], in_bits=g.layers[1].out_bits,
                     in_frac=g.layers[1].out_frac)
    dag = HwGraph("dag", 2, 7, 6, (*g.layers, branch), outputs=("dw2", "dw2_b"))
    stages = {s.layer.name: s for s in lower(dag, HwOptions(fuse="all")).stages}
    assert stages["dw2_b"].in_shape == (3, 4, 3)
    assert not stages["dw"].fused_output  # two readers: its stream must be registered
    top = graph_verilog(dag)["fixynn_dag.v"]
    assert top.count(".in_valid(o1_valid)") == 2  # dw's stream feeds pw and dw2_b
    linear = HwGraph("lin", 2, 7, 6, (replace(g.layers[0], activation="none"),))
    text = graph_verilog(linear)["fixynn_lin_c.v"]
    assert "$signed(acc0) < $signed(" in text  # the low clamp of a signed output


def test_clamp_limit_at_the_shift_limit_does_not_wrap() -> None:
    """((hi + 1) << 62) - 1 is beyond int64: no accumulator reaches it, so no comparator
    (it used to wrap to -1 and count a comparator that can never fire)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from fixynn.hw.lower.datapath import plan_datapath
    from test_golden import _one_weight_pointwise

    dp = plan_datapath(_one_weight_pointwise(2**62 - 1, 62), "csd")
    assert dp.clamp.t_hi.tolist() == [2**63 - 1]
    assert not dp.clamp.has_hi_compare[0]
    left = plan_datapath(_one_weight_pointwise(5, -3), "csd")  # 255 >> 3 = 31
    assert left.clamp.t_hi.tolist() == [31] and left.clamp.has_hi_compare[0]
