"""The sampling loop shared by MPPI and CEM, and the config that drives it.

Each iteration draws `samples` candidate action sequences around a Gaussian (mean, std) over
(H, A), scores them in one call, and refits (mean, std); subclasses only say how to refit.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from .base import PlanStats, PriorFn, ScoreFn
from .noise import colored_noise


@dataclass
class SamplingPlannerConfig:
    """Settings of a sampling-based planner (MPPI or CEM).

    horizon:         H, planned env steps (the caller splits them into world-model chunks).
    action_dim:      A, env action size.
    samples:         candidate sequences per iteration, all scored in one score call; one slot
                     is always the current mean, so at least 2.
    iterations:      sampling iterations per plan (each costs one score call).
    elites:          CEM: best candidates the new mean/std are fitted to (MPPI ignores it).
    temperature:     MPPI: weights are exp((score - max score) / temperature), in score units;
                     smaller trusts the best candidates more (CEM ignores it).
    noise_beta:      colour of the Gaussian samples along time (iCEM): their power spectrum falls as
                     1 / f^noise_beta. 0: white, every step perturbed independently; 2: a
                     perturbation persists over the horizon (close the gripper and keep it closed),
                     so candidates differ in behaviour, not in jitter. Each entry keeps the std.
    binary_dims:     action entries that are on/off commands, e.g. a gripper that reads only the
                     sign of its action (robosuite's do): in the Gaussian samples they are set to
                     action_high where the sample is at or above the middle of the bounds and to
                     action_low below it, so a candidate opens or closes for as long as its
                     (coloured) noise keeps its sign instead of dithering around the middle.
    hold_binary:     also score, in every iteration, the prior's own plan (the mean without a
                     prior) with each binary dim held at each bound for the whole horizon (2 per
                     binary dim, in place of Gaussian samples): "the same motion, but commit to
                     closing / opening the gripper".
    init_std:        std of the sampling Gaussian at a cold start and for the steps `shift` pads
                     on, in action units.
    min_std/max_std: bounds the refitted std is clipped to (min keeps exploring, max stops
                     samples piling up on the clip bounds).
    action_low/high: every candidate is clipped to [action_low, action_high] per entry.
    warm_start:      start each plan from the previous plan and its final std, shifted by
                     `shift` (else from the middle of the action bounds with `init_std`).
    prior_fraction:  share of each iteration's candidates proposed by the policy prior passed to
                     `plan`, 0..1: round(prior_fraction * samples), at most samples - 1 (the
                     mean keeps its slot).
    max_score_calls: hard cap on score calls (world-model rollouts) per plan; iterations stop
                     when it is spent. None: `iterations` alone decides.
    prior_margin:    with a prior, return the prior's first proposal of the first iteration (a
                     policy's own plan, e.g. `BCPolicy.propose`) unless the best candidate
                     scores at least this much higher; None returns the best candidate. An
                     imperfect world model's small predicted gains are mostly its errors: the
                     margin makes the planner overrule a good policy only when it is confident.
                     math.inf: always the prior's plan, unscored (nothing can beat it), unless
                     `plan(..., keep_prior_within_margin=False)` asks for the search.
    """

    horizon: int
    action_dim: int
    samples: int = 256
    iterations: int = 6
    elites: int = 32
    temperature: float = 0.5
    noise_beta: float = 0.0
    binary_dims: tuple[int, ...] = ()
    hold_binary: bool = False
    init_std: float = 0.5
    min_std: float = 0.05
    max_std: float = 1.0
    action_low: float = -1.0
    action_high: float = 1.0
    warm_start: bool = True
    prior_fraction: float = 0.0
    max_score_calls: int | None = None
    prior_margin: float | None = None

    def __post_init__(self) -> None:
        for name in ("horizon", "action_dim", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.samples < 2:
            raise ValueError(f"samples must be >= 2 (the current mean takes one slot), got {self.samples}")
        if not 1 <= self.elites <= self.samples:
            raise ValueError(f"elites must be in [1, samples={self.samples}], got {self.elites}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (in score units), got {self.temperature}")
        if self.noise_beta < 0:
            raise ValueError(f"noise_beta must be >= 0 (0: white noise, 2: Brownian-like), got {self.noise_beta}")
        self.binary_dims = tuple(self.binary_dims)  # a list when read from JSON
        if any(not 0 <= dim < self.action_dim for dim in self.binary_dims):
            raise ValueError(f"binary_dims must index actions in [0, action_dim={self.action_dim}), got {list(self.binary_dims)}")
        if self.hold_binary and not self.binary_dims:
            raise ValueError("hold_binary holds the binary action dims at their bounds: set binary_dims too")
        if self.hold_binary and 1 + self.prior_candidates + 2 * len(self.binary_dims) > self.samples:
            raise ValueError(f"samples={self.samples} leaves no room for the mean, {self.prior_candidates} prior "
                             f"proposals and {2 * len(self.binary_dims)} held-binary candidates; raise samples")
        if not 0 <= self.min_std <= self.max_std or self.max_std <= 0:
            raise ValueError(
                f"need 0 <= min_std <= max_std and max_std > 0, got min_std={self.min_std}, max_std={self.max_std}"
            )
        if not self.min_std <= self.init_std <= self.max_std:
            raise ValueError(
                f"init_std must be in [min_std={self.min_std}, max_std={self.max_std}], got {self.init_std}"
            )
        if not self.action_low < self.action_high:
            raise ValueError(f"action_low must be < action_high, got [{self.action_low}, {self.action_high}]")
        if not 0 <= self.prior_fraction <= 1:
            raise ValueError(f"prior_fraction must be in [0, 1], got {self.prior_fraction}")
        if self.prior_fraction > 0 and self.prior_candidates == 0:
            raise ValueError(
                f"prior_fraction={self.prior_fraction} of samples={self.samples} rounds to 0 prior candidates; "
                f"raise it to >= {1 / self.samples:.3g} or set it to 0"
            )
        if self.prior_margin is not None and (self.prior_fraction == 0 or self.prior_margin < 0):
            raise ValueError(f"prior_margin={self.prior_margin} needs prior_fraction > 0 and a margin >= 0 (score units)")
        if self.max_score_calls is not None and self.max_score_calls < 1:
            raise ValueError(
                f"max_score_calls must be >= 1 (each iteration costs one score call) or None for no cap, "
                f"got {self.max_score_calls}"
            )

    @property
    def prior_candidates(self) -> int:
        """Candidates per iteration that come from the prior when one is given."""
        return min(round(self.prior_fraction * self.samples), self.samples - 1)


PRIOR_PLAN_SLOT = 1
"""Index, among an iteration's candidates, of the prior's own plan (its first proposal); slot 0 is
the current mean."""


class SamplingPlanner(ABC):
    """Iterated Gaussian sampling over action sequences; subclasses refit (mean, std) in `_refit`.

    Decisions shared by all sampling planners:
    - Candidates of an iteration: the current mean, `config.prior_candidates` proposals of the
      prior (every iteration, so policy proposals keep competing as the mean moves), and
      Gaussian samples for the rest; all clipped to the action bounds.
    - Returned: the best-scoring candidate seen in any iteration, not the final mean. The final
      mean is never scored (that would cost another world-model call), and between two modes
      of a non-convex score it can be worse than either; the best candidate is also never
      worse than the warm start, which is scored as the first iteration's mean.
    - Warm start: the returned plan and the final std, shifted by `shift`: the kept steps keep
      the std the last plan narrowed them to, the padded steps (nothing known yet) get
      `init_std`. Restarting every step at `init_std` would scatter the first iteration's
      samples far from a good warm start, and CEM's refit would then forget it.
    - The planner works on CPU float32; `score` moves actions to its model's device.
    """

    def __init__(self, config: SamplingPlannerConfig) -> None:
        self.config = config
        self.last_stats: PlanStats | None = None
        self._warm: tuple[torch.Tensor, torch.Tensor] | None = None  # (mean, std), each (H, A)

    @abstractmethod
    def _refit(self, candidates: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, H, A) candidates and their (N,) scores -> new mean (H, A) and std (H, A), unclipped."""

    def reset(self) -> None:
        """Forget the warm start (a new episode begins)."""
        self._warm = None

    def shift(self, steps: int) -> None:
        """Drop the first `steps` actions of the last plan (they were executed) and pad the end
        by repeating the last action, so e.g. a closed gripper stays closed, with std `init_std`;
        no-op without a warm start. 0 <= steps <= horizon."""
        if not 0 <= steps <= self.config.horizon:
            raise ValueError(f"steps must be in [0, horizon={self.config.horizon}], got {steps}")
        if self._warm is None or steps == 0:
            return
        mean, std = self._warm
        self._warm = (
            torch.cat([mean[steps:], mean[-1:].expand(steps, -1)]),
            torch.cat([std[steps:], torch.full((steps, self.config.action_dim), self.config.init_std)]),
        )

    @torch.no_grad()
    def plan(
        self, score: ScoreFn, generator: torch.Generator | None = None, prior: PriorFn | None = None,
        keep_prior_within_margin: bool = True,
    ) -> torch.Tensor:
        """Optimise the action sequence against `score`.

        score:     (N, H, A) float32 -> (N,) scores, higher is better; called once per iteration
                   with N = config.samples.
        generator: CPU generator for the Gaussian samples (None: torch's global RNG).
        prior:     n -> (n, H, A) policy proposals; required iff config.prior_fraction > 0.
        keep_prior_within_margin: apply `config.prior_margin` (False: return the best candidate
                   this time, e.g. when the prior is seen to be stuck).
        Returns the best action sequence, (H, A) float32, within the action bounds.
        """
        config = self.config
        if (prior is None) != (config.prior_fraction == 0):
            raise ValueError(
                f"prior_fraction={config.prior_fraction} but prior is {'None' if prior is None else 'given'}; "
                "pass plan(..., prior=...) together with config.prior_fraction > 0, or neither"
            )
        if keep_prior_within_margin and prior is not None and config.prior_margin == math.inf:
            return self._unscored_prior_plan(prior)
        iterations = min(config.iterations, config.max_score_calls or config.iterations)  # max_score_calls >= 1
        mean, std = self._start()
        best, best_score, best_iteration = mean, -math.inf, 0
        for iteration in range(iterations):
            candidates = self._candidates(mean, std, prior, generator)
            scores = self._score(score, candidates)
            if iteration == 0 and prior is not None:
                prior_plan, prior_score = candidates[PRIOR_PLAN_SLOT], float(scores[PRIOR_PLAN_SLOT])
            top = int(scores.argmax())
            if scores[top] > best_score:
                best, best_score, best_iteration = candidates[top], float(scores[top]), iteration
            mean, std = self._refit(candidates, scores)
            std = std.clamp(config.min_std, config.max_std)
        kept_prior = (keep_prior_within_margin and config.prior_margin is not None
                      and best_score < prior_score + config.prior_margin)
        if kept_prior:
            best, best_score, best_iteration = prior_plan, prior_score, 0
        self.last_stats = PlanStats(iterations, iterations, iterations * config.samples, best_score, best_iteration, kept_prior)
        if config.warm_start:
            self._warm = (best.clone(), std)
        return best.clone()

    def _unscored_prior_plan(self, prior: PriorFn) -> torch.Tensor:
        """The prior's own plan without a score call: with an infinite margin no candidate could
        replace it. It warm-starts the next plan with `init_std` around it."""
        config = self.config
        plan = self._propose(prior, 1)[0].clamp(config.action_low, config.action_high)
        self.last_stats = PlanStats(0, 0, 0, math.nan, 0, kept_prior=True)
        if config.warm_start:
            self._warm = (plan.clone(), torch.full_like(plan, config.init_std))
        return plan

    def _start(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std), each (H, A): the warm start, or the middle of the action bounds with init_std."""
        if self._warm is not None:
            return self._warm
        shape = (self.config.horizon, self.config.action_dim)
        middle = (self.config.action_low + self.config.action_high) / 2
        return torch.full(shape, middle), torch.full(shape, self.config.init_std)

    def _candidates(
        self, mean: torch.Tensor, std: torch.Tensor, prior: PriorFn | None, generator: torch.Generator | None
    ) -> torch.Tensor:
        """(samples, H, A): the mean, the prior's proposals, the held-binary variants of the prior's
        plan, then Gaussian samples (coloured by `noise_beta`, `binary_dims` at the bounds), clipped."""
        config = self.config
        parts = [mean[None]]
        if prior is not None:
            parts.append(self._propose(prior, config.prior_candidates))
        if config.hold_binary:
            parts.append(self._held_binary(parts[-1][0]))
        gaussian = config.samples - sum(len(part) for part in parts)
        samples = mean + std * colored_noise((gaussian, *mean.shape), config.noise_beta, generator)
        if config.binary_dims:
            dims = list(config.binary_dims)
            middle = (config.action_low + config.action_high) / 2
            samples[..., dims] = torch.where(samples[..., dims] >= middle, config.action_high, config.action_low)
        parts.append(samples)
        return torch.cat(parts).clamp(config.action_low, config.action_high)

    def _held_binary(self, plan: torch.Tensor) -> torch.Tensor:
        """(2 x binary dims, H, A): `plan` with one binary dim held at action_low, then at action_high."""
        held = []
        for dim in self.config.binary_dims:
            for bound in (self.config.action_low, self.config.action_high):
                variant = plan.clone()
                variant[:, dim] = bound
                held.append(variant)
        return torch.stack(held)

    def _propose(self, prior: PriorFn, n: int) -> torch.Tensor:
        """(n, H, A) float32 CPU proposals of the prior, shape-checked."""
        proposals = prior(n)
        expected = (n, self.config.horizon, self.config.action_dim)
        if tuple(proposals.shape) != expected:
            raise ValueError(
                f"prior({n}) must return shape {expected} (n, horizon, action_dim), got {tuple(proposals.shape)}"
            )
        return proposals.detach().to("cpu", torch.float32)

    def _score(self, score: ScoreFn, candidates: torch.Tensor) -> torch.Tensor:
        """(N,) float32 CPU scores of the (N, H, A) candidates, checked to be finite."""
        scores = score(candidates)
        if tuple(scores.shape) != (len(candidates),):
            raise ValueError(
                f"score must return shape ({len(candidates)},), one score per candidate, got {tuple(scores.shape)}"
            )
        scores = scores.detach().to("cpu", torch.float32)
        if not torch.isfinite(scores).all():
            raise ValueError("score returned NaN or inf; make the score finite (e.g. clamp the reward model's output)")
        return scores
