import numpy as np
import pytest
import torch

from helpers import make_episode, record_chunk_conditions, tiny_world_model_config
from sfplan.data import Episode, state_transitions
from sfplan.world_model import StatePredictor, VideoWorldModel


def predictor_model(**overrides) -> VideoWorldModel:
    torch.manual_seed(0)
    return VideoWorldModel(tiny_world_model_config(proprio_dim=3, state_predictor_hidden=16, **overrides)).eval()


def latents(model, batch, frames):
    c = model.config.codec
    return torch.randn(batch, frames, c.latent_channels, c.latent_size, c.latent_size, generator=torch.Generator().manual_seed(1))


def pushed_episode(seed: int, steps: int = 60) -> Episode:
    """A point whose 3-d state moves by 0.1 x its 2-d action per step (the third dimension stays)."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, size=(steps, 2)).astype(np.float32)
    moves = np.concatenate([0.1 * actions, np.zeros((steps, 1), np.float32)], axis=1)
    proprio = np.concatenate([np.zeros((1, 3), np.float32), np.cumsum(moves, axis=0)]) + rng.normal(size=3).astype(np.float32)
    episode = make_episode(steps, image_size=8, action_dim=2, seed=seed)
    return Episode(episode.frames, proprio, actions, episode.rewards, episode.successes, episode.stages, seed)


def test_state_transitions_pair_each_history_with_the_chunks_actions_and_the_history_after_it():
    before, actions, after = state_transitions([make_episode(12, action_dim=2)], target_frames=2, frame_skip=2)
    assert before.shape == after.shape == (8, 2, 2) and actions.shape == (8, 2, 2, 2)  # steps 1..8 of 12, chunks of 4
    assert before[0].tolist() == [[0, 0], [1, -1]] and after[0].tolist() == [[4, -4], [5, -5]]
    assert actions[0, :, :, 0].flatten().tolist() == [1, 2, 3, 4], "the actions taken at steps 1..4"


def test_the_state_predictor_learns_chunk_dynamics_from_transitions():
    train = state_transitions([pushed_episode(seed) for seed in range(8)], target_frames=2, frame_skip=2)
    before, actions, after = state_transitions([pushed_episode(100)], target_frames=2, frame_skip=2)
    predictor = StatePredictor(proprio_dim=3, action_dim=2, chunk_steps=4, hidden=32)
    losses = predictor.fit(*train, steps=400, lr=3e-3)
    assert predictor.fitted_steps.item() == 400 and np.mean(losses[-20:]) < 0.2 * np.mean(losses[:20])
    with torch.no_grad():
        error = (predictor(before, actions) - after).norm(dim=-1).mean()
    standing_still = (before[:, -1:] - after).norm(dim=-1).mean()
    assert error < 0.2 * standing_still


def test_every_chunk_after_the_first_reads_the_state_the_predictor_gives(monkeypatch):
    model = predictor_model()
    seen = record_chunk_conditions(model, monkeypatch)
    proprio = torch.randn(1, 2, 3)
    actions = torch.randn(2, 3 * model.config.steps_per_chunk, 2)
    model.imagine_latents(latents(model, 1, 2), actions, proprio=proprio)
    for (chunk_actions, state), (_, next_state) in zip(seen, seen[1:]):
        torch.testing.assert_close(next_state, model.state_predictor(state, chunk_actions), rtol=0, atol=0)
    assert torch.equal(seen[0][1][1], proprio[0]) and len(seen) == 3
    seen.clear()
    model.imagine_latents(latents(model, 1, 2), actions, proprio=None)
    assert [state for _, state in seen] == [None, None, None], "no state given: every chunk gets the unknown state"


def test_chunks_beyond_the_horizon_get_the_unknown_state(monkeypatch):
    model = predictor_model(state_predictor_horizon=1)
    seen = record_chunk_conditions(model, monkeypatch)
    model.imagine_latents(latents(model, 1, 2), torch.randn(1, 3 * model.config.steps_per_chunk, 2), proprio=torch.randn(1, 2, 3))
    states = [state for _, state in seen]
    assert states[1] is not None and states[2] is None, "the observed state, one predicted, then the unknown state"


def test_a_fitted_predictor_is_saved_and_loaded_with_the_world_model(tmp_path):
    model = predictor_model()
    model.state_predictor.fit(*state_transitions([pushed_episode(0)], target_frames=2, frame_skip=1), steps=5)
    model.save_pretrained(tmp_path / "wm")
    loaded = VideoWorldModel.from_pretrained(tmp_path / "wm")
    assert loaded.state_predictor.fitted_steps.item() == 5
    context, actions, proprio = latents(model, 1, 2), torch.rand(1, 2 * model.config.steps_per_chunk, 2), torch.randn(1, 2, 3)
    torch.testing.assert_close(loaded.imagine_latents(context, actions, initial_noise=0.0, proprio=proprio),
                               model.imagine_latents(context, actions, initial_noise=0.0, proprio=proprio), rtol=0, atol=0)


def test_a_state_predictor_needs_the_state_and_a_horizon_of_at_least_zero():
    with pytest.raises(ValueError, match="only with proprio_dim"):
        tiny_world_model_config(state_predictor_hidden=16)
    with pytest.raises(ValueError, match="state_predictor_horizon must be >= 0"):
        tiny_world_model_config(proprio_dim=3, state_predictor_hidden=16, state_predictor_horizon=-1)


@pytest.mark.parametrize(
    "history, actions, message",
    [
        (torch.zeros(4, 3), torch.zeros(4, 2, 2, 2), r"history must be \(B, 2, 3\)"),
        (torch.zeros(4, 2, 3), torch.zeros(4, 3, 2), "one chunk"),
        (torch.full((4, 2, 3), float("nan")), torch.zeros(4, 2, 2, 2), "NaN"),
    ],
)
def test_bad_transitions_raise_clear_errors(history, actions, message):
    predictor = StatePredictor(proprio_dim=3, action_dim=2, chunk_steps=4, hidden=8)
    with pytest.raises(ValueError, match=message):
        predictor.fit(history, actions, torch.zeros(4, 2, 3), steps=1)
