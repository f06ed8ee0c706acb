"""A content-addressed, resumable runner of pipeline steps.

Each `Step` names its stage, the config slice it depends on (`params`), the steps whose
artifacts it reads (`deps`) and the code it runs (`code`: module names). Its cache key is

    sha256(stage, params, digests of the input artifacts, fixynn version, digest of `code`)

and its artifact lives in `OUT/cache/<stage>/<key>/`, in the one content-addressed cache of
the tool (fixynn.store: whole or absent, resumable after a kill; training keeps its own
checkpoints and results there too). A rerun with the same inputs finds the artifact and does
no work; a changed input changes the key of that step and of every step downstream of it, and
of nothing else.

One run at a time per output directory (the cache's exclusive lock).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fixynn
from fixynn.errors import FixynnError
from fixynn.executors import Executor, Unit, UnitsFailed
from fixynn.store import Store, content_key

log = logging.getLogger("fixynn.pipeline")


@dataclass(frozen=True)
class Artifact:
    """The finished output of one step: its directory and its JSON-able result."""

    step: str
    key: str
    path: Path
    result: dict[str, Any]
    digest: str  # hash of the result and of every file in the artifact directory
    cached: bool
    seconds: float  # time the step took when it ran (a cache hit keeps the original time)


@dataclass
class StepContext:
    """What a step function sees: its params, its inputs, and a directory to write into."""

    step: str
    params: Mapping[str, Any]
    inputs: dict[str, Artifact]
    work_dir: Path  # temporary; becomes the artifact directory when the step returns
    # the run's cache, for a step that keeps finer artifacts of its own (transfer's trainings);
    # None in a remote unit, which writes only into work_dir
    store: Store | None = None
    executor: Executor | None = None  # for a step that runs units of its own (transfer)


StepFn = Callable[[StepContext], dict[str, Any]]


@dataclass(frozen=True)
class Step:
    name: str  # unique in a pipeline, e.g. "verify/N4"
    stage: str  # e.g. "verify"
    fn: StepFn
    params: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    code: tuple[str, ...] = ()  # modules/packages whose source is part of the key
    version: str = "1"  # bump when the step's output format changes
    # Whether the artifact's digest covers its files. A step whose result already pins its
    # content (e.g. a graph digest) sets False: some writers (npz) stamp files with the time.
    digest_files: bool = True
    # An independent unit the runner may hand to its executor (pipeline/remote.py): it reads
    # only its inputs' files and writes only into its work directory (never `out_dir`).
    remote: bool = False


class Events:
    """Callbacks the runner makes; the CLI shows them live, tests count them."""

    def started(self, step: Step, index: int, total: int) -> None:
        """A step starts work (not called for a cache hit); it is number `index` of `total`."""

    def finished(self, step: Step, artifact: Artifact) -> None: ...


def code_digest(modules: tuple[str, ...]) -> str:
    """Hash of the files of the named modules: a module's source file; a package's every file
    (its .py files and the data they read: tech tables, templates), bytecode left out."""
    h = hashlib.sha256()
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise FixynnError(f"pipeline: module {name!r} not found; reinstall fixynn")
        origin = Path(spec.origin)
        files = _package_files(origin.parent) if origin.name == "__init__.py" else [origin]
        for path in files:
            h.update(str(path.relative_to(origin.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _package_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def dir_digest(path: Path) -> str:
    """Hash of every file (relative name + bytes) under `path`."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(file.relative_to(path)).encode())
        h.update(hashlib.sha256(file.read_bytes()).digest())
    return h.hexdigest()


def step_key(step: Step, inputs: Mapping[str, Artifact]) -> str:
    return content_key(
        {
            "stage": step.stage,
            "version": step.version,
            "fixynn": fixynn.__version__,
            "params": step.params,
            "inputs": {name: inputs[name].digest for name in step.deps},
            "code": code_digest(step.code) if step.code else "",
        }
    )


