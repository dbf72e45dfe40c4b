"""Frame-level video metrics: PSNR (whole-frame or on changed pixels), SSIM, scene-cut counts.

PSNR and SSIM take float tensors in [0, data_range] shaped (B, C, H, W) or
(B, T, C, H, W) and return one value per sample, shape (B,). Frames stored as
uint8 (as `sfplan.data.ChunkDataset` yields them) are converted with `frames / 255`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

# Wang et al. (2004) SSIM constants, as in skimage's `gaussian_weights=True` mode.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# Mean absolute change of the HSV value channel (0-255 units) between consecutive
# frames at or above which a frame starts a new scene: PySceneDetect's default. On
# 64x64 synthetic clips, with `luma_only`, a switch between two unrelated scenes
# scores 40-115, a sliding 16x16 square ~1, per-frame noise of std 10/255 ~12.
SCENE_CUT_THRESHOLD = 27.0


def check_image_tensor(images: torch.Tensor, name: str, data_range: float = 1.0) -> None:
    """Raise ValueError unless `images` is a finite float tensor with values in [0, data_range]."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor in [0, {data_range}], got dtype {images.dtype}; "
            f"convert uint8 frames with `frames.float() / 255`"
        )
    if images.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(images.shape)})")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = images.min().item(), images.max().item()
    if low < 0 or high > data_range:
        raise ValueError(
            f"{name} must lie in [0, {data_range}], found values in [{low:.4g}, {high:.4g}]; "
            f"clamp model outputs with `.clamp(0, {data_range})` or pass the matching data_range"
        )


def _check_pair(prediction: torch.Tensor, target: torch.Tensor, data_range: float) -> None:
    """Both tensors valid images of one shape, (B, C, H, W) or (B, T, C, H, W)."""
    check_image_tensor(prediction, "prediction", data_range)
    check_image_tensor(target, "target", data_range)
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target shapes differ: {tuple(prediction.shape)} vs {tuple(target.shape)}"
        )
    if prediction.ndim not in (4, 5):
        raise ValueError(
            f"expected (B, C, H, W) or (B, T, C, H, W) tensors, got shape {tuple(prediction.shape)}; "
            f"add a batch dimension with `.unsqueeze(0)` for a single image or clip"
        )


