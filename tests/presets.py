"""Run configurations the tests start from besides the shipped default (EfficientNet-Lite0):
the MobileNetV1 job of examples/mobilenet-v1.toml, whose pretraining and QAT the tests
exercise."""

from __future__ import annotations

from pathlib import Path

from fixynn.config import Config, load_config

MOBILENET_V1 = Path(__file__).resolve().parents[1] / "examples" / "mobilenet-v1.toml"


def mobilenet_config(stages: tuple[str, ...] | None = None, quick: bool = False) -> Config:
    """examples/mobilenet-v1.toml over the defaults (`quick`: over the --quick preset)."""
    return load_config(MOBILENET_V1, quick=quick, stages=stages)
