"""Sampling planners on analytic scores (no world model): optimum found, budget, bounds, warm start, prior."""

from __future__ import annotations

import math

import pytest
import torch

from sfplan.planning import PLANNERS, Planner, SamplingPlannerConfig, make_planner
from sfplan.planning.noise import colored_noise

H, A = 5, 2
NAMES = sorted(PLANNERS)


def config(**overrides) -> SamplingPlannerConfig:
    values = dict(horizon=H, action_dim=A, samples=128, iterations=15, elites=16, temperature=0.01)
    return SamplingPlannerConfig(**{**values, **overrides})


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def quadratic(target: torch.Tensor):
    """score = -||actions - target||^2 over (H, A); the optimum is `target`."""
    return lambda actions: -((actions - target) ** 2).sum((1, 2))


def random_target(seed: int = 0, low: float = -0.8, high: float = 0.8) -> torch.Tensor:
    return torch.rand(H, A, generator=seeded(seed)) * (high - low) + low


class CountingScore:
    """Wraps a score function; records every batch of candidates it is called with."""

    def __init__(self, score) -> None:
        self.score = score
        self.batches: list[torch.Tensor] = []

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        self.batches.append(actions.clone())
        return self.score(actions)


@pytest.mark.parametrize("name", NAMES)
def test_finds_the_optimum_of_a_quadratic(name):
    target = random_target()
    planner = make_planner(name, config(samples=256, iterations=20))
    plan = planner.plan(quadratic(target), seeded())
    assert plan.shape == (H, A) and plan.dtype == torch.float32
    assert (plan - target).abs().max() < 0.05
    assert planner.last_stats.best_score == pytest.approx(-((plan - target) ** 2).sum().item())


@pytest.mark.parametrize("name", NAMES)
def test_picks_the_taller_of_two_bumps(name):
    # Two Gaussian bumps mirrored around the start (the middle of the bounds), so both are
    # equally far away: only the heights (1.0 vs 0.5) tell the planner which one to climb.
    tall = (torch.randint(0, 2, (H, A), generator=seeded(0)) - 0.5).float()
    centers, heights = torch.stack([tall, -tall]), torch.tensor([1.0, 0.5])

    def bumps(actions):
        distance = ((actions[:, None] - centers) ** 2).mean((2, 3))
        return (heights * torch.exp(-distance / 0.1)).sum(1)

    plan = make_planner(name, config(samples=256, iterations=20, temperature=0.05)).plan(bumps, seeded())
    assert (plan - tall).abs().max() < 0.1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("max_score_calls", [1, 3, None])
def test_score_call_budget_is_respected(name, max_score_calls):
    score = CountingScore(quadratic(random_target()))
    planner = make_planner(name, config(iterations=5, max_score_calls=max_score_calls))
    planner.plan(score, seeded())
    calls = 5 if max_score_calls is None else max_score_calls
    assert len(score.batches) == calls
    assert all(batch.shape == (128, H, A) for batch in score.batches)  # one call per iteration, all candidates
    stats = planner.last_stats
    assert (stats.score_calls, stats.iterations, stats.candidates) == (calls, calls, calls * 128)


@pytest.mark.parametrize("name", NAMES)
def test_actions_stay_within_bounds(name):
    score = CountingScore(quadratic(torch.full((H, A), 3.0)))  # optimum far outside the bounds
    planner = make_planner(name, config(action_low=-0.5, action_high=0.25, init_std=1.0, max_std=2.0))
    plan = planner.plan(score, seeded())
    candidates = torch.cat(score.batches)
    assert candidates.min() >= -0.5 and candidates.max() <= 0.25
    assert (plan - 0.25).abs().max() < 0.1  # the best feasible plan: the upper bound


@pytest.mark.parametrize("name", NAMES)
def test_warm_start_after_shift_beats_a_cold_start_at_equal_budget(name):
    # An MPC loop along a moving target: plan, execute one action, shift, replan on the next window.
    replans = 4
    steps = torch.arange(H + replans, dtype=torch.float32)[:, None]
    trajectory = 0.6 * torch.sin(0.4 * steps + torch.tensor([0.0, 1.5]))  # (H + replans, A): a smooth target
    warm, cold = make_planner(name, config(iterations=2)), make_planner(name, config(iterations=2))
    for t in range(replans):
        warm.plan(quadratic(trajectory[t : t + H]), seeded(t))
        warm.shift(1)
    for planner in (warm, cold):
        planner.plan(quadratic(trajectory[replans:]), seeded(replans))
    assert warm.last_stats.best_score > 0.5 * cold.last_stats.best_score  # at most half the squared error


