import numpy as np
import pytest
import torch

import sfplan.envs as envs
from helpers import tiny_world_model_config
from sfplan import SFPlanner, SFPlannerConfig
from sfplan.eval.planner_fidelity import ReplanFidelity, candidate_fidelity, decision_audit, real_rollout, record_episode
from sfplan.policies import BCPolicy, BCPolicyConfig
from sfplan.world_model import RewardModel, RewardModelConfig, VideoWorldModel


def test_rank_correlation_and_gains_against_known_orderings():
    real = np.array([0.0, 1.0, 2.0, 3.0])
    agreeing = ReplanFidelity(step=0, predicted=np.array([10.0, 11.0, 12.0, 13.0]), real=real, prior=1)
    reversed_ = ReplanFidelity(step=0, predicted=np.array([13.0, 12.0, 11.0, 10.0]), real=real, prior=1)
    assert agreeing.rank_correlation == 1.0 and reversed_.rank_correlation == -1.0
    assert agreeing.chosen_real_gain == 2.0 and reversed_.chosen_real_gain == -1.0
    assert agreeing.best_real_gain == reversed_.best_real_gain == 2.0
    tied = ReplanFidelity(step=0, predicted=np.array([1.0, 2.0, 3.0, 4.0]), real=np.ones(4), prior=0)
    assert np.isnan(tied.rank_correlation), "nothing to rank when every candidate does equally well"
    split = ReplanFidelity(step=0, predicted=np.array([3.0, 2.0, 1.0, 0.0]), real=real, prior=0, judged=np.array([5.0, 4.0, 6.0, 7.0]))
    assert np.isclose(split.imagination_rank_correlation, -0.8)
    assert np.isclose(split.reward_model_rank_correlation, 0.8)
    assert np.isnan(agreeing.reward_model_rank_correlation), "not measured without the reward model's scores of real frames"


def test_candidates_are_scored_in_the_real_env_by_replaying_the_episode():
    env = envs.make("pointmass-push", image_size=16, max_episode_steps=8)
    torch.manual_seed(0)
    agent = SFPlanner(VideoWorldModel(tiny_world_model_config()), RewardModel(RewardModelConfig(2, 8, 8)),
                      SFPlannerConfig(samples=4, iterations=1, elites=2, threads=1, use_memory=False))
    planner = agent.planner
    episode = record_episode(env, agent, seed=3)
    assert agent.planner is planner, "the agent gets its own planner back"
    assert len(episode.executed) == 8 and [record.step for record in episode.plans] == [0, 2, 4, 6]
    replans = candidate_fidelity(env, agent, episode, every=2)
    assert [r.step for r in replans] == [0, 4]  # replans every chunk of 2 env steps, every second one scored
    assert all(r.predicted.shape == r.real.shape == r.judged.shape == (4,) and r.prior is None for r in replans)
    assert all(np.isfinite(r.judged).all() for r in replans)
    candidate = np.full((4, 2), 0.5, dtype=np.float32)
    prefix = [np.zeros(2, dtype=np.float32)] * 3
    first, again = real_rollout(env, 3, prefix, candidate, 2, 1.0), real_rollout(env, 3, prefix, candidate, 2, 1.0)
    assert first.score == again.score and np.array_equal(first.images, again.images)
    assert first.images.shape == (2, 16, 16, 3), "the images at every frame_skip-th step, as the world model imagines them"
    env.close()


def test_decision_audit_replays_the_prior_plan_and_the_best_candidate_at_every_replan():
    env = envs.make("pointmass-push", image_size=16, max_episode_steps=8)
    torch.manual_seed(0)
    prior = BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=2))
    config = SFPlannerConfig(samples=4, iterations=2, elites=2, threads=1, use_memory=False, prior_fraction=0.5, prior_margin=0.0)
    agent = SFPlanner(VideoWorldModel(tiny_world_model_config()), RewardModel(RewardModelConfig(2, 8, 8)), config, proposals=prior)
    episode = record_episode(env, agent, seed=3)
    assert all(record.candidates.shape == (2, 4, 4, 2) and record.scores.shape == (2, 4) for record in episode.plans)
    decisions = decision_audit(env, agent, episode)
    assert [d.step for d in decisions] == [0, 2, 4, 6]
    for record, decision in zip(episode.plans, decisions):
        assert decision.predicted_gain >= 0, "the prior's plan is a candidate, so the best scores at least as high"
        best = record.candidates.flatten(0, 1)[record.scores.flatten().argmax()]
        assert torch.equal(record.plan, best), "with margin 0 the planner executes its best candidate"
        assert decision.overrode == (not torch.equal(best, record.candidates[0, 1]))
        prefix = episode.executed[: record.step]
        expected = real_rollout(env, 3, prefix, best.numpy(), 1, 1.0).score - real_rollout(env, 3, prefix, record.candidates[0, 1].numpy(), 1, 1.0).score
        assert np.isclose(decision.real_gain, expected)
    agent.config.prior_margin = None
    with pytest.raises(ValueError, match="prior_margin"):
        decision_audit(env, agent, episode)
    env.close()
