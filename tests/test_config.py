"""Run configuration: defaults, --quick, TOML overlay and one-line validation errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from fixynn.config import (
    STAGES,
    config_from_dict,
    config_to_toml,
    default_config,
    load_config,
    replace_keys,
)
from fixynn.errors import FixynnError
from presets import mobilenet_config

# The model and task keys of an EfficientNet-Lite0 config (the [model] table stays open).
EFFICIENT = ('[tasks]\nsource = "imagenet"\ntargets = ["opencv-digits"]\n'
             '[model]\narch = "efficientnet-lite0"\nin_channels = 3\ninput_size = 32\n')


MOBILENET = ('[tasks]\nsource = "fashion-mnist-a"\ntargets = ["opencv-digits"]\n'
             '[model]\narch = "mobilenet-v1"\n')


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_default_and_quick() -> None:
    cfg, quick = default_config(), default_config(quick=True)
    assert cfg.run.stages == STAGES
    assert (cfg.model.arch, cfg.tasks.source, cfg.model.in_channels) == (
        "efficientnet-lite0", "imagenet", 3)
    assert len(cfg.tasks.targets) == 6  # every built-in task: none is the source
    assert cfg.verify.images >= 100
    assert cfg.verify_ns() == (2, 4)
    assert cfg.synth_n() == max(cfg.sweep.n_list) == 10
    # quick shrinks the job but keeps the tasks and the model
    assert len(quick.sweep.n_list) < len(cfg.sweep.n_list)
    assert quick.train.transfer_epochs <= cfg.train.transfer_epochs
    assert quick.tasks.source == cfg.tasks.source and quick.model == cfg.model


def test_a_written_back_config_loads_whatever_its_arch(tmp_path: Path) -> None:
    """config_to_toml writes every key, mobilenet-v1's too: at their values they are no error."""
    for cfg in (default_config(), mobilenet_config()):
        assert load_config(_write(tmp_path, config_to_toml(cfg))) == cfg


def test_mobilenet_example_is_a_complete_mobilenet_job() -> None:
    """examples/mobilenet-v1.toml switches every family key back (the earlier default)."""
    cfg = mobilenet_config()
    assert (cfg.model.arch, cfg.tasks.source, cfg.model.input_size) == (
        "mobilenet-v1", "fashion-mnist-a", 28)
    assert cfg.sweep.n_list == (2, 4, 7, 10, 14) and cfg.verify_ns() == (2, 4)
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.transfer_epochs) == (0.1, 16, 4)


def test_flat_keys_are_their_sections_keys(tmp_path: Path) -> None:
    """The flat form of the former `fixynn transfer` file: [tasks]/[model]/[sweep]/[train]
    keys without their section, validated by the same rules."""
    flat = load_config(_write(tmp_path, "seed = 3\ninput_size = 48\nn_list = [2, 4]\n"
                                        "targets = ['opencv-digits']\n"))
    sectioned = load_config(_write(tmp_path, "[train]\nseed = 3\n[model]\ninput_size = 48\n"
                                             "[sweep]\nn_list = [2, 4]\n"
                                             "[tasks]\ntargets = ['opencv-digits']\n"))
    assert flat == sectioned and flat.train.seed == 3


def test_transfer_only_configs_skip_the_hardware_checks(tmp_path: Path) -> None:
    """`fixynn transfer` runs no verify or synth stage: their N need not be in its sweep."""
    path = _write(tmp_path, "[sweep]\nn_list = [3]\n[verify]\nn_list = [2, 4]\n")
    with pytest.raises(FixynnError, match=r"verify\.n_list: \[2, 4\] not in sweep\.n_list"):
        load_config(path)
    assert load_config(path, stages=("transfer",)).sweep.n_list == (3,)