@pytest.mark.parametrize("name", NAMES)
def test_a_replan_is_never_worse_than_its_warm_start(name):
    score = quadratic(random_target())
    planner = make_planner(name, config(iterations=3))
    planner.plan(score, seeded(0))
    first = planner.last_stats.best_score
    planner.plan(score, seeded(1))
    assert planner.last_stats.best_score >= first


@pytest.mark.parametrize("name", NAMES)
def test_shift_drops_executed_actions_and_repeats_the_last(name):
    planner = make_planner(name, config(iterations=1))
    plan = planner.plan(quadratic(random_target()), seeded())
    planner.shift(2)
    score = CountingScore(quadratic(random_target()))
    planner.plan(score, seeded())
    warm_start = score.batches[0][0]  # the first candidate of a plan is the current mean
    assert torch.equal(warm_start, torch.cat([plan[2:], plan[-1:], plan[-1:]]))
    with pytest.raises(ValueError, match=r"steps must be in \[0, horizon=5\]"):
        planner.shift(H + 1)


@pytest.mark.parametrize("name", NAMES)
def test_reset_forgets_the_warm_start(name):
    score = quadratic(random_target())
    fresh = make_planner(name, config(iterations=2)).plan(score, seeded(1))
    planner = make_planner(name, config(iterations=2))
    planner.plan(score, seeded(0))
    planner.reset()
    assert torch.equal(planner.plan(score, seeded(1)), fresh)


@pytest.mark.parametrize("name", NAMES)
def test_without_warm_start_every_plan_starts_cold(name):
    score = quadratic(random_target())
    planner = make_planner(name, config(iterations=2, warm_start=False))
    first = planner.plan(score, seeded(0))
    planner.shift(1)
    assert torch.equal(planner.plan(score, seeded(0)), first)


@pytest.mark.parametrize("name", NAMES)
def test_a_prior_that_proposes_the_optimum_is_used(name):
    target = random_target()
    score = quadratic(target)
    proposals: list[int] = []

    def prior(n: int) -> torch.Tensor:
        proposals.append(n)
        return target.expand(n, H, A) + 0.01 * torch.randn(n, H, A, generator=seeded(len(proposals)))

    with_prior = make_planner(name, config(iterations=1, prior_fraction=0.25)).plan(score, seeded(), prior=prior)
    without = make_planner(name, config(iterations=1)).plan(score, seeded())
    assert proposals == [32]  # round(0.25 * 128) per iteration
    assert (with_prior - target).abs().max() < 0.05
    assert (without - target).abs().max() > 0.1


@pytest.mark.parametrize("name", NAMES)
def test_prior_margin_keeps_the_priors_plan_unless_clearly_beaten(name):
    target = random_target()
    prior_plan = target + 0.3  # scores -H*A*0.09 = -0.9; the optimum found scores ~0

    def prior(n: int) -> torch.Tensor:
        return prior_plan.expand(n, H, A).clone()

    def planned(margin, keep_prior_within_margin=True):
        planner = make_planner(name, config(iterations=3, prior_fraction=0.25, prior_margin=margin))
        plan = planner.plan(quadratic(target), seeded(), prior=prior, keep_prior_within_margin=keep_prior_within_margin)
        return plan, planner.last_stats

    plan, stats = planned(2.0)
    clipped = prior_plan.clamp(-1.0, 1.0)
    assert torch.equal(plan, clipped) and stats.kept_prior
    assert stats.best_score == pytest.approx(quadratic(target)(clipped[None]).item(), rel=1e-4)
    plan, stats = planned(0.1)
    assert not stats.kept_prior and stats.best_score > quadratic(target)(clipped[None]).item() + 0.1
    lifted, lifted_stats = planned(2.0, keep_prior_within_margin=False)  # e.g. the prior is stuck: take the best
    assert torch.equal(lifted, plan) and not lifted_stats.kept_prior
    lifted, lifted_stats = planned(math.inf, keep_prior_within_margin=False)
    assert torch.equal(lifted, plan) and not lifted_stats.kept_prior