class Runner:
    """Runs steps in order against a cache under `out_dir/cache`; with a parallel
    `executor`, consecutive `remote` steps run side by side as its units."""

    def __init__(self, out_dir: str | Path, events: Events | None = None,
                 executor: Executor | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.store = Store(self.out_dir / "cache")
        self.cache_dir = self.store.root
        self.events = events or Events()
        self.executor = executor

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the output directory's lock (re-entrant: a caller can hold it across `run`
        and its own writes)."""
        with self.store.locked():
            yield

    def run(self, steps: list[Step]) -> dict[str, Artifact]:
        """Run (or reuse) every step, in list order; a step's deps must come before it.

        Remote steps are collected into a batch that runs when a later step needs one of
        them, or at the end; a failed unit is reported by name after the others finished."""
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate step names in {names}")
        done: dict[str, Artifact] = {}
        batch: list[tuple[int, Step]] = []
        parallel = self.executor is not None and self.executor.parallel
        with self.locked():
            for index, step in enumerate(steps):
                if any(d == s.name for d in step.deps for _, s in batch):
                    done |= self._run_batch(batch, done, len(steps))
                    batch = []
                missing = [d for d in step.deps if d not in done]
                if missing:
                    raise ValueError(f"step {step.name!r} depends on {missing}, not run before it")
                if step.remote and parallel:
                    batch.append((index, step))
                    continue
                inputs = {d: done[d] for d in step.deps}
                done[step.name] = self._run_step(step, inputs, index, len(steps))
                self.events.finished(step, done[step.name])
            done |= self._run_batch(batch, done, len(steps))
        return {name: done[name] for name in names}

    def _run_step(self, step: Step, inputs: dict[str, Artifact], index: int,
                  total: int) -> Artifact:
        key = step_key(step, inputs)
        cached = self._cached(step, key)
        if cached is not None:
            log.info("%s: cached (%s)", step.name, cached.path)
            return cached
        self.events.started(step, index, total)  # only for steps that do work
        work = self.store.work_dir(step.stage)
        log.info("%s: running (key %s)", step.name, key[:16])
        start = time.perf_counter()
        try:
            ctx = StepContext(step=step.name, params=step.params, inputs=inputs, work_dir=work,
                              store=self.store, executor=self.executor)
            result = step.fn(ctx)
            return self._finish(step, key, inputs, work, result, time.perf_counter() - start)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def _run_batch(self, batch: list[tuple[int, Step]], done: dict[str, Artifact],
                   total: int) -> dict[str, Artifact]:
        """The remote steps of `batch` (cached ones read here), the rest as executor units."""
        from fixynn.pipeline.remote import shipped_inputs, step_unit, write_files

        finished: dict[str, Artifact] = {}
        todo: dict[str, tuple[Step, str, dict[str, Artifact]]] = {}
        units = []
        for index, step in batch:
            inputs = {d: done[d] for d in step.deps}
            key = step_key(step, inputs)
            cached = self._cached(step, key)
            if cached is not None:
                finished[step.name] = cached
                self.events.finished(step, cached)
                continue
            self.events.started(step, index, total)
            todo[step.name] = (step, key, inputs)
            units.append(Unit(step.name, step_unit, (step.fn, step.name, dict(step.params),
                                                     shipped_inputs(inputs))))
        if not units:
            return finished
        assert self.executor is not None  # a batch is only collected with an executor

        def keep(unit: Unit, returned: tuple[dict[str, Any], dict[str, bytes], float]) -> None:
            step, key, inputs = todo[unit.name]
            result, files, seconds = returned
            work = self.store.work_dir(step.stage)
            try:
                write_files(work, files)
                finished[step.name] = self._finish(step, key, inputs, work, result, seconds)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
            self.events.finished(step, finished[step.name])

        log.info("running %d steps as units of %s", len(units), self.executor.describe())
        try:
            self.executor.run(units, keep)
        except UnitsFailed as exc:
            raise FixynnError(f"pipeline: {exc}") from exc
        return finished

    def _cached(self, step: Step, key: str) -> Artifact | None:
        """The step's finished artifact in the cache, or None."""
        doc = self.store.load(step.stage, key)
        if doc is None:
            return None
        return Artifact(step.name, key, self.store.path(step.stage, key), doc["result"],
                        doc["digest"], cached=True, seconds=float(doc["seconds"]))

    def _finish(self, step: Step, key: str, inputs: dict[str, Artifact], work: Path,
                result: dict[str, Any], seconds: float) -> Artifact:
        """Seal `work` as the artifact of `step`."""
        files = dir_digest(work) if step.digest_files else ""
        digest = content_key({"result": result, "files": files})
        doc = {
            "step": step.name,
            "stage": step.stage,
            "key": key,
            "params": step.params,
            "inputs": {n: a.digest for n, a in inputs.items()},
            "result": result,
            "digest": digest,
            "seconds": seconds,
        }
        final = self.store.seal(work, step.stage, key, doc)
        log.info("%s: done in %.1f s", step.name, seconds)
        return Artifact(step.name, key, final, result, digest, cached=False, seconds=seconds)
