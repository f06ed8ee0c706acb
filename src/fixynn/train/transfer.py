"""The transfer sweep: one fixed front-end, every target task transferred onto it.

Stages, each persisted as it finishes so an interrupted sweep resumes where it stopped:

1. the front-end family (`model.arch`, fixynn.train.frontends) prepares the float network and
   its fixed integer front-end: MobileNetV1 pretrained on the source task and fixed by QAT
   (fixynn.train.mobilenet), or EfficientNet-Lite0's ImageNet weights fixed by calibration
   (fixynn.train.efficientnet);
2. per target task: a float baseline (all layers fine-tuned from the float network) and,
   for each N, a back-end (units N.. from the float network + a new classifier)
   trained on the integer features of units 0..N-1 (one result artifact each), each
   trained `repeats` times with different seeds. Each baseline, each task's feature pass
   and each back-end (one N, one repeat) is a unit of an executor (fixynn.executors: local
   processes, one thread each, or a Ray cluster): small-batch training does not scale over
   threads, but independent trainings scale over cores and machines.

Each checkpoint and each training's result is an artifact of the tool's one content-addressed
cache (fixynn.store, the pipeline's), keyed by the config keys and data it depends on: a
changed config recomputes only what it changes, a stopped sweep keeps every finished piece.
Accuracies of the fixed model are computed through the exact integer front-end (bit-identical
to `fixynn.hw.golden`).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fixynn.arch import LAYERS_FILE, save_layers
from fixynn.atomic import atomic_write_json, atomic_write_text
from fixynn.config import FLAT_SECTIONS, Config
from fixynn.errors import FixynnError
from fixynn.executors import Executor, Shared, Unit, local_workers, make_executor
from fixynn.executors.progress import units_bar
from fixynn.frontend import layer_shapes
from fixynn.hw.ir import graph_digest, save_graph
from fixynn.store import Store, content_key
from fixynn.train.common import (
    Split,
    data_key,
    derived_seed,
    device,
    load_split,
    recipe,
    repeat_tag,
    timed,
)
from fixynn.train.frontends import FrontEnd, family_of
from fixynn.train.loops import Transform, fit, scaled, score
from fixynn.train.verdict import largest_holding_n, loss_verdict, pack_correct, unpack_correct

__all__ = ["run_transfer"]

TRAINING = "training"  # kind of the trainings' artifacts in the cache (fixynn.store)


def training_key(cfg: Config, name: str, stem: str, repeat: int) -> str:
    """Key of one training's result: task `name`'s baseline (`stem` "baseline") or back-end
    at N (`stem` "N<k>"), repeat `repeat`; it holds the task's data key, so a changed image
    retrains exactly the tasks whose data it is."""
    return content_key({"stage": family_of(cfg).result_stage(cfg), "task": name,
                        "data": data_key(cfg, name), "training": stem, "repeat": repeat})


def cpu_seconds() -> float:
    """CPU time of this process and of its finished (waited-for) worker processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def train_baseline(cfg: Config, pre: nn.Module, task: Split, repeat: int,
                   progress: bool) -> dict[str, Any]:
    """Float fine-tuning of every layer from the float network, same budget as a back-end."""
    seed = derived_seed(cfg.train.seed, task.name, "baseline", *repeat_tag(repeat))
    torch.manual_seed(seed)
    model = copy.deepcopy(pre)
    model.new_classifier(task.num_classes)
    pixels = family_of(cfg).pixels()
    fit(model, task.x_train, task.y_train, pixels, epochs=cfg.train.transfer_epochs,
        seed=seed, desc=f"{task.name} baseline", progress=progress, **recipe(cfg))
    return scored(model, task.x_test, task.y_test, pixels, seed, device(cfg))


def scored(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, transform: Transform,
           seed: int, on: torch.device) -> dict[str, Any]:
    """A training's result: test accuracy, loss, seed and which test images it got right
    (packed bits: what the bootstrap verdict resamples)."""
    acc, loss, correct = score(model, x_test, y_test, transform, device=on)
    return {"acc": acc, "test_loss": loss, "seed": seed, "correct": pack_correct(correct)}


