"""Evaluating a trained world model on held-out episodes: accuracy, action use, rollouts, speed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data import ChunkDataset, ChunkSpec, Episode, proprio_history
from ..world_model import RewardModel, VideoWorldModel
from .throughput import fastest_seconds
from .video_metrics import changed_pixel_mask, count_scene_cuts, psnr, ssim


def evenly_spaced_windows(model: VideoWorldModel, episodes: Sequence[Episode], count: int) -> dict[str, torch.Tensor]:
    """`count` evenly spaced windows of `episodes`: context/target frames (float [0, 1]), actions,
    the env's rewards and successes at the target frames, and the robot state at the last context
    frame (`ChunkDataset`'s proprio)."""
    config = model.config
    dataset = ChunkDataset(episodes, ChunkSpec(config.context_frames, config.target_frames, config.frame_skip))
    index = np.linspace(0, len(dataset) - 1, min(count, len(dataset))).astype(int)
    items = [dataset[i] for i in index]
    return {
        "context": torch.stack([item["context"] for item in items]).float() / 255.0,
        "target": torch.stack([item["target"] for item in items]).float() / 255.0,
        "actions": torch.stack([item["actions"] for item in items]),
        "rewards": torch.stack([item["rewards"] for item in items]),
        "successes": torch.stack([item["successes"] for item in items]),
        "proprio": torch.stack([item["proprio"] for item in items]),
    }


@torch.no_grad()
def next_chunk_metrics(
    model: VideoWorldModel,
    windows: dict[str, torch.Tensor],
    steps: int,
    shuffle_actions: bool = False,
    batch_size: int = 32,
    seed: int = 0,
    initial_noise: float | None = None,
) -> dict[str, float]:
    """Mean PSNR, SSIM and changed-pixel PSNR of next-chunk predictions against ground truth.

    With `shuffle_actions`, each window gets the actions of another window (a fixed
    derangement), which tells how much the model reads its actions. `initial_noise`: the
    sampler's (see `VideoWorldModel.sample_chunk`).
    """
    actions = windows["actions"]
    if shuffle_actions:
        actions = actions.roll(shifts=1, dims=0)
    latents = imagine_windows(model, windows["context"], actions, steps, initial_noise, batch_size, seed,
                              model.proprio_of(windows))
    return imagined_chunk_metrics(model, latents, windows, batch_size)


@torch.no_grad()
def imagined_chunk_metrics(
    model: VideoWorldModel, latents: torch.Tensor, windows: dict[str, torch.Tensor], batch_size: int = 32
) -> dict[str, float]:
    """`next_chunk_metrics` of already imagined target latents (B, f_g, C, h, w), decoded as the model renders them."""
    return _scores(_decode(model, latents, batch_size), windows)


def _decode(model: VideoWorldModel, latents: torch.Tensor, batch_size: int, imagined: bool = True) -> torch.Tensor:
    """(B, ..., C, h, w) latents decoded `batch_size` at a time: imagined ones as the model renders
    them (`decode_imagined`), encoded real frames by its codec's own decoder."""
    decode = model.decode_imagined if imagined else model.codec.decode
    return torch.cat([decode(batch) for batch in latents.split(batch_size)])


def _encode(model: VideoWorldModel, frames: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The model's codec encoding (B, ..., 3, H, W) frames in [0, 1], `batch_size` at a time."""
    return torch.cat([model.codec.encode(batch) for batch in frames.split(batch_size)])


@torch.no_grad()
def imagine_windows(
    model: VideoWorldModel, context: torch.Tensor, actions: torch.Tensor, steps: int, initial_noise: float | None = None,
    batch_size: int = 32, seed: int = 0, proprio: torch.Tensor | None = None,
) -> torch.Tensor:
    """Imagined target latents (B, f_g, C, h, w) of windows' context frames (B, f_p, 3, H, W) in
    [0, 1], actions and robot states (B, 2, P) or None, `batch_size` windows per world-model call."""
    generator = torch.Generator().manual_seed(seed)
    latents = []
    for start in range(0, len(actions), batch_size):
        encoded = model.codec.encode(context[start : start + batch_size])
        latents.append(model.sample_chunk(
            encoded, actions[start : start + batch_size], steps=steps, generator=generator, initial_noise=initial_noise,
            proprio=None if proprio is None else proprio[start : start + batch_size],
        ))
    return torch.cat(latents)


@torch.no_grad()
def imagined_outcome_metrics(reward_model: RewardModel, latents: torch.Tensor, windows: dict[str, torch.Tensor]) -> dict[str, float]:
    """What a planner reads from imagination: the reward model on each window's imagined target
    latents (B, f_g, C, h, w) (`imagine_windows`) against the env's true outcome.

    reward_mse:          mean squared error of the predicted per-frame rewards.
    success_brier:       Brier score of the predicted per-frame success probabilities.
    false_success_rate:  share of windows without a real success whose imagined chunk is read
                         as a success (highest probability > 0.5): an optimistic lift.
    missed_success_rate: share of windows with a real success read as no success.
    """
    reward, success_logit = reward_model(latents)
    probability = torch.sigmoid(success_logit)
    real_success = windows["successes"].amax(dim=1) > 0.5
    read_success = probability.amax(dim=1) > 0.5
    return {
        "reward_mse": (reward - windows["rewards"]).square().mean().item(),
        "success_brier": (probability - windows["successes"]).square().mean().item(),
        "false_success_rate": (read_success & ~real_success).sum().item() / max(int((~real_success).sum()), 1),
        "missed_success_rate": (~read_success & real_success).sum().item() / max(int(real_success.sum()), 1),
        "windows_with_success": int(real_success.sum()),
    }


@torch.no_grad()
def predicted_frames(
    model: VideoWorldModel, windows: dict[str, torch.Tensor], steps: int = 1, initial_noise: float | None = 0.0,
    batch_size: int = 32,
) -> torch.Tensor:
    """The model's next chunk (B, f_g, 3, H, W) for each window, from its context, actions and (for a
    model that reads it) robot state, sampled with `steps` and `initial_noise` and decoded."""
    latents = imagine_windows(model, windows["context"], windows["actions"], steps, initial_noise, batch_size,
                              proprio=model.proprio_of(windows))
    return _decode(model, latents, batch_size)


@torch.no_grad()
def error_budget_frames(
    model: VideoWorldModel, windows: dict[str, torch.Tensor], steps: int = 1, initial_noise: float | None = 0.0,
    batch_size: int = 32,
) -> dict[str, torch.Tensor]:
    """The next-chunk frames (B, f_g, 3, H, W) in [0, 1] that `next_chunk_error_budget` scores, by name:
      prediction:         the model's prediction (`steps`, `initial_noise` as in `sample_chunk`);
      codec_ceiling:      the true frames encoded and decoded by the model's codec, the best any
                          prediction in its latent space can score;
      repeat_last:        the last context frame repeated;
      motionless_context: the prediction when every context frame is the last one, so the
                          context shows no motion (what the model reads from motion in it);
      shuffled_actions:   the prediction from another window's actions (what it reads from actions);
      without_proprio:    for a model conditioned on the robot state, the prediction with the
                          unknown state (what it reads from the state).
    """
    target = windows["target"]
    proprio = model.proprio_of(windows)
    motionless = {
        **windows,
        "context": windows["context"][:, -1:].expand_as(windows["context"]).contiguous(),
        "proprio": None if proprio is None else proprio[:, 1:].repeat(1, 2, 1),
    }

    def predicted(variant: dict[str, torch.Tensor | None]) -> torch.Tensor:
        return predicted_frames(model, variant, steps, initial_noise, batch_size)

    frames = {
        "prediction": predicted(windows),
        "codec_ceiling": _decode(model, _encode(model, target, batch_size), batch_size, imagined=False),
        "repeat_last": windows["context"][:, -1:].expand_as(target),
        "motionless_context": predicted(motionless),
        "shuffled_actions": predicted({**windows, "actions": windows["actions"].roll(shifts=1, dims=0)}),
    }
    if proprio is not None:
        frames["without_proprio"] = predicted({**windows, "proprio": None})  # the model's unknown state
    return frames


def psnr_per_target_frame(frames: torch.Tensor, windows: dict[str, torch.Tensor]) -> list[float]:
    """Mean PSNR (dB) over windows of each target frame index of `frames` (B, f_g, 3, H, W)."""
    target = windows["target"]
    return [psnr(frames[:, index], target[:, index]).mean().item() for index in range(target.shape[1])]


@torch.no_grad()
def next_chunk_error_budget(
    model: VideoWorldModel, windows: dict[str, torch.Tensor], steps: int = 1, initial_noise: float | None = 0.0,
    batch_size: int = 32,
) -> dict[str, list[float]]:
    """Where the next-chunk error is: mean PSNR (dB) per target frame index for each of
    `error_budget_frames`."""
    frames = error_budget_frames(model, windows, steps, initial_noise, batch_size)
    return {name: psnr_per_target_frame(predicted, windows) for name, predicted in frames.items()}


def moving_and_still_error(frames: torch.Tensor, windows: dict[str, torch.Tensor]) -> dict[str, float]:
    """How `frames` (B, f_g, 3, H, W) err where the scene moves and where it stands still, split by
    `changed_pixel_mask` (ground truth against the last context frame), all windows' pixels pooled:
      moving_psnr / still_psnr:  PSNR (dB) over the changed / unchanged pixels;
      moving_error_share:        the share of the squared error that lies on the changed pixels."""
    target = windows["target"]
    moving = changed_pixel_mask(windows["context"][:, -1], target).expand_as(target)
    squared_error = (frames - target).square()
    on_moving, on_still = squared_error[moving].sum(), squared_error[~moving].sum()
    return {
        "moving_psnr": (-10 * torch.log10(on_moving / moving.sum())).item(),
        "still_psnr": (-10 * torch.log10(on_still / (~moving).sum())).item(),
        "moving_error_share": (on_moving / (on_moving + on_still)).item(),
    }


@torch.no_grad()
def changed_shares(
    model: VideoWorldModel, windows: dict[str, torch.Tensor], latent_threshold: float = 0.1, batch_size: int = 32
) -> dict[str, float]:
    """How local the codec's latents are, over the windows' target frames:
      pixels:  the share of pixels that differ from the last context frame (`changed_pixel_mask`);
      latents: the share of latent positions whose latent moves from the last context frame's
               by more than `latent_threshold` x the latents' std (`target_std`) in some channel.
    Latents that change well beyond the pixels that move make the world model predict change
    where nothing moved."""
    target = windows["target"]
    last = windows["context"][:, -1]
    latent_change = (_encode(model, target, batch_size) - _encode(model, last, batch_size).unsqueeze(1)).abs().amax(dim=2)
    return {
        "pixels": changed_pixel_mask(last, target).float().mean().item(),
        "latents": (latent_change > latent_threshold * model.config.codec.target_std).float().mean().item(),
    }


def repeat_last_metrics(windows: dict[str, torch.Tensor]) -> dict[str, float]:
    """The "repeat the last context frame" baseline, scored like `next_chunk_metrics`."""
    return _scores(windows["context"][:, -1:].expand_as(windows["target"]), windows)


def _scores(predicted: torch.Tensor, windows: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean PSNR, SSIM and changed-pixel PSNR of predicted target frames (B, f_g, 3, H, W)."""
    target = windows["target"]
    mask = changed_pixel_mask(windows["context"][:, -1], target)
    return {
        "psnr": psnr(predicted, target).mean().item(),
        "ssim": ssim(predicted, target).mean().item(),
        "psnr_changed": torch.nanmean(psnr(predicted, target, mask=mask)).item(),
    }


@torch.no_grad()
def long_rollout(
    model: VideoWorldModel, episode: Episode, num_frames: int, steps: int, seed: int = 0, initial_noise: float | None = None
) -> dict[str, object]:
    """Roll the model out from the episode's first frames with its real actions (sampled with
    `steps` and `initial_noise`, see `VideoWorldModel.sample_chunk`).

    Predicts `num_frames` frames (rounded down to whole chunks) after the first f_p
    frames; returns PSNR per chunk index, scene cuts in the imagined video, and the video
    itself ((T, H, W, 3) uint8) for inspection. A model that reads the robot state gets the
    episode's state at the last context frame for the first chunk.
    """
    config = model.config
    skip, chunk_steps = config.frame_skip, config.steps_per_chunk
    num_chunks = num_frames // config.target_frames
    start = (config.context_frames - 1) * skip  # env step of the last context frame
    needed = start + num_chunks * chunk_steps
    if episode.num_steps < needed:
        raise ValueError(f"episode has {episode.num_steps} steps; a {num_frames}-frame rollout needs {needed}")
    frames = torch.from_numpy(episode.frames).permute(0, 3, 1, 2).float() / 255.0
    context = frames[0 : start + 1 : skip][None]
    actions = torch.from_numpy(episode.actions[start:needed])[None]
    state = torch.from_numpy(proprio_history(episode.proprio, start))[None] if model.proprio_encoder is not None else None
    latents = model.imagine_latents(model.codec.encode(context), actions, steps=steps,
                                    generator=torch.Generator().manual_seed(seed), initial_noise=initial_noise, proprio=state)
    video = model.decode_imagined(latents)[0]
    truth = frames[start + skip : needed + 1 : skip]
    per_chunk = [
        psnr(video[None, i : i + config.target_frames], truth[None, i : i + config.target_frames]).item()
        for i in range(0, len(video), config.target_frames)
    ]
    video_uint8 = (video.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    return {"psnr_per_chunk": per_chunk, "scene_cuts": count_scene_cuts(video_uint8), "video": video_uint8}


@torch.no_grad()
def imagined_frames_per_second(
    model: VideoWorldModel, steps: int, batch_size: int = 32, chunks: int = 2, repeats: int = 5, warmup: int = 3
) -> float:
    """Imagined frames per second for `batch_size` candidate action sequences of `chunks` chunks.

    Latent-space rollout with every denoising step included (no decoding: a planner
    scores latents); the best of `repeats` timings after `warmup` one-chunk calls (the least
    disturbed: on a shared 2-core VM single timings vary by a fifth).
    """
    config = model.config
    context = torch.zeros(1, config.context_frames, config.codec.latent_channels, config.codec.latent_size, config.codec.latent_size)
    actions = torch.rand(batch_size, chunks * config.steps_per_chunk, config.action_dim) * 2 - 1
    for _ in range(warmup):
        model.imagine_latents(context, actions[:, : config.steps_per_chunk], steps=steps)
    best = fastest_seconds(lambda: model.imagine_latents(context, actions, steps=steps), repeats)
    return batch_size * chunks * config.target_frames / best
