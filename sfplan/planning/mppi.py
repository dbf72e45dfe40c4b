"""MPPI: model-predictive path integral control (Williams et al., 2017)."""

from __future__ import annotations

import torch

from .sampling import SamplingPlanner


class MPPIPlanner(SamplingPlanner):
    """Refits the sampling Gaussian to all candidates, weighted by exp((score - max) / temperature).

    Subtracting the max score keeps the exponent <= 0 (no overflow) and leaves the normalised
    weights unchanged; the std is the weighted std around the new mean.
    """

    def _refit(self, candidates: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, H, A) candidates, (N,) scores -> mean (H, A), std (H, A)."""
        weights = torch.exp((scores - scores.max()) / self.config.temperature)
        weights = (weights / weights.sum())[:, None, None]
        mean = (weights * candidates).sum(0)
        std = (weights * (candidates - mean) ** 2).sum(0).sqrt()
        return mean, std
