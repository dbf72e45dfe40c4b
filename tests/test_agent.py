import inspect
import json
import math

import numpy as np
import pytest
import torch

import sfplan.envs as envs
from helpers import tiny_world_model_config
from sfplan import SFPlanner, SFPlannerConfig
from sfplan.checkpoint import CheckpointError
from sfplan.fast import FastMemory
from sfplan.world_model import RewardModel, RewardModelConfig, ValueModel, ValueModelConfig, VideoWorldModel


def tiny_agent(proposals=None, world_model_config=None, **config) -> SFPlanner:
    torch.manual_seed(0)
    world_model = VideoWorldModel(world_model_config or tiny_world_model_config())
    reward_model = RewardModel(RewardModelConfig(latent_channels=2, latent_size=8, hidden=8))
    settings = {"samples": 6, "iterations": 2, "elites": 2, "threads": 1, **config}
    return SFPlanner(world_model, reward_model, SFPlannerConfig(**settings), proposals=proposals)


def tiny_prior():
    from sfplan.policies import BCPolicy, BCPolicyConfig

    return BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=2))


@pytest.fixture
def push_env():
    env = envs.make("pointmass-push", image_size=16, max_episode_steps=9)
    yield env
    env.close()


def test_runs_an_episode_end_to_end_with_fast_memory(push_env):
    agent = tiny_agent()
    agent.check_env(push_env)
    observation, _ = push_env.reset(seed=0)
    agent.reset(observation)
    done, steps = False, 0
    while not done:
        action = agent.act(observation)
        assert action.shape == (2,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
        observation, _, terminated, truncated, _ = push_env.step(action)
        done, steps = terminated or truncated, steps + 1
    assert steps == 9
    assert len(agent.plan_seconds) == 5  # replans every chunk of 2 env steps
    assert agent.memory.chunks_observed == 4  # every completed real chunk after the first
    assert agent.last_imagined.shape == (1, 2, 2, 8, 8)


def test_a_world_model_that_reads_the_robot_state_imagines_from_the_latest_two_steps(push_env, monkeypatch):
    agent = tiny_agent(world_model_config=tiny_world_model_config(proprio_dim=4), use_memory=False)
    agent.check_env(push_env)
    states = []
    imagine = agent.world_model.imagine_latents
    monkeypatch.setattr(agent.world_model, "imagine_latents", lambda *args, **kwargs: states.append(kwargs["proprio"]) or imagine(*args, **kwargs))
    observation, _ = push_env.reset(seed=0)
    seen = [observation["proprio"]]
    agent.reset(observation)
    for _ in range(3):
        observation, *_ = push_env.step(agent.act(observation))
        seen.append(observation["proprio"])
    np.testing.assert_array_equal(states[0][0].numpy(), np.stack([seen[0], seen[0]]))  # the episode's first replan
    np.testing.assert_array_equal(states[-1][0].numpy(), np.stack(seen[1:3]))  # the replan at step 2
    with pytest.raises(ValueError, match=r"observation\['proprio'\] must be \(4,\)"):
        agent.act({"image": observation["image"]})
    with pytest.raises(ValueError, match=r"env proprioception has shape \(4,\) but the world model reads \(9,\)"):
        tiny_agent(world_model_config=tiny_world_model_config(proprio_dim=9)).check_env(push_env)


@pytest.mark.parametrize("proprio_dim", [0, 4])
def test_memory_learns_each_real_chunk_with_the_actions_executed_and_the_state_before(push_env, monkeypatch, proprio_dim):
    agent = tiny_agent(world_model_config=tiny_world_model_config(proprio_dim=proprio_dim), memory={"window": "transition"})
    observed = []
    monkeypatch.setattr(agent.memory, "observe", lambda previous, new, actions, state: observed.append((actions, state)))
    observation, _ = push_env.reset(seed=0)
    agent.reset(observation)
    executed, states = [], [observation["proprio"]]
    for _ in range(5):  # the last step's frame is never remembered: no act() sees it
        executed.append(agent.act(observation))
        observation, *_ = push_env.step(executed[-1])
        states.append(observation["proprio"])
    assert len(observed) == 2  # chunks of 2 env steps completed after steps 2 and 4
    for chunk, (actions, state) in enumerate(observed):
        assert actions.shape == (1, 2, 1, 2)
        np.testing.assert_array_equal(actions.reshape(2, 2).numpy(), np.stack(executed[2 * chunk : 2 * chunk + 2]))
        if proprio_dim:  # the state at the chunk's start and one step before it (repeated at step 0)
            start = 2 * chunk
            np.testing.assert_allclose(state[0].numpy(), np.stack([states[max(start - 1, 0)], states[start]]))
        else:
            assert state is None


def test_predict_has_stable_baselines3_signature_and_types(push_env):
    assert list(inspect.signature(SFPlanner.predict).parameters) == ["self", "observation", "state", "episode_start", "deterministic"]
    agent = tiny_agent(use_memory=False)
    observation, _ = push_env.reset(seed=0)
    action, state = agent.predict(observation, episode_start=np.array([True]))
    assert isinstance(action, np.ndarray) and action.shape == (2,) and state is None
    batched = {key: value[None] for key, value in observation.items()}
    action, _ = agent.predict(batched, state=None, episode_start=np.array([False]), deterministic=True)
    assert action.shape == (1, 2)


def test_predict_on_a_vector_of_envs_acts_as_one_agent_per_env():
    """Two envs stepped as a VecEnv does (auto-reset, episode_start flags) get the actions that two
    separate agents, seeded `seed` and `seed + 1`, give each env: episodes, plans and fast
    memories do not mix."""
    vector_agent, separate = tiny_agent(), [tiny_agent(), tiny_agent(seed=1)]
    env_list = [envs.make("pointmass-push", image_size=16, max_episode_steps=5) for _ in range(2)]
    observations = [env.reset(seed=10 + index)[0] for index, env in enumerate(env_list)]
    starts = np.array([True, True])
    for step in range(13):
        batch = {key: np.stack([observation[key] for observation in observations]) for key in observations[0]}
        actions, _ = vector_agent.predict(batch, episode_start=starts)
        assert actions.shape == (2, 2) and actions.dtype == np.float32
        for index, env in enumerate(env_list):
            expected, _ = separate[index].predict(observations[index], episode_start=starts[index : index + 1])
            np.testing.assert_array_equal(actions[index], expected)
            observations[index], _, terminated, truncated, _ = env.step(actions[index])
            starts[index] = terminated or truncated
            if starts[index]:
                observations[index] = env.reset(seed=100 * step + index)[0]
    assert vector_agent.lane(1).world_model is not vector_agent.world_model
    assert vector_agent.lane(1).memory.chunks_observed > 0
    with pytest.raises(ValueError, match="episode_start must hold one flag per env: 2 observations, 3 flags"):
        vector_agent.predict(batch, episode_start=np.array([True, False, False]))
    for env in env_list:
        env.close()


def test_stable_baselines3_evaluates_the_agent_on_a_vector_of_envs():
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    agent = tiny_agent(use_memory=False)
    vector = DummyVecEnv([lambda: envs.make("pointmass-push", image_size=16, max_episode_steps=5) for _ in range(2)])
    rewards, lengths = evaluate_policy(agent, vector, n_eval_episodes=4, warn=False, return_episode_rewards=True)
    vector.close()
    assert lengths == [5, 5, 5, 5] and all(math.isfinite(reward) for reward in rewards)
    assert agent.lane(1) is not agent and len(agent.lane(1).plan_seconds) > 0


def test_save_and_load_give_the_same_actions(tmp_path, push_env):
    agent = tiny_agent(use_memory=False)
    agent.save(tmp_path / "agent")
    loaded = SFPlanner.from_pretrained(tmp_path / "agent")
    observation, _ = push_env.reset(seed=1)
    agent.reset(observation)
    loaded.reset(observation)
    np.testing.assert_array_equal(agent.act(observation), loaded.act(observation))


def test_saving_with_memory_keeps_base_weights_only(tmp_path, push_env):
    agent = tiny_agent()
    observation, _ = push_env.reset(seed=0)
    agent.reset(observation)
    for _ in range(4):
        observation, *_ = push_env.step(agent.act(observation))
    agent.save(tmp_path / "agent")
    assert SFPlanner.from_pretrained(tmp_path / "agent", use_memory=False).config.use_memory is False


@pytest.mark.parametrize(
    "image, message",
    [(np.zeros((32, 32, 3), np.uint8), r"\(16, 16, 3\) uint8"), (np.zeros((16, 16, 3), np.float32), "float32")],
)
def test_bad_observations_raise_clear_errors(image, message):
    agent = tiny_agent()
    with pytest.raises(ValueError, match=message):
        agent.act({"image": image, "proprio": np.zeros(4, np.float32)})


def test_env_that_does_not_match_the_model_is_refused():
    env = envs.make("pointmass-push", image_size=32)
    with pytest.raises(ValueError, match="image_size=16"):
        tiny_agent().check_env(env)
    env.close()


def test_missing_or_corrupt_checkpoint_raises_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no SFPlanner checkpoint"):
        SFPlanner.from_pretrained(tmp_path / "nothing")
    tiny_agent(use_memory=False).save(tmp_path / "agent")
    (tmp_path / "agent" / "world_model" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        SFPlanner.from_pretrained(tmp_path / "agent")
    tiny_agent(use_memory=False).save(tmp_path / "agent")
    (tmp_path / "agent" / "sfplanner.json").write_text('{"samples": 16,')
    with pytest.raises(CheckpointError, match="sfplanner.json is not valid JSON .* re-export the agent"):
        SFPlanner.from_pretrained(tmp_path / "agent")


def test_an_infinite_prior_margin_is_saved_as_strict_json_and_loads_back(tmp_path):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    tiny_agent(tiny_prior(), prior_fraction=0.5, prior_margin=math.inf, stall_replans=8).save(tmp_path / "agent")
    saved = json.loads((tmp_path / "agent" / "sfplanner.json").read_text(), parse_constant=refuse)
    assert saved["prior_margin"] == "inf"
    assert SFPlanner.from_pretrained(tmp_path / "agent").config.prior_margin == math.inf
    with pytest.raises(ValueError, match="prior_margin must be a number, null or \"inf\", got 'lots'"):
        SFPlannerConfig(prior_margin="lots")


def test_several_imagination_draws_score_a_candidate_by_mean_minus_penalty_times_spread(push_env, monkeypatch):
    agent = tiny_agent(initial_noise=1.0, imagination_draws=3, uncertainty_penalty=0.5)
    batches = []
    imagine = agent.world_model.imagine_latents

    def counting_imagine(context, actions, **kwargs):
        batches.append(len(actions))
        return imagine(context, actions, **kwargs)

    monkeypatch.setattr(agent.world_model, "imagine_latents", counting_imagine)
    # draw d of candidate j scores 6d + j: mean 6 + j, standard deviation 6 over the 3 draws
    monkeypatch.setattr(agent.reward_model, "score", lambda latents, weight: torch.arange(len(latents), dtype=torch.float32))
    observation, _ = push_env.reset(seed=0)
    agent.reset(observation)
    agent.act(observation)
    assert batches[:2] == [18, 18], "each iteration imagines its 6 candidates 3 times in one call"
    assert agent.plan_stats[0].best_score == pytest.approx(6 + 5 - 0.5 * 6)
    with pytest.raises(ValueError, match="needs initial_noise > 0"):
        SFPlannerConfig(imagination_draws=2)
    with pytest.raises(ValueError, match="imagination_draws must be >= 1"):
        SFPlannerConfig(imagination_draws=0)
    with pytest.raises(ValueError, match=r"initial_noise must be in \[0, 1\]"):
        SFPlannerConfig(initial_noise=2.0)


def test_value_weight_adds_the_value_of_the_last_imagined_frame(tmp_path, push_env, monkeypatch):
    torch.manual_seed(0)
    value_model = ValueModel(ValueModelConfig(latent_channels=2, latent_size=8, hidden=8))
    agent = tiny_agent(use_memory=False)
    agent = SFPlanner(agent.world_model, agent.reward_model, SFPlannerConfig(**{**vars(agent.config), "value_weight": 2.0}),
                      value_model=value_model)
    latents = torch.zeros(3, 4, 2, 8, 8)
    latents[:, -1] = torch.arange(3.0).view(3, 1, 1, 1)  # only the last frames differ, by their value
    latents[:, 0] = torch.randn(3, 2, 8, 8)  # earlier frames change the reward term only
    monkeypatch.setattr(value_model, "forward", lambda frames: frames.flatten(1).mean(dim=1))
    rewards_only = agent.reward_model.score(latents, agent.config.success_weight)
    torch.testing.assert_close(agent.score_imagined(latents) - rewards_only, 2.0 * torch.arange(3.0))
    monkeypatch.undo()
    agent.save(tmp_path / "agent")
    loaded = SFPlanner.from_pretrained(tmp_path / "agent")
    torch.testing.assert_close(loaded.score_imagined(latents), agent.score_imagined(latents))
    observation, _ = push_env.reset(seed=1)
    agent.reset(observation)
    loaded.reset(observation)
    np.testing.assert_array_equal(agent.act(observation), loaded.act(observation))
    with pytest.raises(ValueError, match="value_weight > 0 needs a value model"):
        SFPlanner(agent.world_model, agent.reward_model, SFPlannerConfig(value_weight=1.0))


@pytest.mark.parametrize("success_logit, expected", [(-1.0, [False] * 4 + [True, True, False]), (1.0, [False] * 7)])
def test_prior_counts_as_stalled_when_the_real_frames_stop_gaining_reward(monkeypatch, success_logit, expected):
    agent = tiny_agent(tiny_prior(), stall_replans=3, stall_tolerance=0.02, prior_fraction=0.5, prior_margin=math.inf)
    readings = iter([0.1, 0.2, 0.21, 0.2, 0.2, 0.21, 0.5])  # reward model's reading of the real frame at each replan
    monkeypatch.setattr(agent.reward_model, "forward",
                        lambda latents: (torch.tensor([next(readings)]), torch.tensor([success_logit])))
    agent._latents = [torch.zeros(2, 8, 8)]
    # replan 4 (0-based): the last 3 readings (<= 0.21) never beat the best before them (0.2) by 0.02;
    # replan 6 reads 0.5: progress again. A predicted success is never a stall.
    assert [agent._prior_stalled() for _ in range(7)] == expected
    with pytest.raises(ValueError, match="stall_replans, stall_tolerance and stall_rescue_replans must be >= 0"):
        SFPlannerConfig(stall_replans=-1)
    with pytest.raises(ValueError, match="set prior_margin"):
        SFPlannerConfig(stall_replans=3, prior_fraction=0.5)  # no margin to lift: the gate would do nothing


@pytest.mark.parametrize("rescue_replans, expected", [
    (0, [False, False] + [True] * 8),
    (1, [False, False, True] * 3 + [False]),
    (2, [False, False, True, True] * 2 + [False, False]),
])
def test_a_rescue_lasts_stall_rescue_replans_then_the_prior_gets_a_fresh_window(monkeypatch, rescue_replans, expected):
    agent = tiny_agent(tiny_prior(), stall_replans=2, prior_fraction=0.5, prior_margin=math.inf,
                       stall_rescue_replans=rescue_replans)
    monkeypatch.setattr(agent.reward_model, "forward", lambda latents: (torch.tensor([0.3]), torch.tensor([-1.0])))
    agent._latents = [torch.zeros(2, 8, 8)]
    # A flat reading: stuck from replan 2 (0-based) on, when 2 readings have not beaten the one
    # before them. With a rescue of N replans the prior is then followed until a fresh window of
    # 2 replans after the rescue shows no progress either.
    assert [agent._prior_stalled() for _ in range(10)] == expected
    agent.reset()
    agent._latents = [torch.zeros(2, 8, 8)]
    assert [agent._prior_stalled() for _ in range(3)] == expected[:3]  # a new episode watches from its start


def test_an_infinite_margin_follows_the_prior_without_imagining_candidates_or_writing_memory(push_env, monkeypatch):
    agent = tiny_agent(tiny_prior(), prior_fraction=0.5, prior_margin=math.inf)
    writes = []
    observe = FastMemory.observe
    monkeypatch.setattr(FastMemory, "observe", lambda memory, *args: writes.append(1) or observe(memory, *args))
    observation, _ = push_env.reset(seed=0)
    agent.reset(observation)
    for _ in range(6):
        observation, *_ = push_env.step(agent.act(observation))
    assert agent.plan_stats and all(stats.kept_prior and stats.score_calls == 0 for stats in agent.plan_stats)
    assert writes == []  # nothing imagined, so the completed chunks wait
    assert agent.memory.chunks_observed == 2 and len(writes) == 2  # reading the memory writes them


def test_lazy_memory_writes_give_the_actions_and_adapter_of_writing_each_chunk_at_once(push_env, monkeypatch):
    def episode(write_at_once: bool):
        agent = tiny_agent(tiny_prior(), prior_fraction=0.5, prior_margin=math.inf, stall_replans=1)
        stalls = iter([False, False, True, False, True, True])  # replans that plan, between ones that follow the prior
        monkeypatch.setattr(agent, "_prior_stalled", lambda: next(stalls))
        observation, _ = push_env.reset(seed=0)
        agent.reset(observation)
        actions = []
        for _ in range(11):
            actions.append(agent.act(observation))
            if write_at_once:
                agent.write_memory()
            observation, *_ = push_env.step(actions[-1])
        assert [stats.score_calls > 0 for stats in agent.plan_stats] == [False, False, True, False, True, True]
        return np.stack(actions), [parameter.detach().clone() for parameter in agent.memory.parameters]

    lazy_actions, lazy_adapter = episode(write_at_once=False)
    eager_actions, eager_adapter = episode(write_at_once=True)
    np.testing.assert_array_equal(lazy_actions, eager_actions)
    assert all(torch.equal(lazy, eager) for lazy, eager in zip(lazy_adapter, eager_adapter, strict=True))


def test_proposal_policy_feeds_the_planner(push_env):
    proposals = tiny_prior()
    calls = []
    original = proposals.propose

    def counting(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    proposals.propose = counting
    torch.manual_seed(0)
    agent = SFPlanner(VideoWorldModel(tiny_world_model_config()), RewardModel(RewardModelConfig(2, 8, 8)),
                      SFPlannerConfig(samples=6, iterations=2, elites=2, prior_fraction=0.5, threads=1), proposals=proposals)
    observation, _ = push_env.reset(seed=0)
    agent.reset(observation)
    agent.act(observation)
    assert calls == [3, 3]  # half of 6 candidates in each of the 2 iterations
    with pytest.raises(ValueError, match="needs a proposal policy"):
        SFPlanner(agent.world_model, agent.reward_model, SFPlannerConfig(prior_fraction=0.5))


def test_saved_proposal_policy_is_loaded_with_the_checkpoint(tmp_path, push_env):
    torch.manual_seed(0)
    proposals = tiny_prior()
    agent = SFPlanner(VideoWorldModel(tiny_world_model_config()), RewardModel(RewardModelConfig(2, 8, 8)),
                      SFPlannerConfig(samples=6, iterations=2, elites=2, prior_fraction=0.5, threads=1), proposals=proposals)
    agent.save(tmp_path / "agent")
    loaded = SFPlanner.from_pretrained(tmp_path / "agent")
    observation, _ = push_env.reset(seed=0)
    np.testing.assert_array_equal(loaded.proposals.predict_chunk(observation), proposals.predict_chunk(observation))
    assert SFPlanner.from_pretrained(tmp_path / "agent", prior_fraction=0.0).proposals is None


def test_shipped_lift_checkpoint_loads_and_acts_in_its_env():
    """The README's main job runs this checkpoint: it must load, match the env and act."""
    from pathlib import Path

    checkpoint = Path(__file__).resolve().parents[1] / "checkpoints" / "robosuite-lift"
    agent = SFPlanner.from_pretrained(checkpoint, threads=1, samples=8)
    assert agent.proposals is not None and agent.config.prior_margin is not None
    env = envs.make("robosuite-lift")
    try:
        agent.check_env(env)
        observation, _ = env.reset(seed=0)
        agent.reset(observation)
        action = agent.act(observation)
        assert action.shape == (7,) and np.all(np.abs(action) <= 1) and len(agent.plan_seconds) == 1
    finally:
        env.close()


def test_the_agent_uses_its_thread_count_for_memory_updates_and_planning_and_restores_the_callers(push_env, monkeypatch):
    agent = tiny_agent(threads=2)
    seen = {"observe": set(), "plan": set()}
    observe, plan = agent.memory.observe, agent.planner.plan
    monkeypatch.setattr(agent.memory, "observe", lambda *a, **k: seen["observe"].add(torch.get_num_threads()) or observe(*a, **k))
    monkeypatch.setattr(agent.planner, "plan", lambda *a, **k: seen["plan"].add(torch.get_num_threads()) or plan(*a, **k))
    torch.set_num_threads(1)  # the caller's count (conftest restores the suite's)
    observation, _ = push_env.reset(seed=0)
    agent.reset(observation)
    for _ in range(6):
        observation, *_ = push_env.step(agent.act(observation))
        assert torch.get_num_threads() == 1
    assert seen == {"observe": {2}, "plan": {2}}


def test_an_episode_run_without_its_imagined_video_says_so(push_env):
    from sfplan.eval.agent_rollout import run_agent_episode

    agent = tiny_agent()
    record = run_agent_episode(push_env, agent, seed=0, record_imagined=False)
    assert record.imagined_frames is None and record.steps == 9 and len(record.plan_seconds) == 5
    with pytest.raises(ValueError, match="record_imagined=True"):
        record.side_by_side()
    record = run_agent_episode(push_env, agent, seed=0)
    assert record.side_by_side().shape == (10, 16, 32, 3)


def test_score_actions_gives_the_scores_a_replan_gave_its_candidates(push_env, monkeypatch):
    agent = tiny_agent()
    scored = []
    original = agent.planner._score
    monkeypatch.setattr(agent.planner, "_score", lambda score, candidates: scored.append(
        (candidates, original(score, candidates))) or scored[-1][1])
    observation, _ = push_env.reset(seed=0)
    agent.reset(observation)
    for _ in range(5):
        observation, *_ = push_env.step(agent.act(observation))
    assert len(scored) >= 2 and agent.memory.chunks_observed >= 1  # the last replan imagined with the memory
    candidates, scores = scored[-1]
    torch.testing.assert_close(agent.score_actions(candidates), scores)
    with pytest.raises(ValueError, match=r"actions must be \(N, 4, 2\)"):
        agent.score_actions(candidates[:, :2])
    with pytest.raises(ValueError, match="no frames yet"):
        tiny_agent().score_actions(candidates)
