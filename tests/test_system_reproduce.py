"""Reproduction table: rows come straight from the sweep, paper figures as published."""

from __future__ import annotations

from pathlib import Path

import pytest

import fixynn.hw.ppa.reproduce as reproduce
from fixynn.errors import FixynnError
from fixynn.hw.ppa import system
from fixynn.hw.ppa.tech import load_tech


@pytest.fixture
def small_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only width 0.25 (the real sweep code, a quarter of the work)."""

    def one_width(tech, cfg, sparsity=0.0):  # type: ignore[no-untyped-def]
        return system.sweep(tech, cfg, widths=(0.25,), sparsity=sparsity)

    monkeypatch.setattr(reproduce, "sweep", one_width)


def test_rows_are_read_off_the_sweep(small_sweep: None) -> None:
    rows = reproduce.reproduction_rows("45nm", accuracy_split=5, sparsities=(0.0,))
    full = system.evaluate_system(0.25, 224, 14, load_tech("45nm"))
    split = system.evaluate_system(0.25, 224, 5, load_tech("45nm"))
    fixed, no_dram, partial = rows
    assert (fixed.paper_tops_per_w, fixed.paper_ratio) == (26.6, 4.81)
    assert fixed.ours_tops_per_w == pytest.approx(full.hybrid.tops_per_w)
    assert fixed.ours_ratio == pytest.approx(full.ratios["tops_per_w"])
    assert no_dram.ours_tops_per_w > fixed.ours_tops_per_w
    assert "N=5" in partial.claim and partial.paper_tops_per_w == 11.2
    assert partial.ours_tops_per_w == pytest.approx(split.hybrid.tops_per_w)


def test_markdown_and_cli(
    small_sweep: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "table.md"
    assert reproduce.main(["--tech", "45nm", "--out", str(out)]) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out
    assert text.count("| 26.6 | 4.81 |") == 4 and "best partial split" in text


def test_bad_accuracy_split() -> None:
    with pytest.raises(FixynnError, match="--accuracy-split"):
        reproduce.reproduction_rows("45nm", accuracy_split=14)