@pytest.mark.parametrize("name", NAMES)
def test_an_infinite_margin_returns_the_priors_plan_without_scoring(name):
    prior_plan = random_target() + 0.3

    def never_called(actions: torch.Tensor) -> torch.Tensor:
        raise AssertionError("an infinite margin must not spend a score call")

    planner = make_planner(name, config(iterations=3, prior_fraction=0.25, prior_margin=math.inf))
    plan = planner.plan(never_called, seeded(), prior=lambda n: prior_plan.expand(n, H, A).clone())
    assert torch.equal(plan, prior_plan.clamp(-1.0, 1.0))
    assert planner.last_stats.kept_prior and planner.last_stats.score_calls == 0
    with pytest.raises(ValueError, match="prior_margin"):
        config(prior_margin=1.0)  # no prior


@pytest.mark.parametrize("name", NAMES)
def test_prior_and_prior_fraction_must_come_together(name):
    score = quadratic(random_target())
    with pytest.raises(ValueError, match="pass plan.*prior=.*prior_fraction > 0"):
        make_planner(name, config(prior_fraction=0.5)).plan(score)
    with pytest.raises(ValueError, match="pass plan.*prior=.*prior_fraction > 0"):
        make_planner(name, config()).plan(score, prior=lambda n: torch.zeros(n, H, A))
    with pytest.raises(ValueError, match=r"prior\(64\) must return shape \(64, 5, 2\)"):
        make_planner(name, config(prior_fraction=0.5)).plan(score, prior=lambda n: torch.zeros(n, A))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_plan(name):
    score = quadratic(random_target())
    first = make_planner(name, config(iterations=3)).plan(score, seeded(7))
    again = make_planner(name, config(iterations=3)).plan(score, seeded(7))
    other = make_planner(name, config(iterations=3)).plan(score, seeded(8))
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_score_raises_a_clear_error(name):
    planner = make_planner(name, config())
    with pytest.raises(ValueError, match=r"score must return shape \(128,\)"):
        planner.plan(lambda actions: actions.sum(2))
    with pytest.raises(ValueError, match="score returned NaN or inf"):
        planner.plan(lambda actions: torch.full((len(actions),), float("nan")))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(horizon=0), "horizon must be >= 1"),
        (dict(samples=1), "samples must be >= 2"),
        (dict(elites=200), r"elites must be in \[1, samples=128\]"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(min_std=0.5, max_std=0.1), "min_std <= max_std"),
        (dict(init_std=2.0), "init_std must be in"),
        (dict(action_low=1.0, action_high=-1.0), "action_low must be < action_high"),
        (dict(prior_fraction=1.5), r"prior_fraction must be in \[0, 1\]"),
        (dict(prior_fraction=0.001), "rounds to 0 prior candidates"),
        (dict(max_score_calls=0), "max_score_calls must be >= 1"),
        (dict(noise_beta=-1.0), "noise_beta must be >= 0"),
        (dict(hold_binary=True), "set binary_dims too"),
        (dict(samples=4, elites=2, prior_fraction=0.5, binary_dims=[0, 1], hold_binary=True), "raise samples"),
        (dict(binary_dims=[2]), r"binary_dims must index actions in \[0, action_dim=2\), got \[2\]"),
    ],
)
def test_bad_configs_raise_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_registry_builds_every_planner_and_names_the_known_ones():
    for name, cls in PLANNERS.items():
        planner = make_planner(name, config())
        assert isinstance(planner, cls) and isinstance(planner, Planner)
        assert planner.last_stats is None
    with pytest.raises(ValueError, match="unknown planner 'x'; known: cem, mppi"):
        make_planner("x", config())


@pytest.mark.parametrize("name", NAMES)
def test_prior_fraction_of_one_leaves_the_mean_its_slot(name):
    assert config(prior_fraction=1.0).prior_candidates == 127
    score = CountingScore(quadratic(random_target()))
    make_planner(name, config(iterations=2, prior_fraction=1.0)).plan(score, prior=lambda n: torch.zeros(n, H, A))
    assert [len(batch) for batch in score.batches] == [128, 128]


