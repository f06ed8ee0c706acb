"""The transfer sweep end to end on a tiny config: outputs, resume, config errors, CLI."""

import json
import math
import shutil
import sys
from pathlib import Path

import pytest

import fixynn.train.transfer as transfer
from fixynn.arch import LAYERS_FILE, load_layers, max_split
from fixynn.cli import main
from fixynn.config import Config, default_config, load_config, replace_keys
from fixynn.errors import FixynnError
from fixynn.hw.ir import load_graph
from fixynn.store import ARTIFACT_JSON, Store
from fixynn.train.common import derived_seed
from fixynn.train.mobilenet import (
    FIX_KEYS,
    FIXED,
    PRETRAIN_KEYS,
    PRETRAINED,
    RESULT_KEYS,
    stage_key,
)
from fixynn.train.transfer import TRAINING, loss_standard_error, run_transfer, training_key
from fixynn.train.verdict import VERDICTS, unpack_correct
from presets import mobilenet_config

TRANSFER_ONLY = ("transfer",)  # the sweep's N need not hold the default verify/synth N
TINY = replace_keys(mobilenet_config(TRANSFER_ONLY), {
    "tasks.targets": ["opencv-digits"], "sweep.n_list": [0, 3, 14], "train.pretrain_epochs": 1,
    "train.finetune_epochs": 1, "train.transfer_epochs": 1, "train.batch_size": 16,
    "train.max_source_images": 48, "train.max_train_images": 48, "train.max_test_images": 32,
    "model.sparsity": 0.25, "train.seed": 5, "train.repeats": 2, "train.workers": 1,
})


def tiny(**keys: object) -> Config:
    """TINY with dotted keys replaced (`tiny(**{"train.repeats": 1})`)."""
    return replace_keys(TINY, keys)


