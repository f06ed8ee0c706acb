"""The transfer sweep: pretrain on the source task, fix the network, transfer to every target.

Stages, each persisted as it finishes so an interrupted sweep resumes where it stopped:

1. pretrain a float MobileNetV1 on the source task (checkpoint artifact);
2. fix it: fold BN, prune, quantize all 14 blocks and fine-tune them with QAT on the source
   task (checkpoint artifact). Every front-end (any N) is a prefix of this one fixed network,
   so the features at each N are exact and shared across N;
3. per target task: a float baseline (all layers fine-tuned from the pretrained weights) and,
   for each N, a back-end (blocks N..13 from the pretrained weights + a new classifier)
   trained on the integer features of blocks 0..N-1 (one result artifact each), each
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
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fixynn.arch import LAYERS_FILE, NUM_BLOCKS, save_layers
from fixynn.atomic import atomic_write_json, atomic_write_text
from fixynn.config import FLAT_SECTIONS, Config, config_value
from fixynn.data import Dataset
from fixynn.data.tasks import load_task, task_data_key
from fixynn.errors import FixynnError
from fixynn.executors import Executor, Shared, Unit, local_workers, make_executor
from fixynn.executors.progress import units_bar
from fixynn.frontend import layer_shapes
from fixynn.hw.ir import graph_digest, save_graph
from fixynn.nn.export import export_front_end
from fixynn.nn.fixed import INPUT_FRAC, FixedNet
from fixynn.nn.model import BackEnd, MobileNetV1
from fixynn.nn.prune import sparsity_of
from fixynn.store import Store, content_key
from fixynn.train.augment import augmenter
from fixynn.train.checkpoint import load_checkpoint, save_checkpoint
from fixynn.train.device import resolve_device
from fixynn.train.features import feature_sweep
from fixynn.train.loops import evaluate, fit, scaled, score
from fixynn.train.verdict import largest_holding_n, loss_verdict, pack_correct, unpack_correct

__all__ = ["load_networks", "run_transfer"]

# Config keys each stage's artifacts depend on (a prefix chain: later stages add keys).
PRETRAIN_KEYS = ("tasks.source", "model.width", "model.input_size", "model.in_channels",
                 "model.stride_plan", "train.seed", "train.pretrain_epochs", "train.batch_size",
                 "train.max_source_images", "train.max_test_images", "train.optimizer",
                 "train.lr", "train.warmup", "train.label_smoothing", "train.weight_decay",
                 "train.source_augment", "train.device")
FIX_KEYS = (*PRETRAIN_KEYS, "model.w_bits", "model.a_bits", "model.sparsity",
            "train.finetune_epochs", "train.finetune_lr", "train.finetune_batch_size",
            "train.max_finetune_images")
RESULT_KEYS = (*FIX_KEYS, "train.transfer_epochs", "train.max_train_images")
# Kinds of the artifacts this module keeps in the cache (fixynn.store)
PRETRAINED, FIXED, TRAINING = "pretrained", "fixed", "training"
CHECKPOINT = "model.pt"


def stage_key(cfg: Config, keys: tuple[str, ...]) -> str:
    """Key of the artifacts that depend on `keys`, and on the source task's data (its
    content and preprocessing: a changed source image retrains everything). The device is
    the resolved one: float training differs across devices."""
    doc: dict[str, Any] = {k: config_value(cfg, k) for k in keys}
    doc["train.device"] = resolve_device(cfg.train.device).type
    doc["source_data"] = data_key(cfg, cfg.tasks.source)
    return content_key(doc)


def training_key(cfg: Config, name: str, stem: str, repeat: int) -> str:
    """Key of one training's result: task `name`'s baseline (`stem` "baseline") or back-end
    at N (`stem` "N<k>"), repeat `repeat`; it holds the task's data key, so a changed image
    retrains exactly the tasks whose data it is."""
    return content_key({"stage": stage_key(cfg, RESULT_KEYS), "task": name,
                        "data": data_key(cfg, name), "training": stem, "repeat": repeat})


def data_key(cfg: Config, name: str) -> str:
    """Content-and-preprocessing key of a task's arrays (files hashed, nothing decoded)."""
    return task_data_key(cfg.tasks.spec(name), cfg.model.input_size, cfg.model.in_channels)


def load_split(cfg: Config, name: str, cap: int) -> Split:
    return Split(load_task(cfg.tasks.spec(name), cfg.model.input_size, cfg.model.in_channels),
                 cfg, cap)