def test_inherited_verify_and_synth_ns_follow_a_changed_sweep(tmp_path: Path) -> None:
    """A user who changes only the sweep gets a valid config: the default verify list keeps
    the N the new sweep has (else its smallest), the quick job's synth.n likewise."""
    default = default_config()
    first = min(default.verify_ns())
    cfg = load_config(_write(tmp_path, f"[sweep]\nn_list = [0, {first}]\n"))
    assert cfg.verify_ns() == (first,)
    cfg = load_config(_write(tmp_path, "[sweep]\nn_list = [0, 5, 3]\n"))
    assert cfg.verify_ns() == (3,)
    quick = load_config(_write(tmp_path, "[sweep]\nn_list = [5, 3]\n"), quick=True)
    assert default_config(quick=True).synth.n not in (3, 5)
    assert (quick.verify_ns(), quick.synth_n()) == ((3,), 3)
    written = load_config(_write(tmp_path, "[sweep]\nn_list = [3, 5]\n[synth]\nn = 5\n"
                                           "[verify]\nn_list = [5]\n"))
    assert (written.verify_ns(), written.synth_n()) == ((5,), 5)


def test_replace_keys_validates_like_a_file() -> None:
    cfg = replace_keys(mobilenet_config(), {"train.seed": 4, "train.source_augment": ("invert",)})
    assert (cfg.train.seed, cfg.train.source_augment) == (4, ("invert",))
    with pytest.raises(FixynnError, match=r"here: train\.seed: -1 is below the minimum 0"):
        replace_keys(default_config(), {"train.seed": -1}, "here")


def test_empty_verify_list_means_every_fixed_n(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "[sweep]\nn_list = [7, 0, 3]\n[verify]\nn_list = []\n"))
    assert cfg.verify_ns() == (3, 7)


def test_user_file_overrides_only_its_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "[model]\nw_bits = 6\n[hardware]\nfreq_mhz = 250\n")
    cfg = load_config(path)
    assert cfg.model.w_bits == 6 and cfg.hardware.freq_mhz == 250.0
    assert isinstance(cfg.hardware.freq_mhz, float)
    assert cfg.model.a_bits == default_config().model.a_bits
    quick = load_config(path, quick=True)
    assert quick.model.w_bits == 6 and quick.sweep == default_config(quick=True).sweep


def test_toml_round_trip() -> None:
    cfg = default_config(quick=True)
    assert config_from_dict(tomllib.loads(config_to_toml(cfg)), "x") == cfg


