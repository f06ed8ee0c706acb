"""Reproduction table: rows come straight from the searched sweep, paper figures as published."""

from __future__ import annotations

from pathlib import Path

import pytest

import fixynn.hw.ppa.reproduce as reproduce
from fixynn.errors import FixynnError
from fixynn.hw.ppa import system
from fixynn.hw.ppa.search import SearchSpace
from fixynn.hw.ppa.system import SizingOptions
from fixynn.hw.ppa.tech import load_tech
from fixynn.report.results import LOSS_BUDGET, PAPER_POINTS

# a small search space keeps the test fast; the rows' logic is the same
OPTIONS = SizingOptions(space=SearchSpace(sides=(16, 64), buffer_kib=(16.0, 256.0, 4096.0)))


def test_rows_are_read_off_the_sweep() -> None:
    rows = reproduce.reproduction_rows("45nm", accuracy_split=5, sparsities=(0.0,),
                                       widths=(0.25,), options=OPTIONS)
    tech = load_tech("45nm")
    full = system.evaluate_system(0.25, 224, 14, tech, options=OPTIONS)
    split = system.evaluate_system(0.25, 224, 5, tech, options=OPTIONS)
    fixed, fixed_no_dram, fixed_free, partial, _, _ = rows
    # Each row quotes the paper claim it reproduces, as the run report quotes it (two copies
    # of the paper's abstract that must agree; a row given the other claim's figures fails).
    paper = {p["max_loss"]: (p["tops_per_w"], p["ratio_vs_iso_area"]) for p in PAPER_POINTS}
    for row in (fixed, fixed_no_dram, fixed_free):
        assert (row.paper_tops_per_w, row.paper_ratio) == paper[None]
    assert (partial.paper_tops_per_w, partial.paper_ratio) == paper[LOSS_BUDGET]
    assert fixed.ours_tops_per_w == pytest.approx(full.hybrid.tops_per_w)
    assert fixed.ours_ratio == pytest.approx(full.ratios["tops_per_w"])
    assert "DRAM excluded" in fixed_no_dram.claim and fixed_no_dram.config == fixed.config
    assert fixed_no_dram.ours_tops_per_w == pytest.approx(
        reproduce.no_dram_tops_per_w(full.hybrid))
    assert "DRAM free" in fixed_free.claim
    assert fixed_free.ours_tops_per_w > fixed.ours_tops_per_w
    assert "N=5" in partial.claim
    assert partial.ours_tops_per_w == pytest.approx(split.hybrid.tops_per_w)
    assert partial.ours_ratio == pytest.approx(split.ratios["tops_per_w"])


def test_markdown_and_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    real = reproduce.reproduction_rows

    def small(tech_name, accuracy_split):  # type: ignore[no-untyped-def]
        return real(tech_name, accuracy_split, sparsities=(0.0,), widths=(0.25,),
                    options=OPTIONS)

    monkeypatch.setattr(reproduce, "reproduction_rows", small)
    out = tmp_path / "table.md"
    assert reproduce.main(["--tech", "45nm", "--accuracy-split", "3", "--out", str(out)]) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out
    assert text.count("| 26.6 | 4.81 |") == 3 and "split N=3" in text
    assert "hybrid PCA" in text and "iso PCA" in text


def test_bad_accuracy_split() -> None:
    with pytest.raises(FixynnError, match="--accuracy-split"):
        reproduce.reproduction_rows("45nm", accuracy_split=14)
