"""Does fast memory help? Online adaptation, long revisiting rollouts and their cost."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats

from ..data import ChunkSpec, Episode, consecutive_chunks, proprio_history
from ..fast import FastMemory
from ..world_model import VideoWorldModel
from .throughput import fastest_seconds
from .video_metrics import count_scene_cuts, psnr

WindowRule = Callable[[list[torch.Tensor]], torch.Tensor]


def local_window(chunks: list[torch.Tensor]) -> torch.Tensor:
    """The paper's rule: only the chunk before the newest one."""
    return chunks[-2]


def whole_history(chunks: list[torch.Tensor]) -> torch.Tensor:
    """Ablation: every chunk before the newest one."""
    return torch.cat(chunks[:-1], dim=1)


def single_frame(chunks: list[torch.Tensor]) -> torch.Tensor:
    """Ablation: only the last frame before the newest chunk."""
    return chunks[-2][:, -1:]


def episode_chunks(model: VideoWorldModel, episode: Episode) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An episode cut the way the model sees it.

    Returns frames (N, f_g, 3, H, W) float [0, 1] of consecutive chunks after the first f_p
    frames, their actions (N, f_g * k, A), and the first f_p frames (1, f_p, 3, H, W).
    """
    config = model.config
    spec = ChunkSpec(config.context_frames, config.target_frames, config.frame_skip)
    frames = torch.from_numpy(episode.frames).permute(0, 3, 1, 2).float() / 255.0
    first, chunk_frames, actions = consecutive_chunks(spec, frames, torch.from_numpy(episode.actions))
    return chunk_frames, actions.flatten(1, 2), first[None]


def chunk_states(model: VideoWorldModel, episode: Episode) -> torch.Tensor | None:
    """The robot state a model that reads it (`proprio_dim`) gets before each chunk of
    `episode_chunks`: (N + 1, 2, P), entry j at the last context frame before chunk j (entry N:
    after the last chunk), as `proprio_history`; None for a model without the condition."""
    if model.proprio_encoder is None:
        return None
    config = model.config
    spec = ChunkSpec(config.context_frames, config.target_frames, config.frame_skip)
    histories = np.stack([proprio_history(episode.proprio, step) for step in range(len(episode.proprio))])
    first, chunks, _ = consecutive_chunks(spec, torch.from_numpy(histories).float(), torch.from_numpy(episode.actions))
    return torch.cat([first[-1:], chunks[:, -1]])


def lag_key(lag: int) -> str:
    """`online_adaptation`'s curve of a memory `lag` chunks behind the one it predicts: "memory"
    for the issue's lag of 1 (it has observed every chunk before the predicted one)."""
    return "memory" if lag == 1 else f"memory_lag{lag}"


@torch.no_grad()
def online_adaptation(
    model: VideoWorldModel,
    memory: FastMemory,
    episode: Episode,
    window: WindowRule = local_window,
    seed: int = 0,
    initial_noise: float | None = None,
    lags: tuple[int, ...] = (1,),
) -> dict[str, list[float]]:
    """PSNR of predicting chunk t of a real episode (t = 1 .. N-1) from its real context, by the
    base model ("base") and by base + memory that has observed the real chunks <= t - lag
    (written with `window`; key `lag_key(lag)`), for every t. Lag 1 is the online case: the
    memory has seen every chunk before the predicted one. Lag 0 writes the predicted chunk
    itself first (how much a write stores); larger lags show how far what it stores carries.
    One pass writes each chunk once and predicts every lag from the adapter as it stands. All
    predictions sample with the same noise (`initial_noise`: see `VideoWorldModel.sample_chunk`)
    and get the real robot state before chunk t when the model reads it."""
    if not lags or min(lags) < 0:
        raise ValueError(f"lags are chunks between the last one written and the predicted one, at least 0; got {lags}")
    chunk_frames, actions, first = episode_chunks(model, episode)
    states = chunk_states(model, episode)
    latents = model.codec.encode(chunk_frames)  # (N, f_g, C, h, w)
    seen = [model.codec.encode(first), *(latent[None] for latent in latents)]  # seen[j + 1]: chunk j
    memory.reset()
    f_p, last = model.config.context_frames, len(chunk_frames) - 1
    per_frame = (model.config.target_frames, model.config.frame_skip, -1)
    curves: dict[str, list[float]] = {key: [float("nan")] * last for key in ["base", *map(lag_key, lags)]}

    def score(target: int) -> float:
        context = torch.cat(seen[: target + 1], dim=1)[:, -f_p:]
        state = None if states is None else states[target][None]
        generator = torch.Generator().manual_seed(seed)
        latent = model.sample_chunk(context, actions[target].reshape(per_frame)[None], generator=generator,
                                    initial_noise=initial_noise, proprio=state)
        return psnr(model.decode_imagined(latent), chunk_frames[target][None]).item()

    for written in range(-1, last + 1):  # the adapter holds chunks <= written (-1: none yet)
        if 0 <= written < last or (written == last and 0 in lags):
            state = None if states is None else states[written][None]  # the robot state before the chunk written
            memory.observe(window(seen[: written + 2]), seen[written + 1], actions[written].reshape(per_frame)[None], state)
        if 1 <= written + 1 <= last:
            with memory.disabled():
                curves["base"][written] = score(written + 1)
        for lag in lags:  # before any write, every target closer than the lag sees the empty adapter
            for target in range(1, min(lag, last + 1)) if written == -1 else [written + lag]:
                if 1 <= target <= last:
                    curves[lag_key(lag)][target - 1] = score(target)
    return curves


