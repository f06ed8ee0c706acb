"""Typed run configuration for `fixynn run`: TOML file <-> dataclasses, validated.

A config is a set of sections (TOML tables), each a frozen dataclass. A field's type hint says
what the TOML value must be (int, float, str, bool, or a list of int/str); its metadata holds the
allowed range or choices. Any unknown key, wrong type or value out of range is a FixynnError
naming the key, e.g. `tasks.targets[2]: unknown task 'x'; known: ...`.

The shipped defaults live in `fixynn/default.toml`; `--quick` overlays `fixynn/quick.toml`.
Keys missing from a user's file keep the default value. This is the one configuration of the
tool: `fixynn run` and `fixynn transfer` read it, and training (fixynn.train) takes a `Config`.
The keys of [tasks], [model], [sweep] and [train] may also be written without their section
(`seed = 3`, the flat form of the former transfer config file).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from fixynn.arch import ARCHES, MAX_UNITS, STRIDE_PLANS
from fixynn.errors import FixynnError
from fixynn.executors import EXECUTORS
from fixynn.hw.ppa.search import HANDOFF_OPTIONS, SIZING_RULES, WEIGHT_OPTIONS
from fixynn.hw.stagewise import MODES as VERIFY_MODES
from fixynn.hw.stagewise import STAGE_SIMS, STITCHED_SIMS
from fixynn.train.device import DEVICES

STAGES: tuple[str, ...] = ("transfer", "rtl", "verify", "synth", "ppa", "report")
RTL_STYLES: tuple[str, ...] = ("csd", "shared")
# Names of the training options; fixynn.train.loops and .augment implement them (torch).
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
AUGMENTS: tuple[str, ...] = ("shift", "invert")  # applied in this order
# Sections whose keys may be written without the section (the flat form; all names unique).
FLAT_SECTIONS: tuple[str, ...] = ("tasks", "model", "sweep", "train")
# Top-level keys an older config file may hold -> what replaced them (a one-line error).
RENAMED: dict[str, str] = {
    "task_defs": "[[tasks.define]] tables (docs/config.md)",  # the former TransferConfig field
}


def _spec(help: str, **rules: Any) -> Any:
    """A dataclass field with a one-line description and validation rules.

    Fields have no Python default: `default.toml` holds every default, in one place.
    """
    return field(metadata={"help": help, **rules})


def _parse_task_defs(where: str, value: Any, base_dir: Path | None) -> tuple[Any, ...]:
    from fixynn.data.taskspec import parse_tasks

    return parse_tasks(value, where, base_dir)


@dataclass(frozen=True)
class TasksConfig:
    source: str = _spec("task the backbone is pretrained on, or 'imagenet' for a model.arch "
                        "with ImageNet weights")
    targets: tuple[str, ...] = _spec(
        "tasks the back-end is transferred to (one FFE shared by all)",
        min_len=1,
        unique=True,
    )
    # [[tasks.define]] tables: fixynn.data.taskspec.TaskSpec, checked by its own parser
    define: tuple[Any, ...] = _spec("your own tasks (docs/config.md)", parse=_parse_task_defs)

    def spec(self, name: str) -> Any:
        """The TaskSpec of task `name` (defined here or built in)."""
        from fixynn.data.taskspec import resolve_task

        return resolve_task(name, self.define)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = _spec("front-end family (fixynn.arch.ARCHES)", choices=tuple(ARCHES))
    width: float = _spec("MobileNetV1 width multiplier", gt=0.0, max=1.0)
    input_size: int = _spec("input image side in pixels", min=8, max=512)
    in_channels: int = _spec("input channels: 1 (grey) or 3 (RGB); every task is converted",
                             choices=(1, 3))
    stride_plan: str = _spec("stride plan (see fixynn.arch.STRIDE_PLANS)", choices=STRIDE_PLANS)
    w_bits: int = _spec("front-end weight bits (signed)", min=2, max=16)
    # >= 4: ReLU6 needs 3 integer bits plus at least one fractional bit
    a_bits: int = _spec("front-end activation bits (unsigned)", min=4, max=16)
    sparsity: float = _spec("fraction of front-end weights pruned to zero", min=0.0, max=0.95)
    calib_images: int = _spec("training images per calibration task that choose the formats "
                              "of a pretrained front-end", min=1, max=100000)
    calib_tasks: tuple[str, ...] = _spec("tasks whose training images calibrate a pretrained "
                                         "front-end (empty: the targets)", unique=True)


@dataclass(frozen=True)
class SweepConfig:
    n_list: tuple[int, ...] = _spec(
        "split points N (units fixed in silicon)", min=0, max=MAX_UNITS, min_len=1, unique=True
    )


@dataclass(frozen=True)
class TrainConfig:
    seed: int = _spec("random seed of data splits and training", min=0)
    pretrain_epochs: int = _spec("epochs of pretraining on the source task", min=0, max=1000)
    finetune_epochs: int = _spec(
        "epochs of quantization-aware fine-tuning of the fixed front-end", min=0, max=1000
    )
    transfer_epochs: int = _spec("epochs of back-end training per task and N", min=1, max=1000)
    batch_size: int = _spec("training batch size", min=1, max=65536)
    max_train_images: int = _spec("cap on training images per task (0 = use all)", min=0)
    max_test_images: int = _spec("cap on test images per task (0 = the whole test set)", min=0)
    max_source_images: int = _spec("cap on source-task pretraining images (0 = use all)", min=0)
    optimizer: str = _spec("optimizer of pretraining and back-end training",
                           choices=OPTIMIZERS)
    lr: float = _spec("peak learning rate of pretraining and back-end training", gt=0.0,
                      max=10.0)
    # < 1: the cosine decay needs at least one step after the warm-up
    warmup: float = _spec("fraction of steps with a linear learning-rate warm-up", min=0.0,
                          lt=1.0)
    label_smoothing: float = _spec("label smoothing of the training loss", min=0.0, max=0.99)
    weight_decay: float = _spec("weight decay of pretraining and back-end training", min=0.0,
                                max=1.0)
    finetune_lr: float = _spec("learning rate of the front-end's fine-tuning", gt=0.0, max=10.0)
    finetune_batch_size: int = _spec("batch size of the front-end's fine-tuning", min=1,
                                     max=65536)
    max_finetune_images: int = _spec("cap on source images for the fine-tuning (0 = all)", min=0)
    # a set, kept in AUGMENTS order: one spelling per set, so one cache key
    source_augment: tuple[str, ...] = _spec(
        "augmentations of the source task's training (pretraining and fine-tuning)",
        choices=AUGMENTS, unique=True, canonical=True)
    threads: int = _spec("torch intra-op threads per process", min=1, max=256)
    repeats: int = _spec("seeded trainings of each baseline and back-end (mean reported)",
                         min=1, max=100)
    workers: int = _spec("local processes running independent units (0 = one per core)",
                         min=0, max=256)
    device: str = _spec("training and feature extraction (auto = CUDA when present)",
                        choices=DEVICES)


@dataclass(frozen=True)
class HardwareConfig:
    tech: str = _spec("technology table: a built-in name or a path to a table file")
    freq_mhz: float = _spec("clock frequency of the FFE and the PCA", gt=0.0, max=10000.0)
    pca_rows: int = _spec("systolic array rows of the programmable accelerator", min=1, max=1024)
    pca_cols: int = _spec("systolic array columns", min=1, max=1024)
    sizing: str = _spec("both PCAs sized by design-space search, or the fixed sqrt rule",
                        choices=SIZING_RULES)
    fps_floor: float = _spec("frames/s both designs must reach (search)", min=0.0, max=1e7)
    batch: int = _spec("frames sharing one weight fetch on the PCA (search)", min=1, max=4096)
    weight_storage: str = _spec("PCA weights: resident, streamed, or whichever is better",
                                choices=WEIGHT_OPTIONS)
    handoff: str = _spec("FFE -> PCA through DRAM, an on-chip buffer, or the better",
                         choices=HANDOFF_OPTIONS)
    area_mm2: float = _spec("total area of each design in mm2 (0 = FFE + the base PCA)",
                            min=0.0, max=1e5)
    rtl_style: str = _spec("constant multipliers: CSD shift-add, or with shared subterms",
                           choices=RTL_STYLES)


@dataclass(frozen=True)
class VerifyConfig:
    images: int = _spec("real test images streamed through the RTL per N", min=1)
    mode: str = _spec("whole design, every stage alone then the stitched design, or auto "
                      "(per stage for large designs)", choices=VERIFY_MODES)
    stitched_images: int = _spec("images of the stitched design in layers mode", min=1)
    stitched_sim: str = _spec("simulator of the stitched design in layers mode (icarus: no "
                              "C++ build)", choices=STITCHED_SIMS)
    stage_sim: str = _spec("where each stage is checked in layers mode (auto: small stages "
                           "alone in Verilator on every image, large ones inside the stitched "
                           "Icarus check)", choices=STAGE_SIMS)
    stage_images: int = _spec("images of a stage checked alone in Icarus", min=1)
    n_list: tuple[int, ...] = _spec(
        "split points to verify (empty = every N >= 1 of the sweep)",
        min=1,
        max=MAX_UNITS,
        unique=True,
    )


@dataclass(frozen=True)
class SynthConfig:
    n: int = _spec(
        "split point whose layers are synthesized (-1 = largest N of the sweep)",
        min=-1,
        max=MAX_UNITS,
    )
    max_layers: int = _spec("synthesize at most this many layers (smallest first)", min=1)
    liberty: str = _spec("cell library to map to: 'auto' (the OSU 0.18 um cells when installed, "
                         "else generic gates), 'generic', or a Liberty .lib path")


@dataclass(frozen=True)
class RunConfig:
    stages: tuple[str, ...] = _spec(
        "stages to run, in pipeline order", choices=STAGES, unique=True, min_len=1
    )
    executor: str = _spec("where independent units run: local processes or a Ray cluster",
                          choices=EXECUTORS)
    ray_address: str = _spec("Ray cluster address (empty: RAY_ADDRESS, else a local instance)")


@dataclass(frozen=True)
class Config:
    tasks: TasksConfig
    model: ModelConfig
    sweep: SweepConfig
    train: TrainConfig
    hardware: HardwareConfig
    verify: VerifyConfig
    synth: SynthConfig
    run: RunConfig

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {f.name: _section_dict(getattr(self, f.name)) for f in fields(self)}

    def verify_ns(self) -> tuple[int, ...]:
        """The split points whose RTL is verified (N = 0 has no fixed layers)."""
        chosen = self.verify.n_list or self.sweep.n_list
        return tuple(sorted(n for n in chosen if n >= 1))

    def synth_n(self) -> int:
        return max(self.sweep.n_list) if self.synth.n < 0 else self.synth.n

    @property
    def pretrained(self) -> bool:
        """The front-end starts from weights trained elsewhere (tasks.source names them)."""
        return bool(ARCHES[self.model.arch].pretrained)

    def offline_tasks(self) -> tuple[str, ...]:
        """Every task this run loads: the source when it is an offline task, the targets."""
        return (() if self.pretrained else (self.tasks.source,)) + self.tasks.targets

    def verify_task(self) -> str:
        """Whose real test images the RTL is verified on: the source task the front-end was
        trained on, or, for a pretrained one, the first target."""
        return self.tasks.targets[0] if self.pretrained else self.tasks.source


SECTIONS: dict[str, type] = typing.get_type_hints(Config)


# ---------------------------------------------------------------------------------------------
# Loading


def default_config(quick: bool = False, stages: tuple[str, ...] | None = None) -> Config:
    """The shipped default config, or the `--quick` preset layered on top of it; `stages`
    replaces `run.stages` (`fixynn transfer` runs the transfer stage only, so the other
    stages' checks against the sweep do not apply)."""
    cfg = config_from_dict(_read_toml_resource("default.toml"), "fixynn/default.toml")
    if quick:
        cfg = config_from_dict(_read_toml_resource("quick.toml"), "fixynn/quick.toml", base=cfg)
    if stages is not None:
        cfg = replace_keys(cfg, {"run.stages": stages}, "run.stages")
    return cfg


def load_config(path: str | Path | None = None, quick: bool = False,
                stages: tuple[str, ...] | None = None) -> Config:
    """Defaults (optionally `--quick`, `stages`), then the user's TOML file on top,
    validated."""
    cfg = default_config(quick, stages)
    if path is None:
        return cfg
    path = Path(path)
    if not path.is_file():
        raise FixynnError(
            f"{path}: config file not found; pass an existing .toml file (see docs/config.md)"
        )
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FixynnError(f"{path}: not valid TOML ({exc}); fix the syntax") from exc
    base_dir = path.parent.resolve()
    return _relative_to(config_from_dict(doc, str(path), base=cfg, base_dir=base_dir), base_dir)


def _relative_to(cfg: Config, base_dir: Path) -> Config:
    """A relative file path in a config file (a tech table, a cell library) means relative to
    that file, wherever the command runs from; made absolute here so no later stage depends on
    the working directory."""
    from fixynn.hw.ppa.tech import builtin_tables

    def absolute(value: str, names: tuple[str, ...]) -> str:
        if value in names or Path(value).is_absolute():
            return value
        return str((base_dir / value).resolve())

    hardware = dataclasses.replace(cfg.hardware,
                                   tech=absolute(cfg.hardware.tech, tuple(builtin_tables())))
    synth = dataclasses.replace(cfg.synth, liberty=absolute(cfg.synth.liberty,
                                                            ("auto", "generic")))
    return dataclasses.replace(cfg, hardware=hardware, synth=synth)


def config_from_dict(doc: dict[str, Any], origin: str, base: Config | None = None,
                     base_dir: Path | None = None) -> Config:
    """Overlay `doc` (parsed TOML) on `base` and validate it; without a base, `doc` must set
    every key (that is how `default.toml` is read). Relative data directories of task
    definitions are taken from `base_dir` (the config file's folder)."""
    sections: dict[str, Any] = {}
    doc = _sectioned(doc, origin)
    for name, cls in SECTIONS.items():
        table = doc.get(name, {})
        known = {f.name: f for f in fields(cls)}
        values = {}
        for key, value in table.items():
            if key not in known:
                raise FixynnError(f"{origin}: {name}.{key}: unknown key; known: {', '.join(known)}")
            values[key] = _check(f"{origin}: {name}.{key}", value, known[key], cls, base_dir)
        if base is not None:
            sections[name] = dataclasses.replace(getattr(base, name), **values)
            continue
        missing = [key for key in known if key not in values]
        if missing:
            raise FixynnError(f"{origin}: {name}.{missing[0]}: missing key")
        sections[name] = cls(**values)
    cfg = Config(**sections)
    if base is not None:
        cfg = _hardware_ns_follow_sweep(cfg, doc)
        _check_arch_keys(cfg, base, doc, origin)
    _check_cross(cfg, origin)
    return cfg


# Keys of the pretraining and fixing that only mobilenet-v1 does here (a pretrained front-end
# is fixed by calibration: model.calib_images).
FROM_SCRATCH_KEYS: tuple[str, ...] = (
    "model.width", "model.stride_plan", "model.sparsity", "train.pretrain_epochs",
    "train.finetune_epochs", "train.finetune_lr", "train.finetune_batch_size",
    "train.max_source_images", "train.max_finetune_images", "train.source_augment")


def _check_arch_keys(cfg: Config, base: Config, doc: dict[str, Any], origin: str) -> None:
    """A key written for another front-end family is an error, not silently ignored (unless
    it keeps the value it has anyway: a whole config written back by config_to_toml loads)."""
    if not cfg.pretrained:
        return
    for dotted in FROM_SCRATCH_KEYS:
        section, _, key = dotted.partition(".")
        if key in doc.get(section, {}) and config_value(cfg, dotted) != config_value(base,
                                                                                      dotted):
            raise FixynnError(f"{origin}: {dotted}: applies to model.arch = 'mobilenet-v1' "
                              f"only (model.arch is {cfg.model.arch!r}); remove it")


def _hardware_ns_follow_sweep(cfg: Config, doc: dict[str, Any]) -> Config:
    """A verify list or synth N inherited from the defaults follows a sweep the user changed:
    the inherited N that the new sweep has, else the sweep's smallest N >= 1 (the cheapest
    design). One the user wrote is kept as written and checked against the sweep."""
    sweep = cfg.sweep.n_list
    fixed = sorted(n for n in sweep if n >= 1)
    if "n_list" not in doc.get("sweep", {}) or not fixed:
        return cfg
    verify, synth = cfg.verify, cfg.synth
    if "n_list" not in doc.get("verify", {}) and verify.n_list:
        kept = tuple(n for n in verify.n_list if n in sweep) or (fixed[0],)
        verify = dataclasses.replace(verify, n_list=kept)
    if "n" not in doc.get("synth", {}) and synth.n >= 0 and synth.n not in sweep:
        synth = dataclasses.replace(synth, n=fixed[0])
    return dataclasses.replace(cfg, verify=verify, synth=synth)


def _flat_keys() -> dict[str, str]:
    """Key -> its section, for the keys of FLAT_SECTIONS (their names are unique)."""
    return {f.name: name for name in FLAT_SECTIONS for f in fields(SECTIONS[name])}


def _sectioned(doc: dict[str, Any], origin: str) -> dict[str, Any]:
    """`doc` with its flat keys (`seed = 3`) moved into their sections (`[train] seed = 3`)."""
    flat = _flat_keys()
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in RENAMED:
            raise FixynnError(f"{origin}: {key}: renamed; use {RENAMED[key]}")
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise FixynnError(f"{origin}: {key} must be a table ([{key}])")
            _merge(out.setdefault(key, {}), value, key, origin)
        elif key in flat:
            _merge(out.setdefault(flat[key], {}), {key: value}, flat[key], origin)
        elif isinstance(value, dict):
            raise FixynnError(f"{origin}: unknown section [{key}]; known: {', '.join(SECTIONS)}")
        elif homes := [name for name, cls in SECTIONS.items()
                       if key in {f.name for f in fields(cls)}]:
            raise FixynnError(f"{origin}: {key}: write it in its section, "
                              f"{' or '.join(f'[{h}] {key}' for h in homes)}")
        else:
            raise FixynnError(f"{origin}: unknown key {key!r}; known: the sections "
                              f"{', '.join(f'[{s}]' for s in SECTIONS)}, or a key of "
                              f"{', '.join(f'[{s}]' for s in FLAT_SECTIONS)} without its section")
    return out


def _merge(table: dict[str, Any], values: dict[str, Any], section: str, origin: str) -> None:
    for key, value in values.items():
        if key in table:
            raise FixynnError(f"{origin}: {section}.{key}: set twice (flat and in [{section}]); "
                              "keep one")
        table[key] = value


def replace_keys(cfg: Config, values: typing.Mapping[str, Any],
                 origin: str = "config") -> Config:
    """`cfg` with dotted keys replaced (`{"train.seed": 3}`), validated like a file's keys;
    tuples may stand for TOML lists."""
    doc: dict[str, dict[str, Any]] = {}
    for dotted, value in values.items():
        section, _, key = dotted.partition(".")
        doc.setdefault(section, {})[key] = list(value) if isinstance(value, tuple) else value
    return config_from_dict(doc, origin, base=cfg)


def config_value(cfg: Config, dotted: str) -> Any:
    """The value of a dotted key, e.g. `config_value(cfg, "train.lr")`."""
    section, _, key = dotted.partition(".")
    return getattr(getattr(cfg, section), key)


def _check(where: str, value: Any, fld: dataclasses.Field, cls: type,
           base_dir: Path | None = None) -> Any:
    hint = typing.get_type_hints(cls)[fld.name]
    rules = fld.metadata
    if "parse" in rules:  # a structured value with its own parser
        return rules["parse"](where, value, base_dir)
    if typing.get_origin(hint) is tuple:
        (item_type, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise FixynnError(
                f"{where}: expected a list of {item_type.__name__}, got {type(value).__name__}"
            )
        items = tuple(
            _check_scalar(f"{where}[{i}]", v, item_type, rules) for i, v in enumerate(value)
        )
        if len(items) < rules.get("min_len", 0):
            raise FixynnError(f"{where}: needs at least {rules['min_len']} item(s)")
        if rules.get("unique") and len(set(items)) != len(items):
            raise FixynnError(f"{where}: items must be unique, got {list(items)}")
        if rules.get("canonical"):
            items = tuple(c for c in rules["choices"] if c in items)
        return items
    return _check_scalar(where, value, hint, rules)


def _check_scalar(where: str, value: Any, kind: type, rules: typing.Mapping[str, Any]) -> Any:
    # bool is an int subclass in Python; TOML keeps them apart, so do we.
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise FixynnError(
            f"{where}: expected {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    if "min" in rules and value < rules["min"]:
        raise FixynnError(f"{where}: {value} is below the minimum {rules['min']}")
    if "max" in rules and value > rules["max"]:
        raise FixynnError(f"{where}: {value} is above the maximum {rules['max']}")
    if "gt" in rules and value <= rules["gt"]:
        raise FixynnError(f"{where}: must be > {rules['gt']}, got {value}")
    if "lt" in rules and value >= rules["lt"]:
        raise FixynnError(f"{where}: must be < {rules['lt']}, got {value}")
    if "choices" in rules and value not in rules["choices"]:
        raise FixynnError(f"{where}: {value!r} is not one of {', '.join(rules['choices'])}")
    return value


def _check_task_names(cfg: Config, origin: str) -> None:
    """Source and targets name built-in or defined tasks (definitions are read first)."""
    sources = [] if cfg.pretrained else [cfg.tasks.source]
    for key, names in (("tasks.source", sources), ("tasks.targets", list(cfg.tasks.targets)),
                       ("model.calib_tasks", list(cfg.model.calib_tasks))):
        for i, name in enumerate(names):
            try:
                cfg.tasks.spec(name)
            except FixynnError as exc:
                index = "" if key == "tasks.source" else f"[{i}]"
                raise FixynnError(f"{origin}: {key}{index}: {exc}") from None


def _check_arch(cfg: Config, origin: str) -> None:
    """The source, input channels and split points fit the front-end family."""
    name, arch = cfg.model.arch, ARCHES[cfg.model.arch]
    pretrained = {a.pretrained for a in ARCHES.values()} - {""}
    if arch.pretrained and cfg.tasks.source != arch.pretrained:
        raise FixynnError(f"{origin}: tasks.source: model.arch {name!r} starts from its "
                          f"{arch.pretrained} weights; set tasks.source = {arch.pretrained!r}")
    if not arch.pretrained and cfg.tasks.source in pretrained:
        raise FixynnError(f"{origin}: tasks.source: model.arch {name!r} is pretrained here on "
                          f"an offline task; name one (e.g. 'fashion-mnist-a'), or choose a "
                          f"model.arch with {cfg.tasks.source} weights")
    if cfg.model.in_channels not in arch.in_channels:
        raise FixynnError(f"{origin}: model.in_channels: model.arch {name!r} takes "
                          f"{' or '.join(map(str, arch.in_channels))} channels, got "
                          f"{cfg.model.in_channels}")
    for key, ns in (("sweep.n_list", cfg.sweep.n_list), ("verify.n_list", cfg.verify.n_list),
                    ("synth.n", (cfg.synth.n,))):
        if above := [n for n in ns if n > arch.units]:
            raise FixynnError(f"{origin}: {key}: {above} above the largest split point of "
                              f"model.arch {name!r}, {arch.units}")


def _check_cross(cfg: Config, origin: str) -> None:
    _check_arch(cfg, origin)
    _check_task_names(cfg, origin)
    if cfg.tasks.source in cfg.tasks.targets:
        raise FixynnError(
            f"{origin}: tasks.targets: the source task {cfg.tasks.source!r} cannot also be a target"
        )
    order = [s for s in STAGES if s in cfg.run.stages]
    if list(cfg.run.stages) != order:
        raise FixynnError(f"{origin}: run.stages: list them in pipeline order: {', '.join(order)}")
    # the verify and synth keys are checked against the sweep when those stages run
    missing = [n for n in cfg.verify.n_list if n not in cfg.sweep.n_list]
    if missing and "verify" in cfg.run.stages:
        raise FixynnError(
            f"{origin}: verify.n_list: {missing} not in sweep.n_list "
            f"{list(cfg.sweep.n_list)}; add them to the sweep or drop them"
        )
    if "synth" in cfg.run.stages and cfg.synth.n >= 0 and cfg.synth.n not in cfg.sweep.n_list:
        raise FixynnError(
            f"{origin}: synth.n: {cfg.synth.n} is not in sweep.n_list {list(cfg.sweep.n_list)}"
        )
    if cfg.synth_n() == 0 and "synth" in cfg.run.stages:
        raise FixynnError(
            f"{origin}: synth.n: N = 0 has no fixed layers to synthesize; "
            "choose N >= 1 or drop 'synth' from run.stages"
        )


def _read_toml_resource(name: str) -> dict[str, Any]:
    return tomllib.loads(resources.files("fixynn").joinpath(name).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Writing (the config values are flat scalars and lists, so a tiny serializer suffices)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value.to_dict() if hasattr(value, "to_dict") else value


def _section_dict(section: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(section, f.name)) for f in fields(section)}


def config_to_toml(cfg: Config) -> str:
    lines: list[str] = []
    for name, table in cfg.to_dict().items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)  # JSON ints, floats and escaped strings are valid TOML
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table (task definitions)
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
