from contextlib import nullcontext

import pytest
import torch

from helpers import tiny_world_model_config
from sfplan.checkpoint import CheckpointError
from sfplan.fast import TARGETS, FastMemory, FastMemoryConfig
from sfplan.world_model import VideoWorldModel


def model_and_memory(**config):
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config()).eval()
    return model, FastMemory(model, FastMemoryConfig(**config))


def window(seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(1, 2, 2, 8, 8, generator=generator) * 0.5, torch.randn(1, 2, 2, 8, 8, generator=generator) * 0.5


def prediction(model):
    """A deterministic function of all weights: one chunk from fixed noise, context and actions."""
    context, _ = window(99)
    return model.sample_chunk(context, torch.full((1, 2, 1, 2), 0.3), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("layers", sorted(TARGETS))
def test_observe_changes_only_lora_parameters(layers):
    model, memory = model_and_memory(layers=layers)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    memory.observe(*window(0))
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed and all("lora_" in name for name in changed)


def test_fresh_and_disabled_memory_give_exactly_the_base_model():
    model, memory = model_and_memory()
    with memory.disabled():
        base = prediction(model)
    torch.testing.assert_close(prediction(model), base, rtol=0, atol=0)  # fresh adapter: LoRA B = 0
    for _ in range(3):
        memory.observe(*window(0))
    assert not torch.equal(prediction(model), base)
    with memory.disabled():
        torch.testing.assert_close(prediction(model), base, rtol=0, atol=0)


def test_reset_forgets_the_previous_episode():
    model, memory = model_and_memory()
    base = prediction(model)
    for _ in range(3):
        memory.observe(*window(0))
    memory.reset()
    torch.testing.assert_close(prediction(model), base, rtol=0, atol=0)


def test_a_seeded_memory_repeats_its_episodes_whatever_the_global_random_state():
    def two_episodes(global_seed):
        model, memory = model_and_memory()
        torch.manual_seed(global_seed)
        state = torch.random.get_rng_state()
        outcomes = []
        for _ in range(2):
            memory.reset()
            memory.observe(*window(0))
            outcomes.append(prediction(model))
        assert torch.equal(torch.random.get_rng_state(), state), "the caller's random state is left alone"
        return outcomes

    first, again = two_episodes(1), two_episodes(2)
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(first[0], first[1]), "each episode gets a fresh random LoRA A"


def test_stored_episodes_can_be_recalled_without_leaking():
    model, memory = model_and_memory()
    for _ in range(3):
        memory.observe(*window(0))
    episode_a = prediction(model)
    memory.store("a")
    memory.reset()
    for _ in range(3):
        memory.observe(*window(1))
    episode_b = prediction(model)
    memory.recall("a")
    torch.testing.assert_close(prediction(model), episode_a, rtol=0, atol=0)
    assert not torch.equal(episode_a, episode_b)
    with pytest.raises(KeyError, match="no stored episode 'c'"):
        memory.recall("c")


def test_save_then_load_round_trip(tmp_path):
    model, memory = model_and_memory()
    memory.observe(*window(0))
    expected = prediction(model)
    path = memory.save(tmp_path / "episode.safetensors")
    memory.reset()
    memory.load(path)
    torch.testing.assert_close(prediction(model), expected, rtol=0, atol=0)
    other = FastMemory(VideoWorldModel(tiny_world_model_config()), FastMemoryConfig(rank=4))
    with pytest.raises(CheckpointError, match="other layers or rank"):
        other.load(path)


@pytest.mark.parametrize("window_mode", ["whole", "masked", "transition", "prediction"])
def test_memory_lowers_the_loss_on_the_episode_it_observed(window_mode):
    model, memory = model_and_memory(window=window_mode, layers="temporal", lr=1e-2)
    previous, new = window(0)
    actions = torch.full((1, 2, 1, 2), 0.3)  # tiny config: f_g = 2 frames, frame skip 1, 2 action dims

    def expected_loss():
        """The update's loss averaged over 64 noise draws, the same draws before and after."""
        memory._generator.manual_seed(123)
        copies_previous, copies_new = previous.expand(64, -1, -1, -1, -1), new.expand(64, -1, -1, -1, -1)
        with torch.no_grad():
            if window_mode == "whole":
                both = torch.cat([copies_previous, copies_new], dim=1)
                return memory._loss(both[:, :0], both).item()
            if window_mode in ("transition", "prediction"):
                from_mean = torch.full((64,), window_mode == "prediction")
                return memory._loss(copies_previous, copies_new, actions.expand(64, -1, -1, -1), from_mean=from_mean).item()
            return memory._loss(copies_previous, copies_new).item()

    before = expected_loss()
    for _ in range(40):
        memory.observe(previous, new, actions)
    assert expected_loss() < 0.93 * before  # deterministic: same seeds, same noise draws


def test_imagine_with_memory_updates_it_after_every_chunk():
    model, memory = model_and_memory()
    context, _ = window(0)
    model.imagine_latents(context, torch.zeros(1, 3 * model.config.steps_per_chunk, 2), memory=memory)
    assert memory.chunks_observed == 3


def test_update_every_writes_the_first_window_and_every_nth_after_it():
    _, memory = model_and_memory(update_every=3)
    written = []
    for seed in range(7):
        before = [p.detach().clone() for p in memory.parameters]
        loss = memory.observe(*window(seed))
        changed = any(not torch.equal(p, old) for p, old in zip(memory.parameters, before))
        assert changed == (loss is not None)
        written.append(changed)
    assert written == [True, False, False, True, False, False, True] and memory.chunks_observed == 7
    memory.reset()
    assert memory.observe(*window(0)) is not None, "a new episode starts with a write"
    with pytest.raises(ValueError, match="update_every"):
        FastMemoryConfig(update_every=0)


@pytest.mark.parametrize("window_mode", ["transition", "prediction"])
def test_transition_windows_need_the_actions_that_led_to_the_new_chunk(window_mode):
    _, memory = model_and_memory(window=window_mode)
    with pytest.raises(ValueError, match=rf"window='{window_mode}' learns from the actions .* pass observe\(..., actions=...\)"):
        memory.observe(*window(0))


def test_prediction_window_fits_the_deterministic_prediction_the_planner_imagines():
    model, memory = model_and_memory(window="prediction", layers="temporal", lr=1e-2)
    context, new = window(0)
    actions = torch.full((1, 2, 1, 2), 0.3)

    def error() -> float:
        """Squared error of the one-step prediction from the noise mean (initial noise 0)."""
        with torch.no_grad():
            return (model.sample_chunk(context, actions, steps=1, initial_noise=0.0) - new).pow(2).mean().item()

    before = error()
    for _ in range(20):
        memory.observe(context, new, actions)
    assert error() < 0.8 * before
    with memory.disabled():
        assert error() == pytest.approx(before)


def test_transition_windows_learn_from_the_robot_state_before_the_new_chunk():
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config(proprio_dim=3)).eval()
    memory = FastMemory(model, FastMemoryConfig(window="prediction"))
    context, new = window(0)
    actions = torch.full((1, 2, 1, 2), 0.3)
    state = torch.ones(1, 2, 3)
    losses = [memory._loss(context, new, actions, proprio, torch.ones(1, dtype=torch.bool)).item() for proprio in (state, None, -state)]
    assert len(set(losses)) == 3  # the state it is given, or the unknown state, enters the loss
    assert memory.observe(context, new, actions, state) == pytest.approx(losses[0])


def test_unknown_layers_are_refused():
    with pytest.raises(ValueError, match="unknown fast memory layers 'temporal_attn'"):
        FastMemoryConfig(layers="temporal_attn")


def test_observe_keeps_the_base_frozen_even_when_the_caller_trains_it():
    model, memory = model_and_memory()
    for parameter in model.unet.parameters():
        parameter.requires_grad_(True)  # as the slow-fast loop leaves them between updates
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    memory.observe(*window(0))
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed and all("lora_" in name for name in changed)
    assert all(p.grad is None for name, p in model.named_parameters() if "lora_" not in name)
    assert all(p.requires_grad for p in model.unet.parameters())  # the caller's flags come back


@pytest.mark.parametrize("layers", sorted(TARGETS))
def test_merged_memory_predicts_as_the_adapter_does_and_restores_the_base_exactly(layers):
    model, memory = model_and_memory(layers=layers, lr=1e-2)
    for _ in range(3):
        memory.observe(*window(0))
    with memory.disabled():
        base = prediction(model)
    with_adapter = prediction(model)
    assert (with_adapter - base).abs().max() > 1e-3  # the memory changes predictions
    with memory.merged():
        torch.testing.assert_close(prediction(model), with_adapter, rtol=0, atol=1e-5)
    torch.testing.assert_close(prediction(model), with_adapter, rtol=0, atol=0)
    with memory.disabled():
        torch.testing.assert_close(prediction(model), base, rtol=0, atol=0)


def test_writing_or_disabling_inside_merged_is_refused():
    _, memory = model_and_memory()
    with memory.merged():
        with pytest.raises(RuntimeError, match="leave the merged block"):
            memory.observe(*window(0))
        with pytest.raises(RuntimeError, match="disabled\\(\\) inside merged"), memory.disabled():
            pass
    memory.observe(*window(0))  # outside, writing works


def test_batched_imagination_with_memory_matches_the_unmerged_adapter():
    """Algorithm 1a over a batch folds the memory into the weights for each chunk; the rollout is
    the one the adapter in place gives (a bug in folding or restoring would change later chunks)."""
    def rollout(merge):
        model, memory = model_and_memory(lr=1e-2)
        if not merge:
            memory.merged = nullcontext  # the adapter stays a separate branch
        context, _ = window(0)
        actions = torch.linspace(-1, 1, 2 * 3 * model.config.steps_per_chunk).reshape(2, -1, 1).expand(-1, -1, 2)
        latents = model.imagine_latents(context, actions, memory=memory, generator=torch.Generator().manual_seed(0))
        return latents, memory.state_dict()

    (merged_latents, merged_state), (plain_latents, plain_state) = rollout(True), rollout(False)
    torch.testing.assert_close(merged_latents, plain_latents, rtol=0, atol=1e-4)
    for name in plain_state:
        torch.testing.assert_close(merged_state[name], plain_state[name], rtol=0, atol=1e-4)


@pytest.mark.parametrize("late, full", [("late_temporal_attention", "temporal_attention"), ("late_temporal", "temporal")])
def test_late_layer_sets_adapt_only_the_middle_and_decoder_blocks_of_their_full_set(late, full):
    def adapted(layers):
        model, _ = model_and_memory(layers=layers)
        return {name.split(".lora_A")[0] for name, _ in model.unet.named_parameters() if ".lora_A." in name}

    late_layers, full_layers = adapted(late), adapted(full)
    assert late_layers and late_layers < full_layers
    assert all(name.startswith(("mid_block.", "up_blocks.")) for name in late_layers)
    assert all(name.startswith(("transformer_in.", "down_blocks.")) for name in full_layers - late_layers)
