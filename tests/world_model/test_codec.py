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
