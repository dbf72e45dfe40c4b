import pytest
import torch

from sfplan.world_model.codec import FrameAutoencoder
from sfplan.world_model.config import CodecConfig


def tiny_codec(**overrides) -> FrameAutoencoder:
    torch.manual_seed(0)
    return FrameAutoencoder(CodecConfig(image_size=16, latent_channels=2, block_channels=(8, 8), **overrides))


def test_default_codec_is_a_deterministic_autoencoder():
    codec = tiny_codec()
    images = torch.rand(2, 3, 16, 16)
    assert codec.reconstruction_loss(images).item() == codec.reconstruction_loss(images).item()


def test_kl_weight_samples_the_posterior_and_adds_the_kl_term():
    codec = tiny_codec(kl_weight=1e-3)
    images = torch.rand(2, 3, 16, 16)
    torch.manual_seed(1)
    first = codec.reconstruction_loss(images).item()
    torch.manual_seed(2)
    assert codec.reconstruction_loss(images).item() != first


def test_encode_decode_shapes_and_range():
    codec = tiny_codec()
    latents = codec.encode(torch.rand(3, 2, 3, 16, 16))
    assert latents.shape == (3, 2, 2, 8, 8)
    frames = codec.decode(latents)
    assert frames.shape == (3, 2, 3, 16, 16) and frames.min() >= 0 and frames.max() <= 1


def _far_latents_change(codec: FrameAutoencoder) -> bool:
    """Whether a change in one corner of a 64x64 frame moves the latents of the opposite corner."""
    frame = torch.rand(1, 3, 64, 64)
    moved = frame.clone()
    moved[..., :8, :8] = 1.0 - moved[..., :8, :8]
    with torch.no_grad():
        far = (codec.encode(frame) - codec.encode(moved))[..., -4:, -4:]
    return bool(far.abs().max() > 0)


def test_channel_norms_keep_latents_local_where_group_norms_do_not():
    torch.manual_seed(0)
    group = FrameAutoencoder(CodecConfig(image_size=64, latent_channels=2, block_channels=(8, 8, 8)))
    channel = FrameAutoencoder(CodecConfig(image_size=64, latent_channels=2, block_channels=(8, 8, 8), norm="channel"))
    assert not any(isinstance(module, torch.nn.GroupNorm) for module in channel.modules())
    assert _far_latents_change(group) and not _far_latents_change(channel)
    assert channel.reconstruction_loss(torch.rand(2, 3, 64, 64)).isfinite()


def test_unknown_codec_norm_is_refused_by_name():
    with pytest.raises(ValueError, match="codec.norm must be one of group, channel"):
        CodecConfig(norm="batch")
