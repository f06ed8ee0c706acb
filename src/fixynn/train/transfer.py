"""The transfer sweep: pretrain on the source task, fix the network, transfer to every target.

Stages, each persisted as it finishes so an interrupted sweep resumes where it stopped:

1. pretrain a float MobileNetV1 on the source task (checkpoint);
2. fix it: fold BN, prune, quantize all 14 blocks and fine-tune them with QAT on the source
   task (checkpoint). Every front-end (any N) is a prefix of this one fixed network, so the
   features at each N are exact and shared across N;
3. per target task: a float baseline (all layers fine-tuned from the pretrained weights) and,
   for each N, a back-end (blocks N..13 from the pretrained weights + a new classifier)
   trained on the cached integer features of blocks 0..N-1 (one JSON result each), each
   trained `repeats` times with different seeds. Each baseline, each task's feature pass
   and each back-end (one N, one repeat) is a unit of an executor (fixynn.executors: local
   processes, one thread each, or a Ray cluster): small-batch training does not scale over
   threads, but independent trainings scale over cores and machines.

Artifacts are content-addressed by the config fields they depend on, so a changed config
recomputes only what it changes. Accuracies of the fixed model are computed through the exact
integer front-end (bit-identical to `fixynn.hw.golden`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fixynn.arch import NUM_BLOCKS
from fixynn.atomic import atomic_write_json, atomic_write_text
from fixynn.data import Dataset
from fixynn.data.tasks import load_task, task_data_key
from fixynn.errors import FixynnError
from fixynn.executors import Executor, Shared, Unit, local_workers, make_executor
from fixynn.executors.progress import units_bar
from fixynn.hw.ir import graph_digest, save_graph
from fixynn.nn.export import export_front_end
from fixynn.nn.fixed import INPUT_FRAC, FixedNet
from fixynn.nn.model import BackEnd, MobileNetV1
from fixynn.nn.prune import sparsity_of
from fixynn.train.augment import augmenter
from fixynn.train.checkpoint import load_checkpoint, save_checkpoint
from fixynn.train.config import TransferConfig, load_config
from fixynn.train.device import resolve_device
from fixynn.train.features import feature_sweep
from fixynn.train.loops import evaluate, fit, scaled, score
from fixynn.train.verdict import largest_holding_n, loss_verdict, pack_correct, unpack_correct

__all__ = ["TransferConfig", "load_config", "load_networks", "run_transfer"]

# Config fields each stage's artifacts depend on (a prefix chain: later stages add fields).
PRETRAIN_FIELDS = ("source", "width", "input_size", "in_channels", "stride_plan", "seed",
                   "pretrain_epochs", "batch_size", "max_source_images", "max_test_images",
                   "optimizer", "lr", "warmup", "label_smoothing", "weight_decay", "source_augment",
                   "device")
FIX_FIELDS = (*PRETRAIN_FIELDS, "w_bits", "a_bits", "sparsity", "finetune_epochs",
              "finetune_lr", "finetune_batch_size", "max_finetune_images")
RESULT_FIELDS = (*FIX_FIELDS, "transfer_epochs", "max_train_images")


# Fields added after artifacts existed: keyed only when not at this value, so that older
# caches stay valid. Float training differs across devices.
KEYED_UNLESS: dict[str, Any] = {"source_augment": [], "in_channels": 1, "device": "cpu"}


def stage_key(cfg: TransferConfig, names: tuple[str, ...]) -> str:
    """Key of the artifacts that depend on `names`, and on the source task's data (its
    content and preprocessing: a changed source image retrains everything)."""
    values = cfg.to_dict() | {"device": resolve_device(cfg.device).type}
    doc = {k: v for k, v in values.items()
           if k in names and (k not in KEYED_UNLESS or v != KEYED_UNLESS[k])}
    doc["source_data"] = data_key(cfg, cfg.source)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def data_key(cfg: TransferConfig, name: str) -> str:
    """Content-and-preprocessing key of a task's arrays (files hashed, nothing decoded)."""
    return task_data_key(cfg.spec(name), cfg.input_size, cfg.in_channels)


def load_split(cfg: TransferConfig, name: str, cap: int) -> Split:
    return Split(load_task(cfg.spec(name), cfg.input_size, cfg.in_channels), cfg, cap)


def derived_seed(seed: int, *parts: object) -> int:
    """A stable per-run seed (same on resume, different per task and N)."""
    return zlib.crc32("/".join(map(str, (seed, *parts))).encode())


