"""`fixynn synth GRAPH`: per-layer cells and GE as a table or JSON; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fixynn.cli import app
from fixynn.cli.synth import parse_layers
from fixynn.errors import FixynnError
from fixynn.hw.ir import HwGraph, save_graph
from fixynn.hw.synthetic import random_layer


def two_layer_graph(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    a = random_layer(rng, "pw_a", "pointwise", 2, 2, 1, 1, 0, weight_bits=4, in_bits=4,
                     out_bits=4)
    b = random_layer(rng, "pw_b", "pointwise", 2, 2, 1, 1, 0, weight_bits=4, in_bits=4,
                     out_bits=4, in_frac=a.out_frac)
    graph = HwGraph("two", 2, 3, 3, (a, b), input_bits=4, input_frac=a.in_frac)
    return save_graph(graph, tmp_path / "g")


def test_synth_json_reports_each_selected_layer(tmp_path: Path) -> None:
    graph_dir = two_layer_graph(tmp_path)
    result = CliRunner().invoke(app, ["synth", str(graph_dir), "--layers", "1", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    (row,) = doc["layers"]
    assert row["layer"] == "pw_b"
    assert row["flip_flops"] > 0 and row["ge"] == pytest.approx(
        row["combinational_ge"] + row["sequential_ge"])
    assert abs(row["model_ge"] / row["ge"] - 1) < 0.5
    table = CliRunner().invoke(app, ["synth", str(graph_dir)])
    assert table.exit_code == 0 and "pw_a" in table.output and "pw_b" in table.output


def test_synth_bad_input(tmp_path: Path) -> None:
    graph_dir = two_layer_graph(tmp_path)
    bad = CliRunner().invoke(app, ["synth", str(graph_dir), "--layers", "7"])
    assert isinstance(bad.exception, FixynnError) and "0..1" in str(bad.exception)
    bad_tech = CliRunner().invoke(app, ["synth", str(graph_dir), "--tech", "nope.toml"])
    assert isinstance(bad_tech.exception, FixynnError) and "nope.toml" in str(bad_tech.exception)
    missing = CliRunner().invoke(app, ["synth", str(tmp_path / "nope")])
    assert isinstance(missing.exception, FixynnError) and "graph.json" in str(missing.exception)


def test_parse_layers_by_name_and_index() -> None:
    names = ["b0_conv", "b1_dw", "b1_pw", "b2_dw"]
    assert parse_layers(None, names) is None
    assert parse_layers("3,0-1, 1", names) == [0, 1, 3]
    assert parse_layers("b1_pw, 0", names) == [0, 2]
    assert parse_layers("b2_dw,1-2", names) == [1, 2, 3]
    with pytest.raises(FixynnError, match=r"--layers.*'b9' is neither a layer name nor an "
                                          r"index.*b0_conv, b1_dw, b1_pw, \.\.\."):
        parse_layers("b9", names)
