"""EfficientNet-Lite0 with the packaged ImageNet weights: wired right (two ImageNet sample
photographs classify as they should) and traceable by fixynn.frontend."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_image

from fixynn.frontend import run_network, trace_model
from fixynn.nn.efficientnet_lite import BLOCKS, efficientnet_lite0, normalize, same_padding

DAISY, BELL_COTE, PALACE, CASTLE = 985, 442, 698, 483


def sample_batch(size: int = 224) -> torch.Tensor:
    """scikit-learn's two bundled photographs, resized (bilinear, aspect not kept) to
    `size` x `size`, as uint8 NCHW."""
    images = [np.asarray(Image.fromarray(load_sample_image(name)).resize(
        (size, size), Image.BILINEAR)) for name in ("flower.jpg", "china.jpg")]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return efficientnet_lite0(224)


def test_same_padding_is_tensorflow_same() -> None:
    assert same_padding(224, 3, 2) == (0, 1)  # stride 2 on an even map: all of it after
    assert same_padding(28, 5, 2) == (1, 2)
    assert same_padding(7, 5, 1) == (2, 2)
    assert same_padding(7, 3, 2) == (1, 1)  # odd map: symmetric


def test_block_plan_is_efficientnet_b0() -> None:
    assert [b.stride for b in BLOCKS] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
    assert [i for i, b in enumerate(BLOCKS) if b.residual] == [2, 4, 6, 7, 9, 10, 12, 13, 14]


def test_imagenet_sample_images(model: torch.nn.Module) -> None:
    with torch.no_grad():
        logits = model(normalize(sample_batch()))
    top5 = logits.topk(5).indices.tolist()
    # measured: flower [985, 309, 738, 994, 599]; china [442, 449, 975, 698, 483]
    assert top5[0][0] == DAISY
    assert top5[1] == [BELL_COTE, 449, 975, PALACE, CASTLE]


def test_traces_through_the_frontend(model: torch.nn.Module) -> None:
    x = normalize(sample_batch())
    net = trace_model(model, x)
    assert net.unit_names() == ["stem", *(f"_blocks.{i}" for i in range(16)), "head"]
    adds = [u.name for u in net.units if any(op.kind == "add" for op in u.ops)]
    assert adds == [f"_blocks.{i}" for i, b in enumerate(BLOCKS) if b.residual]
    stem = net.units[0].ops[0]
    assert (stem.padding, stem.stride, stem.activation) == ((0, 1, 0, 1), (2, 2), "relu6")
    dw = net.units[4].ops[1]  # block 3: 5x5 stride 2 on 56x56
    assert (dw.kernel, dw.padding, dw.out_shape) == ((5, 5), (1, 2, 1, 2), (144, 28, 28))
    project = net.units[3].ops[-2]
    assert (project.kind, project.activation) == ("conv", "none")
    with torch.no_grad():
        want = model(x)
    got = run_network(net, x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4)
    assert got.argmax(1).tolist() == [DAISY, BELL_COTE]