def train_back_end(cfg: Config, pre: nn.Module, n: int, frac: int, task: Split,
                   feats_train: torch.Tensor, feats_test: torch.Tensor, repeat: int,
                   progress: bool) -> dict[str, Any]:
    """Units N.. (from the float network) + a new classifier on cached integer features."""
    seed = derived_seed(cfg.train.seed, task.name, n, *repeat_tag(repeat))
    torch.manual_seed(seed)
    model = copy.deepcopy(pre)
    model.new_classifier(task.num_classes)
    back = family_of(cfg).back_end(model, n)
    fit(back, feats_train, task.y_train, scaled(frac), epochs=cfg.train.transfer_epochs,
        seed=seed, desc=f"{task.name} N={n}", progress=progress, **recipe(cfg))
    return scored(back, feats_test, task.y_test, scaled(frac), seed, device(cfg))


def baseline_unit(cfg: Config, pre: nn.Module, task: Split, repeat: int) -> dict[str, Any]:
    """Unit: one repeat of a task's float baseline (timed)."""
    return timed(lambda: train_baseline(cfg, pre, task, repeat, False))


def features_unit(cfg: Config, front: FrontEnd, task: Split,
                  n_list: tuple[int, ...]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Unit: a task's cached integer features, N -> (train, test), one pass for every N."""
    sweep_train = front.features(task.x_train, n_list, device(cfg))
    sweep_test = front.features(task.x_test, n_list, device(cfg))
    return {n: (f_train, f_test)
            for (n, f_train), (_, f_test) in zip(sweep_train, sweep_test, strict=True)}


def back_end_unit(cfg: Config, pre: nn.Module, n: int, frac: int, task: Split,
                  feats: tuple[torch.Tensor, torch.Tensor], repeat: int) -> dict[str, Any]:
    """Unit: one repeat of a task's back-end at split point N (timed)."""
    return timed(lambda: train_back_end(cfg, pre, n, frac, task, *feats, repeat, False))


def _result(store: Store, key: str) -> dict[str, Any] | None:
    """A finished training's result from the cache, or None."""
    doc = store.load(TRAINING, key)
    return None if doc is None else doc["result"]


def train_missing(cfg: Config, pre: nn.Module, front: FrontEnd, tasks: dict[str, Split],
                  store: Store, executor: Executor, progress: bool) -> None:
    """Train every baseline and back-end whose result is not in the cache, as executor
    units.

    Two rounds: the baselines and each task's features (one unit per task, for the N still
    due), then the back-ends, which read those features. Each result is stored as its unit
    finishes (an artifact: whole or absent), so a failure or a stop keeps every finished one.
    """
    repeats = range(cfg.train.repeats)
    net, front_end = Shared(pre), Shared(front)
    data = {name: Shared(task) for name, task in tasks.items()}
    keys: dict[str, str] = {}  # unit name -> its training's key
    features: dict[str, dict[int, tuple[torch.Tensor, torch.Tensor]]] = {}

    def training(name: str, stem: str, r: int, fn: Callable[..., Any], *args: Any) -> Unit:
        unit = f"{name}/{stem}/r{r}"
        keys[unit] = training_key(cfg, name, stem, r)
        return Unit(unit, fn, args)

    def missing(name: str, stem: str, r: int) -> bool:
        return _result(store, training_key(cfg, name, stem, r)) is None

    first = [training(name, "baseline", r, baseline_unit, cfg, net, data[name], r)
             for name in tasks for r in repeats if missing(name, "baseline", r)]
    due = {name: [(n, r) for n in cfg.sweep.n_list for r in repeats
                  if missing(name, f"N{n}", r)] for name in tasks}
    first += [Unit(f"{name}/features", features_unit,
                   (cfg, front_end, data[name], tuple(sorted({n for n, _ in due[name]}))))
              for name in tasks if due[name]]
    total = len(keys) + sum(map(len, due.values()))  # the trainings (not the feature passes)
    with units_bar(f"transfer ({executor.describe()}): trainings", total, progress) as update:

        def keep(done: Unit, result: Any) -> None:
            name = done.name.split("/")[0]
            if done.name in keys:
                key = keys[done.name]
                store.put(TRAINING, key, {"kind": TRAINING, "key": key, "unit": done.name,
                                          "result": result})
                update(1, _task_done(name, cfg, store))
            else:
                features[name] = result

        executor.run(first, keep)
        second = [training(name, f"N{n}", r, back_end_unit, cfg, net, n, front.out_frac(n),
                           data[name], Shared(features[name][n]), r)
                  for name in tasks for n, r in due[name]]
        executor.run(second, keep)


def _task_done(name: str, cfg: Config, store: Store) -> str:
    """'transfer: NAME done' once every result of the task exists (else '')."""
    stems = ("baseline", *(f"N{n}" for n in cfg.sweep.n_list))
    done = all(_result(store, training_key(cfg, name, stem, r)) is not None
               for stem in stems for r in range(cfg.train.repeats))
    return f"transfer: {name} done" if done else ""


def _results(cfg: Config, store: Store, name: str, stem: str) -> list[dict[str, Any]]:
    """Every repeat's result of one training (all in the cache: train_missing ran)."""
    results = []
    for r in range(cfg.train.repeats):
        result = _result(store, training_key(cfg, name, stem, r))
        if result is None:  # train_missing stored it: only a deletion meanwhile gets here
            raise FixynnError(f"{store.root}: the result of {name}/{stem}/r{r} left the cache "
                              "during the run; rerun to train it again")
        results.append(result)
    return results


def task_summary(cfg: Config, task: Split,
                 store: Store) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(baseline summary, rows) of one target task, from its results in the cache."""
    baselines = _results(cfg, store, task.name, "baseline")
    baseline_accs = [b["acc"] for b in baselines]
    summary = {"acc": _mean(baseline_accs), "accs": baseline_accs,
               "test_loss": _mean([b["test_loss"] for b in baselines]),
               "seeds": [b["seed"] for b in baselines],
               "train_images": len(task.x_train), "test_images": len(task.x_test)}
    images = len(task.x_test)
    baseline_correct = np.stack([unpack_correct(b["correct"], images) for b in baselines])
    rows = []
    for n in sorted(cfg.sweep.n_list):
        runs = _results(cfg, store, task.name, f"N{n}")
        fixed_accs = [run["acc"] for run in runs]
        verdict = loss_verdict(
            baseline_correct, np.stack([unpack_correct(run["correct"], images) for run in runs]),
            seed=derived_seed(cfg.train.seed, task.name, n, "bootstrap"))
        rows.append({"task": task.name, "n": n, "fixed_acc": _mean(fixed_accs),
                     "baseline_acc": summary["acc"],
                     "acc_loss": round(summary["acc"] - _mean(fixed_accs), 4),
                     "acc_loss_se": loss_standard_error(baseline_accs, fixed_accs),
                     "acc_loss_ci95": [verdict.low, verdict.high], "verdict": verdict.verdict,
                     "fixed_accs": fixed_accs, "seeds": [run["seed"] for run in runs],
                     "fixed_test_loss": _mean([run["test_loss"] for run in runs]),
                     "seconds": round(sum(run["seconds"] for run in runs), 2)})
    return summary, rows


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4)


def loss_standard_error(baseline_accs: list[float], fixed_accs: list[float]) -> float | None:
    """Standard error of mean(baseline) - mean(fixed) over independently seeded repeats
    (sample variances); None with a single repeat. It measures the training noise only:
    every repeat is scored on the same test images."""
    if len(baseline_accs) < 2 or len(fixed_accs) < 2:
        return None
    var = sum(np.var(accs, ddof=1) / len(accs) for accs in (baseline_accs, fixed_accs))
    return round(math.sqrt(var), 4)


def local_executor(cfg: Config) -> Executor:
    t = cfg.train
    return make_executor("local", local_workers(t.workers, t.threads), t.threads)


def transfer_all(cfg: Config, store: Store, pre: nn.Module, front: FrontEnd,
                 executor: Executor, progress: bool
                 ) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every target task: name -> (baseline summary, rows); trains what is missing first."""
    tasks = {name: load_split(cfg, name, cfg.train.max_train_images)
             for name in cfg.tasks.targets}
    train_missing(cfg, pre, front, tasks, store, executor, progress)
    return {name: task_summary(cfg, task, store) for name, task in tasks.items()}


def run_transfer(cfg: Config, out_dir: Path, store: Store | None = None, progress: bool = True,
                 executor: Executor | None = None) -> dict[str, Any]:
    """Run (or resume) the sweep: write transfer.json, transfer.md, hwgraph/N<k>/ and the
    model's layer list (layers.json, fixynn.arch.save_layers, read by the PPA stage) into
    `out_dir`, keeping checkpoints and trainings in the cache `store` (default:
    `out_dir/cache`; the caller holds its lock when processes may share it).

    The baselines and back-ends run as units of `executor` (default: local processes, one
    per core). Returns the content of transfer.json.
    """
    out_dir = Path(out_dir)
    store = store or Store(out_dir / "cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.train.threads)
    try:
        if executor is not None:
            return _run(cfg, out_dir, store, executor, progress)
        with local_executor(cfg) as own:
            return _run(cfg, out_dir, store, own, progress)
    finally:
        torch.set_num_threads(threads)


def _run(cfg: Config, out_dir: Path, store: Store, executor: Executor,
         progress: bool) -> dict[str, Any]:
    started, cpu_started = time.perf_counter(), cpu_seconds()
    tasks, model, family = cfg.tasks, cfg.model, family_of(cfg)
    prepared = family.prepare(cfg, store, progress)
    pre, front = prepared.network, prepared.front
    meta = {"arch": model.arch, "source": tasks.source, "targets": list(tasks.targets),
            "input_task": cfg.verify_task(), "input_size": model.input_size,
            "seed": cfg.train.seed, **family.meta(cfg)}
    graphs = {}
    for n in cfg.sweep.n_list:
        graph = front.graph(n, meta)
        save_graph(graph, out_dir / "hwgraph" / f"N{n}")
        graphs[str(n)] = graph_digest(graph)
    example = torch.zeros(1, model.in_channels, model.input_size, model.input_size)
    save_layers(layer_shapes(pre, example), out_dir / LAYERS_FILE, meta)

    done = transfer_all(cfg, store, pre, front, executor, progress)
    baselines = {name: done[name][0] for name in tasks.targets}
    rows = [row for name in tasks.targets for row in done[name][1]]
    summary = {
        "config": {name: cfg.to_dict()[name] for name in FLAT_SECTIONS},
        "source": prepared.info,
        "baselines": baselines,
        "results": rows,
        "largest_n_under_1pct": largest_holding_n(rows, tasks.targets),
        "hwgraphs": graphs,
        "data_keys": {name: data_key(cfg, name) for name in cfg.offline_tasks()},
        "seconds_this_run": round(time.perf_counter() - started, 1),
        # CPU time (workers included) is what a loaded shared machine cannot inflate.
        "cpu_seconds_this_run": round(cpu_seconds() - cpu_started, 1),
        "executor": executor.describe(),
    }
    atomic_write_json(out_dir / "transfer.json", summary)
    atomic_write_text(out_dir / "transfer.md", markdown_table(summary))
    return summary


def markdown_table(summary: dict[str, Any]) -> str:
    """The sweep as a Markdown table: fixed accuracy (loss vs baseline) per N and task."""
    cfg = summary["config"]
    targets, repeats = cfg["tasks"]["targets"], cfg["train"]["repeats"]
    src = summary["source"]
    lines = [
        "# Transfer sweep",
        "",
        f"{src['description']} Seed {cfg['train']['seed']}.",
        "",
        "Accuracy (%) of each target task through the fixed integer front-end at split point N; "
        "in brackets the loss versus the float baseline (all layers fine-tuned, same budget), "
        "its 95% interval (paired bootstrap over the test images"
        + (f" and the {repeats} seeded trainings, whose means are shown" if repeats > 1
           else "; one training each, so seed noise is not covered")
        + ") and the verdict on < 1 point lost: holds (upper bound < 1), fails (lower "
        "bound > 1) or inconclusive.",
        "",
        "| N | " + " | ".join(targets) + " |",
        "|---|" + "---|" * len(targets),
        "| baseline | " + " | ".join(f"{summary['baselines'][t]['acc']:.2f}"
                                      for t in targets) + " |",
    ]
    for n in sorted({r["n"] for r in summary["results"]}):
        by_task = {r["task"]: r for r in summary["results"] if r["n"] == n}
        lines.append(f"| {n} | " + " | ".join(_cell(by_task[t]) for t in targets) + " |")
    safe = summary["largest_n_under_1pct"]
    lines += ["", "Largest N at which < 1 point lost holds for every target: "
              + (str(safe) if safe is not None else "none") + "."]
    return "\n".join(lines) + "\n"


def _cell(row: dict[str, Any]) -> str:
    low, high = row["acc_loss_ci95"]
    return (f"{row['fixed_acc']:.2f} ({row['acc_loss']:+.2f} [{low:+.2f}, {high:+.2f}] "
            f"{row['verdict']})")
