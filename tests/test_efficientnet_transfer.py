"""The efficientnet-lite0 front-end family in the transfer sweep: one integer export whose
first units are every smaller N's graph, exact features at every N, the back-end split, and a
tiny sweep end to end (ImageNet weights, no pretraining, calibration on the targets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fixynn.arch import LAYERS_FILE, load_layers, max_split
from fixynn.config import default_config, replace_keys
from fixynn.errors import FixynnError
from fixynn.frontend import first_units, to_hwgraph
from fixynn.hw.golden import run_graph
from fixynn.hw.ir import graph_digest, load_graph
from fixynn.nn.efficientnet_lite import efficientnet_lite0, normalize
from fixynn.train.efficientnet import (
    PIXEL_OFFSET,
    PIXEL_SCALE,
    EfficientNetBackEnd,
    EfficientNetFrontEnd,
)
from fixynn.train.loops import scaled
from fixynn.train.transfer import TRAINING, run_transfer

SIZE = 32  # small maps keep the exports and golden runs fast; SAME pads bottom/right here


def pixels(count: int, seed: int) -> torch.Tensor:
    """Smooth random colour images (uint8): realistic enough to calibrate on."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(count, 3, SIZE // 4, SIZE // 4, generator=gen)
    x = torch.nn.functional.interpolate(x, size=(SIZE, SIZE), mode="bilinear")
    return (x * 255).round().to(torch.uint8)


@pytest.fixture(scope="module")
def export() -> tuple[torch.nn.Module, torch.Tensor, object]:
    model, calib = efficientnet_lite0(SIZE), pixels(16, 1)
    out = to_hwgraph(model, normalize(calib[:1]), 6, calib, pixel_offset=PIXEL_OFFSET,
                     pixel_scale=PIXEL_SCALE, executor="torch")
    return model, calib, out.graph


def test_first_units_are_the_export_of_fewer_units(export) -> None:
    model, calib, graph = export
    for n in (1, 3):
        alone = to_hwgraph(model, normalize(calib[:1]), n, calib, pixel_offset=PIXEL_OFFSET,
                           pixel_scale=PIXEL_SCALE, executor="torch").graph
        assert graph_digest(first_units(graph, n)) == graph_digest(alone)
    with pytest.raises(FixynnError, match=r"n = 7; it has units 1\.\.6"):
        first_units(graph, 7)


def test_features_at_every_n_are_golden_of_that_graph(export) -> None:
    _, _, graph = export
    front, images = EfficientNetFrontEnd(graph), pixels(5, 2)
    features = dict(front.features(images, [0, 2, 6], torch.device("cpu")))
    assert torch.equal(features[0], images)
    for n in (2, 6):
        sub = front.graph(n, {"source": "test"})
        assert sub.meta["n"] == n and sub.meta["source"] == "test"
        (want,) = run_graph(sub, images.numpy(), keep_all=False)
        assert features[n].dtype == torch.int8  # signed 8-bit linear bottleneck outputs
        np.testing.assert_array_equal(features[n].numpy(), want)
        assert front.out_frac(n) == sub.tensor_formats()[sub.outputs[0]].frac
    assert front.graph(0, {}).layers == ()


def test_back_end_at_zero_is_the_whole_network_on_pixels(export) -> None:
    model, _, _ = export
    images = pixels(2, 3)
    with torch.no_grad():
        want = model(normalize(images))
        got = EfficientNetBackEnd(model, 0).eval()(scaled(8)(images))
    torch.testing.assert_close(got, want)


@pytest.mark.needs_data("opencv-digits")
def test_tiny_sweep_end_to_end(tmp_path: Path) -> None:
    cfg = replace_keys(default_config(stages=("transfer",)), {
        "model.arch": "efficientnet-lite0", "tasks.source": "imagenet", "model.in_channels": 3,
        "model.input_size": SIZE, "tasks.targets": ["opencv-digits"], "sweep.n_list": [2, 4],
        "model.calib_images": 8, "train.transfer_epochs": 1, "train.max_train_images": 32,
        "train.max_test_images": 32, "train.repeats": 1, "train.workers": 1,
        "train.lr": 0.02, "train.batch_size": 16})
    summary = run_transfer(cfg, tmp_path, progress=False)
    assert summary["source"]["task"] == "imagenet"
    assert summary["source"]["calibration_images"] == 8
    assert "ImageNet weights" in summary["source"]["description"]
    assert [(r["task"], r["n"]) for r in summary["results"]] == [("opencv-digits", 2),
                                                                  ("opencv-digits", 4)]
    graph = load_graph(tmp_path / "hwgraph" / "N4")
    assert graph.meta["arch"] == "efficientnet-lite0" and graph.meta["n_units"] == 4
    assert graph.meta["input_task"] == "opencv-digits"  # a target: there is no source task
    assert max_split(load_layers(tmp_path / LAYERS_FILE)) == 17  # stem + 16 blocks
    trainings = sorted((tmp_path / "cache" / TRAINING).iterdir())
    assert len(trainings) == 3  # the baseline and two back-ends
    again = run_transfer(cfg, tmp_path, progress=False)  # every piece from the cache
    assert again["results"] == summary["results"]
    assert sorted((tmp_path / "cache" / TRAINING).iterdir()) == trainings
    assert json.loads((tmp_path / "transfer.json").read_text())["hwgraphs"] == \
        summary["hwgraphs"]
