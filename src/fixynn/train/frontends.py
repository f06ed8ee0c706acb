"""The front-end families of the transfer sweep (`model.arch`, fixynn.arch.ARCHES).

A family knows, for its network: where the float network comes from (pretrained here on the
source task, or weights trained elsewhere), how it is fixed to integers, how uint8 pixels
become its input, and how it splits at N into the frozen integer front-end and the trainable
float back-end. Everything else in the sweep (baselines, feature passes, back-end trainings,
verdicts, artifacts) is the same for every family (fixynn.train.transfer).

    family = family_of(cfg)
    prepared = family.prepare(cfg, store, progress)  # float network + fixed front-end (cached)
    prepared.front.graph(n, meta)                    # the HwGraph of N units
    prepared.front.features(images, n_list, device)  # exact integer features, every N
    family.back_end(copy_of_float_network, n)        # units N.. + the classifier, trainable
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fixynn.hw.ir import HwGraph
from fixynn.train.loops import Transform

if TYPE_CHECKING:
    from fixynn.config import Config
    from fixynn.store import Store


class FrontEnd(ABC):
    """The fixed integer front-end at every N of a sweep (picklable: worker processes get it).

    Its features at N are exact integers, bit-identical to fixynn.hw.golden on `graph(n)`."""

    @abstractmethod
    def graph(self, n: int, meta: dict[str, Any]) -> HwGraph:
        """The HwGraph of units 0..n-1; `meta` (tasks, seed, ...) is kept as provenance."""

    @abstractmethod
    def features(self, images: torch.Tensor, n_list: Sequence[int],
                 device: torch.device) -> Iterator[tuple[int, torch.Tensor]]:
        """(N, integer features at N) for N in ascending `n_list`, of uint8 `images`,
        returned on the CPU in a compact integer dtype."""

    @abstractmethod
    def out_frac(self, n: int) -> int:
        """Fractional bits of the features at N: their real value is q * 2^-frac."""


@dataclass
class Prepared:
    """A family's float network (what baselines and back-ends start from), its fixed
    front-end, and what preparing them measured (JSON: transfer.json's `source`)."""

    network: nn.Module
    front: FrontEnd
    info: dict[str, Any]


class Family(ABC):
    """One `model.arch`."""

    arch: str

    @abstractmethod
    def pixels(self) -> Transform:
        """uint8 pixels -> the float network's input."""

    @abstractmethod
    def result_stage(self, cfg: Config) -> str:
        """Key of everything a training's result depends on besides its task, N and repeat:
        the float network, the fixed front-end and the training recipe (config values, data
        keys). Part of every training's cache key."""

    @abstractmethod
    def meta(self, cfg: Config) -> dict[str, Any]:
        """The family's settings kept in each HwGraph's provenance."""

    @abstractmethod
    def prepare(self, cfg: Config, store: Store, progress: bool) -> Prepared:
        """The float network and the fixed front-end (from the cache when there)."""

    @abstractmethod
    def back_end(self, network: nn.Module, n: int) -> nn.Module:
        """Units n.. and the classifier of `network` (a copy with the task's classifier): the
        programmable part, trained on the features at N."""


def family_of(cfg: Config) -> Family:
    from fixynn.train.efficientnet import EfficientNetFamily
    from fixynn.train.mobilenet import MobileNetFamily

    families: dict[str, Family] = {f.arch: f for f in (MobileNetFamily(), EfficientNetFamily())}
    return families[cfg.model.arch]

