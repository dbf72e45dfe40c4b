"""Frames <-> the compact latent space the world model works in: a small trained AutoencoderKL."""

from __future__ import annotations

import copy
import math

import torch
from diffusers import AutoencoderKL
from torch import nn

from .config import CodecConfig


class ChannelNorm(nn.Module):
    """Normalises each pixel over its own channels (a LayerNorm over C of (N, C, H, W)), with a
    per-channel scale and shift: the local stand-in for a GroupNorm, whose statistics pool the frame."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        normalised = nn.functional.layer_norm(features.movedim(1, -1), features.shape[1:2], eps=self.eps)
        return normalised.movedim(-1, 1) * self.weight[:, None, None] + self.bias[:, None, None]


def use_channel_norms(module: nn.Module) -> None:
    """Replace every `nn.GroupNorm` inside `module` by a `ChannelNorm` of the same width, in place."""
    for name, child in module.named_children():
        if isinstance(child, nn.GroupNorm):
            setattr(module, name, ChannelNorm(child.num_channels, child.eps))
        else:
            use_channel_norms(child)


class FrameAutoencoder(nn.Module):
    """A small diffusers `AutoencoderKL` trained on the project's own frames.

    64x64x3 frames become 16x16x4 latents with the default config (three levels, two
    halvings). The scene is nearly static, so a few thousand steps give sharp
    reconstructions, and the world model then predicts a smooth latent instead of
    pixel noise. Latents are normalised per channel to std `target_std`. With
    `norm="channel"` every GroupNorm becomes a `ChannelNorm`, so latents are local.
    """

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        self.config = config
        levels = len(config.block_channels)
        self.vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            block_out_channels=config.block_channels,
            layers_per_block=1,
            latent_channels=config.latent_channels,
            norm_num_groups=math.gcd(32, *config.block_channels),
            sample_size=config.image_size,
            mid_block_add_attention=False,  # attention at 16x16 costs more than it gives on this scene
        )
        if config.norm == "channel":
            use_channel_norms(self.vae)
        mean = torch.tensor(config.latent_mean or [0.0] * config.latent_channels)
        std = torch.tensor(config.latent_std or [1.0] * config.latent_channels)
        self.register_buffer("latent_mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("latent_std", std.view(1, -1, 1, 1), persistent=False)

    def set_latent_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Record per-channel statistics of raw latents, (C,) each, in the config and buffers."""
        self.config.latent_mean = mean.tolist()
        self.config.latent_std = std.clamp_min(1e-6).tolist()
        self.latent_mean.copy_(mean.view(1, -1, 1, 1))
        self.latent_std.copy_(std.clamp_min(1e-6).view(1, -1, 1, 1))

    def encode_raw(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float in [0, 1] -> (N, C, h, w) posterior means, unnormalised."""
        return self.vae.encode(images * 2.0 - 1.0).latent_dist.mean

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(..., 3, H, W) float in [0, 1] -> (..., C, h, w) latents of std ~`target_std`."""
        lead = images.shape[:-3]
        latents = self.encode_raw(images.reshape(-1, *images.shape[-3:]))
        latents = (latents - self.latent_mean) / self.latent_std * self.config.target_std
        return latents.reshape(*lead, *latents.shape[1:])

    def raw_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) normalised latents -> the autoencoder's own (unnormalised) latents."""
        return latents / self.config.target_std * self.latent_std + self.latent_mean

    def decode(self, latents: torch.Tensor, decoder: FrameDecoder | None = None) -> torch.Tensor:
        """(..., C, h, w) normalised latents -> (..., 3, H, W) float frames in [0, 1], by this
        autoencoder's decoder or by `decoder` (e.g. the world model's `imagined_decoder`)."""
        lead = latents.shape[:-3]
        raw = self.raw_latents(latents.reshape(-1, *latents.shape[-3:]))
        images = decoder(raw) if decoder is not None else (self.vae.decode(raw).sample + 1.0) / 2.0
        return images.clamp(0.0, 1.0).reshape(*lead, *images.shape[1:])

    def reconstruction_loss(self, images: torch.Tensor) -> torch.Tensor:
        """Training loss on (N, 3, H, W) frames in [0, 1]: pixel MSE plus `kl_weight` times the KL
        term; with `kl_weight` 0 the posterior mean is decoded (a deterministic autoencoder)."""
        posterior = self.vae.encode(images * 2.0 - 1.0).latent_dist
        kl_weight = self.config.kl_weight
        latents = posterior.sample() if kl_weight > 0 else posterior.mode()
        reconstruction = (self.vae.decode(latents).sample + 1.0) / 2.0
        loss = nn.functional.mse_loss(reconstruction, images)
        return loss + kl_weight * posterior.kl().mean() if kl_weight > 0 else loss


class FrameDecoder(nn.Module):
    """A second decoder for a `FrameAutoencoder`'s latents: the same architecture with its own
    weights, started as a copy of the autoencoder's decoder.

    The world model keeps one (`WorldModelConfig.imagined_decoder`) tuned on its own imagined
    latents against the real frames they stand for (`sfplan.training.tune_imagined_decoder`): the
    autoencoder's decoder was trained on sharp encoded frames, while an imagined latent carries the
    model's uncertainty, and the pixels that best match the truth on average are a different image.
    """

    def __init__(self, codec: FrameAutoencoder) -> None:
        super().__init__()
        self.post_quant_conv = copy.deepcopy(codec.vae.post_quant_conv)
        self.decoder = copy.deepcopy(codec.vae.decoder)
        self.register_buffer("tuned_steps", torch.zeros((), dtype=torch.long))  # 0: not tuned (yet)

    def copy_from(self, codec: FrameAutoencoder) -> None:
        """Take the weights of `codec`'s own decoder (where tuning starts); `tuned_steps` back to 0."""
        self.post_quant_conv.load_state_dict(codec.vae.post_quant_conv.state_dict())
        self.decoder.load_state_dict(codec.vae.decoder.state_dict())
        self.tuned_steps.zero_()

    def forward(self, raw_latents: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) unnormalised latents (`FrameAutoencoder.raw_latents`) -> (N, 3, H, W) frames,
        about [0, 1] but not clamped (so a pixel loss has gradients everywhere)."""
        return (self.decoder(self.post_quant_conv(raw_latents)) + 1.0) / 2.0
