"""Icarus Verilog: the second simulator, running the portable testbench that `fixynn rtl`
writes (rtl.portable_tb) exactly as a user would, and the `-g2005 -Wall` lint. It is also
the simulator of the stitched check of `fixynn verify --mode layers` (`verify_icarus`): no
C++ build, so a large design elaborates in seconds where Verilator compiles for minutes."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fixynn.atomic import atomic_write_json
from fixynn.errors import FixynnError
from fixynn.hw.ir import HwGraph
from fixynn.hw.rtl import SUMMARY_JSON, generate_rtl
from fixynn.hw.rtl.portable_tb import FAIL, LAYER, PASS
from fixynn.hw.sim import LayerMismatch, VerifyResult, run_group
from fixynn.paths import cache_home

ICARUS_PACKAGE = "iverilog"  # the Debian package (scripts/install-system-deps.sh)
COMPILE_FLAGS = ("-g2005", "-Wall")
_SUMMARY = re.compile(rf"^({PASS}|{FAIL}): .*$", re.MULTILINE)
_COUNTS = re.compile(r"(\d+) output values compared, (\d+) mismatches")
_MISSING = re.compile(r"(\d+) missing")
_LAYER = re.compile(rf"^{LAYER} (\d+) \(.*\): (\d+) compared, (\d+) mismatches, "
                    r"(\d+) missing$", re.MULTILINE)


class IcarusMissing(FixynnError):
    """Icarus Verilog is not installed."""


@dataclass(frozen=True)
class IcarusResult:
    passed: bool
    line: str  # the bench's summary line
    compared: int
    mismatches: int
    missing: int  # expected output values that never came out
    warnings: str  # what `iverilog -Wall` printed ('' when clean)
    compile_s: float = 0.0  # iverilog (parse and elaborate)
    sim_s: float = 0.0  # vvp (the vectors read and every image run)
    layers: tuple[tuple[int, int, int], ...] = ()  # per layer: compared, mismatches, missing



def summary_line(stdout: str) -> str | None:
    """The portable bench's closing PASS / FAIL line in `stdout` (after the per-layer lines),
    or None."""
    match = _SUMMARY.search(stdout)
    return None if match is None else match.group(0)

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
        t0 = time.perf_counter()
        warnings = compile_files(["-c", "tb.f"], rtl_dir, exe, timeout_s)
        t1 = time.perf_counter()
        proc = run_group([vvp, "-n", str(exe)], rtl_dir, None, timeout_s)
        t2 = time.perf_counter()
    if proc is None:
        raise FixynnError(f"vvp in {rtl_dir} did not finish in {timeout_s:.0f} s")
    match = _SUMMARY.search(proc.stdout)
    if match is None:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise FixynnError(f"the testbench in {rtl_dir} printed no summary line: {tail[0]}")
    counts = _COUNTS.search(match.group(0))
    compared, mismatches = (int(counts.group(1)), int(counts.group(2))) if counts else (0, -1)
    missing = _MISSING.search(match.group(0))
    layers = tuple((int(m[2]), int(m[3]), int(m[4])) for m in _LAYER.finditer(proc.stdout))
    return IcarusResult(match.group(1) == PASS, match.group(0), compared, mismatches,
                        int(missing.group(1)) if missing else 0, warnings, t1 - t0, t2 - t1,
                        layers)


def verify_icarus(graph: HwGraph, images: np.ndarray, work_dir: Path, style: str = "csd",
                  pipeline: bool = False, timeout_s: float = 600.0,
                  cache_dir: Path | None = None) -> VerifyResult:
    """The whole design on `images` in Icarus: the RTL and the portable testbench written
    into `work_dir/rtl`, compiled and run there, every layer compared; missing outputs count as
    mismatches and a hung design is an error, as in the Verilator path. The bench's layer
    lines give the per-layer rows.

    With `cache_dir` the outcome is kept by content (the Verilog, the bench, its vectors and
    the Icarus version: `check_key`), and a check of the same files reuses it without
    simulating (`cached_build`: the simulation is deterministic, so it would say the same)."""
    out = Path(work_dir) / "rtl"
    generate_rtl(graph, out, style, pipeline, vectors=images)
    kept = Path(cache_dir) / f"{check_key(out)}.json" if cache_dir is not None else None
    if kept is not None and kept.is_file():
        doc = json.loads(kept.read_text())
        return _result(graph, len(images), doc["layers"], 0.0, 0.0, True)
    r = run_portable_testbench(out, timeout_s)
    bad = r.mismatches + r.missing
    if not r.passed and bad <= 0:  # a timeout (hung design) or an unreadable summary
        raise FixynnError(f"check of {graph.name!r} in Icarus ({out}): {r.line}")
    if len(r.layers) != len(graph.layers):
        raise FixynnError(f"check of {graph.name!r} in Icarus ({out}): the bench printed "
                          f"{len(r.layers)} layer lines for {len(graph.layers)} layers")
    if kept is not None:
        atomic_write_json(kept, {"layers": [list(row) for row in r.layers], "line": r.line,
                                 "compile_s": r.compile_s, "sim_s": r.sim_s})
    return _result(graph, len(images), r.layers, r.compile_s, r.sim_s, False)


def _result(graph: HwGraph, images: int, layers: Sequence[Sequence[int]], compile_s: float,
            sim_s: float, cached: bool) -> VerifyResult:
    """A VerifyResult from the bench's per-layer (compared, mismatches, missing) counts;
    missing outputs count as mismatches."""
    rows = [LayerMismatch(layer.name, compared, bad + missing)
            for layer, (compared, bad, missing) in zip(graph.layers, layers, strict=True)]
    return VerifyResult(images=images, outputs_compared=sum(m.outputs for m in rows),
                        mismatches=sum(m.mismatches for m in rows), layers=rows,
                        build_s=compile_s, sim_s=sim_s, cached_build=cached,
                        simulator="icarus")


def default_check_cache() -> Path:
    """Where checks' outcomes are kept ($FIXYNN_CACHE, beside the Verilator builds)."""
    return cache_home() / "icarus"


def check_key(rtl_dir: Path) -> str:
    """Content hash of a written bench (every file but rtl.json, which names the folder) and
    of the Icarus that runs it."""
    digest = hashlib.sha256(_icarus_version(find_icarus()[0]).encode())
    for path in sorted(p for p in rtl_dir.rglob("*") if p.is_file() and p.name != SUMMARY_JSON):
        digest.update(f"\0{path.relative_to(rtl_dir)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


@functools.cache
def _icarus_version(iverilog: str) -> str:
    proc = subprocess.run([iverilog, "-V"], capture_output=True, text=True, timeout=60,
                          check=False)
    return (proc.stdout.splitlines() or ["?"])[0]