def lag_one_correlation(noise: torch.Tensor) -> float:
    """Mean correlation of (N, H, A) noise between consecutive time steps."""
    return float((noise[:, 1:] * noise[:, :-1]).mean() / noise.var())


@pytest.mark.parametrize("beta, steps", [(0.5, 16), (2.0, 16), (2.0, 15), (3.0, 1)])
def test_colored_noise_has_unit_variance_and_the_asked_correlation(beta, steps):
    noise = colored_noise((20_000, steps, 3), beta, seeded())
    assert noise.shape == (20_000, steps, 3) and noise.dtype == torch.float32
    assert noise.var().item() == pytest.approx(1.0, abs=0.03)
    assert noise.mean().abs().item() < 0.02
    if steps > 1:
        assert lag_one_correlation(noise) > {0.5: 0.2, 2.0: 0.7}[beta]


def test_white_noise_is_torch_randn_and_a_negative_beta_is_refused():
    white = colored_noise((100, 16, 3), 0.0, seeded(3))
    assert torch.equal(white, torch.randn((100, 16, 3), generator=seeded(3)))
    assert abs(lag_one_correlation(colored_noise((20_000, 16, 3), 0.0, seeded()))) < 0.02
    assert colored_noise((0, 16, 3), 2.0, seeded()).shape == (0, 16, 3)  # every candidate slot already taken
    with pytest.raises(ValueError, match="noise beta must be >= 0"):
        colored_noise((1, 4, 1), -0.5)


@pytest.mark.parametrize("name", NAMES)
def test_the_planners_gaussian_candidates_take_the_noise_colour(name):
    correlation = {}
    for beta in (0.0, 2.0):
        score = CountingScore(quadratic(torch.zeros(16, A)))
        planner = make_planner(name, config(horizon=16, samples=512, iterations=1, init_std=0.5, noise_beta=beta))
        planner.plan(score, seeded())
        perturbations = score.batches[0][1:] / 0.5  # slot 0 is the mean (zero); the rest are mean + std * noise
        correlation[beta] = lag_one_correlation(perturbations)
    assert abs(correlation[0.0]) < 0.05
    assert correlation[2.0] > 0.6


@pytest.mark.parametrize("name", NAMES)
def test_binary_dims_make_gaussian_candidates_commit_to_a_bound(name):
    # Action 1 is an on/off command (a gripper that reads only its sign): sampled candidates hold
    # it at -1 or +1, coloured noise keeps it there for stretches; the mean and the prior's plan keep theirs.
    score = CountingScore(quadratic(torch.zeros(16, A)))
    prior_plan = torch.full((16, A), 0.25)
    planner = make_planner(name, config(horizon=16, samples=64, iterations=1, noise_beta=2.0, binary_dims=[1],
                                        prior_fraction=1 / 64, action_low=-1.0, action_high=1.0))
    planner.plan(score, seeded(), prior=lambda n: prior_plan.expand(n, -1, -1))
    candidates = score.batches[0]
    assert torch.equal(candidates[0], torch.zeros(16, A)) and torch.equal(candidates[1], prior_plan)
    sampled = candidates[2:]
    assert set(sampled[..., 1].unique().tolist()) == {-1.0, 1.0}
    assert sampled[..., 0].unique().numel() > 100  # the other action stays continuous
    switches = (sampled[:, 1:, 1] != sampled[:, :-1, 1]).float().mean()
    assert switches < 0.3  # white noise around 0 switches at every other step


@pytest.mark.parametrize("name", NAMES)
def test_hold_binary_scores_the_priors_plan_committed_to_each_bound(name):
    score = CountingScore(quadratic(torch.zeros(H, A)))
    prior_plan = torch.full((H, A), 0.25)
    planner = make_planner(name, config(samples=8, elites=2, iterations=2, binary_dims=[1], hold_binary=True,
                                        prior_fraction=1 / 8))
    planner.plan(score, seeded(), prior=lambda n: prior_plan.expand(n, -1, -1))
    for candidates in score.batches:  # every iteration
        assert torch.equal(candidates[1], prior_plan)
        for slot, bound in ((2, -1.0), (3, 1.0)):
            assert torch.equal(candidates[slot, :, 0], prior_plan[:, 0])
            assert (candidates[slot, :, 1] == bound).all()
