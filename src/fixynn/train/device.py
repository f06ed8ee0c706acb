"""Where training and feature extraction run: `device = "auto"` (CUDA when torch sees a GPU),
"cpu" or "cuda".

Bit-identical across devices: the integer front-end (`FixedNet.exact`, hence the cached
features and every HwGraph), whose float kernels hold exact integers (TF32 is switched off
for them on CUDA). Not bit-identical: float training (pretraining, QAT, baselines,
back-ends), whose GPU kernels sum in other orders; results are cached per device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fixynn.errors import FixynnError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    import torch  # here, so that reading a config does not import torch

    if name not in DEVICES:
        raise FixynnError(f"device {name!r}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FixynnError("device = \"cuda\": torch sees no CUDA device here (a CPU build, or "
                          "no GPU); set device = \"auto\" or \"cpu\"")
    return torch.device(name)
