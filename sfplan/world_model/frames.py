"""Checking and converting frame tensors at the world model's boundary."""

from __future__ import annotations

import torch


def frames_to_unit_float(frames: torch.Tensor, image_size: int, name: str = "frames") -> torch.Tensor:
    """Validate (B, T, 3, H, W) frames and return them as float32 in [0, 1].

    Accepts uint8 in [0, 255] or floating point in [0, 1]; anything else (wrong rank,
    channels last, another image size, NaN, out of range) raises a ValueError that says
    what was expected.
    """
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (B, T, 3, H, W), got {type(frames).__name__}")
    if frames.ndim != 5 or frames.shape[2] != 3:
        raise ValueError(
            f"{name} must be (B, T, 3, H, W), got shape {tuple(frames.shape)}; "
            "for (B, T, H, W, 3) arrays use tensor.permute(0, 1, 4, 2, 3)"
        )
    if frames.shape[-2:] != (image_size, image_size):
        raise ValueError(
            f"{name} are {frames.shape[-2]}x{frames.shape[-1]} but the model was trained on "
            f"{image_size}x{image_size}; make the env with image_size={image_size}"
        )
    if frames.dtype == torch.uint8:
        return frames.float() / 255.0
    if not frames.is_floating_point():
        raise ValueError(f"{name} must be uint8 in [0, 255] or float in [0, 1], got dtype {frames.dtype}")
    if not torch.isfinite(frames).all():
        raise ValueError(f"{name} contain NaN or inf")
    if frames.min() < 0.0 or frames.max() > 1.0:
        raise ValueError(
            f"float {name} must lie in [0, 1], got [{frames.min().item():.3g}, {frames.max().item():.3g}]; "
            "divide uint8 frames by 255"
        )
    return frames.float()