def repeat_tag(repeat: int) -> tuple[str, ...]:
    """Seed parts and file-name suffix of a repeat (none for repeat 0, so a run with more
    repeats reuses the results of one with fewer)."""
    return () if repeat == 0 else (f"r{repeat}",)


def result_path(result_dir: Path, stem: str, repeat: int) -> Path:
    return result_dir / ("-".join((stem, *repeat_tag(repeat))) + ".json")


class Split:
    """A task's (capped) train/test tensors: uint8 images, int64 labels."""

    def __init__(self, data: Dataset, cfg: TransferConfig, max_train: int) -> None:
        self.name, self.num_classes = data.name, data.num_classes
        rng = np.random.default_rng(derived_seed(cfg.seed, "subset", data.name))
        self.x_train, self.y_train = _capped(data.train_images, data.train_labels, max_train,
                                             rng)
        self.x_test, self.y_test = _capped(data.test_images, data.test_labels,
                                           cfg.max_test_images, rng)


def _capped(images: np.ndarray, labels: np.ndarray, cap: int,
            rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if cap and len(images) > cap:
        keep = np.sort(rng.permutation(len(images))[:cap])
        images, labels = images[keep], labels[keep]
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


def _new_model(cfg: TransferConfig, num_classes: int) -> MobileNetV1:
    return MobileNetV1(num_classes, cfg.width, cfg.input_size, cfg.in_channels, cfg.stride_plan)


class _QatNet(nn.Module):
    """Fixed (fake-quantized) blocks 0..13 + the float classifier, for QAT on the source."""

    def __init__(self, fixed: FixedNet, classifier: nn.Linear) -> None:
        super().__init__()
        self.fixed, self.classifier = fixed, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fixed(x).mean(dim=(2, 3)))


def recipe(cfg: TransferConfig) -> dict[str, Any]:
    """`fit` keywords of the float training runs (pretraining, baselines, back-ends)."""
    return {"batch_size": cfg.batch_size, "optimizer": cfg.optimizer, "lr": cfg.lr,
            "warmup": cfg.warmup, "label_smoothing": cfg.label_smoothing,
            "weight_decay": cfg.weight_decay, "device": device(cfg)}


def device(cfg: TransferConfig) -> torch.device:
    """Where this process trains and extracts features (`cfg.device` resolved here)."""
    return resolve_device(cfg.device)


def _timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """fn()'s result plus its wall and CPU seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out | {"seconds": round(time.perf_counter() - start, 2),
                  "cpu_seconds": round(time.process_time() - cpu, 2)}


def cpu_seconds() -> float:
    """CPU time of this process and of its finished (waited-for) worker processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def pretrain(cfg: TransferConfig, src: Split, ckpt: Path,
             progress: bool) -> tuple[MobileNetV1, dict[str, Any]]:
    """The float backbone trained on the source task (loaded if already checkpointed)."""
    torch.manual_seed(cfg.seed)
    model = _new_model(cfg, src.num_classes)
    if ckpt.is_file():
        state = load_checkpoint(ckpt)
        model.load_state_dict(state["model"])
        return model, state["info"]

    def run() -> dict[str, Any]:
        fit(model, src.x_train, src.y_train, scaled(INPUT_FRAC), epochs=cfg.pretrain_epochs,
            seed=cfg.seed, augment=augmenter(cfg.source_augment), desc="pretrain",
            progress=progress, **recipe(cfg))
        acc, loss = evaluate(model, src.x_test, src.y_test, scaled(INPUT_FRAC),
                             device=device(cfg))
        return {"float_acc": acc, "float_test_loss": loss, "seed": cfg.seed}

    info = _timed(run)
    save_checkpoint(ckpt, {"model": model.state_dict(), "info": info})
    return model, info


