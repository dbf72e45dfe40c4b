"""Measurements: video metrics (PSNR, SSIM, scene cuts, FVD), env throughput, result tables."""

from .frechet import I3DFeatureExtractor, RandomConv3dExtractor, VideoFeatureExtractor, frechet_distance, fvd
from .report import write_results
from .throughput import env_steps_per_second
from .video_metrics import changed_pixel_mask, count_scene_cuts, psnr, scene_cuts_per_video, ssim

__all__ = [
    "I3DFeatureExtractor",
    "RandomConv3dExtractor",
    "VideoFeatureExtractor",
    "changed_pixel_mask",
    "count_scene_cuts",
    "env_steps_per_second",
    "frechet_distance",
    "fvd",
    "psnr",
    "scene_cuts_per_video",
    "ssim",
    "write_results",
]
