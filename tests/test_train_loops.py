"""The training loop's recipe: warm-up + cosine schedule, SGD/Adam, label smoothing."""

import itertools
import math

import pytest
import torch
from torch import nn

from fixynn.train.loops import evaluate, fit, lr_factor


def test_warmup_then_cosine():
    total, warmup = 100, 0.1  # 10 warm-up steps
    factors = [lr_factor(s, total, warmup) for s in range(total)]
    assert factors[0] == pytest.approx(0.1) and factors[4] == pytest.approx(0.5)
    assert factors[9] == pytest.approx(1.0) and factors[10] == pytest.approx(1.0)
    assert factors[55] == pytest.approx(0.5)  # halfway through the 90 decay steps
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert 0 < factors[-1] < 0.001
    # no warm-up: the plain cosine from 1
    assert [lr_factor(s, 4, 0.0) for s in range(4)] == pytest.approx(
        [0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)])


def _toy(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two linearly separable classes of 8-bit 'images' (1x2x2)."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (64,), generator=gen)
    x = torch.randint(0, 100, (64, 1, 2, 2), generator=gen) + 150 * y.view(-1, 1, 1, 1)
    return x.to(torch.uint8), y


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 2))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_learns_and_is_deterministic(optimizer):
    x, y = _toy()
    transform = lambda v: v.float() / 256  # noqa: E731
    lr = 0.5 if optimizer == "sgd" else 0.05
    runs = []
    for _ in range(2):
        model = _model()
        fit(model, x, y, transform, epochs=6, batch_size=8, lr=lr, seed=3, optimizer=optimizer,
            warmup=0.1, label_smoothing=0.1, weight_decay=1e-4)
        runs.append(model)
    acc, _ = evaluate(runs[0], x, y, transform)
    assert acc >= 95.0
    for a, b in zip(runs[0].parameters(), runs[1].parameters(), strict=True):
        assert torch.equal(a, b)


def test_label_smoothing_changes_the_loss():
    x, y = _toy()
    losses = [fit(_model(), x, y, lambda v: v.float() / 256, epochs=1, batch_size=64, lr=1e-9,
                  seed=0, label_smoothing=ls) for ls in (0.0, 0.5)]
    assert losses[0] != pytest.approx(losses[1])


def test_unknown_optimizer():
    x, y = _toy()
    with pytest.raises(ValueError, match="optimizer"):
        fit(_model(), x, y, lambda v: v.float(), epochs=1, batch_size=8, lr=0.1, seed=0,
            optimizer="lbfgs")
