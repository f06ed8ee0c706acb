"""Suite-wide settings: threads, an isolated cache, the data policy and the CLI command."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

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


@pytest.fixture(scope="session")
def fixynn_cmd() -> list[str]:
    """The `fixynn` command for a subprocess, however fixynn was installed (no venv layout)."""
    return [sys.executable, "-m", "fixynn"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every cache a test (or a CLI it starts) touches lives in a temporary directory, never
    in the user's ~/.cache: Verilator builds and their runtime objects go under $FIXYNN_CACHE."""
    old = os.environ.get("FIXYNN_CACHE")
    os.environ["FIXYNN_CACHE"] = str(tmp_path_factory.mktemp("fixynn-cache"))
    yield
    if old is None:
        os.environ.pop("FIXYNN_CACHE", None)
    else:
        os.environ["FIXYNN_CACHE"] = old


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs_data(*datasets): skip, naming the Debian package, when a data set "
        "the test reads is not installed")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The one policy for missing offline data: skip with the package and its install line."""
    from fixynn.data.registry import dataset_info, is_available

    for mark in item.iter_markers("needs_data"):
        for name in mark.args:
            if not is_available(name):
                info = dataset_info(name)
                package = f"Debian package {info.apt_package}" if info.apt_package else name
                pytest.skip(f"{package} not installed (data set {name}): {info.obtain}")
