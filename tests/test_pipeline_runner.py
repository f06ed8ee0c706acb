"""The artifact cache and step runner, driven by small fake stages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fixynn.errors import FixynnError
from fixynn.pipeline.runner import Events, Runner, Step, StepContext
from fixynn.store import ARTIFACT_JSON


class Counter(Events):
    def __init__(self) -> None:
        self.ran: list[str] = []

    def finished(self, step: Step, artifact) -> None:
        if not artifact.cached:
            self.ran.append(step.name)


def _square(ctx: StepContext) -> dict:
    (ctx.work_dir / "value.txt").write_text(str(ctx.params["x"] ** 2))
    return {"value": ctx.params["x"] ** 2}


def _sum(ctx: StepContext) -> dict:
    return {"value": sum(a.result["value"] for a in ctx.inputs.values())}


def _steps(a: int, b: int) -> list[Step]:
    return [
        Step("sq/a", "sq", _square, {"x": a}),
        Step("sq/b", "sq", _square, {"x": b}),
        Step("sum", "sum", _sum, {}, deps=("sq/a", "sq/b")),
    ]


def test_second_run_does_no_work(tmp_path: Path) -> None:
    first, second = Counter(), Counter()
    out1 = Runner(tmp_path, first).run(_steps(3, 4))
    out2 = Runner(tmp_path, second).run(_steps(3, 4))
    assert first.ran == ["sq/a", "sq/b", "sum"]
    assert second.ran == []
    assert out1["sum"].result == out2["sum"].result == {"value": 25}
    assert out2["sum"].cached and out2["sum"].digest == out1["sum"].digest
    assert (out2["sq/b"].path / "value.txt").read_text() == "16"


def test_changed_input_reruns_only_its_dependents(tmp_path: Path) -> None:
    Runner(tmp_path).run(_steps(3, 4))
    events = Counter()
    out = Runner(tmp_path, events).run(_steps(3, 5))
    assert events.ran == ["sq/b", "sum"]
    assert out["sum"].result == {"value": 34}
    # the old artifacts stay: switching back is free
    back = Counter()
    Runner(tmp_path, back).run(_steps(3, 4))
    assert back.ran == []


def test_same_output_upstream_does_not_rerun_downstream(tmp_path: Path) -> None:
    Runner(tmp_path).run(_steps(3, 4))
    events = Counter()
    Runner(tmp_path, events).run(_steps(3, -4))  # (-4)^2 == 4^2: same artifact content
    assert events.ran == ["sq/b"]


def test_failed_step_leaves_no_artifact(tmp_path: Path) -> None:
    def boom(ctx: StepContext) -> dict:
        (ctx.work_dir / "half.bin").write_bytes(b"x" * 10)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Runner(tmp_path).run([Step("b", "b", boom)])
    assert list((tmp_path / "cache" / "b").iterdir()) == []


def test_deps_must_run_first(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="depends on"):
        Runner(tmp_path).run([Step("sum", "sum", _sum, deps=("sq/a",))])


def test_an_edit_of_a_stage_package_reruns_the_step(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same package before and after an edit of its source or of a data file it reads."""
    pkg = tmp_path / "src" / "stagepkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("SCALE = 1\n")
    (pkg / "table.toml").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    out = tmp_path / "out"

    def ran() -> list[str]:
        events = Counter()
        Runner(out, events).run([Step("s", "s", _square, {"x": 2}, code=("stagepkg",))])
        return events.ran

    assert ran() == ["s"]
    (pkg / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"bytecode")
    assert ran() == []  # bytecode is not source
    (pkg / "mod.py").write_text("SCALE = 2\n")
    assert ran() == ["s"]
    (pkg / "table.toml").write_text("x = 2\n")  # a non-Python file of the package
    assert ran() == ["s"]
    assert ran() == []


def test_second_runner_on_same_dir_is_refused(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    with runner.locked(), pytest.raises(FixynnError, match="another `fixynn run`"):
        Runner(tmp_path).run(_steps(1, 2))


# A pipeline of fake stages in a child process: step "slow" sleeps so that we can kill it.
CHILD = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from fixynn.pipeline.runner import Runner, Step

    # a shell starts background jobs with SIGINT ignored; restore Ctrl-C's KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def fast(ctx):
        (ctx.work_dir / "data.bin").write_bytes(bytes(range(256)) * 400)
        return {"n": ctx.params["n"]}

    def slow(ctx):
        marker = Path(sys.argv[2])
        (ctx.work_dir / "part.bin").write_bytes(b"p" * 100000)
        if not marker.exists():
            marker.write_text("started")
            time.sleep(60)  # killed here on the first run
        return {"total": sum(a.result["n"] for a in ctx.inputs.values())}

    steps = [Step(f"fast/{i}", "fast", fast, {"n": i}) for i in range(3)]
    steps.append(Step("slow", "slow", slow, {}, deps=tuple(s.name for s in steps)))
    out = Runner(sys.argv[1]).run(steps)
    print(out["slow"].result["total"], sum(not a.cached for a in out.values()))
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_resume_after_kill(tmp_path: Path, sig: signal.Signals) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out_dir, marker = tmp_path / "out", tmp_path / "marker"
    cmd = [sys.executable, str(script), str(out_dir), str(marker)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    slow_dir = out_dir / "cache" / "slow"
    # SIGKILL leaves the unfinished step's temp dir; SIGINT cleans it up on the way out
    left = [p.name[:5] for p in slow_dir.iterdir()]
    assert left == ([".tmp-"] if sig == signal.SIGKILL else [])
    assert len(list((out_dir / "cache" / "fast").iterdir())) == 3  # finished steps survive

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    total, ran = rerun.stdout.split()
    assert (int(total), int(ran)) == (3, 1)  # only the killed step ran again
    entries = list(slow_dir.iterdir())
    assert len(entries) == 1 and not entries[0].name.startswith(".")  # no temp left
    doc = json.loads((entries[0] / ARTIFACT_JSON).read_text())
    assert doc["result"] == {"total": 3}
    assert (entries[0] / "part.bin").stat().st_size == 100000


def test_digest_files_false_ignores_file_bytes(tmp_path: Path) -> None:
    stamp = iter(range(100))

    def stamped(ctx: StepContext) -> dict:
        (ctx.work_dir / "f.bin").write_text(str(next(stamp)))  # differs on every write
        return {"content": ctx.params["x"]}

    digests = set()
    for x in (1, 1):
        for flag in (True, False):
            step = Step(f"s{flag}", f"s{flag}", stamped, {"x": x}, digest_files=flag)
            out = Runner(tmp_path / str(len(digests))).run([step])
            digests.add((flag, out[step.name].digest))
    assert len({d for f, d in digests if f}) == 2  # file bytes differ -> digests differ
    assert len({d for f, d in digests if not f}) == 1
