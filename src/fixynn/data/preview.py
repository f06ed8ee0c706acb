"""Looking at a task: counts per class and split, and a contact sheet of its images.

The sheet shows the preprocessed uint8 pixels the front-end is fed (after class subset,
colour conversion, resizing, framing and inversion), magnified by pixel repetition so that
nothing is smoothed: one row per class, its first training images left to right.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fixynn.data.types import Dataset

MIN_CELL = 56  # pixels a cell is magnified to at least (a 28x28 input: 2x)
LABEL_WIDTH = 150
GAP = 2
BACKGROUND = (200, 200, 210)  # neither black nor white, so framed and inverted images show


def class_counts(data: Dataset) -> list[tuple[str, int, int]]:
    """(class name, train images, test images) per class, in label order."""
    train = np.bincount(data.train_labels, minlength=data.num_classes)
    test = np.bincount(data.test_labels, minlength=data.num_classes)
    return [(name, int(train[i]), int(test[i])) for i, name in enumerate(data.class_names)]


def contact_sheet(data: Dataset, per_class: int = 8) -> bytes:
    """PNG bytes: a row per class of its first `per_class` training images, as fed."""
    _, channels, height, width = data.train_images.shape
    scale = max(1, -(-MIN_CELL // max(height, width)))  # ceil: small inputs are magnified
    cell_h, cell_w = height * scale, width * scale
    sheet = Image.new("RGB", (LABEL_WIDTH + per_class * (cell_w + GAP),
                              data.num_classes * (cell_h + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for row, name in enumerate(data.class_names):
        top = GAP + row * (cell_h + GAP)
        draw.text((4, top + cell_h // 2 - 6), f"{row}: {name}"[:22], fill=(0, 0, 0), font=font)
        images = data.train_images[data.train_labels == row][:per_class]
        for col, img in enumerate(images):
            pixels = np.repeat(np.repeat(img, scale, axis=1), scale, axis=2)  # C, H, W
            rgb = np.repeat(pixels, 3, axis=0) if channels == 1 else pixels
            sheet.paste(Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 2, 0))),
                        (LABEL_WIDTH + col * (cell_w + GAP), top))
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()
