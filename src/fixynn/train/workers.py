"""Parallel target tasks: one `python -m fixynn.train.worker` process per task, `workers` at a
time, each with `threads` torch threads.

Processes rather than threads because small-batch training does not scale over intra-op
threads (docs/transfer.md) while independent tasks scale over cores; subprocesses rather
than `multiprocessing` because a spawned child re-imports the caller's main module, which
breaks any script that calls `run_transfer` without an `if __name__ == "__main__"` guard.
Each worker writes every result atomically as it finishes, so a stop loses only the
trainings in flight.
"""

from __future__ import annotations

import json
import os
import signal
import site
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import fixynn
from fixynn.errors import FixynnError

if TYPE_CHECKING:
    from fixynn.train.config import TransferConfig

_POLL_SECONDS = 0.2
INTERRUPTED = 130  # a worker's exit status after Ctrl-C (the shell's 128 + SIGINT)


def _worker_env(threads: int) -> dict[str, str]:
    env = os.environ | {"OMP_NUM_THREADS": str(threads)}
    home = str(Path(fixynn.__file__).parents[1])
    if home not in site.getsitepackages():  # a source tree: make the child import this fixynn
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (home, os.environ.get("PYTHONPATH"))))
    return env


def _start(cfg: TransferConfig, out_dir: Path, task: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = out_dir / "logs" / f"{task}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "fixynn.train.worker", json.dumps(cfg.to_dict()),
           str(out_dir), task]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=_worker_env(cfg.threads))
    return proc, log


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


@contextmanager
def _results_bar(results: list[Path], workers: int,
                 enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yield `update(message)`: redraws a bar of the result files present (a no-op if
    disabled) and prints `message` above it when one is given."""
    if not enabled:
        yield lambda message: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(f"transfer ({workers} worker processes): trainings", total=len(results))

        def update(message: str) -> None:
            if message:
                bar.console.print(message)
            bar.update(task, completed=sum(path.is_file() for path in results))

        yield update


def run_workers(cfg: TransferConfig, out_dir: Path, workers: int, progress: bool,
                results: list[Path]) -> None:
    """Train every target task of `cfg` in worker processes; raise FixynnError if one fails.

    `results` are the files the workers will write (the progress bar counts them).
    """
    with _results_bar(results, workers, progress) as update:
        _supervise(cfg, out_dir, workers, update)


def _supervise(cfg: TransferConfig, out_dir: Path, workers: int,
               update: Callable[[str], None]) -> None:
    """Keep `workers` worker processes busy until every task is done; stop them all on an
    error or Ctrl-C (their finished results are kept)."""
    pending = list(cfg.targets)
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    finished = 0
    try:
        while pending or running:
            while pending and len(running) < workers:
                task = pending.pop(0)
                running[task] = _start(cfg, out_dir, task)
            time.sleep(_POLL_SECONDS)
            update("")
            for task, (proc, log) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[task]
                if proc.returncode in (INTERRUPTED, -signal.SIGINT):  # Ctrl-C reached it first
                    raise KeyboardInterrupt
                if proc.returncode != 0:
                    raise FixynnError(f"transfer worker for task {task!r} failed (exit "
                                      f"{proc.returncode}): {_last_line(log)} (log: {log})")
                finished += 1
                update(f"transfer: {task} done ({finished}/{len(cfg.targets)} tasks)")
    finally:
        for proc, _ in running.values():
            proc.terminate()
        for proc, _ in running.values():
            proc.wait()
