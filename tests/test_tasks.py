"""Named tasks: class subsets, label remapping and preprocessing to the common FFE input."""

import numpy as np
import pytest

from fixynn.data import load_dataset
from fixynn.data.tasks import DEFAULT_TARGETS, load_task, task_images, to_input
from fixynn.data.taskspec import BUILTIN_TASKS
from fixynn.errors import FixynnError


@pytest.mark.needs_data("fashion-mnist")
def test_fashion_split_into_two_disjoint_tasks():
    a, b = load_task("fashion-mnist-a"), load_task("fashion-mnist-b")
    full = load_dataset("fashion-mnist")
    assert a.class_names == full.class_names[:5] and b.class_names == full.class_names[5:]
    assert (len(a.train_images), len(a.test_images)) == (30000, 5000)
    assert sorted(np.unique(b.train_labels)) == [0, 1, 2, 3, 4]
    # label 0 of task b is Fashion-MNIST's class 5 (sandal): same images, remapped
    sandals = full.test_images[full.test_labels == 5]
    assert np.array_equal(b.test_images[b.test_labels == 0], sandals)


@pytest.mark.needs_data("opencv-digits")
def test_digits_framed_like_mnist():
    d = load_task("opencv-digits")
    raw = load_dataset("opencv-digits")
    assert d.train_images.shape[1:] == (1, 28, 28)
    assert np.array_equal(d.test_images[:, :, 4:24, 4:24], raw.test_images)
    assert d.test_images[:, :, :4].max() == 0 and d.test_images[:, :, 24:].max() == 0
    inv = load_task("opencv-digits-inverted")
    assert np.array_equal(inv.test_images, 255 - d.test_images)
    assert np.array_equal(inv.test_labels, d.test_labels)


def test_to_input_resizes_into_the_box():
    img = np.zeros((1, 1, 8, 8), np.uint8)
    img[0, 0, 2:6, 2:6] = 255  # a centred square
    out = to_input(img, "box")
    assert out.shape == (1, 1, 28, 28)
    assert out[0, 0, :4].max() == 0 and out[0, 0, 13:15, 13:15].min() == 255
    rgb = np.full((2, 3, 32, 32), 90, np.uint8)
    assert np.all(to_input(rgb, "fit") == 90)  # grey of a flat colour, resized
    with pytest.raises(FixynnError, match="uint8"):
        to_input(img.astype(np.float32), "box")


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_every_default_task_maps_to_the_ffe_input():
    assert len(DEFAULT_TARGETS) >= 4 and all(spec.why for spec in BUILTIN_TASKS.values())
    for name in ("sklearn-digits", *DEFAULT_TARGETS[:2]):
        images = task_images(name, "test", limit=7)
        assert images.shape == (7, 1, 28, 28) and images.dtype == np.uint8
        assert images.max() > 200  # strokes survived the resizing


def test_bad_task_arguments():
    with pytest.raises(FixynnError, match="unknown"):
        load_task("mnist-but-typo")
    with pytest.raises(FixynnError, match="split"):
        task_images("opencv-digits", "val")
    with pytest.raises(FixynnError, match="limit"):
        task_images("opencv-digits", "test", 0)
