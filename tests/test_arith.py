"""CSD recoding, bit widths and adder trees (fixynn.hw.arith)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixynn.hw.arith import (
    bit_length,
    build_trees,
    csd_digit_count,
    csd_masks,
    csd_terms,
    odd_part,
    popcount,
    signed_width,
)


def _min_signed_digits(value: int, max_bits: int) -> int:
    """Fewest non-zero digits of any {-1, 0, 1} representation (brute force)."""
    best = max_bits + 1
    for digits in itertools.product((-1, 0, 1), repeat=max_bits):
        if sum(d << k for k, d in enumerate(digits)) == value:
            best = min(best, sum(d != 0 for d in digits))
    return best


def test_csd_reconstructs_every_16_bit_value_without_adjacent_digits() -> None:
    w = np.arange(-(2**15), 2**15)
    plus, minus = csd_masks(w)
    assert np.array_equal(plus - minus, w)
    assert not np.any(plus & minus)
    both = plus | minus
    assert not np.any(both & (both >> 1))  # non-adjacent form


def test_csd_digit_count_is_minimal() -> None:
    values = list(range(-40, 41))
    counts = csd_digit_count(np.array(values))
    for v, c in zip(values, counts, strict=True):
        assert c == _min_signed_digits(v, 7), v


def test_csd_known_values() -> None:
    assert csd_terms(0) == []
    assert csd_terms(8) == [(3, 1)]
    assert csd_terms(-8) == [(3, -1)]
    assert csd_terms(7) == [(0, -1), (3, 1)]
    assert csd_terms(-7) == [(0, 1), (3, -1)]
    assert csd_terms(0b1011) == [(0, -1), (2, -1), (4, 1)]  # 11 = 16 - 4 - 1
    assert csd_digit_count(np.array([0, 1, -1, 2, 64, 3, 127, -127, 85])).tolist() == [
        0, 1, 1, 1, 1, 2, 2, 2, 4]


@given(st.integers(min_value=0, max_value=2**62 - 1))
@settings(max_examples=200, deadline=None)
def test_bit_length_and_popcount_match_python(v: int) -> None:
    assert int(bit_length(np.array([v]))[0]) == v.bit_length()
    assert int(popcount(np.array([v]))[0]) == bin(v).count("1")


@given(st.integers(-(2**40), 2**40), st.integers(0, 2**40))
@settings(max_examples=200, deadline=None)
def test_signed_width_is_the_smallest_that_holds_the_range(lo: int, span: int) -> None:
    hi = lo + span
    n = int(signed_width(lo, hi))
    assert -(2 ** (n - 1)) <= lo and hi <= 2 ** (n - 1) - 1
    if n > 1:
        assert lo < -(2 ** (n - 2)) or hi > 2 ** (n - 2) - 1


def test_odd_part() -> None:
    m, k = odd_part(np.array([0, 1, 12, -40, 7]))
    assert m.tolist() == [0, 1, 3, 5, 7]
    assert k.tolist() == [0, 0, 2, 3, 0]


def test_adder_tree_counts_and_ranges() -> None:
    # Row 0: x0 + x1 - x2 (three leaves: 2 adders); row 1: a single leaf (no adder);
    # row 2: -x0 - x1 (both negative: one adder, node stays negative).
    lo = np.zeros((3, 3), dtype=np.int64)
    hi = np.array([[255, 510, 1020], [255, 0, 0], [255, 255, 0]])
    neg = np.array([[False, False, True], [False, False, False], [True, True, False]])
    tz = np.array([[0, 1, 2], [0, 0, 0], [0, 0, 0]])
    trees = build_trees(lo, hi, neg, tz, np.array([3, 1, 2]))
    root = trees.root
    assert trees.depth == 2
    assert root.count.tolist() == [1, 1, 1]
    assert (root.lo[0, 0], root.hi[0, 0], bool(root.neg[0, 0])) == (-1020, 765, False)
    assert (root.lo[1, 0], root.hi[1, 0]) == (0, 255)
    assert (root.lo[2, 0], root.hi[2, 0], bool(root.neg[2, 0])) == (0, 510, True)
    hist = trees.adder_widths()
    assert sum(hist.values()) == 3
    # Row 0: x0 + 2*x1 in [0, 765] is 11 bits signed, 2*x1's zero LSB is a wire -> 10;
    # then minus 4*x2 gives [-1020, 765], 11 bits, 2 zero LSBs -> 9. Row 2: [0, 510] -> 10.
    assert hist == {10: 2, 9: 1}


@pytest.mark.parametrize("rows,leaves", [(1, 1), (4, 7), (3, 16)])
def test_adder_tree_root_bounds_the_exact_sum(rows: int, leaves: int) -> None:
    rng = np.random.default_rng(rows * 31 + leaves)
    hi = rng.integers(1, 1000, size=(rows, leaves))
    neg = rng.random((rows, leaves)) < 0.5
    count = rng.integers(1, leaves + 1, size=rows)
    trees = build_trees(np.zeros_like(hi), hi, neg, np.zeros_like(hi), count)
    for r in range(rows):
        signed = np.where(neg[r, :count[r]], -hi[r, :count[r]], hi[r, :count[r]])
        lo_exact = signed[signed < 0].sum()
        hi_exact = signed[signed > 0].sum()
        sign = -1 if trees.root.neg[r, 0] else 1
        got = sorted((sign * trees.root.lo[r, 0], sign * trees.root.hi[r, 0]))
        assert got == [lo_exact, hi_exact]
    assert sum(trees.adder_widths().values()) == int((count - 1).sum())
