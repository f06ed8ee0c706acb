"""`fixynn run --quick` for real: every stage, then a warm rerun that does no work (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixynn.report.results import validate_results

FIXYNN = Path(sys.executable).parent / "fixynn"


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cold = subprocess.run([str(FIXYNN), "run", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=1200)
    assert cold.returncode == 0, cold.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    validate_results(doc)
    assert doc["not_run"] == []
    n_list = doc["config"]["sweep"]["n_list"]
    assert sorted({r["n"] for r in doc["accuracy"]}) == sorted(n_list)
    assert [r["n"] for r in doc["hardware"]] == sorted(n_list)
    assert doc["verification"] and all(r["mismatches"] == 0 for r in doc["verification"])
    assert all(r["images"] == doc["config"]["verify"]["images"] for r in doc["verification"])
    assert doc["synthesis"] and all(r["cells"] > 0 for r in doc["synthesis"])
    assert all(0.0 <= r["fixynn_acc"] <= 1.0 for r in doc["accuracy"])
    assert (out / "report.html").stat().st_size > 10_000
    assert "Report:" in cold.stdout and (out / "fixynn.log").is_file()

    warm = subprocess.run([str(FIXYNN), "run", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0, warm.stderr[-3000:]
    again = json.loads((out / "results.json").read_text())
    assert all(s["cached"] for s in again["stages"])
    assert again["accuracy"] == doc["accuracy"] and again["hardware"] == doc["hardware"]
