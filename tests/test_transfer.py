"""The transfer sweep end to end on a tiny config: outputs, resume, config errors, CLI."""

import dataclasses
import json
import math
import shutil
import sys

import pytest

import fixynn.train.transfer as transfer
from fixynn.cli import main
from fixynn.errors import FixynnError
from fixynn.hw.ir import load_graph
from fixynn.train.transfer import (
    FIX_FIELDS,
    PRETRAIN_FIELDS,
    RESULT_FIELDS,
    TransferConfig,
    load_config,
    loss_standard_error,
    run_transfer,
    stage_key,
)
from fixynn.train.verdict import VERDICTS, unpack_correct

TINY = TransferConfig(
    targets=("opencv-digits",), n_list=(0, 3, 14), pretrain_epochs=1, finetune_epochs=1,
    transfer_epochs=1, batch_size=16, max_source_images=48, max_train_images=48,
    max_test_images=32, sparsity=0.25, seed=5, repeats=2, workers=1,
)


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
        correct = [acc * TINY.max_test_images / 100 for acc in row["fixed_accs"]]
        assert all(abs(c - round(c)) < 1e-3 and 0 <= round(c) <= 32 for c in correct), correct
        assert row["fixed_acc"] == pytest.approx(sum(row["fixed_accs"]) / 2)
        assert row["acc_loss"] == pytest.approx(row["baseline_acc"] - row["fixed_acc"])
        assert row["acc_loss_se"] == loss_standard_error(baseline["accs"], row["fixed_accs"])
        low, high = row["acc_loss_ci95"]
        assert low <= row["acc_loss"] <= high and row["verdict"] in VERDICTS
        assert row["verdict"] == ("holds" if high < 1 else "fails" if low > 1
                                  else "inconclusive")
        seeds = row["seeds"]
        assert len(set(seeds)) == 2 and TINY.seed not in seeds  # derived, recorded seeds
    assert summary["baselines"]["opencv-digits"]["test_images"] == 32
    assert summary["source"]["fix"]["weight_sparsity"] >= 0.25 - 0.01
    assert summary["config"]["seed"] == 5
    graph = load_graph(tmp_path / "hwgraph" / "N3")
    assert len(graph.layers) == 5 and graph.meta["input_task"] == "fashion-mnist-a"
    assert summary["hwgraphs"]["14"] and len(load_graph(tmp_path / "hwgraph" / "N14").layers) == 27
    table = (tmp_path / "transfer.md").read_text()
    assert "| 14 | " in table and "| baseline | " in table


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_interrupted_sweep_resumes_to_the_same_result(reference, tmp_path, monkeypatch):
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
    assert not (tmp_path / "run" / "transfer.json").exists()
    ckpts = sorted((tmp_path / "run" / "ckpt").iterdir())
    stamps = [p.stat().st_mtime_ns for p in ckpts]
    assert len(ckpts) == 2

    calls.clear()
    monkeypatch.setattr(transfer, "train_baseline", lambda *a, **k: pytest.fail("baseline rerun"))
    monkeypatch.setattr(transfer, "train_back_end", lambda *a, **k: (calls.append(a[2]),
                                                                     real(*a, **k))[1])
    resumed = run_transfer(TINY, tmp_path / "run", progress=False)
    assert calls == [0, 3, 3, 14, 14]  # N = 0's first training was done before
    assert [p.stat().st_mtime_ns for p in ckpts] == stamps  # pretrain and QAT not rerun
    strip = lambda s: [{k: v for k, v in r.items() if "seconds" not in k} for r in s["results"]]  # noqa: E731
    assert strip(resumed) == strip(reference)  # deterministic: resuming changes nothing
    assert resumed["hwgraphs"] == reference["hwgraphs"]


def test_results_keep_per_image_correctness(reference, tmp_path, monkeypatch):
    """Each training's result holds which test images it got right (what the verdict
    resamples); one written before verdicts existed is retrained."""
    out, summary = reference
    result_dir = transfer.task_dir(TINY, transfer.results_root(TINY, out), "opencv-digits")
    for stem, acc in [("baseline", summary["baselines"]["opencv-digits"]["accs"][1]),
                      ("N3", summary["results"][1]["fixed_accs"][1])]:
        stored = json.loads(transfer.result_path(result_dir, stem, 1).read_text())
        assert 100 * unpack_correct(stored["correct"], 32).mean() == pytest.approx(acc)
    shutil.copytree(out / "ckpt", tmp_path / "ckpt")
    old_dir = transfer.task_dir(TINY, transfer.results_root(TINY, tmp_path), "opencv-digits")
    shutil.copytree(result_dir, old_dir)
    old = transfer.result_path(old_dir, "N14", 0)
    old.write_text(json.dumps({k: v for k, v in json.loads(old.read_text()).items()
                               if k != "correct"}))
    calls = []
    real = transfer.train_back_end
    monkeypatch.setattr(transfer, "train_back_end", lambda *a, **k: (calls.append(a[2]),
                                                                     real(*a, **k))[1])
    again = run_transfer(TINY, tmp_path, progress=False)
    assert calls == [14]
    assert again["results"][2]["verdict"] == summary["results"][2]["verdict"]