def fix_network(cfg: TransferConfig, pre: MobileNetV1, src: Split, ckpt: Path,
                progress: bool) -> tuple[FixedNet, dict[str, Any]]:
    """BN-fold, prune and quantize all 14 blocks, then QAT on the source (or load)."""
    pre.eval()
    fixed = FixedNet(pre, cfg.w_bits, cfg.a_bits)
    qat = _QatNet(fixed, copy.deepcopy(pre.classifier))
    if ckpt.is_file():
        state = load_checkpoint(ckpt)
        qat.load_state_dict(state["model"])
        return fixed, state["info"]

    def run() -> dict[str, Any]:
        seed = derived_seed(cfg.seed, "finetune")
        fixed.prune(cfg.sparsity)
        pick = torch.randperm(len(src.x_train), generator=torch.Generator().manual_seed(seed))
        pick = pick[:cfg.max_finetune_images or len(pick)]  # a seeded random QAT subset
        fit(qat, src.x_train[pick], src.y_train[pick], scaled(INPUT_FRAC),
            epochs=cfg.finetune_epochs, batch_size=cfg.finetune_batch_size, lr=cfg.finetune_lr,
            seed=seed, augment=augmenter(cfg.source_augment), desc="fix (QAT)",
            progress=progress, device=device(cfg))
        # Source accuracy of the fully fixed network, through the exact integer front-end.
        feats = dict(feature_sweep(fixed, src.x_test, [NUM_BLOCKS], device(cfg)))[NUM_BLOCKS]
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), qat.classifier)
        acc, loss = evaluate(head, feats, src.y_test, scaled(fixed.out_frac(NUM_BLOCKS)),
                             device=device(cfg))
        weights = [layer.int_params().weight for layer in fixed.layers]
        zero = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        return {"fixed_acc_n14": acc, "fixed_test_loss_n14": loss, "seed": seed,
                "weight_sparsity": zero,
                "min_layer_sparsity": min(sparsity_of(w) for w in weights)}

    info = _timed(run)
    save_checkpoint(ckpt, {"model": qat.state_dict(), "info": info})
    return fixed, info


def load_networks(cfg: TransferConfig, out_dir: Path) -> tuple[MobileNetV1, FixedNet]:
    """The pretrained float network and the fixed network of a (finished) run in `out_dir`."""
    paths = [Path(out_dir) / "ckpt" / f"{stage}-{stage_key(cfg, fields)}.pt"
             for stage, fields in (("pretrained", PRETRAIN_FIELDS), ("fixed", FIX_FIELDS))]
    for path in paths:
        if not path.is_file():
            raise FixynnError(f"{path}: missing; run `fixynn transfer --out {out_dir}` with "
                              "this config first")
    state = load_checkpoint(paths[0])["model"]
    pre = _new_model(cfg, num_classes=state["classifier.weight"].shape[0])
    pre.load_state_dict(state)
    pre.eval()
    fixed = FixedNet(pre, cfg.w_bits, cfg.a_bits)
    _QatNet(fixed, copy.deepcopy(pre.classifier)).load_state_dict(
        load_checkpoint(paths[1])["model"])
    return pre, fixed


def train_baseline(cfg: TransferConfig, pre: MobileNetV1, task: Split, repeat: int,
                   progress: bool) -> dict[str, Any]:
    """Float fine-tuning of every layer from the pretrained weights, same budget as a back-end."""
    seed = derived_seed(cfg.seed, task.name, "baseline", *repeat_tag(repeat))
    torch.manual_seed(seed)
    model = copy.deepcopy(pre)
    model.new_classifier(task.num_classes)
    fit(model, task.x_train, task.y_train, scaled(INPUT_FRAC), epochs=cfg.transfer_epochs,
        seed=seed, desc=f"{task.name} baseline", progress=progress, **recipe(cfg))
    return scored(model, task.x_test, task.y_test, INPUT_FRAC, seed, device(cfg))


def scored(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, frac: int,
           seed: int, on: torch.device) -> dict[str, Any]:
    """A training's result: test accuracy, loss, seed and which test images it got right
    (packed bits: what the bootstrap verdict resamples)."""
    acc, loss, correct = score(model, x_test, y_test, scaled(frac), device=on)
    return {"acc": acc, "test_loss": loss, "seed": seed, "correct": pack_correct(correct)}


def train_back_end(cfg: TransferConfig, pre: MobileNetV1, n: int, frac: int, task: Split,
                   feats_train: torch.Tensor, feats_test: torch.Tensor, repeat: int,
                   progress: bool) -> dict[str, Any]:
    """Blocks N..13 (pretrained, float) + a new classifier on cached integer features."""
    seed = derived_seed(cfg.seed, task.name, n, *repeat_tag(repeat))
    torch.manual_seed(seed)
    model = copy.deepcopy(pre)
    model.new_classifier(task.num_classes)
    back = BackEnd(model, n)
    fit(back, feats_train, task.y_train, scaled(frac), epochs=cfg.transfer_epochs,
        seed=seed, desc=f"{task.name} N={n}", progress=progress, **recipe(cfg))
    return scored(back, feats_test, task.y_test, frac, seed, device(cfg))


def _stored(path: Path) -> dict[str, Any] | None:
    """The training result at `path`, or None if absent or without per-image correctness
    (written before verdicts existed: it must be retrained)."""
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # cannot happen with atomic writes unless edited by hand: recompute
    return result if "correct" in result else None