def copy_networks(src: Path, dst: Path) -> None:
    """The pretrained and fixed networks of the sweep in `src`, into `dst`'s cache."""
    for kind in (PRETRAINED, FIXED):
        shutil.copytree(src / "cache" / kind, dst / "cache" / kind)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted tiny sweep: (its directory, its summary)."""
    out = tmp_path_factory.mktemp("reference")
    return out, run_transfer(TINY, out, progress=False)


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_sweep_outputs(reference):
    tmp_path, summary = reference
    assert json.loads((tmp_path / "transfer.json").read_text()) == summary
    assert [(r["task"], r["n"]) for r in summary["results"]] == [
        ("opencv-digits", 0), ("opencv-digits", 3), ("opencv-digits", 14)]
    baseline = summary["baselines"]["opencv-digits"]
    assert baseline["acc"] == pytest.approx(sum(baseline["accs"]) / 2)
    for row in summary["results"]:
        assert len(row["fixed_accs"]) == 2
        # each accuracy counts right answers on the 32 test images (learning: test_run_e2e.py)
        correct = [acc * TINY.train.max_test_images / 100 for acc in row["fixed_accs"]]
        assert all(abs(c - round(c)) < 1e-3 and 0 <= round(c) <= 32 for c in correct), correct
        assert row["fixed_acc"] == pytest.approx(sum(row["fixed_accs"]) / 2)
        assert row["acc_loss"] == pytest.approx(row["baseline_acc"] - row["fixed_acc"])
        assert row["acc_loss_se"] == loss_standard_error(baseline["accs"], row["fixed_accs"])
        low, high = row["acc_loss_ci95"]
        assert low <= row["acc_loss"] <= high and row["verdict"] in VERDICTS
        assert row["verdict"] == ("holds" if high < 1 else "fails" if low > 1
                                  else "inconclusive")
        seeds = row["seeds"]
        assert len(set(seeds)) == 2 and TINY.train.seed not in seeds  # derived, recorded seeds
    assert summary["baselines"]["opencv-digits"]["test_images"] == 32
    assert summary["source"]["fix"]["weight_sparsity"] >= 0.25 - 0.01
    assert summary["config"]["train"]["seed"] == 5
    graph = load_graph(tmp_path / "hwgraph" / "N3")
    assert len(graph.layers) == 5 and graph.meta["input_task"] == "fashion-mnist-a"
    assert summary["hwgraphs"]["14"] and len(load_graph(tmp_path / "hwgraph" / "N14").layers) == 27
    # the model's layer list for the PPA stage: the trained MobileNetV1's 27 convs, its global
    # pool and classifier, split into the same 14 blocks + head as the graphs
    layers = load_layers(tmp_path / LAYERS_FILE)
    assert [lay.kind for lay in layers[-2:]] == ["global_avgpool", "fc"]
    assert len(layers) == 29 and max_split(layers) == 14
    assert sum(lay.block < 3 for lay in layers) == len(graph.layers)
    table = (tmp_path / "transfer.md").read_text()
    assert "| 14 | " in table and "| baseline | " in table


def _strip(summary: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in summary["results"]]


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_interrupted_sweep_resumes_to_the_same_result(reference, tmp_path, monkeypatch):
    """Ctrl-C between trainings: every finished training and both checkpoints are reused,
    nothing half-written is left or read back, and the result is the uninterrupted one."""
    reference = reference[1]

    calls = []
    real = transfer.train_back_end

    def interrupted(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 2:  # the second training of N = 0
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(transfer, "train_back_end", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_transfer(TINY, tmp_path / "run", progress=False)
    cache = tmp_path / "run" / "cache"
    assert not (tmp_path / "run" / "transfer.json").exists()
    assert not list(cache.glob("*/.tmp-*"))  # the interrupted training left nothing behind
    assert len(list((cache / TRAINING).iterdir())) == 2 + 1  # 2 baselines, N = 0 once
    ckpts = [cache / kind / stage_key(TINY, keys) / "model.pt"
             for kind, keys in ((PRETRAINED, PRETRAIN_KEYS), (FIXED, FIX_KEYS))]
    stamps = [p.stat().st_mtime_ns for p in ckpts]

    calls.clear()
    monkeypatch.setattr(transfer, "train_baseline", lambda *a, **k: pytest.fail("baseline rerun"))
    monkeypatch.setattr(transfer, "train_back_end", lambda *a, **k: (calls.append(a[2]),
                                                                     real(*a, **k))[1])
    resumed = run_transfer(TINY, tmp_path / "run", progress=False)
    assert calls == [0, 3, 3, 14, 14]  # N = 0's first training was done before
    assert [p.stat().st_mtime_ns for p in ckpts] == stamps  # pretrain and QAT not rerun
    assert _strip(resumed) == _strip(reference)  # deterministic: resuming changes nothing
    assert resumed["hwgraphs"] == reference["hwgraphs"]


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_half_written_results_are_never_read_back(reference, tmp_path, monkeypatch):
    """Each training's result holds which test images it got right (what the verdict
    resamples). A crash mid-write leaves a `.tmp-*` folder, which is never read and which
    the next holder of the lock deletes; an unreadable finished result is retrained."""
    out, summary = reference
    store = Store(out / "cache")
    for stem, acc in [("baseline", summary["baselines"]["opencv-digits"]["accs"][1]),
                      ("N3", summary["results"][1]["fixed_accs"][1])]:
        stored = store.load(TRAINING, training_key(TINY, "opencv-digits", stem, 1))
        assert 100 * unpack_correct(stored["result"]["correct"], 32).mean() == pytest.approx(acc)
    shutil.copytree(out / "cache", tmp_path / "cache")
    store = Store(tmp_path / "cache")
    partial = tmp_path / "cache" / TRAINING / ".tmp-crashed"
    partial.mkdir()
    (partial / ARTIFACT_JSON).write_text('{"result": {"acc": 1')  # killed while writing
    torn = store.path(TRAINING, training_key(TINY, "opencv-digits", "N14", 0)) / ARTIFACT_JSON
    torn.write_text(torn.read_text()[:40])  # a disk that lost the end of a finished file
    calls = []
    real = transfer.train_back_end
    monkeypatch.setattr(transfer, "train_back_end", lambda *a, **k: (calls.append(a[2]),
                                                                     real(*a, **k))[1])
    with store.locked():
        assert not partial.exists()
        again = run_transfer(TINY, tmp_path, store, progress=False)
    assert calls == [14]
    assert _strip(again) == _strip(summary)


def test_stage_keys_follow_their_fields():
    more_epochs = tiny(**{"train.transfer_epochs": 2})
    assert stage_key(more_epochs, FIX_KEYS) == stage_key(TINY, FIX_KEYS)
    assert stage_key(more_epochs, RESULT_KEYS) != stage_key(TINY, RESULT_KEYS)
    fewer_qat = tiny(**{"train.max_finetune_images": 8})
    assert stage_key(fewer_qat, PRETRAIN_KEYS) == stage_key(TINY, PRETRAIN_KEYS)
    assert stage_key(fewer_qat, FIX_KEYS) != stage_key(TINY, FIX_KEYS)
    other_recipe = tiny(**{"train.label_smoothing": 0.0})
    assert stage_key(other_recipe, PRETRAIN_KEYS) != stage_key(TINY, PRETRAIN_KEYS)
    augmented = tiny(**{"train.source_augment": ["invert", "shift"]})
    assert stage_key(augmented, PRETRAIN_KEYS) != stage_key(TINY, PRETRAIN_KEYS)
    assert augmented.train.source_augment == ("shift", "invert")  # one spelling, one key
    assert stage_key(tiny(**{"train.source_augment": ["shift", "invert"]}),
                     PRETRAIN_KEYS) == stage_key(augmented, PRETRAIN_KEYS)
    other_bits = tiny(**{"model.w_bits": 6})
    assert stage_key(other_bits, PRETRAIN_KEYS) == stage_key(TINY, PRETRAIN_KEYS)
    assert stage_key(other_bits, FIX_KEYS) != stage_key(TINY, FIX_KEYS)
    # a training's key: its task, its N and its repeat
    keys = {training_key(TINY, "opencv-digits", stem, r) for stem in ("baseline", "N3")
            for r in (0, 1)} | {training_key(TINY, "sklearn-digits", "N3", 0)}
    assert len(keys) == 5


def test_loss_standard_error():
    assert loss_standard_error([90.0], [89.0]) is None  # one repeat: no spread to measure
    # sample variances 2 and 8 over 2 repeats each: sqrt(2/2 + 8/2)
    assert loss_standard_error([89.0, 91.0], [86.0, 90.0]) == pytest.approx(math.sqrt(5.0),
                                                                           abs=1e-4)


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_more_repeats_only_add_trainings(reference, tmp_path, monkeypatch):
    """Repeat 0 keeps the seeds of a single-repeat run, so raising `repeats` reuses it."""
    one = run_transfer(tiny(**{"train.repeats": 1, "sweep.n_list": [3]}), tmp_path,
                       progress=False)
    row = next(r for r in reference[1]["results"] if r["n"] == 3)
    assert one["results"][0]["fixed_accs"] == row["fixed_accs"][:1]
    assert one["results"][0]["acc_loss_se"] is None
    trained = []
    for name in ("train_baseline", "train_back_end"):
        real = getattr(transfer, name)
        monkeypatch.setattr(transfer, name, lambda *a, real=real, **k: (
            trained.append(a[-2]), real(*a, **k))[1])  # a[-2] is the repeat
    two = run_transfer(tiny(**{"sweep.n_list": [3]}), tmp_path, progress=False)
    assert trained == [1, 1]  # the second baseline and back-end only
    assert two["results"][0]["fixed_accs"] == row["fixed_accs"]


def test_run_settings_leave_the_result_keys_alone():
    for change in ({"train.repeats": 5}, {"train.workers": 3}, {"train.threads": 2}):
        assert stage_key(tiny(**change), RESULT_KEYS) == stage_key(TINY, RESULT_KEYS)


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_parallel_workers_give_the_same_results(tmp_path, monkeypatch, capsys):
    cfg = tiny(**{"tasks.targets": ["opencv-digits", "sklearn-digits"], "sweep.n_list": [2],
                  "train.repeats": 1})
    serial = run_transfer(replace_keys(cfg, {"train.workers": 1}), tmp_path / "serial",
                          progress=False)
    copy_networks(tmp_path / "serial", tmp_path / "parallel")
    for name in ("train_baseline", "train_back_end"):  # every training is the workers' job
        monkeypatch.setattr(transfer, name, lambda *a, **k: pytest.fail("the parent trained"))
    parallel = run_transfer(replace_keys(cfg, {"train.workers": 2}), tmp_path / "parallel",
                            progress=True)
    assert parallel["executor"] == "2 local processes" and serial["executor"] == "1 process"
    assert "transfer: sklearn-digits done" in capsys.readouterr().out
    strip = lambda s: [{k: v for k, v in r.items() if "seconds" not in k} for r in s["results"]]  # noqa: E731
    assert strip(parallel) == strip(serial)
    assert {t: b["accs"] for t, b in parallel["baselines"].items()} == {
        t: b["accs"] for t, b in serial["baselines"].items()}


@pytest.mark.parametrize(("text", "match"), [
    ("epochs = 3\n", "unknown key 'epochs'"),
    ("batch = 3\n", r"batch: write it in its section, \[hardware\] batch"),
    ("task_defs = []\n", r"task_defs: renamed; use \[\[tasks.define\]\] tables"),
    ("n_list = 3\n", "sweep.n_list: expected a list of int"),
    ("n_list = [1, 18]\n", r"sweep.n_list\[1\]: 18 is above the maximum 17"),
    ("width = 'wide'\n", "model.width: expected float, got str"),
    ("seed = 1\n[train]\nseed = 2\n", r"train.seed: set twice"),
    ("targets = ['cifar-11']\n", "cifar-11"),
    ("sparsity = 1.0\n", "sparsity"),
    ("optimizer = 'rmsprop'\n", "optimizer"),
    ("warmup = 1.0\n", "warmup"),
    ("label_smoothing = -0.1\n", "label_smoothing"),
    ("weight_decay = -1.0\n", "weight_decay"),
    ("finetune_batch_size = 0\n", "finetune_batch_size"),
    ("max_finetune_images = -1\n", "max_finetune_images"),
    ("seed = [\n", "not valid TOML"),
])
def test_bad_config_files(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FixynnError, match=match) as info:
        load_config(path, stages=TRANSFER_ONLY)
    assert "\n" not in str(info.value) and "bad.toml" in str(info.value)


def test_config_file_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("n_list = [2, 4]\nlr = 1\ntargets = ['sklearn-digits']\n")
    cfg = load_config(path, quick=True, stages=TRANSFER_ONLY)
    assert (cfg.sweep.n_list, cfg.train.lr, cfg.tasks.targets) == ((2, 4), 1.0,
                                                                  ("sklearn-digits",))
    assert cfg.train.max_train_images == default_config(quick=True).train.max_train_images
    # the same keys in their sections: the same config
    path.write_text("[sweep]\nn_list = [2, 4]\n[train]\nlr = 1\n"
                    "[tasks]\ntargets = ['sklearn-digits']\n")
    assert load_config(path, quick=True, stages=TRANSFER_ONLY) == cfg
    with pytest.raises(FixynnError, match="not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "{bad}"], "batch: write it in its section, [hardware] batch"),
    (["--seed", "-1"], "--seed: train.seed: -1 is below the minimum 0"),
    (["--executor", "spark"], "--executor 'spark': choose one of local, ray"),
])
def test_cli_reports_bad_input_in_one_line(tmp_path, monkeypatch, capsys, args, message):
    bad = tmp_path / "bad.toml"
    bad.write_text("batch = 3\n")
    monkeypatch.setattr(sys, "argv", ["fixynn", "transfer", *(a.format(bad=bad) for a in args),
                                      "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_cli_success_path_and_seed(tmp_path, monkeypatch, capsys):
    """`fixynn transfer --seed`: exit 0, the table and the files, every training seeded by it."""
    path = tmp_path / "tiny.toml"
    path.write_text("arch = 'mobilenet-v1'\nsource = 'fashion-mnist-a'\ninput_size = 28\n"
                    "targets = ['opencv-digits']\nn_list = [3]\npretrain_epochs = 1\n"
                    "finetune_epochs = 1\ntransfer_epochs = 1\nmax_source_images = 48\n"
                    "max_finetune_images = 48\nmax_train_images = 48\nmax_test_images = 32\n"
                    "repeats = 1\nworkers = 1\n")
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["fixynn", "transfer", "--config", str(path), "--out",
                                      str(out), "--seed", "11", "--no-progress"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0
    stdout = capsys.readouterr().out
    assert f"wrote {out / 'transfer.json'} (1 results)" in stdout
    assert (out / "transfer.md").read_text() in stdout
    doc = json.loads((out / "transfer.json").read_text())
    assert doc["config"]["train"]["seed"] == 11
    row = doc["results"][0]
    assert (row["task"], row["n"]) == ("opencv-digits", 3)
    assert row["seeds"] == [derived_seed(11, "opencv-digits", 3)]
    assert load_graph(out / "hwgraph" / "N3").meta["input_task"] == "fashion-mnist-a"
