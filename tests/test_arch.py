"""MobileNetV1 shapes against the published figures (Howard et al., 2017, Table 1/2)."""

import pytest

from fixynn.arch import back_end_layers, front_end_layers, mobilenet_v1_layers


def test_mobilenet_v1_224_matches_paper_counts() -> None:
    layers = mobilenet_v1_layers(1.0, 224, 3, 1000, "imagenet")
    macs = sum(layer.macs for layer in layers)
    params = sum(layer.weights for layer in layers)
    # Paper: 569 million mult-adds, 4.2 million parameters (weights; BN/bias excluded here).
    assert 568e6 < macs < 570e6
    assert 4.20e6 < params < 4.24e6
    assert layers[-2].out_height == 7 and layers[-2].out_channels == 1024


def test_small_plan_keeps_28x28_maps_alive() -> None:
    layers = mobilenet_v1_layers(0.25, 28, 1, 10, "small")
    convs = [layer for layer in layers if layer.kind != "fc"]
    assert len(convs) == 27
    assert convs[-1].out_height == 7 and convs[-1].out_channels == 256


def test_split_partitions_every_layer() -> None:
    layers = mobilenet_v1_layers(0.5, 224)
    for n in range(15):
        front, back = front_end_layers(layers, n), back_end_layers(layers, n)
        assert front + back == layers
        assert len(front) == (0 if n == 0 else 2 * n - 1)


@pytest.mark.parametrize("bad", [{"width": 0}, {"stride_plan": "nope"}, {"input_size": 0}])
def test_bad_arguments_are_rejected(bad: dict) -> None:
    kwargs = {"width": 1.0, "input_size": 224, "stride_plan": "imagenet"} | bad
    with pytest.raises(ValueError):
        mobilenet_v1_layers(**kwargs)