def baseline_unit(cfg: TransferConfig, pre: MobileNetV1, task: Split,
                  repeat: int) -> dict[str, Any]:
    """Unit: one repeat of a task's float baseline (timed)."""
    return _timed(lambda: train_baseline(cfg, pre, task, repeat, False))


def features_unit(cfg: TransferConfig, fixed: FixedNet, task: Split,
                  n_list: tuple[int, ...]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Unit: a task's cached integer features, N -> (train, test), one pass for every N."""
    sweep_train = feature_sweep(fixed, task.x_train, list(n_list), device(cfg))
    sweep_test = feature_sweep(fixed, task.x_test, list(n_list), device(cfg))
    return {n: (f_train, f_test)
            for (n, f_train), (_, f_test) in zip(sweep_train, sweep_test, strict=True)}


def back_end_unit(cfg: TransferConfig, pre: MobileNetV1, n: int, frac: int, task: Split,
                  feats: tuple[torch.Tensor, torch.Tensor], repeat: int) -> dict[str, Any]:
    """Unit: one repeat of a task's back-end at split point N (timed)."""
    return _timed(lambda: train_back_end(cfg, pre, n, frac, task, *feats, repeat, False))


def train_missing(cfg: TransferConfig, pre: MobileNetV1, fixed: FixedNet,
                  tasks: dict[str, Split], dirs: dict[str, Path], executor: Executor,
                  progress: bool) -> None:
    """Train every baseline and back-end whose result file (in the task's `dirs`) is
    missing, as executor units.

    Two rounds: the baselines and each task's features (one unit per task, for the N still
    due), then the back-ends, which read those features. Each result is written atomically
    here as its unit finishes, so a failure or a stop keeps every finished one.
    """
    repeats = range(cfg.repeats)
    net, fixed_net = Shared(pre), Shared(fixed)
    data = {name: Shared(task) for name, task in tasks.items()}
    paths: dict[str, Path] = {}
    features: dict[str, dict[int, tuple[torch.Tensor, torch.Tensor]]] = {}

    def unit(name: str, path: Path | None, fn: Callable[..., Any], *args: Any) -> Unit:
        if path is not None:
            paths[name] = path
        return Unit(name, fn, args)

    first = [unit(f"{name}/baseline/r{r}", path, baseline_unit, cfg, net, data[name], r)
             for name in tasks for r in repeats
             if _stored(path := result_path(dirs[name], "baseline", r)) is None]
    due = {name: [(n, r) for n in cfg.n_list for r in repeats
                  if _stored(result_path(dirs[name], f"N{n}", r)) is None] for name in tasks}
    first += [unit(f"{name}/features", None, features_unit, cfg, fixed_net, data[name],
                   tuple(sorted({n for n, _ in due[name]})))
              for name in tasks if due[name]]
    total = len(paths) + sum(map(len, due.values()))  # the trainings (not the feature passes)
    with units_bar(f"transfer ({executor.describe()}): trainings", total, progress) as update:

        def keep(done: Unit, result: Any) -> None:
            if done.name in paths:
                atomic_write_json(paths[done.name], result)
                update(1, _task_done(done.name.split("/")[0], cfg, dirs))
            else:
                features[done.name.split("/")[0]] = result

        executor.run(first, keep)
        second = [unit(f"{name}/N{n}/r{r}", result_path(dirs[name], f"N{n}", r),
                       back_end_unit, cfg, net, n, fixed.out_frac(n), data[name],
                       Shared(features[name][n]), r)
                  for name in tasks for n, r in due[name]]
        executor.run(second, keep)


def _task_done(name: str, cfg: TransferConfig, dirs: dict[str, Path]) -> str:
    """'transfer: NAME done' once every result of the task exists (else '')."""
    stems = ("baseline", *(f"N{n}" for n in cfg.n_list))
    done = all(_stored(result_path(dirs[name], stem, r)) is not None
               for stem in stems for r in range(cfg.repeats))
    return f"transfer: {name} done" if done else ""


def task_summary(cfg: TransferConfig, task: Split,
                 result_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(baseline summary, rows) of one target task, from its result files."""
    repeats = range(cfg.repeats)
    baselines = [json.loads(result_path(result_dir, "baseline", r).read_text()) for r in repeats]
    baseline_accs = [b["acc"] for b in baselines]
    summary = {"acc": _mean(baseline_accs), "accs": baseline_accs,
               "test_loss": _mean([b["test_loss"] for b in baselines]),
               "seeds": [b["seed"] for b in baselines],
               "train_images": len(task.x_train), "test_images": len(task.x_test)}
    images = len(task.x_test)
    baseline_correct = np.stack([unpack_correct(b["correct"], images) for b in baselines])
    rows = []
    for n in sorted(cfg.n_list):
        runs = [json.loads(result_path(result_dir, f"N{n}", r).read_text()) for r in repeats]
        fixed_accs = [run["acc"] for run in runs]
        verdict = loss_verdict(
            baseline_correct, np.stack([unpack_correct(run["correct"], images) for run in runs]),
            seed=derived_seed(cfg.seed, task.name, n, "bootstrap"))
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


def task_dir(cfg: TransferConfig, results_root: Path, name: str) -> Path:
    """A target's results, keyed by its data: a changed image retrains just that task."""
    return results_root / f"{name}-{data_key(cfg, name)[:16]}"


def local_executor(cfg: TransferConfig) -> Executor:
    return make_executor("local", local_workers(cfg.workers, cfg.threads), cfg.threads)


def results_root(cfg: TransferConfig, out_dir: Path) -> Path:
    return out_dir / "results" / stage_key(cfg, RESULT_FIELDS)


def transfer_all(cfg: TransferConfig, out_dir: Path, pre: MobileNetV1, fixed: FixedNet,
                 executor: Executor, progress: bool
                 ) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every target task: name -> (baseline summary, rows); trains what is missing first."""
    tasks = {name: load_split(cfg, name, cfg.max_train_images) for name in cfg.targets}
    dirs = {name: task_dir(cfg, results_root(cfg, out_dir), name) for name in cfg.targets}
    train_missing(cfg, pre, fixed, tasks, dirs, executor, progress)
    return {name: task_summary(cfg, task, dirs[name]) for name, task in tasks.items()}


def run_transfer(cfg: TransferConfig, out_dir: Path, progress: bool = True,
                 executor: Executor | None = None) -> dict[str, Any]:
    """Run (or resume) the sweep in `out_dir`; write transfer.json, transfer.md, hwgraph/N<k>/.

    The baselines and back-ends run as units of `executor` (default: local processes, one
    per core). Returns the content of transfer.json.
    """
    out_dir = Path(out_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        if executor is not None:
            return _run(cfg, out_dir, executor, progress)
        with local_executor(cfg) as own:
            return _run(cfg, out_dir, own, progress)
    finally:
        torch.set_num_threads(threads)


def _run(cfg: TransferConfig, out_dir: Path, executor: Executor,
         progress: bool) -> dict[str, Any]:
    started, cpu_started = time.perf_counter(), cpu_seconds()
    src = load_split(cfg, cfg.source, cfg.max_source_images)
    ckpt = out_dir / "ckpt"
    pre, pre_info = pretrain(cfg, src, ckpt / f"pretrained-{stage_key(cfg, PRETRAIN_FIELDS)}.pt",
                             progress)
    fixed, fix_info = fix_network(cfg, pre, src, ckpt / f"fixed-{stage_key(cfg, FIX_FIELDS)}.pt",
                                  progress)
    meta = {"source": cfg.source, "targets": list(cfg.targets), "input_task": cfg.source,
            "width": cfg.width, "input_size": cfg.input_size, "stride_plan": cfg.stride_plan,
            "sparsity": cfg.sparsity, "seed": cfg.seed}
    graphs = {}
    for n in cfg.n_list:
        graph = export_front_end(fixed, n, meta)
        save_graph(graph, out_dir / "hwgraph" / f"N{n}")
        graphs[str(n)] = graph_digest(graph)

    done = transfer_all(cfg, out_dir, pre, fixed, executor, progress)
    baselines = {name: done[name][0] for name in cfg.targets}
    rows = [row for name in cfg.targets for row in done[name][1]]
    summary = {
        "config": cfg.to_dict(),
        "source": {"task": cfg.source, "train_images": len(src.x_train),
                   "test_images": len(src.x_test), "pretrain": pre_info, "fix": fix_info},
        "baselines": baselines,
        "results": rows,
        "largest_n_under_1pct": largest_holding_n(rows, cfg.targets),
        "hwgraphs": graphs,
        "data_keys": {name: data_key(cfg, name) for name in (cfg.source, *cfg.targets)},
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
    targets, repeats = cfg["targets"], cfg["repeats"]
    src = summary["source"]
    lines = [
        "# Transfer sweep",
        "",
        f"Source task `{src['task']}`: float {src['pretrain']['float_acc']:.2f}%, fully fixed "
        f"(N=14, integer front-end) {src['fix']['fixed_acc_n14']:.2f}%; front-end weight "
        f"sparsity {100 * src['fix']['weight_sparsity']:.1f}%. Seed {cfg['seed']}.",
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
