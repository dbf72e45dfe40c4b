"""Tune the world model's decoder of imagined latents (`WorldModelConfig.imagined_decoder`).

The codec's decoder was trained to reconstruct sharp frames from their own latents. The latents the
world model imagines are its mean prediction: where it is unsure (the moving arm) they are a blend
the codec's decoder never saw, and it renders them as a blurred, off-colour arm. A copy of that
decoder tuned on pairs of imagined latents and the real frames they predict renders the image that
is closest to the truth on average, without touching the latent space the world model, its fast
memory and the reward model work in (docs/world_model.md, session 20).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm import tqdm

from ..data import ChunkDataset, ChunkSpec, Episode
from ..world_model import FrameDecoder, VideoWorldModel
from .reward import imagine_windows
from .slow import extended_copy


@torch.no_grad()
def imagined_frame_pairs(
    model: VideoWorldModel, episodes: Sequence[Episode], stride: int, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first chunk of every `stride`-th window of `episodes`, imagined from its real context,
    state and actions with the model's own sampler settings (`denoise_steps`, `initial_noise`), and
    the real frames: latents (N, C, h, w) and frames (N, 3, H, W) uint8, N = windows x f_g."""
    config = model.config
    sizes = {episode.frames.shape[1:3] for episode in episodes}
    if sizes != {(config.codec.image_size,) * 2}:
        raise ValueError(f"episodes have frames of {sorted(sizes)} pixels, the world model's codec takes "
                         f"{config.codec.image_size}x{config.codec.image_size}: load them with image_size={config.codec.image_size}")
    windows = imagine_windows(model, episodes, chunks=1, stride=stride, steps=config.denoise_steps,
                              initial_noise=config.initial_noise, progress=progress)
    dataset = ChunkDataset(episodes, ChunkSpec(config.context_frames, config.target_frames, config.frame_skip, stride=stride))
    frames = torch.stack([dataset[index]["target"] for index in range(len(dataset))])
    return windows.imagined.flatten(0, 1), frames.flatten(0, 1)


def _imagined_decoder(model: VideoWorldModel) -> FrameDecoder:
    if model.imagined_decoder is None:
        raise ValueError("this world model has no imagined_decoder (world_model.imagined_decoder=false): "
                         "build one with with_imagined_decoder")
    return model.imagined_decoder


def tune_imagined_decoder(
    model: VideoWorldModel,
    latents: torch.Tensor,
    frames: torch.Tensor,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-4,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train `model.imagined_decoder` to turn `latents` (N, C, h, w) into `frames` (N, 3, H, W)
    uint8 with a pixel MSE (the error PSNR measures); Adam, `lr` for 70% of the steps, then falling
    linearly to 0. Everything else stays frozen, and so does the decoder afterwards; its `tuned_steps` counts the steps.
    Returns the losses."""
    decoder = _imagined_decoder(model)
    if len(latents) != len(frames) or not len(latents):
        raise ValueError(f"need as many latents as frames, and some: got {len(latents)} and {len(frames)}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=lr, weight_decay=0.0)
    flat_steps = int(0.7 * steps)
    decoder.requires_grad_(True)
    decoder.train()
    losses = []
    for step in tqdm(range(steps), desc="imagined decoder", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (steps - step) / max(1, steps - flat_steps))
        index = torch.randint(len(latents), (batch_size,), generator=generator)
        with torch.no_grad():
            raw = model.codec.raw_latents(latents[index])
        loss = torch.nn.functional.mse_loss(decoder(raw), frames[index].float() / 255.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    decoder.tuned_steps += steps
    decoder.requires_grad_(False)
    decoder.eval()
    return losses


def retune_imagined_decoder(
    model: VideoWorldModel, episodes: Sequence[Episode], steps: int = 1500, stride: int = 8, seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Start `model.imagined_decoder` again from the codec's decoder (earlier tuning belongs to the
    UNet weights it was tuned for) and tune it (`tune_imagined_decoder`, `steps`) on the first
    chunks the model imagines for every `stride`-th window of `episodes` (those it trained on),
    the model in eval mode. Returns the losses."""
    _imagined_decoder(model).copy_from(model.codec)
    model.eval()
    latents, frames = imagined_frame_pairs(model, episodes, stride, progress=progress)
    return tune_imagined_decoder(model, latents, frames, steps, seed=seed, progress=progress)


def with_imagined_decoder(
    model: VideoWorldModel, episodes: Sequence[Episode], steps: int = 1500, stride: int = 8, seed: int = 0,
    progress: bool = True,
) -> VideoWorldModel:
    """A copy of a trained `model`, its weights unchanged, plus an imagined-frame decoder tuned by
    `retune_imagined_decoder` on `episodes` (those it trained on)."""
    extended = extended_copy(model, "imagined_decoder", imagined_decoder=True)
    retune_imagined_decoder(extended, episodes, steps, stride, seed, progress)
    return extended
