import pytest
import torch

from helpers import tiny_world_model_config
from sfplan.checkpoint import CheckpointError
from sfplan.world_model import VideoWorldModel


def tiny_model(**overrides) -> VideoWorldModel:
    torch.manual_seed(0)
    return VideoWorldModel(tiny_world_model_config(**overrides))


def latent_batch(model, batch=4):
    generator = torch.Generator().manual_seed(1)
    c = model.config
    shape = (c.codec.latent_channels, c.codec.latent_size, c.codec.latent_size)
    context = torch.randn(batch, c.context_frames, *shape, generator=generator) * 0.5
    target = torch.randn(batch, c.target_frames, *shape, generator=generator) * 0.5
    actions = torch.rand(batch, c.target_frames, c.frame_skip, c.action_dim, generator=generator) * 2 - 1
    return context, target, actions


@pytest.mark.parametrize("objective", ["diffusion", "regression"])
def test_loss_falls_when_training_on_a_tiny_batch(objective):
    model = tiny_model(objective=objective)
    context, target, actions = latent_batch(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(40):
        loss = model.loss(context, target, actions)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_masked_loss_ignores_outputs_at_context_positions():
    model = tiny_model()
    context, target, actions = latent_batch(model)
    forward = model.unet.forward

    def scrambled(sample, *args, **kwargs):
        output = forward(sample, *args, **kwargs)
        output.sample[:, :, : model.config.context_frames] = torch.randn_like(output.sample[:, :, : model.config.context_frames]) * 100
        return output

    torch.manual_seed(3)
    clean = model.loss(context, target, actions)
    model.unet.forward = scrambled
    torch.manual_seed(3)
    assert model.loss(context, target, actions).item() == pytest.approx(clean.item(), rel=1e-6)


def test_imagine_returns_frames_in_range_for_every_chunk():
    model = tiny_model().eval()
    frames = torch.randint(0, 256, (1, 2, 3, 16, 16), dtype=torch.uint8)
    actions = torch.rand(3, 3 * model.config.steps_per_chunk, 2) * 2 - 1
    video = model.imagine(frames, actions, steps=2)
    assert video.shape == (3, 3 * model.config.target_frames, 3, 16, 16)
    assert video.min() >= 0.0 and video.max() <= 1.0


@pytest.mark.parametrize("steps", [1, 2])
def test_sampling_from_the_noise_mean_is_deterministic_and_full_noise_is_not(steps):
    model = tiny_model().eval()
    context, _, actions = latent_batch(model)

    def sample(seed, initial_noise):
        generator = torch.Generator().manual_seed(seed)
        return model.sample_chunk(context, actions, steps=steps, generator=generator, initial_noise=initial_noise)

    assert torch.equal(sample(0, 0.0), sample(1, 0.0))
    assert not torch.allclose(sample(0, 1.0), sample(1, 1.0))
    assert torch.equal(sample(0, None), sample(0, 1.0)), "the config's initial_noise (1.0) is the default"
    with pytest.raises(ValueError, match=r"initial_noise must be in \[0, 1\]"):
        tiny_world_model_config(initial_noise=-0.5)
    with pytest.raises(ValueError, match=r"initial_noise must be in \[0, 1\]"):
        sample(0, 1.5)  # an override is checked where every sampling call meets


@pytest.mark.parametrize("predict_change", [False, True])
def test_mean_start_trains_exactly_the_deterministic_one_step_sample(predict_change):
    model = tiny_model(predict_change=predict_change).eval()
    context, target, actions = latent_batch(model)
    everyone = torch.ones(len(target), dtype=torch.bool)
    losses = [model.denoising_loss(context, target, actions, generator=torch.Generator().manual_seed(seed), mean_start=everyone)
              for seed in (0, 1)]
    sample = model.sample_chunk(context, actions, steps=1, initial_noise=0.0)
    sigma, sigma_data = model.config.sigma_max, model.config.codec.target_std
    weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
    torch.testing.assert_close(losses[0], weight * ((sample - target) ** 2).mean())
    assert losses[0].item() == losses[1].item(), "no noise is drawn for a mean-start sample"
    noisy = [model.denoising_loss(context, target, actions, generator=torch.Generator().manual_seed(seed)) for seed in (0, 1)]
    assert noisy[0].item() != noisy[1].item()
    with pytest.raises(ValueError, match=r"mean_start_fraction must be in \[0, 1\]"):
        tiny_world_model_config(mean_start_fraction=1.5)


@pytest.mark.parametrize("objective", ["diffusion", "regression"])
def test_a_silent_network_predicting_change_repeats_the_last_context_frame(objective):
    model = tiny_model(objective=objective, predict_change=True).eval()
    torch.nn.init.zeros_(model.unet.conv_out.weight)
    torch.nn.init.zeros_(model.unet.conv_out.bias)
    context, target, actions = latent_batch(model)
    repeated = context[:, -1:].expand_as(target)
    torch.testing.assert_close(model.sample_chunk(context, actions, steps=1, initial_noise=0.0), repeated)
    model.config.predict_change = False
    torch.testing.assert_close(model.sample_chunk(context, actions, steps=1, initial_noise=0.0), torch.zeros_like(target))


def test_imagine_feeds_each_chunk_as_the_next_context(monkeypatch):
    model = tiny_model().eval()
    contexts, outputs = [], []
    original = model.sample_chunk

    def spy(context, actions, **kwargs):
        contexts.append(context.clone())
        outputs.append(original(context, actions, **kwargs))
        return outputs[-1]

    monkeypatch.setattr(model, "sample_chunk", spy)
    context, _, _ = latent_batch(model, batch=1)
    model.imagine_latents(context, torch.zeros(2, 3 * model.config.steps_per_chunk, 2))
    assert len(contexts) == 3
    torch.testing.assert_close(contexts[1], outputs[0][:, -model.config.context_frames :])
    torch.testing.assert_close(contexts[2], outputs[1][:, -model.config.context_frames :])


def test_save_then_load_gives_identical_outputs(tmp_path):
    model = tiny_model().eval()
    model.save_pretrained(tmp_path / "wm")
    loaded = VideoWorldModel.from_pretrained(tmp_path / "wm")
    context, _, _ = latent_batch(model, batch=1)
    actions = torch.rand(2, model.config.steps_per_chunk, 2)
    first = model.imagine_latents(context, actions, generator=torch.Generator().manual_seed(0))
    second = loaded.imagine_latents(context, actions, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_checkpoint_into_a_mismatching_config_is_refused(tmp_path):
    tiny_model().save_pretrained(tmp_path / "wm")
    with pytest.raises(CheckpointError, match="different config.*action_dim"):
        VideoWorldModel.from_pretrained(tmp_path / "wm", expected=tiny_world_model_config(action_dim=3))


@pytest.mark.parametrize(
    "frames, message",
    [
        (torch.zeros(1, 2, 3, 32, 32, dtype=torch.uint8), "trained on 16x16"),
        (torch.zeros(1, 2, 16, 16, 3, dtype=torch.uint8), r"\(B, T, 3, H, W\)"),
        (torch.full((1, 2, 3, 16, 16), 2.0), r"must lie in \[0, 1\]"),
        (torch.zeros(1, 2, 3, 16, 16, dtype=torch.int32), "uint8 in"),
        (torch.full((1, 2, 3, 16, 16), float("nan")), "NaN"),
    ],
)
def test_bad_frames_raise_clear_errors(frames, message):
    model = tiny_model().eval()
    with pytest.raises(ValueError, match=message):
        model.imagine(frames, torch.zeros(1, model.config.steps_per_chunk, 2))


@pytest.mark.parametrize(
    "actions, message",
    [
        (torch.zeros(1, 2, 5), r"\(B, L, 2\)"),
        (torch.zeros(1, 3, 2), "whole chunks"),
        (torch.full((1, 2, 2), float("nan")), "NaN"),
    ],
)
def test_bad_actions_raise_clear_errors(actions, message):
    model = tiny_model().eval()
    with pytest.raises(ValueError, match=message):
        model.imagine(torch.zeros(1, 2, 3, 16, 16, dtype=torch.uint8), actions)
