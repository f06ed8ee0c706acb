"""The bootstrap verdict on synthetic per-image correctness whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from fixynn.train.verdict import (
    bootstrap_loss,
    largest_holding_n,
    loss_verdict,
    pack_correct,
    unpack_correct,
)


def bernoulli(rng: np.random.Generator, p: float, repeats: int, images: int) -> np.ndarray:
    return rng.random((repeats, images)) < p


def seed_shifted(correct: np.ndarray, flips: int) -> np.ndarray:
    """Three repeats: `correct`, and copies with `flips` more / fewer images right."""
    up, down = correct.copy(), correct.copy()
    up[np.flatnonzero(~correct)[:flips]] = True
    down[np.flatnonzero(correct)[:flips]] = False
    return np.stack([up, correct, down])


def test_identical_predictions_hold_with_a_zero_width_interval() -> None:
    base = bernoulli(np.random.default_rng(0), 0.9, 1, 2000)
    v = loss_verdict(base, base.copy(), seed=1)
    assert (v.loss, v.low, v.high, v.verdict) == (0.0, 0.0, 0.0, "holds")
    # three trainings 3 points apart: seeds drawn independently on each side add spread
    three = seed_shifted(base[0], 60)
    v = loss_verdict(three, three.copy(), seed=1)
    assert v.loss == 0.0 and v.low < -1.0 and v.high > 1.0


def test_pairing_counts_only_the_images_that_differ() -> None:
    # FixyNN flips 10 of 1000 images the baseline gets right: loss exactly 1 point, and the
    # paired interval is that of 10 events in 1000 (binomial s.e. 0.31 points), far narrower
    # than two independent 90% accuracies (s.e. 1.3 points) would give
    rng = np.random.default_rng(2)
    base = bernoulli(rng, 0.9, 1, 1000)
    fixed = base.copy()
    fixed[0, np.flatnonzero(base[0])[:10]] = False
    v = loss_verdict(base, fixed, seed=3)
    assert v.loss == pytest.approx(1.0)
    assert 0.2 < v.low < 0.6 and 1.4 < v.high < 1.8
    assert v.verdict == "inconclusive"


def test_a_large_loss_fails_and_a_clear_gain_holds() -> None:
    rng = np.random.default_rng(4)
    base = bernoulli(rng, 0.95, 3, 3000)
    worse = base & (rng.random(base.shape) > 0.05)  # ~4.75 points lost on every repeat
    v = loss_verdict(base, worse, seed=5)
    assert v.low > 1.0 and v.verdict == "fails" and v.loss == pytest.approx(4.75, abs=0.5)
    v = loss_verdict(worse, base, seed=5)
    assert v.high < 1.0 and v.verdict == "holds"


def test_training_noise_widens_the_interval() -> None:
    # same test-set evidence; the second baseline's repeats disagree by +-3 points
    one = bernoulli(np.random.default_rng(6), 0.9, 1, 2000)[0]
    steady, noisy = np.stack([one] * 3), seed_shifted(one, 60)
    width = [np.subtract(*np.quantile(bootstrap_loss(b, steady, seed=7), [0.975, 0.025]))
             for b in (steady, noisy)]
    assert width[0] == 0 and width[1] > 2.0  # +-3 points of seed noise: a 95% width of >2


def experiment(rng: np.random.Generator, seed_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """A fresh test set of 800 images of varying difficulty (mean accuracy 0.9), 3 seeded
    trainings per side (each shifts every image's odds by N(0, seed_sd)); FixyNN's accuracy
    is 0.975 of the baseline's on every image (true loss 2.25 points before clipping)."""
    q = rng.beta(4.5, 0.5, 800)
    sides = []
    for scale in (1.0, 0.975):
        shift = rng.normal(0, seed_sd, (3, 1))
        sides.append(rng.random((3, 800)) < np.clip(scale * q + shift, 0, 1))
    return sides[0], sides[1]


@pytest.mark.parametrize("seed_sd", [0.0, 0.015])
def test_interval_has_95_percent_coverage_and_the_right_width(seed_sd: float) -> None:
    rng = np.random.default_rng(8)
    widths, losses = [], []
    for trial in range(100):
        v = loss_verdict(*experiment(rng, seed_sd), seed=trial, resamples=300)
        widths.append(v.high - v.low)
        losses.append(v)
    true_loss = np.mean([v.loss for v in losses])  # clipping odds at 1 moves it off 2.25
    covered = sum(v.low <= true_loss <= v.high for v in losses)
    # the width matches the loss's real spread over experiments (within its ~7% sampling
    # error and the 3-repeat estimate's bias), neither narrower nor double-counted
    ratio = np.mean(widths) / (2 * 1.96 * np.std([v.loss for v in losses]))
    assert 0.8 < ratio < 1.3, ratio
    assert covered >= 88


def test_pack_round_trip_and_shape_errors() -> None:
    correct = np.random.default_rng(9).random(1003) < 0.5
    assert np.array_equal(unpack_correct(pack_correct(correct), 1003), correct)
    with pytest.raises(ValueError, match="baseline has 5 test images, fixed 4"):
        bootstrap_loss(np.ones((2, 5)), np.ones((2, 4)), seed=0)


def test_largest_holding_n_needs_every_task_to_hold_there() -> None:
    rows = [{"task": t, "n": n, "verdict": v} for t, n, v in [
        ("a", 2, "holds"), ("b", 2, "holds"), ("a", 7, "holds"), ("b", 7, "inconclusive"),
        ("a", 14, "holds"), ("b", 14, "fails"), ("a", 20, "holds")]]
    assert largest_holding_n(rows, ("a", "b")) == 2
    assert largest_holding_n(rows, ("a",)) == 20  # only the named tasks count
    assert largest_holding_n(rows, ("a", "c")) is None  # c has no row at any N
    assert largest_holding_n([], ("a",)) is None
