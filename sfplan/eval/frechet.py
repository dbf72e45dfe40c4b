"""Fréchet Video Distance (FVD) between two sets of videos, with a pluggable feature extractor.

FVD fits a Gaussian to the features of each set and returns the Fréchet distance between
the two Gaussians. Published FVD numbers use the Kinetics-400 I3D network
(`I3DFeatureExtractor`, weights supplied by the user); `RandomConv3dExtractor` needs no
weights and is for relative comparisons within this project only. Always report
`extractor.name` next to the number.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg

from .video_metrics import check_image_tensor


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    mu1, mu2: (D,) means; sigma1, sigma2: (D, D) covariances (scalars are read as D = 1).
    Returns |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)), computed as in
    pytorch-fid: when the square root of the product is not finite (a singular product,
    e.g. from fewer samples than feature dimensions), eps * I is added to both covariances,
    with a warning, and the distance is that between the regularised Gaussians; imaginary
    parts left by round-off are dropped. scipy's own LinAlgWarning about a singular or
    ill-conditioned product is passed on: the root is usually still accurate, and eps is
    absolute, so adding it whenever scipy warns would bias small-scale features.
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(mu, dtype=np.float64)) for mu in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(sigma, dtype=np.float64)) for sigma in (sigma1, sigma2))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"means must be (D,) vectors of one length, got shapes {mu1.shape} and {mu2.shape}")
    dim = mu1.shape[0]
    if sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"covariances must be ({dim}, {dim}) to match the means, got {sigma1.shape} and {sigma2.shape}"
        )
    if not all(np.isfinite(array).all() for array in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("means and covariances must be finite; check the features for NaNs")

    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        warnings.warn(
            f"the product of covariances is singular; adding {eps} to their diagonals "
            f"(use more videos than feature dimensions to avoid this)",
            stacklevel=2,
        )
        # Regularise the covariances everywhere, not only inside the root, so that identical
        # statistics still give 0 (pytorch-fid's version is off by -2 * eps * D).
        sigma1, sigma2 = sigma1 + eps * np.eye(dim), sigma2 + eps * np.eye(dim)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"matrix square root has an imaginary component of {np.abs(covmean.imag).max():.3g}; the "
                f"covariances are far from positive semi-definite, so check how the features were computed"
            )
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


@runtime_checkable
class VideoFeatureExtractor(Protocol):
    """Maps videos to feature vectors for FVD.

    name: identifies the network and its weights in reported results.
    __call__: videos (B, T, 3, H, W) float in [0, 1] -> (B, D) float features.
    """

    name: str

    def __call__(self, videos: torch.Tensor) -> torch.Tensor: ...


class I3DFeatureExtractor:
    """Kinetics-400 I3D logits (400-d), the standard FVD features.

    Wraps the TorchScript port `i3d_torchscript.pt` used by the StyleGAN-V and DIGAN FVD
    code, called as they call it: input (B, 3, T, H, W) in [-1, 1] with `rescale=False,
    resize=True` (the network resizes frames to 224x224 itself), `return_features=True`
    (the pre-softmax layer). Conventionally computed on 16-frame clips.
    """

    name = "i3d-kinetics400"
    # Temporal stride 8 and a final pooling over 2 steps: fewer frames cannot pass through.
    min_frames = 9

    def __init__(self, module: torch.nn.Module, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.module = module.eval().to(self.device)

    @classmethod
    def from_file(cls, path: str | Path, device: str | torch.device = "cpu") -> I3DFeatureExtractor:
        """Load the TorchScript I3D from `path` (never downloads)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no I3D TorchScript file at {path}: FVD needs the Kinetics-400 I3D network "
                f"`i3d_torchscript.pt` (the file used by StyleGAN-V / DIGAN); download it yourself "
                f"and pass its path, or use RandomConv3dExtractor for a weight-free proxy"
            )
        return cls(torch.jit.load(str(path), map_location="cpu"), device=device)

    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        """videos: (B, T, 3, H, W) float in [0, 1], T >= 9 -> (B, 400) float32 on the CPU."""
        if videos.shape[1] < self.min_frames:
            raise ValueError(
                f"I3D needs clips of at least {self.min_frames} frames, got {videos.shape[1]}; "
                f"FVD is usually computed on 16-frame clips"
            )
        clips = (videos.to(self.device, torch.float32) * 2 - 1).permute(0, 2, 1, 3, 4).contiguous()
        with torch.no_grad():
            features = self.module(clips, rescale=False, resize=True, return_features=True)
        return features.float().cpu()


