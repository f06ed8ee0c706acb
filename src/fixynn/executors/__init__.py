"""One interface for running independent units of work: on this machine or on a Ray cluster.

A `Unit` is a named call of a module-level function on picklable arguments (a task's baseline
or back-end for one N and one repeat, one N's RTL, verification or synthesis). An `Executor`
runs a list of units and hands each result back to the caller, in the calling process, as
soon as it is finished, so the caller stores it (atomically) before waiting for the others: a
failure or a stop loses only the units in flight, and a rerun submits only what is missing.

* `inline`: in this process, one after another (`workers = 1`; what tests monkeypatch);
* `local`: a pool of spawned processes on this machine (`concurrent.futures`);
* `ray`: tasks on a Ray cluster (`pip install 'fixynn[ray]'`), see docs/ray.md.

Arguments wrapped in `Shared` are the large inputs many units read (the networks, a task's
images, cached features): Ray puts each into its object store once; the local pool pickles
it into each unit's call. A unit whose worker dies is resubmitted up to `retries` times and
then reported by name; a unit that raises is not retried (the error is deterministic).
"""

from __future__ import annotations

from fixynn.executors.base import Executor, Shared, Unit, UnitCallback, UnitsFailed
from fixynn.executors.factory import EXECUTORS, local_workers, make_executor

__all__ = ["EXECUTORS", "Executor", "Shared", "Unit", "UnitCallback", "UnitsFailed",
           "local_workers", "make_executor"]
