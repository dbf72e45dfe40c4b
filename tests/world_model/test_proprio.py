import numpy as np
import pytest
import torch

from helpers import record_chunk_conditions, tiny_world_model_config
from sfplan.world_model import VideoWorldModel


def proprio_model(**overrides) -> VideoWorldModel:
    torch.manual_seed(0)
    return VideoWorldModel(tiny_world_model_config(proprio_dim=3, **overrides))


def latents(model, batch, frames, seed=1):
    c = model.config.codec
    return torch.randn(batch, frames, c.latent_channels, c.latent_size, c.latent_size, generator=torch.Generator().manual_seed(seed))


def test_the_model_learns_what_only_the_robot_state_tells():
    model = proprio_model(objective="regression", proprio_dropout=0.0)
    c = model.config
    context = latents(model, 1, c.context_frames).expand(8, -1, -1, -1, -1)  # the same frames in every sample
    actions = torch.zeros(8, c.target_frames, c.frame_skip, c.action_dim)
    sign = torch.tensor([1.0, -1.0] * 4)
    proprio = torch.zeros(8, 2, 3)
    proprio[:, 1, 0] = sign  # the state, and its change, say where the target goes
    target = sign.view(8, 1, 1, 1, 1).expand(8, c.target_frames, c.codec.latent_channels, c.codec.latent_size, c.codec.latent_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss = model.loss(context, target, actions, proprio)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        told = model.loss(context, target, actions, proprio).item()
        misled = model.loss(context, target, actions, proprio.flip(0)).item()  # every state swapped for its opposite
    assert told < 0.1 * misled


def test_only_the_first_chunk_of_a_rollout_reads_the_state(monkeypatch):
    model = proprio_model().eval()
    seen = record_chunk_conditions(model, monkeypatch)
    proprio = torch.randn(1, 2, 3)
    model.imagine_latents(latents(model, 1, 2), torch.zeros(2, 3 * model.config.steps_per_chunk, 2), proprio=proprio)
    states = [state for _, state in seen]
    assert states[0].shape == (2, 2, 3) and torch.equal(states[0][1], proprio[0])
    assert states[1:] == [None, None]


def test_the_state_changes_the_prediction_and_none_is_the_unknown_state():
    model = proprio_model().eval()
    context, actions = latents(model, 2, 2), torch.zeros(2, model.config.steps_per_chunk, 2)
    sample = lambda proprio: model.imagine_latents(context, actions, initial_noise=0.0, proprio=proprio)  # noqa: E731
    unknown = sample(None)
    assert not torch.allclose(sample(torch.randn(2, 2, 3)), unknown)
    null_token, _ = model.proprio_encoder.null(2)
    assert torch.allclose(model.proprio_encoder(torch.randn(2, 2, 3), torch.ones(2, dtype=torch.bool))[0], null_token)


def test_statistics_normalise_states_and_changes_and_are_saved(tmp_path):
    model = proprio_model().eval()
    rng = np.random.default_rng(0)
    episodes = [np.cumsum(rng.normal(size=(50, 3)), axis=0).astype(np.float32) * [1, 10, 0] + [0, 5, 2] for _ in range(3)]
    model.proprio_encoder.set_statistics(episodes)
    encoder = model.proprio_encoder
    states = torch.from_numpy(np.concatenate(episodes))
    assert ((states - encoder.state_mean) / encoder.state_std)[:, :2].std(0, correction=0).tolist() == pytest.approx([1, 1], rel=1e-4)
    assert encoder.state_std[2].item() == 1.0  # a dimension that never changes is left unscaled
    changes = torch.from_numpy(np.concatenate([np.diff(e, axis=0) for e in episodes]))
    assert (changes / encoder.change_std)[:, :2].std(0, correction=0).tolist() == pytest.approx([1, 1], rel=1e-4)
    model.save_pretrained(tmp_path / "wm")
    loaded = VideoWorldModel.from_pretrained(tmp_path / "wm")
    torch.testing.assert_close(loaded.proprio_encoder.change_std, encoder.change_std, rtol=0, atol=0)
    context, actions, proprio = latents(model, 1, 2), torch.rand(1, model.config.steps_per_chunk, 2), torch.randn(1, 2, 3)
    torch.testing.assert_close(loaded.imagine_latents(context, actions, initial_noise=0.0, proprio=proprio),
                               model.imagine_latents(context, actions, initial_noise=0.0, proprio=proprio), rtol=0, atol=0)


@pytest.mark.parametrize(
    "proprio, message",
    [
        (torch.zeros(1, 3), r"proprio must be \(B=1, 2, 3\)"),
        (torch.zeros(1, 2, 4), r"proprio must be \(B=1, 2, 3\)"),
        (torch.full((1, 2, 3), float("nan")), "NaN"),
    ],
)
def test_bad_proprio_raises_clear_errors(proprio, message):
    model = proprio_model().eval()
    with pytest.raises(ValueError, match=message):
        model.imagine_latents(latents(model, 1, 2), torch.zeros(1, model.config.steps_per_chunk, 2), proprio=proprio)


def test_a_model_without_proprioception_refuses_it():
    model = VideoWorldModel(tiny_world_model_config()).eval()
    with pytest.raises(ValueError, match="proprio_dim=0"):
        model.imagine_latents(latents(model, 1, 2), torch.zeros(1, model.config.steps_per_chunk, 2), proprio=torch.zeros(1, 2, 3))


def test_an_encoder_extended_from_a_shorter_state_gives_its_outputs_until_trained():
    from sfplan.world_model.proprio_encoder import ProprioEncoder

    torch.manual_seed(0)
    short, extended = ProprioEncoder(2, 16), ProprioEncoder(5, 16)
    torch.nn.init.normal_(short.mlp[2].weight)
    extended.extend_from(short)
    history = torch.randn(4, 2, 5)
    null = torch.tensor([False, False, True, False])
    for expected, got in zip(short(history[..., :2], null), extended(history, null)):
        torch.testing.assert_close(got, expected)
    changed = history.clone()
    changed[..., 2:] = torch.randn(4, 2, 3)  # what the extra dims say is ignored at first
    torch.testing.assert_close(extended(changed, null)[1], extended(history, null)[1])
    with pytest.raises(ValueError, match="can only extend a 2-dim state encoder from a shorter one, got 5 dims"):
        short.extend_from(extended)
