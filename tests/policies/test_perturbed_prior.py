import numpy as np
import pytest
import torch

from sfplan.data import load_episodes
from sfplan.data.collect import CollectionConfig, collect
from sfplan.envs import make
from sfplan.policies import BCPolicy, BCPolicyConfig, make_policy


@pytest.fixture
def prior_dir(tmp_path):
    torch.manual_seed(0)
    BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=3)).save_pretrained(tmp_path / "bc")
    return tmp_path / "bc"


@pytest.fixture
def env():
    return make("pointmass-push", image_size=16)


def chunk_of(policy, observation, steps=3):
    return np.stack([policy.act(observation) for _ in range(steps)])


def test_unperturbed_it_is_the_prior_and_perturbed_it_repeats_per_seed(prior_dir, env):
    observation, _ = env.reset(seed=0)
    prior_chunk = BCPolicy.from_pretrained(prior_dir).predict_chunk(observation)
    clean = make_policy("prior", "pointmass-push", env, seed=0, checkpoint=prior_dir, perturb_prob=0.0)
    np.testing.assert_allclose(chunk_of(clean, observation), prior_chunk, rtol=1e-6)

    noisy = make_policy("prior", "pointmass-push", env, checkpoint=prior_dir, perturb_prob=1.0, noise=0.3)
    noisy.reset(seed=7)
    first = chunk_of(noisy, observation)
    noisy.reset(seed=7)
    np.testing.assert_array_equal(chunk_of(noisy, observation), first)
    assert not np.allclose(first, prior_chunk)
    assert np.abs(first).max() <= 1.0


def test_bad_options_are_refused_with_the_fix(prior_dir, env):
    with pytest.raises(ValueError, match="policy.kwargs.checkpoint"):
        make_policy("prior", "pointmass-push", env)
    with pytest.raises(ValueError, match="perturb_prob"):
        make_policy("prior", "pointmass-push", env, checkpoint=prior_dir, perturb_prob=1.5)
    BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=3)).save_pretrained(prior_dir.parent / "bc3")
    with pytest.raises(ValueError, match="3-dim actions but the env's are 2-dim"):
        make_policy("prior", "pointmass-push", env, checkpoint=prior_dir.parent / "bc3")


def test_collection_with_the_prior_writes_its_episodes(prior_dir, tmp_path):
    config = CollectionConfig(
        "pointmass-push", {"image_size": 16}, max_episode_steps=10, policy_name="prior",
        policy_kwargs={"checkpoint": str(prior_dir)},
    )
    collect(tmp_path / "prior.h5", config, num_episodes=2, first_seed=3, progress=False)
    episodes = load_episodes(tmp_path / "prior.h5")
    assert [episode.seed for episode in episodes] == [3, 4] and episodes[0].num_steps == 10
