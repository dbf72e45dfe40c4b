import numpy as np
import pytest
import torch

from sfplan.world_model import ValueModel, ValueModelConfig, value_targets


def test_constant_reward_has_that_value_everywhere():
    np.testing.assert_allclose(value_targets(np.full(10, 0.3), discount=0.9), np.full(11, 0.3), rtol=1e-6)


def test_value_discounts_future_rewards_and_holds_the_last_reward_past_the_end():
    rewards = np.array([0.0, 0.0, 1.0, 0.0])
    values = value_targets(rewards, discount=0.5)
    # the last reward (0) goes on past the end; the 1 at step 2 is worth 0.5 x 0.5^(2 - t) from frame t <= 2
    np.testing.assert_allclose(values, [0.125, 0.25, 0.5, 0.0, 0.0])


def test_value_model_maps_latent_frames_to_one_value_each():
    model = ValueModel(ValueModelConfig(latent_channels=2, latent_size=8, hidden=4))
    assert model(torch.randn(3, 5, 2, 8, 8)).shape == (3, 5)


def test_discount_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match=r"discount must be in \[0, 1\)"):
        ValueModelConfig(discount=1.0)
