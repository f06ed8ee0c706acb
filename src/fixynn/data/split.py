"""A fixed, version-independent stratified train/test split.

Within each class, in the order the loader found the samples, every k-th one goes to test
(for a 1/5 test fraction: positions 4, 9, 14, ...). No random generator is involved, so the
split is the same on every machine and numpy version, and a class of n samples gets exactly
floor(n * fraction) test samples, spread evenly through the class.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

DEFAULT_TEST_FRACTION = Fraction(1, 5)


def stratified_split(
    labels: np.ndarray, test_fraction: Fraction = DEFAULT_TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train_indices, test_indices), each sorted ascending, covering every sample once."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    num, den = test_fraction.numerator, test_fraction.denominator
    is_test = np.zeros(labels.shape[0], dtype=bool)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        pos = np.arange(members.size)
        # Position i is a test sample when floor((i+1)*f) steps past floor(i*f).
        is_test[members] = ((pos + 1) * num) // den > (pos * num) // den
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
