"""`device`: auto/cpu/cuda, its cache key, and (where a GPU exists) CPU == CUDA for the integer
front-end."""

from __future__ import annotations

import pytest
import torch

from fixynn.config import default_config, replace_keys
from fixynn.errors import FixynnError
from fixynn.nn.fixed import FixedNet
from fixynn.nn.model import MobileNetV1
from fixynn.train.device import resolve_device
from fixynn.train.features import feature_sweep
from fixynn.train.loops import fit, scaled
from fixynn.train.mobilenet import FIX_KEYS, PRETRAIN_KEYS, RESULT_KEYS, stage_key
from presets import mobilenet_config
from test_nn_model import randomize_bn

CUDA = torch.cuda.is_available()


def test_auto_is_cuda_exactly_when_torch_sees_a_gpu() -> None:
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(CUDA, reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_one_clear_error() -> None:
    with pytest.raises(FixynnError, match=r"device = \"cuda\": torch sees no CUDA device"):
        resolve_device("cuda")


def test_bad_device_is_rejected() -> None:
    with pytest.raises(FixynnError, match=r"train\.device: 'tpu' is not one of auto, cpu, cuda"):
        replace_keys(default_config(), {"train.device": "tpu"})


def test_cpu_keys_are_unchanged_and_cuda_keys_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # the MobileNetV1 job's keys (the default job's EfficientNet has no pretraining stage)
    cpu, auto = (replace_keys(mobilenet_config(), {"train.device": d}) for d in ("cpu", "auto"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for keys in (PRETRAIN_KEYS, FIX_KEYS, RESULT_KEYS):  # keyed by the resolved device
        assert stage_key(auto, keys) == stage_key(cpu, keys)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # auto -> cuda: new keys
    assert stage_key(auto, PRETRAIN_KEYS) != stage_key(cpu, PRETRAIN_KEYS)


def test_fit_leaves_the_model_on_the_cpu() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x, y = torch.randint(0, 256, (8, 1, 2, 2), dtype=torch.uint8), torch.randint(0, 2, (8,))
    fit(model, x, y, scaled(8), epochs=1, batch_size=4, lr=0.1, seed=0,
        device=resolve_device("auto"))
    assert all(p.device.type == "cpu" for p in model.parameters())


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_integer_features_are_bit_identical_on_cuda() -> None:
    torch.manual_seed(3)
    fixed = FixedNet(randomize_bn(MobileNetV1(4)))
    images = torch.randint(0, 256, (300, 1, 28, 28), dtype=torch.uint8)
    on_cpu = dict(feature_sweep(fixed, images, [2, 7, 14]))
    on_gpu = dict(feature_sweep(fixed, images, [2, 7, 14], torch.device("cuda")))
    for n in (2, 7, 14):
        assert on_gpu[n].device.type == "cpu" and torch.equal(on_gpu[n], on_cpu[n])
