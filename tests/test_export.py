"""Export of the fixed front-end to HwGraph, and torch exact path == golden, bit for bit."""

import numpy as np
import pytest
import torch

from fixynn.arch import NUM_BLOCKS
from fixynn.data.tasks import DEFAULT_SOURCE, DEFAULT_TARGETS, task_images
from fixynn.hw.golden import run_graph
from fixynn.hw.ir import graph_digest, load_graph, save_graph
from fixynn.nn.export import export_front_end
from fixynn.nn.fixed import FixedNet
from fixynn.nn.model import MobileNetV1
from test_nn_model import randomize_bn


@pytest.fixture(scope="module")
def fixed() -> FixedNet:
    torch.manual_seed(0)
    net = FixedNet(randomize_bn(MobileNetV1(5)), w_bits=8, a_bits=8)
    net.prune(0.4)
    return net


def test_export_structure(fixed, tmp_path):
    graph = export_front_end(fixed, 5, meta={"input_task": "fashion-mnist-a", "seed": 3})
    assert [layer.name for layer in graph.layers] == [
        "b0_conv", "b1_dw", "b1_pw", "b2_dw", "b2_pw", "b3_dw", "b3_pw", "b4_dw", "b4_pw"]
    assert graph.is_chain
    assert graph.meta == {"input_task": "fashion-mnist-a", "seed": 3, "n": 5, "w_bits": 8,
                          "a_bits": 8, "fuse": "all"}
    first, second = graph.layers[:2]
    assert (first.in_bits, first.in_frac, first.out_bits, first.out_frac) == (8, 8, 8, 5)
    assert (second.in_bits, second.in_frac) == (8, 5)
    assert first.act_hi == 192
    assert graph.output_shape == (64, 7, 7)
    assert all(abs(layer.weight).max() <= 127 for layer in graph.layers)
    assert np.mean(np.concatenate([layer.weight.ravel() for layer in graph.layers]) == 0) > 0.39
    loaded = load_graph(save_graph(graph, tmp_path / "g"))
    assert graph_digest(loaded) == graph_digest(graph)
    assert len(export_front_end(fixed, 0).layers) == 0


def test_exact_equals_golden_every_layer(fixed):
    """Random weights and random images: each block's output, N = 1..14, bit for bit."""
    images = np.random.default_rng(0).integers(0, 256, size=(12, 1, 28, 28))
    graph = export_front_end(fixed, NUM_BLOCKS)
    golden = run_graph(graph, images, keep_all=True)
    x = torch.from_numpy(images)
    ends = np.cumsum([1] + [2] * (NUM_BLOCKS - 1)) - 1  # index of each block's last layer
    for block in range(NUM_BLOCKS):
        x = fixed.exact(x, block, block + 1)
        assert np.array_equal(x.numpy(), golden[ends[block]]), f"block {block}"
    assert 0 < golden[-1].mean() < 192  # not all dead, not all saturated


def _real_images(limit: int | None) -> dict[str, np.ndarray]:
    return {t: task_images(t, "test", limit) for t in (DEFAULT_SOURCE, *DEFAULT_TARGETS)}


def _assert_bit_exact(fixed: FixedNet, images: np.ndarray) -> None:
    graph = export_front_end(fixed, NUM_BLOCKS)
    golden = run_graph(graph, images, keep_all=False)[0]
    ours = torch.cat([fixed.exact(torch.from_numpy(images[i:i + 256]))
                      for i in range(0, len(images), 256)])
    assert np.array_equal(ours.numpy(), golden)


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_exact_equals_golden_on_real_images(fixed):
    for images in _real_images(24).values():
        _assert_bit_exact(fixed, images)


@pytest.mark.slow
@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_exact_equals_golden_on_every_default_test_set(fixed):
    for images in _real_images(None).values():
        _assert_bit_exact(fixed, images)
