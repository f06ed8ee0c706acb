"""`fixynn ppa`: JSON keys, table output, bad flags as one-line errors, the sweep."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fixynn.arch import front_end_layers, mobilenet_v1_layers
from fixynn.cli import main
from fixynn.hw.ir import save_graph
from fixynn.hw.ppa.pca import PcaConfig
from fixynn.hw.ppa.system import evaluate_system
from fixynn.hw.ppa.tech import load_tech
from fixynn.hw.synthetic import random_graph_from_shapes

HEADLINE = {"tops_per_w", "fps", "area_mm2", "energy_per_frame_uj"}


class Run:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def fixynn(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the real entry point in-process (argv, exit status, stdout, stderr)."""

    def run(*args: str) -> Run:
        monkeypatch.setattr(sys, "argv", ["fixynn", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def assert_one_line_error(proc: Run, message: str, out: Path) -> None:
    """Exit status 2, one `fixynn: error:` line holding `message`, and no --out file."""
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fixynn: error:"), proc.stderr
    assert message in lines[0]
    assert not out.exists()


def test_json_at_a_split_has_both_designs_and_their_ratios(fixynn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """At N = 5 (not N = 0, where every ratio is 1): each ratio is hybrid over programmable,
    and the CLI's defaults are the library's."""
    out = tmp_path / "ppa.json"
    proc = fixynn("ppa", "--width", "0.25", "--fixed-layers", "5", "--sparsity", "0.5",
                  "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    hybrid, iso = doc["hybrid"], doc["iso_area_programmable"]
    assert hybrid.keys() >= HEADLINE and iso.keys() >= HEADLINE
    assert doc["ratios"]["area"] == pytest.approx(hybrid["area_mm2"] / iso["area_mm2"])
    for key in ("tops_per_w", "fps"):
        assert doc["ratios"][key] == pytest.approx(hybrid[key] / iso[key])
    assert doc["ratios"]["energy_per_frame"] == pytest.approx(
        hybrid["energy_per_frame_uj"] / iso["energy_per_frame_uj"])
    assert doc["ratios"]["tops_per_w"] > 1.5 and doc["ratios"]["energy_per_frame"] < 0.7
    expected = evaluate_system(0.25, 224, 5, load_tech("45nm"), PcaConfig(), sparsity=0.5)
    assert doc == json.loads(json.dumps(expected.as_dict()))
    assert json.loads(out.read_text()) == doc


def test_table_output_names_the_configuration(fixynn) -> None:  # type: ignore[no-untyped-def]
    proc = fixynn("ppa", "--width", "0.5", "--resolution", "128", "--fixed-layers", "0",
                  "--tech", "16nm")
    assert proc.returncode == 0, proc.stderr
    assert "MobileNetV1 0.5 @ 128" in proc.stdout and "16nm" in proc.stdout
    assert "x TOPS/W" in proc.stdout and "hybrid PCA" in proc.stdout and "iso PCA" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fixed-layers", "15"], "--fixed-layers"),
        (["--width", "0.25"], "--fixed-layers N is required"),
        (["--fixed-layers", "1", "--sparsity", "1.5"], "--sparsity"),
        (["--fixed-layers", "1", "--sparsity", "0.5", "--weights", "g"], "exclude each other"),
        (["--fixed-layers", "1", "--weights", "no/such/dir"], "graph.json"),
        (["--fixed-layers", "0", "--tech", "no_such.toml"], "no_such.toml"),
        (["--fixed-layers", "0", "--freq-mhz", "0"], "--freq-mhz"),
        (["--fixed-layers", "0", "--pca-rows", "0"], "rows"),
        (["--fixed-layers", "0", "--resolution", "0"], "--width/--resolution"),
        (["--sweep", "--fixed-layers", "3"], "--sweep"),
        (["--fixed-layers", "0", "--sizing", "best"], "--sizing"),
        (["--fixed-layers", "0", "--handoff", "wire"], "--handoff"),
        (["--fixed-layers", "0", "--weight-storage", "rom"], "--weight-storage"),
        (["--fixed-layers", "0", "--batch", "0"], "--batch: must be an integer >= 1, got 0"),
        (["--fixed-layers", "0", "--fps-floor", "-5"],
         "--fps-floor: must be a number of frames/s >= 0, got -5.0"),
        (["--fixed-layers", "0", "--fps-floor", "nan"], "--fps-floor: must be a number"),
        (["--fixed-layers", "0", "--area-mm2", "-1"], "--area-mm2: area must be a number > 0"),
        (["--fixed-layers", "0", "--sizing", "fixed", "--batch", "4"], "--sizing: sizing fixed"),
        (["--fixed-layers", "0", "--resolution", "64", "--fps-floor", "1e7"], "lower the fps"),
    ],
)
def test_bad_flags_are_one_line_errors(fixynn, args: list[str], message: str,  # type: ignore[no-untyped-def]
                                      tmp_path: Path) -> None:
    out = tmp_path / "never.json"
    proc = fixynn("ppa", *args, "--out", str(out))
    assert_one_line_error(proc, message, out)


def test_trained_graph_of_the_wrong_split_is_rejected(fixynn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layers = mobilenet_v1_layers(0.25, 32)
    graph = random_graph_from_shapes(front_end_layers(layers, 1), calibration_images=0)
    save_graph(graph, tmp_path / "g")
    proc = fixynn("ppa", "--width", "0.25", "--resolution", "32", "--fixed-layers", "2",
                  "--weights", str(tmp_path / "g"))
    assert proc.returncode == 2
    assert "needs 3" in proc.stderr


def test_trained_graph_is_used_for_the_ffe(fixynn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layers = mobilenet_v1_layers(0.25, 32)
    graph = random_graph_from_shapes(front_end_layers(layers, 2), calibration_images=0,
                                     name="mine")
    save_graph(graph, tmp_path / "g")
    proc = fixynn("ppa", "--width", "0.25", "--resolution", "32", "--fixed-layers", "2",
                  "--weights", str(tmp_path / "g"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["weights"] == "trained:mine"
    assert doc["hybrid"]["area_breakdown_mm2"]["ffe"] > 0


def test_sweep_covers_every_width_and_split(fixynn) -> None:  # type: ignore[no-untyped-def]
    # the fixed rule keeps this fast; the search's sweep is the same loop (test_search.py)
    proc = fixynn("ppa", "--sweep", "--json", "--sparsity", "0.5", "--sizing", "fixed")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(d["width"], d["fixed_layers"]) for d in doc] == [
        (w, n) for w in (0.25, 0.5, 0.75, 1.0) for n in range(15)]
    for d in doc:
        assert d["hybrid"]["area_mm2"] == pytest.approx(d["iso_area_programmable"]["area_mm2"])
        if d["fixed_layers"] == 0:
            assert d["ratios"]["tops_per_w"] == pytest.approx(1.0)
    # Fixing more blocks never shrinks the FFE.
    for w in (0.25, 1.0):
        areas = [d["hybrid"]["area_breakdown_mm2"].get("ffe", 0.0) for d in doc if d["width"] == w]
        assert areas == sorted(areas)


def test_ppa_weights_alone_prices_any_hwgraph(fixynn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A DAG (residual add, linear layers) is priced as an FFE; with --fixed-layers the
    MobileNetV1 system comparison names why it needs a front-end chain."""
    sys.path.insert(0, str(Path(__file__).parent))
    from fixynn.hw.ppa.ffe import estimate_ffe
    from test_dag_rtl import mobilenet_v2_blocks

    graph = mobilenet_v2_blocks(size=16)
    save_graph(graph, tmp_path / "g")
    run = fixynn("ppa", "--weights", str(tmp_path / "g"), "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    want = estimate_ffe(graph, load_tech("45nm"))
    assert doc["graph"] == "mbv2"
    assert doc["ffe"]["area_mm2"] == pytest.approx(want.area_mm2)
    kinds = [layer["kind"] for layer in doc["ffe"]["layers"]]
    assert kinds.count("add") == 1 and len(kinds) == len(graph.layers)
    table = fixynn("ppa", "--weights", str(tmp_path / "g"))
    assert table.returncode == 0 and "b1_add" in table.stdout
    bad = fixynn("ppa", "--weights", str(tmp_path / "g"), "--fixed-layers", "2")
    assert bad.returncode == 2 and "not a chain" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# --layers: any model's own layer list (layers.json) at a split N


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """A MobileNetV2-style model's layers.json (meta arch "tiny-mbv2") and its first 3 units
    as a calibrated HwGraph (the add of its residual block included)."""
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from fixynn.arch import save_layers
    from fixynn.frontend import layer_shapes, to_hwgraph
    from test_frontend import TinyMobileNetV2, randomized

    root = tmp_path_factory.mktemp("tiny")
    model = randomized(TinyMobileNetV2(classes=4))
    example = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    layers = layer_shapes(model, example)
    save_layers(layers, root / "layers.json", {"arch": "tiny-mbv2", "input_size": 16})
    calib = np.random.default_rng(0).integers(0, 256, (8, 3, 16, 16), dtype=np.uint8)
    graphs = {}
    for n in (2, 3):
        graphs[n] = to_hwgraph(model, example, n, calib, name=f"tiny_n{n}").graph
        save_graph(graphs[n], root / f"g{n}")
    return {"root": root, "layers": layers, "graphs": graphs}


def test_layers_file_prices_the_models_own_back_end(fixynn, tiny_model) -> None:  # type: ignore[no-untyped-def]
    from fixynn.arch import with_classes
    from fixynn.hw.ppa.ffe import estimate_ffe
    from fixynn.hw.ppa.system import evaluate_network

    root, layers, graph = tiny_model["root"], tiny_model["layers"], tiny_model["graphs"][3]
    assert any(layer.kind == "add" and layer.block < 3 for layer in layers)  # a DAG front-end
    proc = fixynn("ppa", "--layers", str(root / "layers.json"), "--fixed-layers", "3",
                  "--weights", str(root / "g3"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["arch"], doc["model"], doc["width"], doc["resolution"]) == (
        "tiny-mbv2", "tiny-mbv2 @ 16", None, 16)
    assert doc["fixed_layers"] == 3 and doc["weights"] == "trained:tiny_n3"
    assert doc["hybrid"]["area_breakdown_mm2"]["ffe"] == pytest.approx(
        estimate_ffe(graph, load_tech("45nm")).area_mm2)
    assert doc["hybrid"]["ops_per_frame"] == 2 * sum(layer.macs for layer in layers)
    want = evaluate_network(layers, 3, load_tech("45nm"), PcaConfig(), graph, arch="tiny-mbv2")
    assert doc == json.loads(json.dumps(want.as_dict()))
    # --classes resizes the classifier the back-end runs: 4 -> 7 outputs of 32 features
    more = json.loads(fixynn("ppa", "--layers", str(root / "layers.json"), "--fixed-layers",
                             "3", "--weights", str(root / "g3"), "--classes", "7",
                             "--json").stdout)
    assert more["hybrid"]["ops_per_frame"] - doc["hybrid"]["ops_per_frame"] == 2 * 3 * 32
    assert with_classes(layers, 7)[-1].out_channels == 7
    table = fixynn("ppa", "--layers", str(root / "layers.json"), "--fixed-layers", "3",
                   "--weights", str(root / "g3"), "--tech", "16nm")
    assert table.returncode == 0, table.stderr
    assert "tiny-mbv2 @ 16" in table.stdout and "MobileNetV1" not in table.stdout


def test_layers_file_of_mobilenet_matches_the_built_in_model(fixynn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same network through a layer file (random chain FFE, no meta: named by the file)
    gives the built-in MobileNetV1's figures."""
    from fixynn.arch import save_layers

    save_layers(mobilenet_v1_layers(0.25, 64), tmp_path / "mbv1.json")
    proc = fixynn("ppa", "--layers", str(tmp_path / "mbv1.json"), "--fixed-layers", "4",
                  "--sparsity", "0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["arch"], doc["model"]) == ("mbv1", "mbv1 @ 64")
    built_in = evaluate_system(0.25, 64, 4, load_tech("45nm"), PcaConfig(), sparsity=0.5)
    want = json.loads(json.dumps(built_in.as_dict()))
    assert built_in.model == "MobileNetV1 0.25 @ 64" and want["arch"] == "mobilenet-v1"
    for key in ("hybrid", "iso_area_programmable", "ratios", "weights", "fixed_layers"):
        assert doc[key] == want[key]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fixed-layers", "9"], "--fixed-layers 9: the model in"),
        ([], "give the split point --fixed-layers N (0.."),
        (["--fixed-layers", "2", "--width", "0.5"], "drop --width"),
        (["--fixed-layers", "2", "--resolution", "64"], "drop --width, --resolution"),
        (["--fixed-layers", "3"], "give the front-end's HwGraph (--weights)"),
        (["--fixed-layers", "3", "--weights", "{root}/g2"], "but the back-end at N = 3 reads"),
        (["--fixed-layers", "2", "--classes", "0"], "--classes must be >= 1"),
    ],
)
def test_layers_file_errors_are_one_line(fixynn, tiny_model, args: list[str],  # type: ignore[no-untyped-def]
                                         message: str, tmp_path: Path) -> None:
    root = tiny_model["root"]
    out = tmp_path / "never.json"
    args = [a.format(root=root) for a in args]
    proc = fixynn("ppa", "--layers", str(root / "layers.json"), *args, "--out", str(out))
    assert_one_line_error(proc, message, out)


def test_bad_layer_file_and_classes_without_layers(fixynn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "layers.json"
    bad.write_text(json.dumps({"schema": "other", "layers": []}))
    proc = fixynn("ppa", "--layers", str(bad), "--fixed-layers", "1")
    assert proc.returncode == 2 and f"layer file {bad}: schema must be" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = fixynn("ppa", "--fixed-layers", "1", "--classes", "10")
    assert proc.returncode == 2 and "--classes resizes the classifier" in proc.stderr
