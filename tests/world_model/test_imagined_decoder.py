import pytest
import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.training import imagined_frame_pairs, tune_imagined_decoder, with_imagined_decoder
from sfplan.world_model import VideoWorldModel


def tiny_model(**overrides) -> VideoWorldModel:
    torch.manual_seed(0)
    return VideoWorldModel(tiny_world_model_config(**overrides)).eval()


def context_and_actions(model: VideoWorldModel) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    size = model.config.codec.image_size
    context = torch.rand(1, model.config.context_frames, 3, size, size, generator=generator)
    return context, torch.randn(2, model.config.steps_per_chunk, model.config.action_dim, generator=generator)


def test_without_an_imagined_decoder_imagined_latents_are_decoded_by_the_codec():
    model = tiny_model()
    latents = torch.randn(2, 3, 2, 8, 8)
    assert model.imagined_decoder is None
    assert torch.equal(model.decode_imagined(latents), model.codec.decode(latents))


def test_imagine_renders_with_the_imagined_decoder_and_the_codec_keeps_its_own():
    model = tiny_model(imagined_decoder=True)
    model.imagined_decoder.copy_from(model.codec)
    latents = torch.randn(2, 3, 2, 8, 8)
    assert torch.equal(model.decode_imagined(latents), model.codec.decode(latents)), "a copy decodes alike"
    context, actions = context_and_actions(model)
    before, reconstruction = model.imagine(context, actions), model.codec.decode(latents)
    with torch.no_grad():
        model.imagined_decoder.decoder.conv_out.bias.add_(0.2)
    after = model.imagine(context, actions)
    assert not torch.allclose(before, after), "imagine's frames come from the imagined decoder"
    assert torch.equal(model.codec.decode(latents), reconstruction), "the codec's decoder is untouched"


def test_the_imagined_decoder_survives_save_and_load(tmp_path):
    model = tiny_model(imagined_decoder=True)
    with torch.no_grad():
        model.imagined_decoder.decoder.conv_out.bias.add_(0.2)
    model.save_pretrained(tmp_path / "world_model")
    loaded = VideoWorldModel.from_pretrained(tmp_path / "world_model")
    latents = torch.randn(2, 3, 2, 8, 8)
    assert loaded.config.imagined_decoder
    assert torch.equal(loaded.decode_imagined(latents), model.decode_imagined(latents))


def test_tuning_lowers_the_pixel_error_of_imagined_frames_and_changes_nothing_else():
    episodes = [make_episode(20, image_size=16, seed=0), make_episode(13, image_size=16, seed=1)]
    model = with_imagined_decoder(tiny_model(), episodes, steps=1, stride=1, progress=False)
    latents, frames = imagined_frame_pairs(model, episodes, stride=1, progress=False)
    assert latents.shape[0] == frames.shape[0] and frames.dtype == torch.uint8 and frames.shape[1:] == (3, 16, 16)
    untouched = {name: tensor.clone() for name, tensor in model.state_dict().items() if not name.startswith("imagined_decoder.")}

    def error() -> float:
        with torch.no_grad():
            return (model.decode_imagined(latents) - frames.float() / 255).square().mean().item()

    before = error()
    losses = tune_imagined_decoder(model, latents, frames, steps=60, batch_size=8, lr=1e-3, progress=False)
    assert len(losses) == 60 and error() < 0.5 * before
    assert all(torch.equal(tensor, model.state_dict()[name]) for name, tensor in untouched.items())
    assert not model.imagined_decoder.training


def test_tuning_needs_a_decoder_matching_pairs_and_frames_of_the_codecs_size(episodes):
    with pytest.raises(ValueError, match="image_size=16"):
        imagined_frame_pairs(tiny_model(), episodes, stride=1, progress=False)  # 8x8 frames
    latents, frames = torch.randn(4, 2, 8, 8), torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match="with_imagined_decoder"):
        tune_imagined_decoder(tiny_model(), latents, frames, steps=1)
    with pytest.raises(ValueError, match="as many latents as frames"):
        tune_imagined_decoder(tiny_model(imagined_decoder=True), latents, frames[:3], steps=1)
