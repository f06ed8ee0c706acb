"""The executor a run config asks for."""

from __future__ import annotations

import os

from fixynn.executors.base import Executor
from fixynn.executors.local import InlineExecutor, ProcessExecutor

EXECUTORS = ("local", "ray")


def local_workers(workers: int, threads: int) -> int:
    """`workers` processes, or (0) as many as the usable cores hold at `threads` each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(workers or (cores or 1) // threads, 1)


def make_executor(kind: str, workers: int, threads: int = 1, address: str = "",
                  retries: int = 1) -> Executor:
    """`local` with one worker runs units in this process; with more, in worker processes.
    `ray` runs them on a Ray cluster (`address`, else RAY_ADDRESS, else a local instance)."""
    if kind == "ray":
        from fixynn.executors.ray_cluster import RayExecutor

        return RayExecutor(address, threads, retries)
    if kind != "local":
        raise ValueError(f"executor must be one of {EXECUTORS}, got {kind!r}")
    if workers <= 1:
        return InlineExecutor(threads, retries)
    return ProcessExecutor(workers, threads, retries)
