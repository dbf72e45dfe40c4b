import numpy as np
import torch

from sfplan.data import load_episodes
from sfplan.data.collect import CollectionConfig, collect
from sfplan.policies import BCPolicy, BCPolicyConfig, train_bc
from sfplan.policies.bc import random_shift


def push_episodes(tmp_path, count=3):
    config = CollectionConfig("pointmass-push", {"image_size": 16}, max_episode_steps=20, policy_kwargs={"noise": 0.0})
    collect(tmp_path / "push.h5", config, num_episodes=count, progress=False)
    return load_episodes(tmp_path / "push.h5")


def test_behaviour_cloning_lowers_the_loss_and_round_trips(tmp_path):
    episodes = push_episodes(tmp_path)
    config = BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=4, hidden=64)
    policy, losses = train_bc(episodes, config, steps=150, batch_size=32, lr=3e-3, progress=False)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    policy.save_pretrained(tmp_path / "bc")
    loaded = BCPolicy.from_pretrained(tmp_path / "bc")
    observation = {"image": episodes[0].frames[0], "proprio": episodes[0].proprio[0]}
    np.testing.assert_array_equal(policy.predict_chunk(observation), loaded.predict_chunk(observation))


def test_act_executes_each_chunk_and_proposals_stay_in_bounds():
    torch.manual_seed(0)
    policy = BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=3, proposal_std=5.0)).eval()
    observation = {"image": np.zeros((16, 16, 3), np.uint8), "proprio": np.zeros(4, np.float32)}
    chunk = policy.predict_chunk(observation)
    policy.reset()
    np.testing.assert_array_equal(np.stack([policy.act(observation) for _ in range(3)]), chunk)
    proposals = policy.propose(observation, count=5, horizon=7, generator=torch.Generator().manual_seed(0))
    assert proposals.shape == (5, 7, 2) and proposals.abs().max() <= 1.0
    held = np.concatenate([chunk, np.repeat(chunk[-1:], 4, axis=0)])
    np.testing.assert_allclose(proposals[0].numpy(), held, rtol=1e-6)  # the prediction itself competes
    assert not np.allclose(proposals[1].numpy(), held)


def test_random_shift_moves_each_frame_by_at_most_the_pad():
    images = torch.zeros(64, 9, 9, 3, dtype=torch.uint8)
    images[:, 4, 4] = 255  # one bright pixel in the middle of every frame
    shifted = random_shift(images, pad=2, generator=torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    positions = {tuple(torch.nonzero(frame[..., 0]).flatten().tolist()) for frame in shifted}
    assert all(2 <= row <= 6 and 2 <= col <= 6 for row, col in positions)  # one pixel, moved by up to 2 each way
    assert len(positions) > 10  # different offsets for different frames
    assert torch.equal(random_shift(images, pad=0), images)
