"""TransferConfig: every knob of the transfer sweep, its defaults, and its TOML file form."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fixynn.arch import NUM_BLOCKS, STRIDE_PLANS
from fixynn.data.tasks import DEFAULT_SOURCE, DEFAULT_TARGETS
from fixynn.data.taskspec import TaskSpec, resolve_task, task_from_dict
from fixynn.errors import FixynnError
from fixynn.train.augment import AUGMENTS
from fixynn.train.device import DEVICES
from fixynn.train.loops import OPTIMIZERS


@dataclass(frozen=True)
class TransferConfig:
    source: str = DEFAULT_SOURCE  # task the backbone is pretrained and fixed on
    targets: tuple[str, ...] = DEFAULT_TARGETS  # tasks each back-end is transferred to
    n_list: tuple[int, ...] = (2, 4, 7, 10, 14)  # split points
    width: float = 0.25
    input_size: int = 28
    in_channels: int = 1  # every task is converted to this many channels (1 grey, 3 RGB)
    stride_plan: str = "small"
    w_bits: int = 8
    a_bits: int = 8
    sparsity: float = 0.0  # fraction of front-end weights pruned (per layer, by magnitude)
    seed: int = 0
    pretrain_epochs: int = 2
    finetune_epochs: int = 1  # quantization-aware fine-tuning of the fixed network
    transfer_epochs: int = 4  # back-end (and baseline) training per task and N
    batch_size: int = 16  # small batches: more steps for the same CPU (per-image cost ~flat)
    max_source_images: int = 6000  # source training images (seeded random subset); 0 = all
    max_train_images: int = 1000  # training images per target task; 0 = all
    max_test_images: int = 0  # per task; 0 = the whole test set
    optimizer: str = "sgd"  # pretraining and transfer: "sgd" (Nesterov 0.9) or "adam"
    lr: float = 0.1  # peak learning rate of pretraining and transfer
    warmup: float = 0.1  # fraction of the steps with a linear learning-rate warm-up
    label_smoothing: float = 0.1
    weight_decay: float = 5e-5
    finetune_lr: float = 1e-4  # QAT: Adam (scale-free steps for the BN-free fixed network)
    finetune_batch_size: int = 64  # QAT: fake quantization costs per step, so larger batches
    max_finetune_images: int = 2000  # QAT on a seeded random subset of the source images; 0 = all
    source_augment: tuple[str, ...] = ()  # augmentations of the source task (pretraining, QAT)
    threads: int = 1  # torch intra-op threads per process (docs/transfer.md: 1 is fastest)
    repeats: int = 3  # seeded trainings of each baseline and back-end (their mean is reported)
    workers: int = 0  # local processes running the sweep's units; 0 = one per core
    task_defs: tuple[TaskSpec, ...] = ()  # user-defined tasks (the built-in ones need none)
    device: str = "auto"  # training and feature extraction: "auto" (CUDA if any), "cpu", "cuda"

    @classmethod
    def default(cls) -> TransferConfig:
        return cls()

    @classmethod
    def quick(cls) -> TransferConfig:
        """The same sweep at smoke-test scale (about a minute on 2 cores)."""
        return cls(n_list=(2, 7, 14), pretrain_epochs=1, transfer_epochs=1,
                   max_source_images=600, max_finetune_images=300, max_train_images=300,
                   max_test_images=300, repeats=1)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise FixynnError naming the first bad field."""
        def bad(name: str, why: str) -> FixynnError:
            return FixynnError(f"config field {name!r} = {getattr(self, name)!r}: {why}")

        for name in (self.source, *self.targets):
            self.spec(name)  # unknown names fail here, with the list of known ones
        if not self.targets:
            raise bad("targets", "name at least one target task")
        if len(set(self.targets)) != len(self.targets):
            raise bad("targets", "a task is listed twice")
        if not self.n_list or any(not 0 <= n <= NUM_BLOCKS for n in self.n_list):
            raise bad("n_list", f"give split points in 0..{NUM_BLOCKS}")
        if len(set(self.n_list)) != len(self.n_list):
            raise bad("n_list", "a split point is listed twice")
        if self.stride_plan not in STRIDE_PLANS:
            raise bad("stride_plan", f"choose one of {', '.join(STRIDE_PLANS)}")
        if not 0 < self.width <= 4:
            raise bad("width", "must be in (0, 4]")
        if self.input_size < 8:
            raise bad("input_size", "must be >= 8")
        if self.in_channels not in (1, 3):
            raise bad("in_channels", "must be 1 (grey) or 3 (RGB)")
        if not 2 <= self.w_bits <= 16:
            raise bad("w_bits", "must be in 2..16")
        if not 4 <= self.a_bits <= 16:
            raise bad("a_bits", "must be in 4..16 (3 integer bits hold ReLU6)")
        if not 0.0 <= self.sparsity < 1.0:
            raise bad("sparsity", "must be in [0, 1)")
        for name in ("pretrain_epochs", "finetune_epochs", "max_source_images", "max_train_images",
                     "max_test_images", "max_finetune_images", "seed", "workers"):
            if getattr(self, name) < 0:
                raise bad(name, "must be >= 0")
        for name in ("transfer_epochs", "batch_size", "finetune_batch_size", "threads",
                     "repeats"):
            if getattr(self, name) < 1:
                raise bad(name, "must be >= 1")
        for name in ("lr", "finetune_lr"):
            if not getattr(self, name) > 0:
                raise bad(name, "must be > 0")
        if self.device not in DEVICES:
            raise bad("device", f"choose one of {', '.join(DEVICES)}")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"choose one of {', '.join(OPTIMIZERS)}")
        for name in ("warmup", "label_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise bad(name, "must be in [0, 1)")
        if self.weight_decay < 0:
            raise bad("weight_decay", "must be >= 0")
        if unknown := sorted(set(self.source_augment) - set(AUGMENTS)):
            raise bad("source_augment", f"unknown {', '.join(unknown)}; choose from "
                      f"{', '.join(AUGMENTS)}")
        if len(set(self.source_augment)) != len(self.source_augment):
            raise bad("source_augment", "an augmentation is listed twice")
        # one spelling per set of augmentations (they apply in AUGMENTS order), so one cache key
        object.__setattr__(self, "source_augment",
                           tuple(a for a in AUGMENTS if a in self.source_augment))

    def spec(self, name: str) -> TaskSpec:
        """The definition of task `name` (one of `task_defs` or built in)."""
        return resolve_task(name, self.task_defs)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TransferConfig:
        """The inverse of `to_dict` (lists back to tuples, task tables back to TaskSpecs)."""
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}
        values["task_defs"] = tuple(
            d if isinstance(d, TaskSpec) else task_from_dict(d)
            for d in values.get("task_defs", ()))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["task_defs"] = [spec.to_dict() | {"origin": spec.origin} for spec in self.task_defs]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _coerce(path: Path, name: str, value: Any, like: Any) -> Any:
    """A TOML value as the type of the field's default, or a one-line error."""
    if isinstance(like, tuple):
        if not isinstance(value, list):
            raise FixynnError(f"{path}: {name} must be a list, got {value!r}")
        kind = type(like[0]) if like else str
        return tuple(_coerce(path, name, v, kind()) for v in value)
    if isinstance(like, bool) or isinstance(value, bool):
        raise FixynnError(f"{path}: {name} must be a {type(like).__name__}, got {value!r}")
    if isinstance(like, float) and isinstance(value, int):
        return float(value)
    if not isinstance(value, type(like)):
        raise FixynnError(f"{path}: {name} must be a {type(like).__name__}, got {value!r}")
    return value


def load_config(path: str | Path, base: TransferConfig | None = None) -> TransferConfig:
    """`base` (default: TransferConfig.default()) with the keys of a TOML file replaced."""
    path = Path(path)
    base = base or TransferConfig.default()
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise FixynnError(f"{path}: config file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FixynnError(f"{path}: not valid TOML ({exc})") from exc
    known = {f.name: getattr(base, f.name) for f in fields(base)}
    for key in doc:
        if key not in known:
            raise FixynnError(f"{path}: unknown key {key!r}; known keys: {', '.join(known)}")
    values = {k: _coerce(path, k, v, known[k]) for k, v in doc.items()}
    try:
        return dataclasses.replace(base, **values)
    except FixynnError as exc:
        raise FixynnError(f"{path}: {exc}") from exc
