"""Real test images shaped for an HwGraph's input, for bit-exact verification.

Lives in the data half: the hardware half (`fixynn.hw`) never loads datasets; `fixynn verify`
and the benchmarks fetch images here and hand them to `fixynn.hw.sim.verify_graph`.
"""

from __future__ import annotations

import numpy as np

from fixynn.errors import FixynnError
from fixynn.hw.ir import HwGraph


def verification_images(graph: HwGraph, n: int, seed: int = 0,
                        task: str | None = None) -> tuple[np.ndarray, str]:
    """`n` real test images for the graph input, and where they came from.

    A graph exported for a built-in task (meta "input_task"), or any graph when `task` names
    a built-in task, gets that task's test images (`fixynn run` passes a user-defined task's
    images itself); any other graph gets Fashion-MNIST test images resized to its input
    (channels replicated); seeded random images only when neither is available.
    """
    if n < 1:
        raise FixynnError(f"--images must be >= 1, got {n}")
    from fixynn.data.taskspec import BUILTIN_TASKS

    if task is not None and task not in BUILTIN_TASKS:
        raise FixynnError(f"task {task!r}: not a built-in task ({', '.join(BUILTIN_TASKS)})")
    named = task is not None
    task = task or graph.meta.get("input_task")
    if task in BUILTIN_TASKS and graph.input_height == graph.input_width and (
            named or graph.input_channels in (1, 3)):
        from fixynn.data.tasks import task_images

        channels = graph.input_channels if graph.input_channels in (1, 3) else 1
        images = np.asarray(task_images(str(task), split="test", limit=n,
                                        size=graph.input_height, channels=channels))
        return _fit_images(images, graph), f"task {task!r} test split"
    from fixynn.data import load_dataset

    try:
        images = load_dataset("fashion-mnist").test_images[:n]
        source = "fashion-mnist test split"
    except FixynnError as exc:
        rng = np.random.default_rng(seed)
        shape = (n, graph.input_channels, graph.input_height, graph.input_width)
        images = rng.integers(0, 2**graph.input_bits, size=shape, dtype=np.int64)
        return images, f"seeded random images (fashion-mnist unavailable: {exc})"
    return _fit_images(images, graph), source


def _fit_images(images: np.ndarray, graph: HwGraph) -> np.ndarray:
    """uint8 NCHW images resized (bilinear) to the graph input, channels replicated/cut."""
    from PIL import Image

    c, h, w = graph.input_channels, graph.input_height, graph.input_width
    if images.shape[2:] != (h, w):
        images = np.stack([
            np.stack([np.asarray(Image.fromarray(ch.astype(np.uint8)).resize((w, h),
                                                                              Image.BILINEAR))
                      for ch in img])
            for img in images
        ])
    if images.shape[1] != c:
        images = np.repeat(images[:, :1], c, axis=1)
    images = images.astype(np.int64)
    if graph.input_bits < 8:
        images >>= 8 - graph.input_bits
    return images
