import torch
from torch import nn

from helpers import tiny_world_model_config
from sfplan.world_model import VideoWorldModel
from sfplan.world_model.temporal_conv import TemporalConv, use_fast_temporal_convs


def test_temporal_conv_equals_the_conv3d_it_replaces_forward_and_backward():
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv3d(4, 6, (3, 1, 1), padding=(1, 0, 0)), nn.Conv3d(6, 5, (3, 3, 3), padding=1))
    fast = nn.Sequential(*[type(layer)(layer.in_channels, layer.out_channels, layer.kernel_size, padding=layer.padding)
                           for layer in block])
    fast.load_state_dict(block.state_dict())
    assert use_fast_temporal_convs(fast) == 1, "only the time-only conv is swapped"
    assert isinstance(fast[0], TemporalConv) and type(fast[1]) is nn.Conv3d
    x = torch.randn(2, 4, 5, 3, 7)
    torch.testing.assert_close(fast(x), block(x), rtol=1e-5, atol=1e-5)
    fast(x).square().sum().backward()
    block(x).square().sum().backward()
    torch.testing.assert_close(fast[0].weight.grad, block[0].weight.grad, rtol=1e-4, atol=1e-4)


def test_world_model_has_only_fast_temporal_convs_and_the_usual_state_dict():
    model = VideoWorldModel(tiny_world_model_config())
    convs = [m for m in model.unet.modules() if isinstance(m, nn.Conv3d)]
    assert convs and all(isinstance(m, TemporalConv) for m in convs)
    assert all(name.endswith((".weight", ".bias")) for name in model.state_dict() if "temp_convs" in name)
