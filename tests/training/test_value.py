import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.training.value import train_value_model, value_frames, value_metrics
from sfplan.world_model import FrameAutoencoder, ValueModel, ValueModelConfig


def test_training_lowers_the_value_error():
    torch.manual_seed(0)
    episodes = [make_episode(num_steps=12, image_size=16, seed=seed) for seed in range(2)]
    codec = FrameAutoencoder(tiny_world_model_config().codec)
    raw = codec.encode_raw(torch.from_numpy(episodes[0].frames).permute(0, 3, 1, 2).float() / 255.0)
    codec.set_latent_statistics(raw.mean(dim=(0, 2, 3)), raw.std(dim=(0, 2, 3)))  # as after codec training
    frames = value_frames(codec, episodes, discount=0.9)
    assert frames.latents.shape == (26, 2, 8, 8) and frames.values.shape == frames.episode_success.shape == (26,)
    model = ValueModel(ValueModelConfig(latent_channels=2, latent_size=8, hidden=8, discount=0.9))
    before = value_metrics(model, frames)
    losses = train_value_model(model, frames, steps=200, batch_size=16, lr=3e-3, progress=False)
    after = value_metrics(model, frames)
    assert after["mse"] < 0.1 * before["mse"] and after["r2"] > 0.5 and after["rank_correlation"] > 0.9
    assert sum(losses[-10:]) < sum(losses[:10])
    assert not model.training
