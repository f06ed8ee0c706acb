"""Units as Ray tasks (`executor = "ray"`; `pip install 'fixynn[ray]'`).

The cluster is the one `ray.init` already connected this process to (tests:
`ray.init(num_cpus=2)`), else the config's address, else `RAY_ADDRESS`, else a new local
instance. Connecting to a running cluster ships this fixynn's source to its workers
(`runtime_env.py_modules`), so the workers need only the dependencies, not a fixynn install.
Ray's usage statistics are switched off before Ray is imported. A task whose worker dies is
retried by Ray itself (`max_retries`); one that raises is not (`retry_exceptions` is off).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fixynn
from fixynn.errors import FixynnError
from fixynn.executors.base import (
    Executor,
    Shared,
    Unit,
    UnitCallback,
    UnitsFailed,
    call_unit,
    worker_died,
)


def _import_ray() -> Any:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        import ray
    except ImportError as exc:
        raise FixynnError("run.executor = \"ray\": Ray is not installed; "
                          "pip install 'fixynn[ray]' (or set run.executor = \"local\")") from exc
    return ray


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str = "", threads: int = 1, retries: int = 1) -> None:
        super().__init__(threads, retries)
        self.ray = _import_ray()
        self._started_here = False
        if not self.ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS", "")
            runtime_env = {"env_vars": {"OMP_NUM_THREADS": str(threads),
                                        "RAY_USAGE_STATS_ENABLED": "0"}}
            if address:
                runtime_env["py_modules"] = [str(Path(fixynn.__file__).parent)]
            try:
                self.ray.init(address=address or None, runtime_env=runtime_env,
                              include_dashboard=False, log_to_driver=False)
            except ConnectionError as exc:
                raise FixynnError(f"run.ray_address {address!r}: no Ray cluster there ({exc}); "
                                  "start one (`ray start --head`) or fix the address") from exc
            self._started_here = True
        self._call = self.ray.remote(call_unit)

    def describe(self) -> str:
        cpus = int(self.ray.cluster_resources().get("CPU", 0))
        return f"Ray, {cpus} CPUs"

    def _put_shared(self, units: Sequence[Unit]) -> dict[int, Any]:
        """One object-store copy per distinct `Shared` (by identity) of these units."""
        refs: dict[int, Any] = {}
        for unit in units:
            for arg in unit.args:
                if isinstance(arg, Shared) and id(arg) not in refs:
                    refs[id(arg)] = self.ray.put(arg.value)
        return refs

    def run(self, units: Sequence[Unit], on_result: UnitCallback) -> None:
        ray = self.ray
        refs = self._put_shared(units)
        running = {}
        for unit in units:
            # a top-level ObjectRef argument reaches the task as its value
            args = [refs[id(a)] if isinstance(a, Shared) else a for a in unit.args]
            task = self._call.options(name=unit.name, num_cpus=self.threads,
                                      max_retries=self.retries, retry_exceptions=False)
            running[task.remote(unit.fn, self.threads, *args)] = unit
        failures: dict[str, str] = {}
        try:
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                unit = running.pop(done[0])
                try:
                    on_result(unit, ray.get(done[0]))
                except ray.exceptions.RayTaskError as exc:  # the unit raised
                    cause = exc.cause
                    failures[unit.name] = f"{type(cause).__name__}: {cause}"
                except (ray.exceptions.WorkerCrashedError,
                        ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError):
                    failures[unit.name] = worker_died(self.retries + 1)
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
        if failures:
            raise UnitsFailed(failures)

    def close(self) -> None:
        if self._started_here:
            self.ray.shutdown()
            self._started_here = False
