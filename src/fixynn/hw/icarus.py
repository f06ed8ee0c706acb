"""Icarus Verilog: the second simulator, running the portable testbench that `fixynn rtl`
writes (rtl.portable_tb) exactly as a user would, and the `-g2005 -Wall` lint."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fixynn.errors import FixynnError
from fixynn.hw.rtl.portable_tb import FAIL, PASS
from fixynn.hw.sim import run_group

ICARUS_PACKAGE = "iverilog"  # the Debian package (scripts/install-system-deps.sh)
COMPILE_FLAGS = ("-g2005", "-Wall")
_SUMMARY = re.compile(rf"^({PASS}|{FAIL}): .*$", re.MULTILINE)
_COUNTS = re.compile(r"(\d+) output values compared, (\d+) mismatches")


class IcarusMissing(FixynnError):
    """Icarus Verilog is not installed."""


@dataclass(frozen=True)
class IcarusResult:
    passed: bool
    line: str  # the bench's summary line
    compared: int
    mismatches: int
    warnings: str  # what `iverilog -Wall` printed ('' when clean)


def find_icarus() -> tuple[str, str]:
    """Paths of `iverilog` and `vvp`, or a one-line error naming the package."""
    tools = [shutil.which(name) for name in ("iverilog", "vvp")]
    if None in tools:
        raise IcarusMissing(f"Icarus Verilog (iverilog, vvp) not found on PATH; install the "
                            f"Debian package `{ICARUS_PACKAGE}` (apt-get install "
                            f"{ICARUS_PACKAGE})")
    return tools[0], tools[1]  # type: ignore[return-value]


def compile_files(files: list[str], cwd: Path, out: Path, timeout_s: float) -> str:
    """`iverilog -g2005 -Wall -o out files...` in cwd; returns the warnings ('' when clean)."""
    iverilog, _ = find_icarus()
    proc = run_group([iverilog, *COMPILE_FLAGS, "-o", str(out), *files], cwd, None, timeout_s)
    if proc is None:
        raise FixynnError(f"iverilog in {cwd} did not finish in {timeout_s:.0f} s")
    text = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise FixynnError(f"iverilog could not compile the design in {cwd}: "
                          f"{(text.splitlines() or ['no output'])[0][:200]}")
    return text


def lint(files: dict[str, str], timeout_s: float = 300.0) -> str:
    """`iverilog -g2005 -Wall` of Verilog texts (name -> text); the warnings, '' when clean."""
    with tempfile.TemporaryDirectory(prefix="fixynn-iverilog-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        return compile_files(sorted(files), Path(tmp), Path(tmp) / "lint.vvp", timeout_s)


def run_portable_testbench(rtl_dir: str | Path, timeout_s: float = 600.0) -> IcarusResult:
    """Compile `rtl_dir/tb.f` with Icarus and run it there, as docs/rtl.md tells a user."""
    rtl_dir = Path(rtl_dir)
    if not (rtl_dir / "tb.f").is_file():
        raise FixynnError(f"{rtl_dir / 'tb.f'}: missing; write the testbench with "
                          "`fixynn rtl GRAPH --out DIR --vectors N`")
    _, vvp = find_icarus()
    with tempfile.TemporaryDirectory(prefix="fixynn-vvp-") as tmp:
        exe = Path(tmp) / "tb.vvp"
        warnings = compile_files(["-c", "tb.f"], rtl_dir, exe, timeout_s)
        proc = run_group([vvp, "-n", str(exe)], rtl_dir, None, timeout_s)
    if proc is None:
        raise FixynnError(f"vvp in {rtl_dir} did not finish in {timeout_s:.0f} s")
    match = _SUMMARY.search(proc.stdout)
    if match is None:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise FixynnError(f"the testbench in {rtl_dir} printed no summary line: {tail[0]}")
    counts = _COUNTS.search(match.group(0))
    compared, mismatches = (int(counts.group(1)), int(counts.group(2))) if counts else (0, -1)
    return IcarusResult(match.group(1) == PASS, match.group(0), compared, mismatches,
                        warnings)
