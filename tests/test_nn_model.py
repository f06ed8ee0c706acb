"""MobileNetV1, BN folding, pruning and the fake-quantized fixed network."""

import copy

import pytest
import torch
from torch import nn

from fixynn.arch import NUM_BLOCKS, mobilenet_v1_layers
from fixynn.nn.fixed import FixedNet
from fixynn.nn.fold import fold_bn
from fixynn.nn.model import BackEnd, MobileNetV1
from fixynn.nn.prune import magnitude_mask, sparsity_of
from fixynn.train.loops import fit, scaled


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics, so folding has something to fold."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.3)
    return model.eval()


def test_shapes_follow_arch():
    model = MobileNetV1(7, width=0.25, input_size=28)
    assert len(model.blocks) == NUM_BLOCKS
    convs = [u.conv for b in model.blocks for u in b]
    shapes = [s for s in mobilenet_v1_layers(0.25, 28, 1, 7, "small") if s.kind != "fc"]
    assert [(c.in_channels, c.out_channels, c.stride[0], c.groups) for c in convs] == [
        (s.in_channels, s.out_channels, s.stride, s.groups) for s in shapes]
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 7)
    big = MobileNetV1(10, width=0.25, input_size=64, in_channels=3, stride_plan="imagenet")
    assert big(torch.rand(1, 3, 64, 64)).shape == (1, 10)


@pytest.mark.parametrize("n", [0, 1, 7, 13, 14])
def test_back_end_continues_the_front_end(n):
    model = randomize_bn(MobileNetV1(5))
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(BackEnd(model, n)(model.run_blocks(x, 0, n)), model(x), atol=1e-5)


@pytest.mark.parametrize("groups", [1, 6])
def test_bn_folding_equals_conv_then_bn(groups):
    conv = nn.Conv2d(6, 12 if groups == 1 else 6, 3, 2, 1, groups=groups, bias=False)
    bn = randomize_bn(nn.BatchNorm2d(conv.out_channels))
    x = torch.randn(4, 6, 9, 9)
    w, b = fold_bn(conv, bn)
    with torch.no_grad():
        folded = nn.functional.conv2d(x, w, b, 2, 1, 1, groups)
        assert torch.allclose(folded, bn(conv(x)), atol=1e-5)
    assert not torch.allclose(folded, conv(x), atol=1e-2)  # BN really did something


def test_magnitude_mask_zeroes_the_smallest():
    w = torch.tensor([[0.5, -0.1, 0.3], [-0.05, 0.9, -0.2]])
    mask = magnitude_mask(w, 0.5)
    assert mask.tolist() == [[1, 0, 1], [0, 1, 0]]
    big = torch.randn(64, 32, 3, 3)
    for target in (0.0, 0.3, 0.75):
        assert sparsity_of(big * magnitude_mask(big, target)) == pytest.approx(target, abs=1e-3)
    with pytest.raises(ValueError):
        magnitude_mask(w, 1.0)


def test_pruning_is_kept_through_qat():
    torch.manual_seed(0)
    model = randomize_bn(MobileNetV1(3))
    fixed = FixedNet(model)
    fixed.prune(0.6)
    head = nn.Sequential(fixed, nn.AdaptiveAvgPool2d(1), nn.Flatten(), copy.deepcopy(
        model.classifier))
    before = [layer.int_params().weight.clone() for layer in fixed.layers]
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 3, (16,))
    fit(head, x, y, scaled(8), epochs=2, batch_size=8, lr=1e-2, seed=0, progress=True)
    for layer in fixed.layers:
        w1 = layer.int_params().weight
        assert sparsity_of(w1) >= 0.6 - 1 / w1.numel()  # masks kept (rounding adds zeros)
        assert torch.all(w1[layer.mask == 0] == 0)
    assert any(not torch.equal(layer.int_params().weight, w0)
               for layer, w0 in zip(fixed.layers, before, strict=True))  # it did train


def test_fake_quant_forward_is_close_to_float_and_exact_path_agrees():
    """QAT forward ~ float folded net; exact integer path == QAT forward up to float rounding."""
    torch.manual_seed(1)
    model = randomize_bn(MobileNetV1(3))
    fixed = FixedNet(model)
    x = torch.randint(0, 256, (4, 1, 28, 28))
    with torch.no_grad():
        fake = fixed(x.float() / 256, 3)
        exact = fixed.exact(x, 0, 3).double() / 2**5
        ref = model.run_blocks(x.float() / 256, 0, 3)
    assert (fake.double() - exact).abs().max() <= 1 / 32  # at most one LSB apart
    assert (fake - ref).abs().mean() < 0.05


def test_exact_with_precomputed_params_is_the_same():
    torch.manual_seed(4)
    fixed = FixedNet(randomize_bn(MobileNetV1(3)))
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    params = fixed.int_params_of(0, 4)
    assert len(params) == 7  # block 0 (one conv) + blocks 1..3 (dw + pw each)
    assert torch.equal(fixed.exact(x, 0, 4, params), fixed.exact(x, 0, 4))
    with pytest.raises(ValueError, match="IntParams"):
        fixed.exact(x, 0, 5, params)
