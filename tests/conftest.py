"""Suite-wide settings."""

import os
import sys

import pytest

# One intra-op thread for PyTorch/BLAS in tests: on 2 shared cores, worker threads that
# spin-wait made training steps several times slower (see docs/transfer.md), and one thread
# keeps floating-point reductions in a fixed order.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster of 2 CPUs for the session (skipped without Ray installed).
    Test functions travel to its workers by value: they need not import the test modules."""
    ray = pytest.importorskip("ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    for name in ("test_executors", "test_distributed"):
        if name in sys.modules:
            ray.cloudpickle.register_pickle_by_value(sys.modules[name])
    yield ray
    ray.shutdown()