def derived_seed(seed: int, *parts: object) -> int:
    """A stable per-run seed (same on resume, different per task and N)."""
    return zlib.crc32("/".join(map(str, (seed, *parts))).encode())


def repeat_tag(repeat: int) -> tuple[str, ...]:
    """Seed parts of a repeat (none for repeat 0, so a run with more repeats reuses the
    results of one with fewer)."""
    return () if repeat == 0 else (f"r{repeat}",)


class Split:
    """A task's (capped) train/test tensors: uint8 images, int64 labels."""

    def __init__(self, data: Dataset, cfg: Config, max_train: int) -> None:
        self.name, self.num_classes = data.name, data.num_classes
        rng = np.random.default_rng(derived_seed(cfg.train.seed, "subset", data.name))
        self.x_train, self.y_train = _capped(data.train_images, data.train_labels, max_train,
                                             rng)
        self.x_test, self.y_test = _capped(data.test_images, data.test_labels,
                                           cfg.train.max_test_images, rng)


def _capped(images: np.ndarray, labels: np.ndarray, cap: int,
            rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if cap and len(images) > cap:
        keep = np.sort(rng.permutation(len(images))[:cap])
        images, labels = images[keep], labels[keep]
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


def _new_model(cfg: Config, num_classes: int) -> MobileNetV1:
    m = cfg.model
    return MobileNetV1(num_classes, m.width, m.input_size, m.in_channels, m.stride_plan)


class _QatNet(nn.Module):
    """Fixed (fake-quantized) blocks 0..13 + the float classifier, for QAT on the source."""

    def __init__(self, fixed: FixedNet, classifier: nn.Linear) -> None:
        super().__init__()
        self.fixed, self.classifier = fixed, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fixed(x).mean(dim=(2, 3)))


def recipe(cfg: Config) -> dict[str, Any]:
    """`fit` keywords of the float training runs (pretraining, baselines, back-ends)."""
    t = cfg.train
    return {"batch_size": t.batch_size, "optimizer": t.optimizer, "lr": t.lr,
            "warmup": t.warmup, "label_smoothing": t.label_smoothing,
            "weight_decay": t.weight_decay, "device": device(cfg)}


def device(cfg: Config) -> torch.device:
    """Where this process trains and extracts features (`train.device` resolved here)."""
    return resolve_device(cfg.train.device)


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


def _checkpointed(store: Store, kind: str, key: str,
                  model: nn.Module) -> dict[str, Any] | None:
    """Load `model`'s weights from the cached checkpoint artifact; its info, or None."""
    doc = store.load(kind, key)
    if doc is None:
        return None
    model.load_state_dict(load_checkpoint(store.path(kind, key) / CHECKPOINT))
    return doc["result"]


def _save_checkpoint(store: Store, kind: str, key: str, model: nn.Module,
                     info: dict[str, Any]) -> None:
    store.put(kind, key, {"kind": kind, "key": key, "result": info},
              lambda work: save_checkpoint(work / CHECKPOINT, model.state_dict()))


def pretrain(cfg: Config, src: Split, store: Store,
             progress: bool) -> tuple[MobileNetV1, dict[str, Any]]:
    """The float backbone trained on the source task (loaded if already in the cache)."""
    t = cfg.train
    torch.manual_seed(t.seed)
    model = _new_model(cfg, src.num_classes)
    key = stage_key(cfg, PRETRAIN_KEYS)
    info = _checkpointed(store, PRETRAINED, key, model)
    if info is not None:
        return model, info

    def run() -> dict[str, Any]:
        fit(model, src.x_train, src.y_train, scaled(INPUT_FRAC), epochs=t.pretrain_epochs,
            seed=t.seed, augment=augmenter(t.source_augment), desc="pretrain",
            progress=progress, **recipe(cfg))
        acc, loss = evaluate(model, src.x_test, src.y_test, scaled(INPUT_FRAC),
                             device=device(cfg))
        return {"float_acc": acc, "float_test_loss": loss, "seed": t.seed}

    info = _timed(run)
    _save_checkpoint(store, PRETRAINED, key, model, info)
    return model, info


