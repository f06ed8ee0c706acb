"""Feature cache: features shared across N equal the front-end run from the image."""

import torch

from fixynn.nn.fixed import FixedNet
from fixynn.nn.model import MobileNetV1
from fixynn.train.features import compact, feature_sweep, front_end_features
from test_nn_model import randomize_bn


def test_sweep_shares_work_exactly():
    torch.manual_seed(2)
    fixed = FixedNet(randomize_bn(MobileNetV1(4)))
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    swept = dict(feature_sweep(fixed, images, [9, 0, 3]))
    assert list(swept) == [0, 3, 9]
    assert torch.equal(swept[0], images)
    for n in (3, 9):
        direct = fixed.exact(images, 0, n)
        assert swept[n].dtype == torch.uint8  # 8-bit activations stored compactly
        assert torch.equal(swept[n].long(), direct)
        assert direct.max() > 0
    assert torch.equal(front_end_features(fixed, swept[3], 3, 9), swept[9])


def test_compact_keeps_wide_values():
    assert compact(torch.tensor([0, 255])).dtype == torch.uint8
    wide = compact(torch.tensor([0, 256, 70000]))
    assert wide.dtype == torch.int32 and wide.tolist() == [0, 256, 70000]
