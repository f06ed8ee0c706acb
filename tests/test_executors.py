"""The executors on real worker processes: results, a worker killed mid-unit, failures by
name. The Ray test runs against a real local cluster (`ray.init(num_cpus=2)`, conftest.py),
no mock. This module imports no torch, so a restarted worker starts fast."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixynn.errors import FixynnError
from fixynn.executors import Executor, Shared, Unit, UnitsFailed, make_executor


def square_plus(x: int, shared: bytes) -> int:
    return x * x + len(shared)


def raise_value_error(x: int) -> int:
    raise ValueError(f"bad x {x}")


def value(x: int) -> int:
    return x


def die_then_run(marker: str | None, fn: Callable[..., Any], *args: Any) -> Any:
    """Kill this worker (SIGKILL, as the OOM killer would) once (the first call creates
    `marker`) or every time (no marker); otherwise `fn(*args)`."""
    if marker is None or not Path(marker).exists():
        if marker is not None:
            Path(marker).write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    return fn(*args)


def collect(executor: Executor, units: list[Unit]) -> tuple[dict[str, Any], str | None]:
    got: dict[str, Any] = {}
    try:
        executor.run(units, lambda unit, result: got.__setitem__(unit.name, result))
    except UnitsFailed as exc:
        return got, str(exc)
    return got, None


def check_executor(executor: Executor, tmp_path: Path) -> None:
    shared = Shared(b"x" * 1000)
    got, error = collect(executor, [Unit(f"sq{i}", square_plus, (i, shared)) for i in range(5)])
    assert error is None and got == {f"sq{i}": i * i + 1000 for i in range(5)}

    marker = tmp_path / f"marker-{executor.name}"
    got, error = collect(executor, [Unit("once", die_then_run, (str(marker), value, 7)),
                                    Unit("always", die_then_run, (None, value, 0)),
                                    Unit("raises", raise_value_error, (3,)),
                                    Unit("fine", square_plus, (2, shared))])
    assert marker.exists()
    assert got == {"once": 7, "fine": 1004}  # the killed unit was retried; the others kept
    assert error is not None
    assert "unit 'always' failed: its worker process died (2 attempts)" in error
    assert "raises" in error  # a unit that raised is reported by name too (and not retried)


def test_local_processes_retry_a_killed_worker_and_name_failures(tmp_path: Path) -> None:
    with make_executor("local", workers=2) as executor:
        check_executor(executor, tmp_path)


def test_inline_runs_every_unit_and_names_the_failures() -> None:
    executor = make_executor("local", workers=1)
    got, error = collect(executor, [Unit("bad", raise_value_error, (1,)),
                                    Unit("good", square_plus, (3, Shared(b"ab")))])
    assert got == {"good": 11}
    assert error is not None and error.startswith("unit 'bad' failed: ValueError: bad x 1")


def test_ray_retries_a_killed_worker_and_names_failures(ray_cluster, tmp_path: Path) -> None:
    with make_executor("ray", workers=2) as executor:
        assert executor.describe() == "Ray, 2 CPUs"
        check_executor(executor, tmp_path)



def test_ray_not_installed_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(FixynnError, match=r"Ray is not installed; pip install 'fixynn\[ray\]'"):
        make_executor("ray", workers=2)
