"""Every command from another working directory, with relative paths (some with spaces), a
read-only graph directory and a cache path with a space: what a user's shell does (issue 17)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fixynn.cli import app
from fixynn.config import load_config
from fixynn.hw.ir import load_graph
from fixynn.hw.sim import default_work_dir

sys.path.insert(0, str(Path(__file__).parent))
from test_synth_cli import two_layer_graph


def tree_state(path: Path) -> dict[str, str]:
    """Every file under `path` with its content hash and mode: a write of any kind changes it."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            + oct(p.stat().st_mode) for p in sorted(path.rglob("*")) if p.is_file()} | {
        str(p.relative_to(path)) + "/": "dir" for p in path.rglob("*") if p.is_dir()}


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a space in its name holding a read-only graph directory `g`;
    the cache also has a space (GNU Make cannot build in such a directory)."""
    cwd = tmp_path / "my work"
    cwd.mkdir()
    graph_dir = two_layer_graph(cwd)
    for p in [*graph_dir.iterdir(), graph_dir]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    monkeypatch.setenv("FIXYNN_CACHE", str(tmp_path / "user cache"))
    monkeypatch.chdir(cwd)
    return cwd


def test_rtl_verify_synth_with_relative_paths(user_dir: Path) -> None:
    before = tree_state(user_dir / "g")
    rtl = CliRunner().invoke(app, ["rtl", "g", "--out", "rtl out"])
    assert rtl.exit_code == 0, rtl.output
    assert (user_dir / "rtl out" / "fixynn_two.v").is_file()

    verify = CliRunner().invoke(app, ["verify", "g", "--images", "2", "--json"])
    assert verify.exit_code == 0, verify.output
    doc = json.loads(verify.output)
    assert doc["mismatches"] == 0 and doc["outputs_compared"] == 2 * 2 * 9 * 2
    work = default_work_dir(load_graph(user_dir / "g"))
    assert work.is_relative_to(user_dir.parent / "user cache")
    assert (work / "images0.u16").stat().st_size == 2 * 2 * 9 * 2  # 2 images, 2 ch, 3x3, u16

    explicit = CliRunner().invoke(app, ["verify", "g", "--images", "2", "--work", "sim files"])
    assert explicit.exit_code == 0, explicit.output
    assert "mismatches: 0" in explicit.output
    assert (user_dir / "sim files" / "images0.u16").is_file()

    synth = CliRunner().invoke(app, ["synth", "g", "--layers", "pw_b", "--json"])
    assert synth.exit_code == 0, synth.output
    assert [row["layer"] for row in json.loads(synth.output)["layers"]] == ["pw_b"]
    assert tree_state(user_dir / "g") == before  # nothing written into the input


def test_config_tech_path_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "conf dir"
    conf_dir.mkdir()
    (conf_dir / "my tech.toml").write_text('[derive]\nfrom = "45nm"\n')
    (conf_dir / "run.toml").write_text('[hardware]\ntech = "my tech.toml"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "conf dir" / "run.toml")
    assert Path(cfg.hardware.tech) == (conf_dir / "my tech.toml").resolve()
    assert load_config(Path("../conf dir/run.toml")).hardware.tech == cfg.hardware.tech
    builtin = conf_dir / "builtin.toml"
    builtin.write_text('[hardware]\ntech = "16nm"\n')
    assert load_config(builtin).hardware.tech == "16nm"


def test_verify_default_work_dir_never_inside_the_graph(user_dir: Path) -> None:
    graph = load_graph(user_dir / "g")
    work = default_work_dir(graph)
    assert not work.resolve().is_relative_to((user_dir / "g").resolve())
    assert work.name.startswith("two-") and work == default_work_dir(load_graph(Path("g")))
    assert os.environ["FIXYNN_CACHE"] in str(work)
    changed = load_graph(user_dir / "g")
    changed.layers[0].bias[0] += np.int64(1)
    assert default_work_dir(changed) != work  # one folder per graph content
