"""The portable Verilog-2005 testbench in Icarus Verilog: random graphs, an exported front-end,
the issue-9 defects, lint (`iverilog -g2005 -Wall`, `verilator -Wall`), and the error paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import fixynn.hw.icarus as icarus
from fixynn.cli import app
from fixynn.hw.ir import HwGraph, save_graph
from fixynn.hw.rtl import generate_rtl
from fixynn.hw.rtl.emit import graph_verilog, top_name
from fixynn.hw.rtl.portable_tb import bench_module, hex_words
from fixynn.hw.sim import lint as verilator_lint

sys.path.insert(0, str(Path(__file__).parent))
import test_rtl_graphs as rg
from test_rtl_emit import small_mobilenet


def _run(graph: HwGraph, images: np.ndarray, out: Path, **kw: object) -> icarus.IcarusResult:
    generate_rtl(graph, out, vectors=images, **kw)  # type: ignore[arg-type]
    return icarus.run_portable_testbench(out)


def _values(graph: HwGraph, n: int) -> int:
    return n * sum(c * h * w for c, h, w in graph.shapes())


@pytest.mark.parametrize("seed", range(8))
def test_random_graphs_pass_in_icarus(seed: int, tmp_path: Path) -> None:
    graph = rg.random_stack(500 + seed, f"i{seed}")
    style = ("csd", "shared", "naive")[seed % 3]
    result = _run(graph, rg.images_for(graph, 3, seed), tmp_path, style=style,
                  pipeline=seed % 2 == 1, seed=seed)
    assert result.passed, result.line
    assert result.compared == _values(graph, 3) and result.mismatches == 0
    assert result.warnings == ""  # iverilog -g2005 -Wall: the design and the bench


@pytest.mark.needs_data("fashion-mnist")
def test_exported_front_end_on_real_images_passes_in_icarus(tmp_path: Path) -> None:
    """Blocks 0..2 of MobileNetV1 0.25 through the export path (BN folded, 40% pruned, fused
    dw+pw, stride 2), on Fashion-MNIST test images."""
    import torch

    from fixynn.data.tasks import task_images
    from fixynn.nn.export import export_front_end
    from fixynn.nn.fixed import FixedNet
    from fixynn.nn.model import MobileNetV1
    from test_nn_model import randomize_bn

    torch.manual_seed(0)
    net = FixedNet(randomize_bn(MobileNetV1(5)), w_bits=8, a_bits=8)
    net.prune(0.4)
    graph = export_front_end(net, 3, name="fe3")
    images = np.asarray(task_images("fashion-mnist-a", split="test", limit=2))
    result = _run(graph, images, tmp_path)
    assert result.passed, result.line
    assert result.compared == _values(graph, 2) and result.mismatches == 0
    assert result.warnings == ""


@pytest.mark.parametrize("size", [8, 7])
def test_same_padded_stride2_passes_in_icarus(size: int, tmp_path: Path) -> None:
    """TF SAME padding of a stride-2 conv: (0, 1, 0, 1) on the even map, 1 on the odd one."""
    graph = rg.same_padded_stride2(size)
    result = _run(graph, rg.images_for(graph, 3, size), tmp_path, seed=size)
    assert result.passed, result.line
    assert result.compared == _values(graph, 3) and result.mismatches == 0
    assert result.warnings == ""


def test_pools_pass_in_icarus(tmp_path: Path) -> None:
    graph = rg.pool_chain()
    result = _run(graph, rg.images_for(graph, 3, 4), tmp_path, seed=4)
    assert result.passed, result.line
    assert result.compared == _values(graph, 3) and result.mismatches == 0
    assert result.warnings == ""


@pytest.mark.parametrize("make", [rg.signed_pool_chain,
                                  pytest.param(rg.wide_mean, marks=pytest.mark.slow)])
def test_signed_pools_and_a_66_bit_mean_pass_in_icarus(make, tmp_path: Path) -> None:
    """The wide mean: 2 frames of 224 x 224, 22 s of vvp (load ~5)."""
    graph = make()
    result = _run(graph, rg.images_for(graph, 2, 4), tmp_path, seed=4)
    assert result.passed, result.line
    assert result.compared == _values(graph, 2) and result.mismatches == 0
    assert result.warnings == ""


@pytest.mark.parametrize("make", [rg.fused_strided_pointwise, rg.one_pixel_busy, rg.wide_pixels])
def test_issue9_defects_pass_in_icarus(make, tmp_path: Path) -> None:
    graph = make()
    result = _run(graph, rg.defect_images(graph, 5), tmp_path)
    assert result.passed, result.line
    assert result.compared == _values(graph, 5)


def test_the_bench_counts_mismatches_and_missing_pixels(tmp_path: Path) -> None:
    graph = rg.fused_strided_pointwise()
    generate_rtl(graph, tmp_path, vectors=rg.defect_images(graph, 2))
    expected = tmp_path / "vectors" / "o1.hex"
    words = expected.read_text().splitlines()
    words[3] = f"{(int(words[3], 16) + 1) % 256:02x}"
    expected.write_text("\n".join(words) + "\n")
    result = icarus.run_portable_testbench(tmp_path)
    assert not result.passed and result.mismatches == 1, result.line
    # A design that never raises its valid: every value is missing.
    top = tmp_path / f"{top_name(graph)}.v"
    top.write_text(top.read_text().replace(".out_valid(o1_valid)", ".out_valid()")
                   .replace("wire b1;", "wire b1;\n  assign o1_valid = 1'b0;"))
    result = icarus.run_portable_testbench(tmp_path)
    assert not result.passed and "8 missing" in result.line, result.line


def test_generated_verilog_is_lint_clean_in_both_simulators() -> None:
    graphs = [rg.fused_strided_pointwise(), rg.one_pixel_busy(), rg.wide_pixels(),
              small_mobilenet(3), *(rg.random_stack(700 + i, f"w{i}") for i in range(4)),
              rg.signed_pool_chain(), rg.wide_mean(), *(rg.random_dag(710 + i, f"v{i}")
                                                        for i in range(4))]
    for i, graph in enumerate(graphs):
        files = graph_verilog(graph, "shared" if i % 2 else "csd", pipeline=i % 3 == 0)
        assert icarus.lint(files) == "", graph.name
        assert verilator_lint(files, top_name(graph)) == "", graph.name


def test_hex_words_layout() -> None:
    # channel c at bits [c*bits +: bits], most significant digit first, zero-padded
    assert hex_words(np.array([[1, 2], [255, 0]]), 8) == "0201\n00ff\n"
    assert hex_words(np.array([[5, 1, 3]]), 3) == "0cd\n"  # 011 001 101 = 0x0cd
    assert hex_words(np.array([[256]]), 9) == "100\n"


def test_cli_rtl_writes_a_testbench_a_user_can_run(tmp_path: Path) -> None:
    graph = small_mobilenet(2, size=8, name="cli")
    save_graph(graph, tmp_path / "g")
    images = rg.images_for(graph, 2, seed=1)
    np.save(tmp_path / "imgs.npy", images)
    runner = CliRunner()
    result = runner.invoke(app, ["rtl", str(tmp_path / "g"), "--out", str(tmp_path / "rtl"),
                                 "--vectors-from", str(tmp_path / "imgs.npy")])
    assert result.exit_code == 0, result.output
    assert f"testbench {bench_module(graph)} on 2 images" in result.output
    # The documented command, in a copy of the directory.
    copy = tmp_path / "elsewhere"
    subprocess.run(["cp", "-r", str(tmp_path / "rtl"), str(copy)], check=True)
    proc = subprocess.run("iverilog -g2005 -o tb.vvp -c tb.f && vvp -n tb.vvp", shell=True,
                          cwd=copy, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"FIXYNN-TB PASS: 2 images, {_values(graph, 2)} output values compared, " \
           "0 mismatches" in proc.stdout
    result = runner.invoke(app, ["rtl", str(tmp_path / "g"), "--out", str(tmp_path / "bare"),
                                 "--vectors", "0"])
    assert result.exit_code == 0 and not (tmp_path / "bare" / "tb.f").exists()


@pytest.mark.parametrize("args,message", [
    (["--vectors-from", "{d}/missing.npy"], "--vectors-from"),
    (["--vectors-from", "{d}/bad.npy"], "does not match the input"),
    (["--vectors-from", "{d}/float.npy"], "not an integer type"),
    (["--vectors", "-1"], "--vectors must be >= 0"),
])
def test_cli_rtl_bad_vectors_are_one_line_errors(args: list[str], message: str,
                                                tmp_path: Path) -> None:
    graph = small_mobilenet(1, size=8, name="bad")
    save_graph(graph, tmp_path / "g")
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 8, 8), dtype=np.int64))
    np.save(tmp_path / "float.npy", np.zeros((2, 1, 8, 8)))
    exe = Path(sys.executable).parent / "fixynn"
    cmd = [str(exe), "rtl", str(tmp_path / "g"), "--out", str(tmp_path / "v"),
           *(a.format(d=tmp_path) for a in args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr
    assert not (tmp_path / "v").exists()  # nothing half-written


def test_missing_icarus_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = icarus.shutil.which
    monkeypatch.setattr(icarus.shutil, "which",
                        lambda name: None if name == "iverilog" else real_which(name))
    with pytest.raises(icarus.IcarusMissing, match="Debian package `iverilog`"):
        icarus.find_icarus()
