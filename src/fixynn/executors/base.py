"""The executor interface: units, shared inputs, the failure report."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fixynn.errors import FixynnError


@dataclass(frozen=True)
class Shared:
    """A large input read by many units; sent once per Ray cluster, per call locally."""

    value: Any


@dataclass(frozen=True)
class Unit:
    name: str  # unique in one `Executor.run`, e.g. "transfer/opencv-digits/N4/r1"
    fn: Callable[..., Any]  # module-level (picklable by reference)
    args: tuple[Any, ...] = ()  # picklable; `Shared` values are unwrapped before the call


UnitCallback = Callable[[Unit, Any], None]


class UnitsFailed(FixynnError):
    """Some units did not finish; `failures` maps each one's name to why."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        names = sorted(failures)
        first = names[0]
        more = f" (and {len(names) - 1} more: {', '.join(names[1:])})" if len(names) > 1 else ""
        super().__init__(f"unit {first!r} failed: {failures[first]}{more}; the finished "
                         "units' results are kept, rerun to do only what is missing")


def worker_died(attempts: int) -> str:
    return f"its worker process died ({attempts} attempt{'s' * (attempts > 1)})"


def call_unit(fn: Callable[..., Any], threads: int, *args: Any) -> Any:
    """Run one unit in a worker: `threads` torch threads, `Shared` arguments unwrapped.

    torch is not imported for a unit that does not use it (the hardware steps); a worker
    that imports it later gets `threads` from OMP_NUM_THREADS, which the executors set."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    return fn(*(a.value if isinstance(a, Shared) else a for a in args))


class Executor(ABC):
    """Runs independent units; see the package docstring."""

    name: str = ""
    parallel: bool = True  # False: units run one after another in this process

    def __init__(self, threads: int = 1, retries: int = 1) -> None:
        self.threads, self.retries = threads, retries

    @abstractmethod
    def run(self, units: Sequence[Unit], on_result: UnitCallback) -> None:
        """Run every unit; call `on_result(unit, result)` here as each finishes. Raises
        UnitsFailed naming every unit that failed, after the others have finished."""

    def describe(self) -> str:
        """Where the units run, for logs and transfer.json (e.g. "2 local processes")."""
        return self.name

    def close(self) -> None:  # noqa: B027 (most executors hold nothing between runs)
        """Release what the executor holds (worker processes, a cluster connection)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