class RandomConv3dExtractor:
    """Weight-free FVD proxy: a fixed, randomly initialised 3-D conv net.

    Three Conv3d + ReLU layers (3 -> 16 -> 32 -> 64 channels, 3x4x4 kernels, strides
    1x2x2, 2x2x2, 2x2x2) with He-scaled Gaussian weights from NumPy's legacy
    `RandomState(seed)`, whose stream is frozen across NumPy versions, then a global mean
    over time and space: 64-d features that respond to appearance and short-range motion.
    Its distances are not comparable with published FVD; `name` carries the seed.
    """

    channels = (3, 16, 32, 64)
    kernel = (3, 4, 4)
    strides = ((1, 2, 2), (2, 2, 2), (2, 2, 2))

    def __init__(self, seed: int = 0, device: str | torch.device = "cpu") -> None:
        self.name = f"random-conv3d-seed{seed}"
        self.device = torch.device(device)
        generator = np.random.RandomState(seed)
        self.weights: list[torch.Tensor] = []
        for fan_in_channels, out_channels in zip(self.channels[:-1], self.channels[1:]):
            shape = (out_channels, fan_in_channels, *self.kernel)
            scale = math.sqrt(2.0 / (fan_in_channels * math.prod(self.kernel)))
            weight = torch.from_numpy(generator.standard_normal(shape) * scale).float()
            self.weights.append(weight.to(self.device))

    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        """videos: (B, T, 3, H, W) float in [0, 1] -> (B, 64) float32 on the CPU."""
        x = (videos.to(self.device, torch.float32) * 2 - 1).permute(0, 2, 1, 3, 4)
        with torch.no_grad():
            for weight, stride in zip(self.weights, self.strides):
                x = F.relu(F.conv3d(x, weight, stride=stride, padding=1))
        return x.mean(dim=(2, 3, 4)).cpu()


def _features(videos: torch.Tensor, extractor: VideoFeatureExtractor, batch_size: int) -> np.ndarray:
    """(N, T, 3, H, W) videos -> (N, D) float64 features, `batch_size` videos at a time."""
    features = torch.cat([extractor(batch).detach().cpu() for batch in videos.split(batch_size)]).double().numpy()
    if features.ndim != 2 or features.shape[0] != videos.shape[0] or not np.isfinite(features).all():
        raise ValueError(
            f"extractor {extractor.name!r} must return finite (B, D) features for (B, T, 3, H, W) "
            f"videos; got shape {features.shape} for {videos.shape[0]} videos"
        )
    return features


def fvd(
    real_videos: torch.Tensor,
    fake_videos: torch.Tensor,
    extractor: VideoFeatureExtractor,
    batch_size: int = 16,
) -> float:
    """Fréchet Video Distance between two sets of clips under `extractor`'s features.

    real_videos, fake_videos: (N, T, 3, H, W) float in [0, 1], N >= 2 each (the sets may
        differ in N, not in clip shape).
    Returns the Fréchet distance between the Gaussians fitted to the two feature sets
    (lower is better). It is biased upwards for small N; published I3D numbers use 2048
    clips per set, so compare only numbers computed with the same N and extractor.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for name, videos in (("real_videos", real_videos), ("fake_videos", fake_videos)):
        check_image_tensor(videos, name)
        if videos.ndim != 5 or videos.shape[2] != 3:
            raise ValueError(f"{name} must be (N, T, 3, H, W) RGB clips, got shape {tuple(videos.shape)}")
        if videos.shape[0] < 2:
            raise ValueError(
                f"{name} holds {videos.shape[0]} video; FVD needs at least 2 per set to fit a covariance"
            )
    if real_videos.shape[1:] != fake_videos.shape[1:]:
        raise ValueError(
            f"real and fake clips differ in shape: {tuple(real_videos.shape[1:])} vs "
            f"{tuple(fake_videos.shape[1:])}; cut both sets to the same length and resolution"
        )
    real, fake = _features(real_videos, extractor, batch_size), _features(fake_videos, extractor, batch_size)
    return frechet_distance(
        real.mean(axis=0), np.cov(real, rowvar=False), fake.mean(axis=0), np.cov(fake, rowvar=False)
    )