def paired_gain_interval(gains: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of per-episode gains (memory minus base on the same
    episode): a memory beats the base at this confidence when the interval lies above 0."""
    if len(gains) < 2:
        raise ValueError(f"an interval needs at least 2 episodes' gains, got {len(gains)}")
    values = np.asarray(gains, dtype=float)
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def out_and_back(actions: torch.Tensor) -> torch.Tensor:
    """(L, A) delta actions followed by their reversal: the same moves undone in reverse order.

    For delta end-effector control this leaves a place and comes back to it; the gripper
    command (last dimension) is kept as it was rather than negated.
    """
    back = -actions.flip(0)
    back[:, -1] = actions.flip(0)[:, -1]
    return torch.cat([actions, back])


@torch.no_grad()
def revisit_rollout(
    model: VideoWorldModel,
    memory: FastMemory | None,
    first: torch.Tensor,
    actions: torch.Tensor,
    seed: int = 0,
    initial_noise: float | None = None,
    proprio: torch.Tensor | None = None,
) -> dict[str, float | np.ndarray]:
    """Imagine an out-and-back action sequence (sampled with `initial_noise`, the first chunk
    given the robot state `proprio` (1, 2, P) when not None); score scene cuts and revisit
    consistency.

    Revisit consistency: mean cosine similarity between the latent of each frame on the way
    out and the latent of the frame at the same place on the way back (the feature extractor
    is the world model's own frame encoder). Also returns seconds and peak RSS per chunk.
    """
    if memory is not None:
        memory.reset()
    start = time.perf_counter()
    latents = model.imagine_latents(model.codec.encode(first), actions[None], generator=torch.Generator().manual_seed(seed),
                                    memory=memory, initial_noise=initial_noise, proprio=proprio)[0]
    seconds = time.perf_counter() - start
    half = len(latents) // 2
    out, back = latents[:half].flatten(1), latents[half:].flip(0).flatten(1)
    similarity = torch.nn.functional.cosine_similarity(out, back, dim=1).mean().item()
    video = (model.decode_imagined(latents).permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    chunks = len(latents) // model.config.target_frames
    return {
        "revisit": similarity,
        "scene_cuts": float(count_scene_cuts(video)),
        "seconds_per_chunk": seconds / chunks,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "video": video,
    }


def memory_update_seconds(memory: FastMemory, repeats: int = 5, warmup: int = 3) -> float:
    """Seconds of one `observe` (one local window of previous ++ new chunk, batch 1): the fastest
    of `repeats` calls after `warmup` calls (the first backward passes allocate and pick kernels;
    one warm-up call was not enough). The adapter learns from the random windows it is timed on:
    `reset()` the memory before using it."""
    config = memory.model.config
    latent = config.codec.latent_size
    previous, new = torch.randn(2, 1, config.target_frames, config.codec.latent_channels, latent, latent)
    actions = torch.zeros(1, config.target_frames, config.frame_skip, config.action_dim)
    for _ in range(warmup):
        memory.observe(previous, new, actions)
    return fastest_seconds(lambda: memory.observe(previous, new, actions), repeats)


def memory_merge_seconds(memory: FastMemory, repeats: int = 5) -> float:
    """Seconds to fold the adapter into the weights and restore them (`FastMemory.merged`), the
    fastest of `repeats`: what imagining a batch with the memory merged pays on top of the chunk."""

    def fold_and_restore() -> None:
        with memory.merged():
            pass

    return fastest_seconds(fold_and_restore, repeats)