@pytest.mark.parametrize(("text", "message"), [
    ("[model]\nwidht = 0.5\n", r"model\.widht: unknown key; known: arch, width, "),
    ("widht = 0.5\n", r"unknown key 'widht'; known: the sections \[tasks\], "),
    ("images = 5\n", r"images: write it in its section, \[verify\] images"),
    ("task_defs = []\n", r"task_defs: renamed; use \[\[tasks\.define\]\] tables"),
    ("seed = 1\n[train]\nseed = 2\n", r"train\.seed: set twice \(flat and in \[train\]\)"),
    ("[train]\nwarmup = 1.0\n", r"train\.warmup: must be < 1\.0, got 1\.0"),
    ("[run]\nexecutor = \"spark\"\n", r"run\.executor: 'spark' is not one of local, ray"),
    ("[train]\ndevice = \"gpu\"\n", r"train\.device: 'gpu' is not one of auto, cpu, cuda"),
    ("[modle]\nwidth = 0.5\n", r"unknown section \[modle\]"),
    ("model = 3\n", r"model must be a table"),
    ("[model]\nw_bits = \"8\"\n", r"model\.w_bits: expected int, got str '8'"),
    ("[model]\nw_bits = 8.0\n", r"model\.w_bits: expected int, got float"),
    ("[model]\nw_bits = true\n", r"model\.w_bits: expected int, got bool"),
    ("[model]\nw_bits = 1\n", r"model\.w_bits: 1 is below the minimum 2"),
    ("[model]\nwidth = 0\n", r"model\.width: must be > 0.0"),
    ("[model]\nsparsity = 0.99\n", r"model\.sparsity: 0\.99 is above the maximum 0\.95"),
    ("[model]\nstride_plan = \"tiny\"\n", r"model\.stride_plan: 'tiny' is not one of"),
    ("[sweep]\nn_list = [0, 18]\n", r"sweep\.n_list\[1\]: 18 is above the maximum 17"),
    (MOBILENET + "[sweep]\nn_list = [0, 15]\n",
     r"sweep\.n_list: \[15\] above the largest split point of model\.arch 'mobilenet-v1', 14"),
    ("[model]\narch = \"resnet\"\n", r"model\.arch: 'resnet' is not one of mobilenet-v1, "),
    (EFFICIENT + "[sweep]\nn_list = [2, 18]\n", r"sweep\.n_list\[1\]: 18 is above the maximum"),
    (EFFICIENT.replace("imagenet", "fashion-mnist-a"),
     r"tasks\.source: model\.arch 'efficientnet-lite0' starts from its imagenet weights; set "
     r"tasks\.source = 'imagenet'"),
    ("[model]\narch = \"mobilenet-v1\"\n[tasks]\nsource = \"imagenet\"\n",
     r"tasks\.source: model\.arch 'mobilenet-v1' is pretrained here on an offline task"),
    (EFFICIENT.replace("in_channels = 3", "in_channels = 1"),
     r"model\.in_channels: model\.arch 'efficientnet-lite0' takes 3 channels, got 1"),
    (EFFICIENT + "width = 0.5\n", r"model\.width: applies to model\.arch = 'mobilenet-v1' only"),
    (EFFICIENT + "[train]\npretrain_epochs = 3\n", r"train\.pretrain_epochs: applies to "),
    (EFFICIENT + "calib_tasks = [\"nope\"]\n", r"model\.calib_tasks\[0\]: unknown task 'nope'"),
    ("[sweep]\nn_list = 4\n", r"sweep\.n_list: expected a list of int, got int"),
    ("[sweep]\nn_list = []\n", r"sweep\.n_list: needs at least 1 item"),
    ("[sweep]\nn_list = [1, 1]\n", r"sweep\.n_list: items must be unique"),
    ("[run]\nstages = [\"rtl\", \"fly\"]\n", r"run\.stages\[1\]: 'fly' is not one of"),
    ("[run]\nstages = [\"ppa\", \"rtl\"]\n", r"run\.stages: list them in pipeline order"),
    ("[verify]\nn_list = [3]\n", r"verify\.n_list: \[3\] not in sweep\.n_list"),
    ("[synth]\nn = 3\n", r"synth\.n: 3 is not in sweep\.n_list"),
    ("[sweep]\nn_list = [0]\n[verify]\nn_list = []\n", r"synth\.n: N = 0 has no fixed layers"),
    (MOBILENET.replace("opencv-digits", "fashion-mnist-a"),
     r"source task 'fashion-mnist-a' cannot"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(FixynnError, match=message) as info:
        load_config(path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


def test_unknown_task_lists_known_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, "[tasks]\ntargets = [\"opencv-digits\", \"nope\"]\n")
    with pytest.raises(FixynnError, match=r"tasks\.targets\[1\]: unknown task 'nope'; known: "
                                          r".*fashion-mnist-a.*sklearn-digits"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FixynnError, match=r"missing\.toml: config file not found"):
        load_config(tmp_path / "missing.toml")


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")) == default_config()


@pytest.mark.parametrize("text", ["[model\nwidth = 1", "width = = 2"])
def test_bad_toml(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(FixynnError, match="not valid TOML"):
        load_config(path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe[model]")
    with pytest.raises(FixynnError, match="not valid TOML"):
        load_config(path)


def test_base_document_must_be_complete() -> None:
    doc = tomllib.loads(config_to_toml(default_config()))
    del doc["train"]["seed"]
    with pytest.raises(FixynnError, match=r"train\.seed: missing key"):
        config_from_dict(doc, "default.toml")
