"""`fixynn run` on bad input: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


# Each case starts the CLI (a few seconds); test_config.py covers every validation rule.
@pytest.mark.parametrize(("text", "message"), [
    ("[model]\nwidht = 0.5\n", "model.widht: unknown key"),
])
def test_bad_config_is_one_line_and_writes_nothing(tmp_path: Path, text: str, message: str,
                                                   fixynn_cmd: list[str]) -> None:
    cfg, out = tmp_path / "bad.toml", tmp_path / "out"
    cfg.write_text(text)
    proc = subprocess.run([*fixynn_cmd, "run", "--config", str(cfg), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert proc.stderr.startswith(f"fixynn: error: {cfg}")
    assert not out.exists()


def test_missing_config_file(tmp_path: Path, fixynn_cmd: list[str]) -> None:
    proc = subprocess.run([*fixynn_cmd, "run", "--config", str(tmp_path / "nope.toml"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "nope.toml: config file not found" in proc.stderr
