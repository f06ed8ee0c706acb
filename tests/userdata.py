"""Small user datasets written to disk for tests: a colour image folder, CIFAR binary files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# Class -> mean colour; the images are noisy, so a classifier has something to learn.
FOLDER_CLASSES = {"red": (200, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 200)}
CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")


def write_image_folder(root: Path, per_class: int = 10, size: tuple[int, int] = (40, 30),
                       seed: int = 0) -> Path:
    """root/<class>/imgNN.png: noisy RGB images around each class's colour."""
    rng = np.random.default_rng(seed)
    for name, colour in FOLDER_CLASSES.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            noise = rng.integers(-30, 31, (size[1], size[0], 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"img{i:02d}.png")
    return root


def cifar_records(count: int, rng: np.random.Generator) -> bytes:
    """`count` CIFAR-10 binary records (label byte + 1024 R, G, B bytes): label k has
    brightness 20 + 20 k in its R plane, so each class looks different."""
    labels = np.arange(count) % len(CIFAR_NAMES)
    pixels = rng.integers(0, 40, (count, 3, 32, 32)).astype(np.int64)
    pixels[:, 0] += (20 + 20 * labels)[:, None, None]
    rows = np.concatenate([labels[:, None], np.clip(pixels, 0, 255).reshape(count, -1)], axis=1)
    return rows.astype(np.uint8).tobytes()


def write_cifar10_bin(root: Path, per_batch: int = 20, test: int = 20, seed: int = 0) -> Path:
    """The official binary layout, cifar-10-batches-bin/, with tiny batches."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(cifar_records(per_batch, rng))
    (folder / "test_batch.bin").write_bytes(cifar_records(test, rng))
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR_NAMES) + "\n")
    return folder