def fix_network(cfg: Config, pre: MobileNetV1, src: Split, store: Store,
                progress: bool) -> tuple[FixedNet, dict[str, Any]]:
    """BN-fold, prune and quantize all 14 blocks, then QAT on the source (or load)."""
    t = cfg.train
    pre.eval()
    fixed = FixedNet(pre, cfg.model.w_bits, cfg.model.a_bits)
    qat = _QatNet(fixed, copy.deepcopy(pre.classifier))
    key = stage_key(cfg, FIX_KEYS)
    info = _checkpointed(store, FIXED, key, qat)
    if info is not None:
        return fixed, info

    def run() -> dict[str, Any]:
        seed = derived_seed(t.seed, "finetune")
        fixed.prune(cfg.model.sparsity)
        pick = torch.randperm(len(src.x_train), generator=torch.Generator().manual_seed(seed))
        pick = pick[:t.max_finetune_images or len(pick)]  # a seeded random QAT subset
        fit(qat, src.x_train[pick], src.y_train[pick], scaled(INPUT_FRAC),
            epochs=t.finetune_epochs, batch_size=t.finetune_batch_size, lr=t.finetune_lr,
            seed=seed, augment=augmenter(t.source_augment), desc="fix (QAT)",
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
    _save_checkpoint(store, FIXED, key, qat, info)
    return fixed, info


def load_networks(cfg: Config, store: Store) -> tuple[MobileNetV1, FixedNet]:
    """The pretrained float network and the fixed network of a finished sweep of `cfg`,
    from the cache `store`."""
    checkpoints = [store.path(kind, stage_key(cfg, keys)) / CHECKPOINT
                   for kind, keys in ((PRETRAINED, PRETRAIN_KEYS), (FIXED, FIX_KEYS))]
    for path in checkpoints:
        if not path.is_file():
            raise FixynnError(f"{path}: missing; run `fixynn transfer --out "
                              f"{store.root.parent}` with this config first")
    state = load_checkpoint(checkpoints[0])
    pre = _new_model(cfg, num_classes=state["classifier.weight"].shape[0])
    pre.load_state_dict(state)
    pre.eval()
    fixed = FixedNet(pre, cfg.model.w_bits, cfg.model.a_bits)
    _QatNet(fixed, copy.deepcopy(pre.classifier)).load_state_dict(
        load_checkpoint(checkpoints[1]))
    return pre, fixed


def train_baseline(cfg: Config, pre: MobileNetV1, task: Split, repeat: int,
                   progress: bool) -> dict[str, Any]:
    """Float fine-tuning of every layer from the pretrained weights, same budget as a back-end."""
    seed = derived_seed(cfg.train.seed, task.name, "baseline", *repeat_tag(repeat))
    torch.manual_seed(seed)
    model = copy.deepcopy(pre)
    model.new_classifier(task.num_classes)
    fit(model, task.x_train, task.y_train, scaled(INPUT_FRAC),
        epochs=cfg.train.transfer_epochs,
        seed=seed, desc=f"{task.name} baseline", progress=progress, **recipe(cfg))
    return scored(model, task.x_test, task.y_test, INPUT_FRAC, seed, device(cfg))


def scored(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, frac: int,
           seed: int, on: torch.device) -> dict[str, Any]:
    """A training's result: test accuracy, loss, seed and which test images it got right
    (packed bits: what the bootstrap verdict resamples)."""
    acc, loss, correct = score(model, x_test, y_test, scaled(frac), device=on)
    return {"acc": acc, "test_loss": loss, "seed": seed, "correct": pack_correct(correct)}


def train_back_end(cfg: Config, pre: MobileNetV1, n: int, frac: int, task: Split,
                   feats_train: torch.Tensor, feats_test: torch.Tensor, repeat: int,
                   progress: bool) -> dict[str, Any]:
    """Blocks N..13 (pretrained, float) + a new classifier on cached integer features."""
    seed = derived_seed(cfg.train.seed, task.name, n, *repeat_tag(repeat))
    torch.manual_seed(seed)
    model = copy.deepcopy(pre)
    model.new_classifier(task.num_classes)
    back = BackEnd(model, n)
    fit(back, feats_train, task.y_train, scaled(frac), epochs=cfg.train.transfer_epochs,
        seed=seed, desc=f"{task.name} N={n}", progress=progress, **recipe(cfg))
    return scored(back, feats_test, task.y_test, frac, seed, device(cfg))


def baseline_unit(cfg: Config, pre: MobileNetV1, task: Split,
                  repeat: int) -> dict[str, Any]:
    """Unit: one repeat of a task's float baseline (timed)."""
    return _timed(lambda: train_baseline(cfg, pre, task, repeat, False))


def features_unit(cfg: Config, fixed: FixedNet, task: Split,
                  n_list: tuple[int, ...]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Unit: a task's cached integer features, N -> (train, test), one pass for every N."""
    sweep_train = feature_sweep(fixed, task.x_train, list(n_list), device(cfg))
    sweep_test = feature_sweep(fixed, task.x_test, list(n_list), device(cfg))
    return {n: (f_train, f_test)
            for (n, f_train), (_, f_test) in zip(sweep_train, sweep_test, strict=True)}


def back_end_unit(cfg: Config, pre: MobileNetV1, n: int, frac: int, task: Split,
                  feats: tuple[torch.Tensor, torch.Tensor], repeat: int) -> dict[str, Any]:
    """Unit: one repeat of a task's back-end at split point N (timed)."""
    return _timed(lambda: train_back_end(cfg, pre, n, frac, task, *feats, repeat, False))


def _result(store: Store, key: str) -> dict[str, Any] | None:
    """A finished training's result from the cache, or None."""
    doc = store.load(TRAINING, key)
    return None if doc is None else doc["result"]


def train_missing(cfg: Config, pre: MobileNetV1, fixed: FixedNet, tasks: dict[str, Split],
                  store: Store, executor: Executor, progress: bool) -> None:
    """Train every baseline and back-end whose result is not in the cache, as executor
    units.

    Two rounds: the baselines and each task's features (one unit per task, for the N still
    due), then the back-ends, which read those features. Each result is stored as its unit
    finishes (an artifact: whole or absent), so a failure or a stop keeps every finished one.
    """
    repeats = range(cfg.train.repeats)
    net, fixed_net = Shared(pre), Shared(fixed)
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
                   (cfg, fixed_net, data[name], tuple(sorted({n for n, _ in due[name]}))))
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
        second = [training(name, f"N{n}", r, back_end_unit, cfg, net, n, fixed.out_frac(n),
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


def transfer_all(cfg: Config, store: Store, pre: MobileNetV1, fixed: FixedNet,
                 executor: Executor, progress: bool
                 ) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every target task: name -> (baseline summary, rows); trains what is missing first."""
    tasks = {name: load_split(cfg, name, cfg.train.max_train_images)
             for name in cfg.tasks.targets}
    train_missing(cfg, pre, fixed, tasks, store, executor, progress)
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
    tasks, model = cfg.tasks, cfg.model
    src = load_split(cfg, tasks.source, cfg.train.max_source_images)
    pre, pre_info = pretrain(cfg, src, store, progress)
    fixed, fix_info = fix_network(cfg, pre, src, store, progress)
    meta = {"source": tasks.source, "targets": list(tasks.targets), "input_task": tasks.source,
            "width": model.width, "input_size": model.input_size,
            "stride_plan": model.stride_plan, "sparsity": model.sparsity,
            "seed": cfg.train.seed}
    graphs = {}
    for n in cfg.sweep.n_list:
        graph = export_front_end(fixed, n, meta)
        save_graph(graph, out_dir / "hwgraph" / f"N{n}")
        graphs[str(n)] = graph_digest(graph)
    example = torch.zeros(1, model.in_channels, model.input_size, model.input_size)
    save_layers(layer_shapes(pre, example), out_dir / LAYERS_FILE, meta)

    done = transfer_all(cfg, store, pre, fixed, executor, progress)
    baselines = {name: done[name][0] for name in tasks.targets}
    rows = [row for name in tasks.targets for row in done[name][1]]
    summary = {
        "config": {name: cfg.to_dict()[name] for name in FLAT_SECTIONS},
        "source": {"task": tasks.source, "train_images": len(src.x_train),
                   "test_images": len(src.x_test), "pretrain": pre_info, "fix": fix_info},
        "baselines": baselines,
        "results": rows,
        "largest_n_under_1pct": largest_holding_n(rows, tasks.targets),
        "hwgraphs": graphs,
        "data_keys": {name: data_key(cfg, name) for name in (tasks.source, *tasks.targets)},
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
        f"Source task `{src['task']}`: float {src['pretrain']['float_acc']:.2f}%, fully fixed "
        f"(N=14, integer front-end) {src['fix']['fixed_acc_n14']:.2f}%; front-end weight "
        f"sparsity {100 * src['fix']['weight_sparsity']:.1f}%. Seed {cfg['train']['seed']}.",
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
