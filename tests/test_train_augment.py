"""Source-task augmentations: what each does to a uint8 batch, determinism, config errors."""

import dataclasses

import pytest
import torch

from fixynn.config import TrainConfig, default_config, replace_keys
from fixynn.errors import FixynnError
from fixynn.train.augment import AUGMENTS, SHIFT_PIXELS, augmenter, invert, shift


def batch(n: int = 64) -> torch.Tensor:
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    x[:, :, 10:18, 12:16] = 200  # a bright glyph on a dark background, away from the border
    return x


def test_invert_flips_about_half_the_images_exactly():
    x = batch()
    y = invert(x, torch.Generator().manual_seed(0))
    flipped = (y == 255 - x).flatten(1).all(dim=1)
    kept = (y == x).flatten(1).all(dim=1)
    assert bool((flipped | kept).all()) and 16 < int(flipped.sum()) < 48
    assert y.dtype == torch.uint8


def test_shift_moves_each_glyph_by_at_most_the_jitter():
    x = batch()
    y = shift(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == torch.uint8
    assert bool((y.flatten(1).sum(1) == x.flatten(1).sum(1)).all())  # the glyph stays inside
    rows = torch.nonzero(y[:, 0].amax(dim=2))  # (image, row) of every lit row
    cols = torch.nonzero(y[:, 0].amax(dim=1))
    assert int((rows[:, 1] - 10).min()) >= -SHIFT_PIXELS
    assert int((rows[:, 1] - 17).max()) <= SHIFT_PIXELS
    assert int((cols[:, 1] - 12).min()) >= -SHIFT_PIXELS
    assert int((cols[:, 1] - 15).max()) <= SHIFT_PIXELS
    assert len({tuple(img.flatten().tolist()) for img in y}) > 10  # offsets differ per image


def test_augmenter_is_deterministic_per_seed_and_none_without_names():
    both = augmenter(("invert", "shift"))
    a = both(batch(), torch.Generator().manual_seed(3))
    b = both(batch(), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert augmenter(()) is None
    with pytest.raises(ValueError, match="blur"):
        augmenter(("blur",))


def test_shift_pads_with_background_before_inverting():
    dark = torch.zeros(32, 1, 28, 28, dtype=torch.uint8)
    out = augmenter(("invert", "shift"))(dark, torch.Generator().manual_seed(0))
    assert all(len(img.unique()) == 1 for img in out)  # all 0 or all 255, no dark border


def test_config_rejects_unknown_or_repeated_augmentations():
    with pytest.raises(FixynnError, match=r"train.source_augment\[0\]: 'blur' is not one of"):
        replace_keys(default_config(), {"train.source_augment": ["blur"]})
    with pytest.raises(FixynnError, match="items must be unique"):
        replace_keys(default_config(), {"train.source_augment": ["shift", "shift"]})


def test_run_config_offers_every_augmentation():
    spec = next(f for f in dataclasses.fields(TrainConfig) if f.name == "source_augment")
    assert set(spec.metadata["choices"]) == set(AUGMENTS)
