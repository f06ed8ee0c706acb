"""Data augmentation of uint8 image batches (N, C, H, W) for the source task's pretraining.

The FFE is frozen after pretraining, so whatever invariance it lacks no target task can train
back into it: augmenting the source teaches the fixed layers features that survive a change
the targets may bring (docs/transfer.md measures what each one buys).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from fixynn.config import AUGMENTS as AUGMENT_NAMES

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

SHIFT_PIXELS = 2  # MNIST-style jitter: a glyph centred in 28x28 moves by up to 2 pixels


def invert(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Contrast polarity flipped (255 - x) on a random half of the images."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], 255 - x, x)


def shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image translated by a random offset of up to SHIFT_PIXELS in x and y (zero fill)."""
    p = SHIFT_PIXELS
    h, w = x.shape[-2:]
    padded = F.pad(x, (p, p, p, p))
    dy, dx = torch.randint(0, 2 * p + 1, (2, len(x)), generator=gen).tolist()
    return torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(zip(dy, dx,
                                                                                     strict=True))])


# The names (and their order) are the config's (fixynn.config.AUGMENTS, train.source_augment)
AUGMENTS: dict[str, Augment] = {name: {"shift": shift, "invert": invert}[name]
                                for name in AUGMENT_NAMES}


def augmenter(names: tuple[str, ...]) -> Augment | None:
    """The named augmentations composed (shift before invert: padding is background), or
    None for none."""
    unknown = set(names) - set(AUGMENTS)
    if unknown:
        raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; choose from "
                         f"{', '.join(AUGMENTS)}")
    steps = [fn for name, fn in AUGMENTS.items() if name in names]
    if not steps:
        return None

    def apply(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        for step in steps:
            x = step(x, gen)
        return x

    return apply
