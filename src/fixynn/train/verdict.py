"""Does "< 1 point of accuracy loss" hold? A paired bootstrap over test images and training
repeats.

The loss is mean(baseline accuracy) - mean(FixyNN accuracy) over seeded repeats, all scored on
the same test images. Two things make it uncertain: which test images were drawn (the same
images for both, so the comparison is paired: an image both get wrong costs neither), and
which training seeds (repeats differ by up to a point on these small tasks). Each bootstrap
resample
  - draws the test images with replacement, one draw shared by both sides, and averages the
    per-image difference of the two sides' repeat means; and
  - on each side independently, draws the repeats with replacement and adds their mean
    accuracy offset.
Resampling raw per-repeat accuracies would count the image-by-seed noise twice (once in the
image draw, once in the repeats' spread; measured: a 95% interval 1.7x too wide), so each
repeat's offset is shrunk to the seed-to-seed variance alone, estimated as in a two-way
crossed ANOVA without replication ((MS_repeats - MS_residual) / images, floored at 0): the
rescaled-residual bootstrap of Carpenter, Goldstein & Rasbash (2003, J. R. Stat. Soc. C 52).
The 2.5% and 97.5% quantiles of the resampled losses are the 95% interval (percentile
bootstrap). One repeat gives no estimate of seed noise: its interval covers test images only.

Verdict against the budget: *holds* if the upper bound is below it, *fails* if the lower bound
is above it, otherwise *inconclusive*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

RESAMPLES = 2000
BUDGET_POINTS = 1.0  # the paper's claim: < 1% accuracy loss
VERDICTS = ("holds", "fails", "inconclusive")
_CHUNK = 250  # resamples per matrix product: bounds the memory to CHUNK x images counts


@dataclass(frozen=True)
class Verdict:
    """Loss in accuracy points (percent), its 95% interval and the verdict."""

    loss: float
    low: float
    high: float
    verdict: str


def _as_matrix(correct: np.ndarray) -> np.ndarray:
    matrix = np.atleast_2d(np.asarray(correct, dtype=np.float64))
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"per-image correctness must be (repeats, images), got {matrix.shape}")
    return matrix


def repeat_offsets(correct: np.ndarray) -> np.ndarray:
    """Each repeat's accuracy minus the mean (fractions), shrunk so that their variance
    (over the repeats, divided by their number) estimates the seed-to-seed variance alone."""
    y = _as_matrix(correct)
    repeats, images = y.shape
    offsets = y.mean(axis=1) - y.mean()
    spread = float(np.mean(offsets**2))
    if repeats < 2 or images < 2 or spread == 0:
        return np.zeros(repeats)
    ms_repeats = images * float(np.sum(offsets**2)) / (repeats - 1)
    residual = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    ms_residual = float(np.sum(residual**2)) / ((repeats - 1) * (images - 1))
    seed_variance = max(ms_repeats - ms_residual, 0.0) / images
    return offsets * np.sqrt(seed_variance / spread)


def _repeat_weights(repeats: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, repeats) weights of `count` with-replacement draws of the repeats."""
    picks = rng.integers(0, repeats, size=(count, repeats))
    return (picks[:, :, None] == np.arange(repeats)).sum(axis=1) / repeats


def bootstrap_loss(baseline: np.ndarray, fixed: np.ndarray, seed: int,
                   resamples: int = RESAMPLES) -> np.ndarray:
    """Resampled losses (points) from per-image correctness `baseline` (repeats, images) and
    `fixed` (repeats, images) on the same test images."""
    base, fix = _as_matrix(baseline), _as_matrix(fixed)
    if base.shape[1] != fix.shape[1]:
        raise ValueError(f"baseline has {base.shape[1]} test images, fixed {fix.shape[1]}")
    images = base.shape[1]
    per_image = base.mean(axis=0) - fix.mean(axis=0)
    offsets = repeat_offsets(base), repeat_offsets(fix)
    rng = np.random.default_rng(seed)
    losses = []
    for start in range(0, resamples, _CHUNK):
        count = min(_CHUNK, resamples - start)
        draws = rng.multinomial(images, np.full(images, 1 / images), size=count)  # (B, T)
        loss = draws @ per_image / images
        loss += _repeat_weights(len(base), count, rng) @ offsets[0]
        loss -= _repeat_weights(len(fix), count, rng) @ offsets[1]
        losses.append(100.0 * loss)
    return np.concatenate(losses)


def loss_verdict(baseline: np.ndarray, fixed: np.ndarray, seed: int,
                 budget: float = BUDGET_POINTS,
                 resamples: int = RESAMPLES) -> Verdict:
    """The loss in points, its 95% bootstrap interval, and holds / fails / inconclusive
    against `budget` points."""
    loss = 100.0 * (_as_matrix(baseline).mean() - _as_matrix(fixed).mean())
    low, high = np.quantile(bootstrap_loss(baseline, fixed, seed, resamples), [0.025, 0.975])
    verdict = "holds" if high < budget else "fails" if low > budget else "inconclusive"
    return Verdict(round(float(loss), 4), round(float(low), 4), round(float(high), 4), verdict)


def pack_correct(correct: np.ndarray) -> str:
    """Per-image correctness (bool) as a hex string (one bit per image) for a JSON result."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_correct(packed: str, images: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8))[:images] == 1


def largest_holding_n(rows: list[dict[str, Any]], tasks: Iterable[str]) -> int | None:
    """The largest N at which the verdict is *holds* for every one of `tasks` (each needs a
    row at that N): the recommended split point. `rows` carry "task", "n" and "verdict"."""
    wanted = set(tasks)
    by_n: dict[int, dict[str, str]] = {}
    for row in rows:
        by_n.setdefault(row["n"], {})[row["task"]] = row["verdict"]
    safe = [n for n, verdicts in by_n.items()
            if wanted <= verdicts.keys() and all(verdicts[t] == "holds" for t in wanted)]
    return max(safe) if safe else None

