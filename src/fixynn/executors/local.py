"""Units on this machine: in this process (`InlineExecutor`) or in a pool of worker processes
(`ProcessExecutor`, `concurrent.futures` with spawned workers).

Spawned, not forked: a fork of a process whose torch thread pool has run can deadlock. A
spawned worker imports the caller's main module (as `__mp_main__`), so a script that runs
units in processes needs the usual `if __name__ == "__main__":` guard. Each worker ignores
Ctrl-C (the caller stops the pool; the tools a unit runs stop on their own) and, on Linux,
is sent SIGTERM if the caller dies, so a killed run leaves no orphans training on.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from fixynn.executors.base import Executor, Unit, UnitCallback, UnitsFailed, call_unit, worker_died

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class InlineExecutor(Executor):
    """Every unit in this process, in order: no pickling, no start-up cost."""

    name = "inline"
    parallel = False

    def describe(self) -> str:
        return "1 process"

    def run(self, units: Sequence[Unit], on_result: UnitCallback) -> None:
        failures = {}
        for unit in units:
            try:
                result = call_unit(unit.fn, self.threads, *unit.args)
            except Exception as exc:  # report it by name after the other units ran
                failures[unit.name] = f"{type(exc).__name__}: {exc}"
                continue
            on_result(unit, result)
        if failures:
            raise UnitsFailed(failures)


def _ignore(signum: int, frame: object) -> None:
    """Ctrl-C in a worker: nothing; the caller stops the pool."""


def _worker_init(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)  # before anything imports torch here
    # A handler, not SIG_IGN: an ignored signal stays ignored across exec, and the tools a
    # unit starts (Verilator, make) must still stop on Ctrl-C.
    signal.signal(signal.SIGINT, _ignore)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # best effort: 0 or -1


class ProcessExecutor(Executor):
    """`workers` spawned processes, kept for the executor's life (torch is imported once per
    worker, not once per unit). A worker that dies breaks the pool: a new pool is started and
    the units that were running are resubmitted, one at a time, so that each death is
    charged to the unit that caused it; a unit is retried at most `retries` times."""

    name = "local"

    def __init__(self, workers: int, threads: int = 1, retries: int = 1) -> None:
        super().__init__(threads, retries)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"{self.workers} local processes"

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                             initializer=_worker_init,
                                             initargs=(self.threads,))
        return self._pool

    def run(self, units: Sequence[Unit], on_result: UnitCallback) -> None:
        queue = list(units)
        deaths = {u.name: 0 for u in units}
        suspects: set[str] = set()  # in flight when a worker died: next run alone
        failures: dict[str, str] = {}
        running: dict[Future[object], Unit] = {}
        try:
            while queue or running:
                pool = self._get_pool()
                # one unit per worker, so the pool holds only units that are running; a
                # suspect runs alone, so that a death then is its own
                while (queue and len(running) < self.workers
                       and not any(u.name in suspects for u in running.values())
                       and not (running and queue[0].name in suspects)):
                    unit = queue.pop(0)
                    running[pool.submit(call_unit, unit.fn, self.threads, *unit.args)] = unit
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    done, _ = wait(running)  # a worker died: every unit in the pool is lost
                    self._discard_pool()
                lost = [running[f] for f in done if isinstance(f.exception(), BrokenProcessPool)]
                for future in done:
                    unit = running.pop(future)
                    exc = future.exception()
                    if exc is not None and not isinstance(exc, BrokenProcessPool):
                        failures[unit.name] = f"{type(exc).__name__}: {exc}"
                    elif exc is None:
                        on_result(unit, future.result())
                if len(lost) == 1:
                    deaths[lost[0].name] += 1
                suspects.update(u.name for u in lost)
                for unit in reversed(lost):
                    if deaths[unit.name] > self.retries:
                        failures[unit.name] = worker_died(deaths[unit.name])
                    else:
                        queue.insert(0, unit)
        except BaseException:
            self._discard_pool()
            raise
        if failures:
            raise UnitsFailed(failures)

    def _discard_pool(self) -> None:
        """Stop the pool now: its workers are terminated, their units lost."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        # concurrent.futures has no public way to stop running calls; its process table is
        # the one handle on the workers (stable since Python 3.2).
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
