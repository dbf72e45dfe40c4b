"""CEM: the cross-entropy method over action sequences."""

from __future__ import annotations

import torch

from .sampling import SamplingPlanner


class CEMPlanner(SamplingPlanner):
    """Refits the sampling Gaussian to the `config.elites` best-scoring candidates (equal weights)."""

    def _refit(self, candidates: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, H, A) candidates, (N,) scores -> mean (H, A), std (H, A) of the elites."""
        elites = candidates[scores.topk(self.config.elites).indices]
        return elites.mean(0), elites.std(0, correction=0)
