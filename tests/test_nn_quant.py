"""Fixed-point quantizers: the integer semantics of DESIGN.md, in torch."""

import numpy as np
import pytest
import torch

from fixynn.hw.numfmt import requantize as golden_requantize
from fixynn.nn.quant import (
    act_frac,
    act_hi,
    fake_quant_weight,
    fake_requantize,
    quantize_bias,
    quantize_weight,
    requantize_exact,
    weight_frac,
)


def test_activation_format():
    assert (act_frac(8), act_hi(8, act_frac(8))) == (5, 192)  # 6.0 * 2^5
    assert (act_frac(4), act_hi(4, act_frac(4))) == (1, 12)
    assert act_hi(4, 3) == 15  # 6 * 2^3 = 48 does not fit in 4 bits: the range clamps
    assert act_hi(8, 5, relu6=False) == 255
    with pytest.raises(ValueError):
        act_frac(3)


@pytest.mark.parametrize(("max_abs", "bits", "frac"), [
    (0.5, 8, 7), (1.0, 8, 6), (127 / 128, 8, 7), (3.0, 8, 5), (200.0, 8, -1),
    (0.5, 4, 3), (1e-3, 8, 16),
])
def test_weight_frac_is_the_largest_that_fits(max_abs, bits, frac):
    w = torch.tensor([[max_abs, -max_abs / 3]])
    f = int(weight_frac(w, bits)[0])
    assert f == frac
    assert max_abs * 2**f <= 2 ** (bits - 1) - 1 < max_abs * 2 ** (f + 1)


def test_weight_frac_per_channel_and_zero_channel():
    w = torch.tensor([[0.9, 0.1], [0.0, 0.0], [-5.0, 1.0]])
    assert weight_frac(w, 8).tolist() == [7, 0, 4]


def test_quantize_weight_rounds_and_clamps():
    w = torch.tensor([[0.3, -0.3, 0.0, 1.0, -1.0]])
    q = quantize_weight(w, torch.tensor([7]), 8)
    # 0.3 * 128 = 38.4 -> 38; 1.0 * 128 = 128 -> clamped to 127; -128 stays (signed range)
    assert q.tolist() == [[38.0, -38.0, 0.0, 127.0, -128.0]]


def test_bias_at_accumulator_scale():
    b = quantize_bias(torch.tensor([0.25, -1.5]), 8, torch.tensor([3, -2]))
    assert b.tolist() == [0.25 * 2**11, -1.5 * 2**6]


@pytest.mark.parametrize(("acc", "shift", "expected"), [
    (5, 1, 3),  # (5 + 1) >> 1
    (4, 1, 2),  # (4 + 1) >> 1: half rounds up
    (3, 2, 1), (6, 2, 2), (10, 2, 3),
    (-5, 1, 0),  # negative -> clamped to 0
    (7, 0, 7),  # no rounding term
    (7, -2, 28),  # negative shift: left shift
    (100, -2, 192),  # clamped to hi
    (10_000, 3, 192),
])
def test_requantize_exact_cases(acc, shift, expected):
    y = requantize_exact(torch.tensor([[[[float(acc)]]]], dtype=torch.float64),
                         torch.tensor([shift]), 192)
    assert int(y) == expected


def test_requantize_exact_matches_golden_per_channel():
    rng = np.random.default_rng(0)
    acc = rng.integers(-(2**20), 2**20, size=(4, 6, 5, 5))
    shift = np.array([-3, -1, 0, 1, 7, 12])
    for dtype in (torch.float32, torch.float64):
        ours = requantize_exact(torch.tensor(acc, dtype=dtype), torch.tensor(shift), 192)
        assert np.array_equal(ours.numpy().astype(np.int64), golden_requantize(acc, shift, 192))


def test_fake_requantize_equals_integer_requantize():
    """The QAT forward lands on exactly the integers the hardware produces."""
    rng = np.random.default_rng(1)
    in_frac, out_frac = 5, 5
    w_frac = np.array([2, 6, 9])
    acc = rng.integers(-(2**14), 2**14, size=(2, 3, 4, 4))
    shift = in_frac + w_frac - out_frac
    real = torch.tensor(acc, dtype=torch.float64) * torch.exp2(
        -torch.tensor(in_frac + w_frac, dtype=torch.float64)).reshape(1, -1, 1, 1)
    fake = fake_requantize(real, out_frac, 192) * 2**out_frac
    assert np.array_equal(fake.numpy().astype(np.int64), golden_requantize(acc, shift, 192))


def test_straight_through_gradients():
    w = torch.tensor([[0.3, -0.71, 0.05]], requires_grad=True)
    wq = fake_quant_weight(w, weight_frac(w, 4), 4)  # frac 3: grid of 1/8, |q| <= 7
    assert wq.tolist() == [[0.25, -0.75, 0.0]]
    wq.sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0, 1.0]]  # rounding passes the gradient straight

    acc = torch.tensor([-1.0, 0.3, 5.9, 7.0], requires_grad=True)
    fake_requantize(acc, 5, 192).sum().backward()
    assert acc.grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # zero where ReLU6 clamps