def test_stage_keys_follow_their_fields():
    more_epochs = dataclasses.replace(TINY, transfer_epochs=2)
    assert stage_key(more_epochs, FIX_FIELDS) == stage_key(TINY, FIX_FIELDS)
    fewer_qat = dataclasses.replace(TINY, max_finetune_images=8)
    assert stage_key(fewer_qat, PRETRAIN_FIELDS) == stage_key(TINY, PRETRAIN_FIELDS)
    assert stage_key(fewer_qat, FIX_FIELDS) != stage_key(TINY, FIX_FIELDS)
    other_recipe = dataclasses.replace(TINY, label_smoothing=0.0)
    assert stage_key(other_recipe, PRETRAIN_FIELDS) != stage_key(TINY, PRETRAIN_FIELDS)
    augmented = dataclasses.replace(TINY, source_augment=("invert", "shift"))
    assert stage_key(augmented, PRETRAIN_FIELDS) != stage_key(TINY, PRETRAIN_FIELDS)
    assert augmented.source_augment == ("shift", "invert")  # one spelling, one key
    other_bits = dataclasses.replace(TINY, w_bits=6)
    assert stage_key(other_bits, PRETRAIN_FIELDS) == stage_key(TINY, PRETRAIN_FIELDS)
    assert stage_key(other_bits, FIX_FIELDS) != stage_key(TINY, FIX_FIELDS)


def test_loss_standard_error():
    assert loss_standard_error([90.0], [89.0]) is None  # one repeat: no spread to measure
    # sample variances 2 and 8 over 2 repeats each: sqrt(2/2 + 8/2)
    assert loss_standard_error([89.0, 91.0], [86.0, 90.0]) == pytest.approx(math.sqrt(5.0),
                                                                           abs=1e-4)


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_more_repeats_only_add_trainings(reference, tmp_path, monkeypatch):
    """Repeat 0 keeps the seeds of a single-repeat run, so raising `repeats` reuses it."""
    one = run_transfer(dataclasses.replace(TINY, repeats=1, n_list=(3,)), tmp_path,
                       progress=False)
    row = next(r for r in reference[1]["results"] if r["n"] == 3)
    assert one["results"][0]["fixed_accs"] == row["fixed_accs"][:1]
    assert one["results"][0]["acc_loss_se"] is None
    trained = []
    for name in ("train_baseline", "train_back_end"):
        real = getattr(transfer, name)
        monkeypatch.setattr(transfer, name, lambda *a, real=real, **k: (
            trained.append(a[-2]), real(*a, **k))[1])  # a[-2] is the repeat
    two = run_transfer(dataclasses.replace(TINY, n_list=(3,)), tmp_path, progress=False)
    assert trained == [1, 1]  # the second baseline and back-end only
    assert two["results"][0]["fixed_accs"] == row["fixed_accs"]


def test_run_settings_leave_the_result_keys_alone():
    for change in ({"repeats": 5}, {"workers": 3}, {"threads": 2}):
        assert stage_key(dataclasses.replace(TINY, **change), RESULT_FIELDS) == stage_key(
            TINY, RESULT_FIELDS)


@pytest.mark.needs_data("fashion-mnist", "opencv-digits")
def test_parallel_workers_give_the_same_results(tmp_path, monkeypatch, capsys):
    cfg = dataclasses.replace(TINY, targets=("opencv-digits", "sklearn-digits"), n_list=(2,),
                              repeats=1)
    serial = run_transfer(dataclasses.replace(cfg, workers=1), tmp_path / "serial",
                          progress=False)
    shutil.copytree(tmp_path / "serial" / "ckpt", tmp_path / "parallel" / "ckpt")
    for name in ("train_baseline", "train_back_end"):  # every training is the workers' job
        monkeypatch.setattr(transfer, name, lambda *a, **k: pytest.fail("the parent trained"))
    parallel = run_transfer(dataclasses.replace(cfg, workers=2), tmp_path / "parallel",
                            progress=True)
    assert parallel["executor"] == "2 local processes" and serial["executor"] == "1 process"
    assert "transfer: sklearn-digits done" in capsys.readouterr().out
    strip = lambda s: [{k: v for k, v in r.items() if "seconds" not in k} for r in s["results"]]  # noqa: E731
    assert strip(parallel) == strip(serial)
    assert {t: b["accs"] for t, b in parallel["baselines"].items()} == {
        t: b["accs"] for t, b in serial["baselines"].items()}


@pytest.mark.parametrize(("text", "match"), [
    ("epochs = 3\n", "unknown key 'epochs'"),
    ("n_list = 3\n", "n_list must be a list"),
    ("n_list = [1, 15]\n", "n_list"),
    ("width = 'wide'\n", "width must be a float"),
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
        load_config(path)
    assert "\n" not in str(info.value) and "bad.toml" in str(info.value)


def test_config_file_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("n_list = [2, 4]\nlr = 1\ntargets = ['sklearn-digits']\n")
    cfg = load_config(path, base=TransferConfig.quick())
    assert (cfg.n_list, cfg.lr, cfg.targets) == ((2, 4), 1.0, ("sklearn-digits",))
    assert cfg.max_train_images == TransferConfig.quick().max_train_images
    with pytest.raises(FixynnError, match="not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "{bad}"], "unknown key 'batch'"),
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
    path.write_text("targets = ['opencv-digits']\nn_list = [3]\npretrain_epochs = 1\n"
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
    assert doc["config"]["seed"] == 11
    row = doc["results"][0]
    assert (row["task"], row["n"]) == ("opencv-digits", 3)
    assert row["seeds"] == [transfer.derived_seed(11, "opencv-digits", 3)]
    assert load_graph(out / "hwgraph" / "N3").meta["input_task"] == "fashion-mnist-a"
