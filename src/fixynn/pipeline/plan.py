"""From a run config to the list of steps, each with the config slice it depends on.

    transfer -> graph/N<k> -> rtl/N<k>, verify/N<k>, synth/N<k>, ppa/N<k>
             -> layers ----------------------------------------> ppa/N<k>

A hardware step depends on its N's graph content (the graph step's digest), never on the
target tasks: changing a target task retrains that task and reuses every hardware artifact
whose fixed front-end came out the same.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any

from fixynn.config import Config
from fixynn.data.tasks import TaskData, prepare_task
from fixynn.errors import FixynnError
from fixynn.hw.ppa.tech import tech_digest
from fixynn.pipeline import stages
from fixynn.pipeline.runner import Step

# What each stage needs ("module" or "module:attribute"), checked before a run. The modules'
# source is part of the stage's cache key.
STAGE_NEEDS: dict[str, tuple[str, ...]] = {
    "transfer": ("fixynn.train.transfer:run_transfer", "fixynn.train", "fixynn.store",
                 "fixynn.data", "fixynn.nn", "fixynn.nn.export", "fixynn.hw.ir", "fixynn.hw.kinds",
                 "fixynn.arch", "fixynn.frontend"),
    "rtl": ("fixynn.hw.rtl.emit:graph_verilog", "fixynn.hw.rtl", "fixynn.hw.lower",
            "fixynn.hw.kinds"),
    "verify": ("fixynn.hw.stagewise:verify", "fixynn.hw.sim", "fixynn.hw.rtl", "fixynn.hw.lower",
               "fixynn.hw.kinds", "fixynn.hw.golden", "fixynn.data.tasks:task_images"),
    "synth": ("fixynn.hw.synth:synth_graph_layers", "fixynn.hw.rtl", "fixynn.hw.lower",
              "fixynn.hw.kinds", "fixynn.hw.cells", "fixynn.hw.liberty", "fixynn.hw.sta"),
    "ppa": ("fixynn.hw.ppa.system:size_split", "fixynn.hw.ppa.ffe:estimate_ffe",
            "fixynn.hw.ppa", "fixynn.hw.lower", "fixynn.hw.kinds", "fixynn.hw.cells",
            "fixynn.arch"),
}


# Independent per-N units the runner may hand to its executor (local processes or Ray).
REMOTE_STAGES = ("rtl", "verify", "synth")


@dataclass(frozen=True)
class Plan:
    steps: list[Step]
    not_run: list[str]  # "stage: reason" for every requested stage that cannot run
    tasks: dict[str, TaskData] = field(default_factory=dict)  # source and targets, loaded


def prepare_tasks(cfg: Config) -> dict[str, TaskData]:
    """Load (from the content-keyed cache when there) and check the source and every target
    before any training: a bad dataset, class or split stops the run here, in one line."""
    names = dict.fromkeys((*cfg.offline_tasks(), *cfg.model.calib_tasks))
    return {name: prepare_task(cfg.tasks.spec(name), cfg.model.input_size,
                               cfg.model.in_channels)
            for name in names}


def stage_code(stage: str) -> tuple[str, ...]:
    return tuple(need.split(":")[0] for need in STAGE_NEEDS[stage])


def missing_needs(stage: str) -> list[str]:
    return [need for need in STAGE_NEEDS[stage] if not _available(need)]


def _available(need: str) -> bool:
    module, _, attr = need.partition(":")
    try:
        if importlib.util.find_spec(module) is None:
            return False
        return not attr or hasattr(importlib.import_module(module), attr)
    except ImportError:  # a parent package (or something the module imports) is missing
        return False


def _liberty(choice: str) -> dict[str, Any]:
    """The synth step's cell library, its content digest (part of the cache key) and, when
    mapped, the clock target (generic gates do not depend on it)."""
    from fixynn.hw.liberty import resolve_liberty

    try:
        path = resolve_liberty(choice)
    except FixynnError as exc:
        raise FixynnError(f"synth.liberty: {exc}") from exc
    if path is None:
        return {"liberty": None}
    return {"liberty": str(path), "liberty_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def plan_steps(cfg: Config, tasks: dict[str, TaskData] | None = None) -> Plan:
    """The steps of `cfg`; `tasks` are its prepared tasks (prepared here when not given)."""
    wanted = set(cfg.run.stages)
    not_run: list[str] = []
    available = set()
    for stage in STAGE_NEEDS:
        if stage not in wanted:
            not_run.append(f"{stage}: left out by run.stages")
        elif missing := missing_needs(stage):
            not_run.append(f"{stage}: not available (missing {', '.join(missing)})")
        else:
            available.add(stage)
    if "transfer" not in available:
        # every other stage reads the graphs that transfer exports
        not_run += [f"{s}: needs the transfer stage's graphs" for s in sorted(available)]
        return Plan([], not_run)

    tasks = prepare_tasks(cfg) if tasks is None else tasks
    # every key the transfer stage reads (fixynn.train.transfer takes the whole Config)
    params: dict[str, Any] = {
        "source": cfg.tasks.source,
        "targets": list(cfg.tasks.targets),
        # the definitions of the user's tasks this run uses, and every task's data key
        # (content + preprocessing): a changed image changes this step's key
        "task_defs": [cfg.tasks.spec(name).to_dict() for name in tasks
                      if name in {spec.name for spec in cfg.tasks.define}],
        "data": {name: task.provenance["data_key"] for name, task in tasks.items()},
        "n_list": list(cfg.sweep.n_list),
        "model": cfg.to_dict()["model"],
        "train": cfg.to_dict()["train"],
    }
    steps = [
        Step("transfer", "transfer", functools.partial(stages.transfer_step, cfg), params,
             code=stage_code("transfer"))
    ]
    fixed_ns = [n for n in cfg.sweep.n_list if n > 0]
    steps += [
        Step(
            f"graph/N{n}",
            "graph",
            stages.graph_step,
            {"n": n},
            deps=("transfer",),
            digest_files=False,
        )
        for n in fixed_ns
    ]

    if "ppa" in available:  # the model's layer list, which the PPA steps read
        steps.append(Step("layers", "layers", stages.layers_step, {}, deps=("transfer",),
                          code=("fixynn.arch",)))

    def hw(stage: str, n: int, extra: dict[str, Any]) -> Step:
        deps = ((f"graph/N{n}",) if n > 0 else ()) + (("layers",) if stage == "ppa" else ())
        fn = getattr(stages, f"{stage}_step")
        return Step(
            f"{stage}/N{n}", stage, fn, {"n": n, **extra}, deps=deps, code=stage_code(stage),
            remote=stage in REMOTE_STAGES,
        )

    if "rtl" in available:
        steps += [hw("rtl", n, {"style": cfg.hardware.rtl_style}) for n in fixed_ns]
    if "verify" in available:
        # real test images of the source task (the task the fixed front-end was trained on,
        # and one that does not change when the target tasks do), or of the first target for
        # a pretrained front-end
        source = cfg.verify_task()
        verify = {"images": cfg.verify.images, "mode": cfg.verify.mode,
                  "stitched_images": cfg.verify.stitched_images,
                  "stitched_sim": cfg.verify.stitched_sim,
                  "stage_sim": cfg.verify.stage_sim, "stage_images": cfg.verify.stage_images,
                  "task": cfg.tasks.spec(source).to_dict(),
                  "data": tasks[source].provenance["data_key"],
                  "style": cfg.hardware.rtl_style}
        steps += [hw("verify", n, verify) for n in cfg.verify_ns()]
    if "synth" in available:
        synth = {"max_layers": cfg.synth.max_layers, "style": cfg.hardware.rtl_style,
                 **_liberty(cfg.synth.liberty)}
        if synth["liberty"]:  # the mapping is timed for the clock
            synth["clock_ns"] = 1e3 / cfg.hardware.freq_mhz
        steps.append(hw("synth", cfg.synth_n(), synth))
    if "ppa" in available:
        hw_params = {
            **cfg.to_dict()["hardware"],
            "arch": cfg.model.arch,
            # MobileNetV1's width multiplier; a pretrained family has none (config.py)
            "width": None if cfg.pretrained else cfg.model.width,
            "input_size": cfg.model.input_size,
            # the largest classifier of the target tasks runs on the PCA
            "num_classes": max(tasks[t].data.num_classes for t in cfg.tasks.targets),
            # the table's content, not only its name or path: an edited TOML reruns PPA
            "tech_digest": tech_digest(cfg.hardware.tech),
        }
        steps += [hw("ppa", n, hw_params) for n in cfg.sweep.n_list]
    return Plan(steps, not_run, tasks)
