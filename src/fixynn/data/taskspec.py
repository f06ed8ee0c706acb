"""What a task is: a dataset, a class subset, the preprocessing to the model input, a split.

A task is one `[[tasks.define]]` table of a run config (docs/config.md), or one of the
built-in tasks, which are entries of the same kind in `fixynn/data/tasks.toml`. This module
only parses and checks the definitions; `fixynn.data.tasks` loads them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fixynn.data.registry import FOLDER_PREFIX, IDX_PREFIX, dataset_info
from fixynn.errors import FixynnError

Prep = Literal["fit", "box"]
PREPS: tuple[str, ...] = ("fit", "box")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # task names become file names
BUILTIN_FILE = "tasks.toml"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dataset: str  # a registry name, folder:DIR or idx:DIR (DIR absolute once parsed)
    root: str | None = None  # where a registry dataset's files are (CIFAR, Fashion-MNIST)
    classes: tuple[str | int, ...] | None = None  # kept classes (name or index), new order
    prep: Prep = "fit"  # "fit": cover the input and centre-crop; "box": into the MNIST box
    invert: bool = False  # contrast inverted (dark strokes on a light background)
    grey: bool = False  # drop colour (then replicated when the model takes 3 channels)
    test_fraction: float | None = None  # None: the dataset's own split; else seeded stratified
    split_seed: int = 0  # seed of that stratified split
    why: str = ""  # what the task is there for (shown in previews and the report)
    # where it was defined, for error messages; not part of what the task is
    origin: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The TOML/JSON form (keys at their default left out); `parse_task` inverts it."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "origin" and (f.name in ("name", "dataset") or value != f.default):
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def identity(self) -> dict[str, Any]:
        """What decides the task's arrays (not its name, description or origin)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("name", "why")}


# TOML key -> (accepted Python types, check of the value or None)
def task_from_dict(doc: dict[str, Any]) -> TaskSpec:
    """The inverse of `TaskSpec.to_dict` (plus "origin"), for specs already checked once."""
    classes = doc.get("classes")
    return TaskSpec(**(doc | {"classes": None if classes is None else tuple(classes)}))


def _positive_fraction(value: float) -> str | None:
    return None if 0 < value < 1 else "must lie strictly between 0 and 1"


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else "must be >= 0"


KEYS: dict[str, tuple[tuple[type, ...], Any]] = {
    "name": ((str,), None),
    "dataset": ((str,), None),
    "root": ((str,), None),
    "classes": ((list,), None),
    "prep": ((str,), lambda v: None if v in PREPS else f"is not one of {', '.join(PREPS)}"),
    "invert": ((bool,), None),
    "grey": ((bool,), None),
    "test_fraction": ((float, int), _positive_fraction),
    "split_seed": ((int,), _non_negative),
    "why": ((str,), None),
}


def parse_task(doc: Any, where: str, base_dir: Path | None = None) -> TaskSpec:
    """A TaskSpec from one TOML table; `where` (e.g. "my.toml: tasks.define[0]") prefixes
    every error. Relative directories are taken from `base_dir` (the config file's folder)."""
    if not isinstance(doc, dict):
        raise FixynnError(f"{where}: expected a table with name and dataset, got "
                          f"{type(doc).__name__}")
    for key, value in doc.items():
        if key not in KEYS:
            raise FixynnError(f"{where}.{key}: unknown key; known: {', '.join(KEYS)}")
        kinds, rule = KEYS[key]
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise FixynnError(f"{where}.{key}: expected {kinds[0].__name__}, got "
                              f"{type(value).__name__} {value!r}")
        if rule is not None and (why := rule(value)):
            raise FixynnError(f"{where}.{key}: {value!r} {why}")
    for key in ("name", "dataset"):
        if key not in doc:
            raise FixynnError(f"{where}.{key}: missing key (a task needs a name and a dataset)")
    name = doc["name"]
    if not NAME_PATTERN.fullmatch(name):
        raise FixynnError(f"{where}.name: {name!r}: use letters, digits, '.', '_' and '-' "
                          "(it names files), starting with a letter or digit")
    where = f"{where} ({name})"
    dataset = _absolute_dataset(doc["dataset"], base_dir)
    try:
        dataset_info(dataset)
    except FixynnError as exc:
        raise FixynnError(f"{where}.dataset: {exc}") from None
    values = dict(doc, dataset=dataset, origin=where)
    if "root" in doc:
        values["root"] = str(_absolute(doc["root"], base_dir))
    if "classes" in doc:
        values["classes"] = _classes(doc["classes"], f"{where}.classes")
    if "test_fraction" in doc:
        values["test_fraction"] = float(doc["test_fraction"])
    return TaskSpec(**values)


def _absolute(path: str, base_dir: Path | None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or base_dir is None else (base_dir / p).resolve()


def _absolute_dataset(dataset: str, base_dir: Path | None) -> str:
    for prefix in (FOLDER_PREFIX, IDX_PREFIX):
        if dataset.startswith(prefix) and dataset[len(prefix):]:
            return prefix + str(_absolute(dataset[len(prefix):], base_dir))
    return dataset


def _classes(value: list[Any], where: str) -> tuple[str | int, ...]:
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise FixynnError(f"{where}[{i}]: expected a class name (str) or index (int), got "
                              f"{item!r}")
        if isinstance(item, int) and item < 0:
            raise FixynnError(f"{where}[{i}]: class index {item} is negative")
    if len(value) < 2:
        raise FixynnError(f"{where}: a task needs at least 2 classes, got {value!r}")
    if len(set(value)) != len(value):
        raise FixynnError(f"{where}: classes must be unique, got {value!r}")
    return tuple(value)


def parse_tasks(docs: Any, where: str, base_dir: Path | None = None,
                taken: dict[str, TaskSpec] | None = None) -> tuple[TaskSpec, ...]:
    """An array of task tables; names must be unique and not among `taken` (default: the
    built-in tasks)."""
    if not isinstance(docs, list):
        raise FixynnError(f"{where}: expected an array of tables ([[tasks.define]]), got "
                          f"{type(docs).__name__}")
    specs = tuple(parse_task(doc, f"{where}[{i}]", base_dir) for i, doc in enumerate(docs))
    seen = dict(BUILTIN_TASKS if taken is None else taken)
    for spec in specs:
        first = seen.get(spec.name)
        if first is not None:
            raise FixynnError(f"{spec.origin}.name: task {spec.name!r} is already defined by "
                              f"{first.origin}; give each task its own name")
        seen[spec.name] = spec
    return specs


def _builtin_tasks() -> dict[str, TaskSpec]:
    text = resources.files("fixynn.data").joinpath(BUILTIN_FILE).read_text(encoding="utf-8")
    docs = tomllib.loads(text).get("task", [])
    specs = parse_tasks(docs, f"fixynn/data/{BUILTIN_FILE}: task", taken={})
    return {spec.name: spec for spec in specs}


BUILTIN_TASKS: dict[str, TaskSpec] = _builtin_tasks()


def resolve_task(name: str, defined: tuple[TaskSpec, ...] = ()) -> TaskSpec:
    """The task called `name`: one of `defined` (a config's) or a built-in one."""
    for spec in defined:
        if spec.name == name:
            return spec
    if name in BUILTIN_TASKS:
        return BUILTIN_TASKS[name]
    known = sorted([*BUILTIN_TASKS, *(s.name for s in defined)])
    raise FixynnError(f"unknown task {name!r}; known: {', '.join(known)} (define your own "
                      "with a [[tasks.define]] table, docs/config.md)")
