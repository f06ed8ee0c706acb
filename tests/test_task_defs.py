"""Tasks defined in the run config: parsing, data checks, colour/resolution, splits, the
content-keyed cache, provenance and `fixynn tasks show`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixynn.config import config_to_toml, load_config, replace_keys
from fixynn.data import load_dataset, taskcache, tasks
from fixynn.data.tasks import prepare_task, task_data_key
from fixynn.errors import FixynnError
from fixynn.pipeline.plan import prepare_tasks
from fixynn.train.mobilenet import PRETRAIN_KEYS, stage_key
from fixynn.train.transfer import training_key
from userdata import CIFAR_NAMES, FOLDER_CLASSES, write_cifar10_bin, write_image_folder

FIXYNN = Path(sys.executable).parent / "fixynn"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test starts with an empty task cache of its own."""
    monkeypatch.setenv("FIXYNN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_config(tmp_path: Path, body: str, name: str = "my.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


FOLDER_TASK = """
[tasks]
targets = ["colours"]

[[tasks.define]]
name = "colours"
dataset = "folder:pics"
"""


def test_a_folder_task_is_a_target_and_keeps_its_colour(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "pics")
    cfg = load_config(write_config(tmp_path, FOLDER_TASK + "[model]\ninput_size = 28\n"))
    spec = cfg.tasks.spec("colours")
    assert spec.dataset == f"folder:{tmp_path / 'pics'}"  # relative to the config file
    data = prepare_tasks(cfg)["colours"].data
    assert data.class_names == tuple(sorted(FOLDER_CLASSES))
    assert data.train_images.shape[1:] == (3, 28, 28)
    # every 5th image of each class is test; colour is kept: the red class is red
    assert (data.train_images.shape[0], data.test_images.shape[0]) == (24, 6)
    red = data.train_images[data.train_labels == data.class_names.index("red")]
    assert red[:, 0].mean() > 150 and red[:, 2].mean() < 90
    # written back as TOML, the definition reads the same
    again = load_config(write_config(tmp_path, config_to_toml(cfg), "again.toml"))
    assert again.tasks.define == cfg.tasks.define


def test_grey_data_is_replicated_and_colour_averaged(tmp_path: Path) -> None:
    write_cifar10_bin(tmp_path / "cifar")
    raw = load_dataset("cifar10", root=tmp_path / "cifar")
    body = ("[[tasks.define]]\nname = 'c'\ndataset = 'cifar10'\nroot = 'cifar'\n"
            "[tasks]\ntargets = ['c', 'opencv-digits']\n")
    colour = load_config(write_config(tmp_path, body + "[model]\ninput_size = 32\n"
                                      "in_channels = 3\n"))
    prepared = prepare_tasks(colour)
    np.testing.assert_array_equal(prepared["c"].data.test_images, raw.test_images)  # untouched
    digits = prepared["opencv-digits"].data.test_images
    assert digits.shape[1:] == (3, 32, 32)
    np.testing.assert_array_equal(digits[:, 0], digits[:, 1])
    np.testing.assert_array_equal(digits[:, 0], digits[:, 2])
    grey_body = (body + "source = 'fashion-mnist-a'\n[model]\narch = 'mobilenet-v1'\n"
                 "input_size = 32\nin_channels = 1\n")  # the grey front-end
    grey = prepare_tasks(load_config(write_config(tmp_path, grey_body, "grey.toml")))["c"].data
    np.testing.assert_array_equal(grey.test_images[:, 0],
                                  np.rint(raw.test_images.mean(axis=1)).astype(np.uint8))


def test_class_subset_by_name_and_index_in_the_new_order(tmp_path: Path) -> None:
    write_cifar10_bin(tmp_path / "cifar")
    raw = load_dataset("cifar10", root=tmp_path / "cifar")
    body = ("[[tasks.define]]\nname = 'c'\ndataset = 'cifar10'\nroot = 'cifar'\n"
            "classes = ['truck', 3, 'airplane']\n[tasks]\ntargets = ['c']\n"
            "[model]\ninput_size = 32\nin_channels = 3\n")
    data = prepare_tasks(load_config(write_config(tmp_path, body)))["c"].data
    assert data.class_names == ("truck", "cat", "airplane")
    for new, old in enumerate((9, 3, 0)):
        np.testing.assert_array_equal(data.train_images[data.train_labels == new],
                                      raw.train_images[raw.train_labels == old])


def test_seeded_stratified_split(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "pics", per_class=10)
    spec_text = FOLDER_TASK + "test_fraction = 0.3\nsplit_seed = {}\n"
    first, again, other = (
        prepare_tasks(load_config(write_config(tmp_path, spec_text.format(seed), f"{i}.toml")))
        ["colours"] for i, seed in enumerate((1, 1, 2)))
    assert first.data.test_labels.tolist().count(0) == 3  # 30% of every class
    assert np.bincount(first.data.test_labels).tolist() == [3, 3, 3]
    np.testing.assert_array_equal(first.data.test_images, again.data.test_images)
    assert not np.array_equal(first.data.test_images, other.data.test_images)
    assert "0.3 of each class to test (seed 1)" in first.provenance["split"]


def test_idx_directory_task(tmp_path: Path) -> None:
    from fixynn.data.idx import encode_idx

    rng = np.random.default_rng(0)
    (tmp_path / "idx").mkdir()
    for stem, count in (("train", 30), ("t10k", 10)):
        labels = (np.arange(count) % 3).astype(np.uint8)
        images = rng.integers(0, 255, (count, 12, 12)).astype(np.uint8)
        (tmp_path / "idx" / f"{stem}-images-idx3-ubyte").write_bytes(encode_idx(images))
        (tmp_path / "idx" / f"{stem}-labels-idx1-ubyte").write_bytes(encode_idx(labels))
    body = ("[[tasks.define]]\nname = 'i'\ndataset = 'idx:idx'\n[tasks]\ntargets = ['i']\n"
            "[model]\ninput_size = 28\n")
    data = prepare_tasks(load_config(write_config(tmp_path, body)))["i"].data
    # grey 12x12 framed to 28x28, replicated to the default 3 channels
    assert data.class_names == ("0", "1", "2") and data.train_images.shape == (30, 3, 28, 28)


@pytest.mark.parametrize(("body", "message"), [
    ("[[tasks.define]]\nname = 'x'\n", r"my\.toml: tasks\.define\[0\]\.dataset: missing key"),
    ("[[tasks.define]]\nname = 'x'\ndataset = 'mnist'\n",
     r"tasks\.define\[0\] \(x\)\.dataset: unknown dataset 'mnist'"),
    ("[[tasks.define]]\nname = 'x'\ndataset = 'cifar10'\nprep = 'zoom'\n",
     r"tasks\.define\[0\]\.prep: 'zoom' is not one of fit, box"),
    ("[[tasks.define]]\nname = 'x'\ndataset = 'cifar10'\ncolor = true\n",
     r"tasks\.define\[0\]\.color: unknown key; known: name, dataset"),
    ("[[tasks.define]]\nname = 'x'\ndataset = 'cifar10'\nclasses = ['cat']\n",
     r"tasks\.define\[0\] \(x\)\.classes: a task needs at least 2 classes"),
    ("[[tasks.define]]\nname = 'x'\ndataset = 'cifar10'\ntest_fraction = 1.5\n",
     r"tasks\.define\[0\]\.test_fraction: 1\.5 must lie strictly between 0 and 1"),
    ("[[tasks.define]]\nname = 'x'\ndataset = 'cifar10'\n"
     "[[tasks.define]]\nname = 'x'\ndataset = 'cifar100'\n",
     r"tasks\.define\[1\] \(x\)\.name: task 'x' is already defined by .*my\.toml: "
     r"tasks\.define\[0\] \(x\)"),
    ("[[tasks.define]]\nname = 'opencv-digits'\ndataset = 'cifar10'\n",
     r"task 'opencv-digits' is already defined by fixynn/data/tasks\.toml"),
    ("[tasks]\ntargets = ['folder:/data']\n",
     r"tasks\.targets\[0\]: unknown task 'folder:/data'; known: .*\[\[tasks\.define\]\]"),
])
def test_bad_definitions_name_the_key_and_the_file(tmp_path: Path, body: str,
                                                   message: str) -> None:
    with pytest.raises(FixynnError, match=message):
        load_config(write_config(tmp_path, body))


def _broken(tmp_path: Path, case: str) -> str:
    """Break the image folder of FOLDER_TASK as `case` says; returns the config text."""
    pics = write_image_folder(tmp_path / "pics", per_class=5)
    body = FOLDER_TASK
    if case == "missing directory":
        body = body.replace("folder:pics", "folder:nowhere")
    elif case == "empty class":
        for image in (pics / "green").iterdir():
            image.unlink()
    elif case == "corrupt image":
        (pics / "blue" / "img02.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif case == "unknown class":
        body += "classes = ['red', 'purple']\n"
    elif case == "one class":
        for name in ("green", "blue"):
            for image in (pics / name).iterdir():
                image.unlink()
            (pics / name).rmdir()
    elif case == "test class without training images":
        for part, names in (("train", ("red", "green")), ("test", ("red", "green", "blue"))):
            for name in names:
                (pics / part / name).mkdir(parents=True)
                Image.new("RGB", (8, 8)).save(pics / part / name / "a.png")
    return body


@pytest.mark.parametrize(("case", "message"), [
    ("missing directory", r"nowhere: not a directory"),
    ("empty class", r"pics/green: class folder holds no images"),
    ("corrupt image", r"pics/blue/img02\.png: unreadable image"),
    ("unknown class", r"\.classes\[1\]: class 'purple' is not in folder:.*; its classes: blue, "),
    ("one class", r"the task has 1 class; a classifier needs at least 2"),
    ("test class without training images", r"pics/test: classes \['blue'\] have no folder in"),
])
def test_bad_data_is_one_line_naming_the_task_and_file(tmp_path: Path, case: str,
                                                       message: str) -> None:
    cfg = load_config(write_config(tmp_path, _broken(tmp_path, case)))
    with pytest.raises(FixynnError, match=message) as info:
        prepare_tasks(cfg)
    assert str(info.value).startswith(f"{tmp_path / 'my.toml'}: tasks.define[0] (colours)")
    assert "\n" not in str(info.value)


def test_subset_without_training_images_of_a_class(tmp_path: Path) -> None:
    pics = write_image_folder(tmp_path / "pics", per_class=5)
    for part in ("train", "test"):
        for name in FOLDER_CLASSES:
            (pics / part / name).mkdir(parents=True)
            if part == "test" or name != "blue":
                Image.new("RGB", (8, 8)).save(pics / part / name / "a.png")
    (pics / "train" / "blue" / "notes.txt").write_text("no image")
    cfg = load_config(write_config(tmp_path, FOLDER_TASK))
    with pytest.raises(FixynnError, match=r"pics/train/blue: class folder holds no images"):
        prepare_tasks(cfg)


def test_bad_data_stops_fixynn_run_before_anything_is_written(tmp_path: Path) -> None:
    cfg, out = write_config(tmp_path, _broken(tmp_path, "corrupt image")), tmp_path / "out"
    proc = subprocess.run([str(FIXYNN), "run", "--quick", "--config", str(cfg), "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "img02.png: unreadable image" in proc.stderr
    assert proc.stderr.startswith(f"fixynn: error: {cfg}: tasks.define[0] (colours)")
    assert not out.exists()


def test_decoded_once_then_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          own_cache: Path) -> None:
    write_image_folder(tmp_path / "pics")
    spec = load_config(write_config(tmp_path, FOLDER_TASK)).tasks.spec("colours")
    first = prepare_task(spec)
    assert len(list((own_cache / "fixynn" / "tasks").glob("*.npz"))) == 1

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(tasks, "_build", no_decoding)
    again = prepare_task(spec)
    np.testing.assert_array_equal(again.data.train_images, first.data.train_images)
    assert again.provenance == first.provenance


def test_one_changed_image_rekeys_only_its_task(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "a")
    write_image_folder(tmp_path / "b", seed=1)
    body = ("[[tasks.define]]\nname = 'a'\ndataset = 'folder:a'\n"
            "[[tasks.define]]\nname = 'b'\ndataset = 'folder:b'\n")
    cfg = load_config(write_config(tmp_path, body))
    # calibrated on a alone (with the default, the targets, b's data would key a's too)
    transfer = replace_keys(cfg, {"tasks.targets": ["a", "b"], "model.calib_tasks": ["a"]})
    before = {t: training_key(transfer, t, "N2", 0) for t in ("a", "b")}
    keys = {t: task_data_key(cfg.tasks.spec(t)) for t in ("a", "b")}
    image = tmp_path / "b" / "blue" / "img03.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(image)
    assert task_data_key(cfg.tasks.spec("a")) == keys["a"]
    assert task_data_key(cfg.tasks.spec("b")) != keys["b"]
    # each training's result is keyed by its task's data key: only b retrains
    assert training_key(transfer, "a", "N2", 0) == before["a"]
    assert training_key(transfer, "b", "N2", 0) != before["b"]
    # a user task as the source: its data keys the pretraining (and so everything after it)
    source = replace_keys(cfg, {"model.arch": "mobilenet-v1", "tasks.source": "b",
                                "tasks.targets": ["a"]})
    pretrain_key = stage_key(source, PRETRAIN_KEYS)
    Image.fromarray(np.full((30, 40, 3), 255, np.uint8)).save(image)
    assert stage_key(source, PRETRAIN_KEYS) != pretrain_key
    # the preprocessing is part of the key too
    inverted = load_config(write_config(tmp_path, body.replace("'folder:a'\n", "'folder:a'\n"
                                                               "invert = true\n"), "inv.toml"))
    assert task_data_key(inverted.tasks.spec("a")) != keys["a"]


def test_provenance(tmp_path: Path) -> None:
    folder = write_cifar10_bin(tmp_path / "cifar")
    body = "[[tasks.define]]\nname = 'c'\ndataset = 'cifar10'\nroot = 'cifar'\n"
    prov = prepare_task(load_config(write_config(tmp_path, body)).tasks.spec("c")).provenance
    assert prov["dataset"] == "cifar10" and prov["root"] == str(tmp_path / "cifar")
    assert prov["files"] == 7  # 5 data batches, the test batch, the meta file
    files = sorted(folder.iterdir())
    assert prov["content_digest"] == taskcache.content_digest(files)
    assert (prov["train_images"], prov["test_images"]) == (100, 20)
    assert prov["classes"] == list(CIFAR_NAMES) and prov["train_per_class"] == [10] * 10
    assert prov["definition"] == {"name": "c", "dataset": "cifar10",
                                  "root": str(tmp_path / "cifar")}


def test_tasks_show_prints_counts_and_writes_the_sheet(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "pics")
    cfg = write_config(tmp_path, FOLDER_TASK + "[model]\ninput_size = 28\n")
    sheet = tmp_path / "sheet.png"
    proc = subprocess.run([str(FIXYNN), "tasks", "show", "colours", "--config", str(cfg),
                           "--sheet", str(sheet), "--per-class", "4"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "input 3x28x28" in proc.stdout and "│ red   │     8 │    2 │" in proc.stdout
    with Image.open(sheet) as img:
        # 3 rows of 4 cells, each 28 px magnified 2x, beside the label column
        assert img.size == (150 + 4 * (56 + 2), 3 * (56 + 2) + 2)
        pixels = np.asarray(img.convert("RGB"))
    data = prepare_tasks(load_config(cfg))["colours"].data
    first_red = data.train_images[data.train_labels == 2][0]  # blue, green, red: red is 2
    cell = pixels[2 + 2 * 58: 2 + 2 * 58 + 56: 2, 150: 150 + 56: 2]
    np.testing.assert_array_equal(cell, first_red.transpose(1, 2, 0))  # exactly as fed


def test_content_digest_sees_bytes_names_and_files(tmp_path: Path) -> None:
    files = [tmp_path / "a" / "x.ppm", tmp_path / "a" / "y.ppm"]
    files[0].parent.mkdir()
    for path in files:
        path.write_bytes(b"P6 2 2 255 " + bytes(12))
    digest = taskcache.content_digest(files)
    files[1].write_bytes(b"P6 2 2 255 " + bytes(11) + b"\x01")  # same size, one byte differs
    assert taskcache.content_digest(files) != digest
    files[1].write_bytes(b"P6 2 2 255 " + bytes(12))
    assert taskcache.content_digest(files) == digest
    renamed = tmp_path / "a" / "z.ppm"
    files[1].rename(renamed)
    assert taskcache.content_digest([files[0], renamed]) != digest
    assert taskcache.content_digest(files[:1]) != digest