def psnr(
    prediction: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, one value per sample.

    prediction, target: (B, C, H, W) or (B, T, C, H, W) float in [0, data_range].
    mask: optional bool tensor broadcastable to that shape, e.g. (B, T, 1, H, W) from
        `changed_pixel_mask`; only pixels where it is True enter the mean squared error.
    Returns (B,) float: 10 log10(data_range^2 / MSE), the MSE pooled over every
    frame, channel and (masked) pixel of the sample, not an average of per-frame PSNRs.
    A sample with zero error gives +inf; a sample whose mask selects no pixel gives NaN
    (average over a batch with `torch.nanmean`).
    """
    _check_pair(prediction, target, data_range)
    squared_error = (prediction - target).square()
    if mask is None:
        mse = squared_error.flatten(1).mean(dim=1)
    else:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor, got dtype {mask.dtype}")
        try:
            mask = mask.expand(prediction.shape).flatten(1)
        except RuntimeError as error:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the images' shape "
                f"{tuple(prediction.shape)}; give it the same shape or size 1 in the channel dimension"
            ) from error
        mse = (squared_error.flatten(1) * mask).sum(dim=1) / mask.sum(dim=1)
    return 10 * torch.log10(data_range**2 / mse)


def changed_pixel_mask(
    context_last: torch.Tensor,
    target: torch.Tensor,
    threshold: float = 0.05,
) -> torch.Tensor:
    """Pixels of the target frames that differ from the last context frame.

    context_last: (B, C, H, W) float in [0, 1], the last frame the model saw.
    target: (B, T, C, H, W) or (B, C, H, W) float in [0, 1], ground-truth future frames.
    threshold: a pixel counts as changed when some channel moves by more than this.
        0.05 (~13 of 255 grey levels) ignores quantisation and compression noise but
        keeps the robot, moved objects and their shadows.
    Returns bool (B, T, 1, H, W) or (B, 1, H, W), to pass as `psnr(..., mask=...)`. Build it
    from ground truth only, so a prediction cannot choose where it is scored; pair masked
    PSNR with whole-frame PSNR, since the mask ignores motion invented in static regions.
    """
    check_image_tensor(context_last, "context_last")
    check_image_tensor(target, "target")
    if context_last.ndim != 4:
        raise ValueError(f"context_last must be (B, C, H, W), got shape {tuple(context_last.shape)}")
    frame_shape = target.shape[2:] if target.ndim == 5 else target.shape[1:]
    if target.ndim not in (4, 5) or target.shape[0] != context_last.shape[0] or frame_shape != context_last.shape[1:]:
        raise ValueError(
            f"target must be (B, T, C, H, W) or (B, C, H, W) matching context_last "
            f"{tuple(context_last.shape)}, got shape {tuple(target.shape)}"
        )
    reference = context_last.unsqueeze(1) if target.ndim == 5 else context_last
    return (target - reference).abs().amax(dim=-3, keepdim=True) > threshold


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(SSIM_WINDOW,) normalised 1-D Gaussian of std SSIM_SIGMA."""
    offsets = torch.arange(SSIM_WINDOW, dtype=dtype, device=device) - (SSIM_WINDOW - 1) / 2
    window = torch.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    return window / window.sum()


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), one value per sample.

    prediction, target: (B, C, H, W) or (B, T, C, H, W) float in [0, data_range], H, W >= 11.
    Returns (B,) float in [-1, 1]; 1 for identical inputs.

    Each channel of each frame is filtered on its own with an 11x11 Gaussian window
    (sigma 1.5) over the valid region only (no padding), with population (co)variances,
    K1 = 0.01 and K2 = 0.03; the SSIM map is then averaged over positions, channels and
    frames. This matches `skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=data_range, channel_axis=...)`.
    """
    _check_pair(prediction, target, data_range)
    height, width = prediction.shape[-2:]
    if height < SSIM_WINDOW or width < SSIM_WINDOW:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {height}x{width}")
    batch = prediction.shape[0]
    x = prediction.reshape(-1, 1, height, width)
    y = target.reshape(-1, 1, height, width)
    window = _gaussian_window(x.dtype, x.device)
    row, column = window.view(1, 1, 1, -1), window.view(1, 1, -1, 1)

    def blur(images: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(images, row), column)  # separable Gaussian, valid region

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.reshape(batch, -1).mean(dim=1)


def count_scene_cuts(
    frames: np.ndarray,
    threshold: float = SCENE_CUT_THRESHOLD,
    min_scene_len: int = 1,
) -> int:
    """Number of abrupt scene changes in one video, found by PySceneDetect's ContentDetector.

    frames: (T, H, W, 3) uint8 RGB, held in memory (no video file is written).
    threshold: mean absolute change of the HSV value channel (0-255) between consecutive
        frames that counts as a cut; see SCENE_CUT_THRESHOLD. The detector runs with
        `luma_only=True` because hue and saturation of grey or dark pixels (robot tables,
        backgrounds) jump under the per-frame noise of generated video: noise of std
        5/255 on a grey clip scores ~28 with the default weights, ~5 with luma only.
    min_scene_len: frames a scene must last before the next cut counts. The default 1
        counts every frame-to-frame jump above threshold, so a one-frame glitch A-B-A
        counts 2 cuts. PySceneDetect's default of 15 suits full-length films; on our
        16-40 frame clips it would also hide any cut in the first 15 frames.
    Returns the number of cuts (0 for a single frame).
    """
    from scenedetect import ContentDetector, FrameTimecode  # pulls in OpenCV: load only when used

    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        kind = frames.dtype if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(
            f"frames must be a uint8 numpy array, got {kind}; convert with `(x * 255).round().astype(np.uint8)`"
        )
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be (T, H, W, 3) RGB with T >= 1, got shape {frames.shape}")
    detector = ContentDetector(threshold=threshold, min_scene_len=min_scene_len, luma_only=True)
    fps = 30.0  # only labels timecodes: min_scene_len is counted in frames
    cuts = []
    for index, frame in enumerate(frames):
        bgr = np.ascontiguousarray(frame[..., ::-1])  # the detector expects OpenCV's BGR order
        cuts += detector.process_frame(FrameTimecode(index, fps=fps), bgr)
    cuts += detector.post_process(FrameTimecode(len(frames) - 1, fps=fps))
    return len(cuts)


def scene_cuts_per_video(
    videos: Iterable[np.ndarray],
    threshold: float = SCENE_CUT_THRESHOLD,
    min_scene_len: int = 1,
) -> list[int]:
    """`count_scene_cuts` for each video of `videos`: (N, T, H, W, 3) uint8 or a sequence of (T, H, W, 3)."""
    return [count_scene_cuts(video, threshold=threshold, min_scene_len=min_scene_len) for video in videos]
