"""Fine-tune the reward model on imagined frames: the frames it scores while planning.

The slow trainer fits the reward model to encoded real frames, but the planner shows it the world
model's one-step predictions, which are blurrier. Here windows of the dataset are rolled out by
the world model from their real context with their real actions, the way the planner imagines
candidates, and the reward model learns the true rewards and successes of those windows from the
imagined frames (and from the real ones, so it still reads sharp frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from scipy.stats import spearmanr
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..data import ChunkDataset, ChunkSpec, Episode
from ..world_model import RewardModel, VideoWorldModel
from .slow import encode_frames


@dataclass(frozen=True)
class ImaginedWindows:
    """Windows of real episodes with the world model's rollout of them.

    imagined, real: (N, F, C, h, w) latents of the F target frames, imagined and encoded real.
    rewards, successes: (N, F) the true reward and success at each target frame.
    """

    imagined: torch.Tensor
    real: torch.Tensor
    rewards: torch.Tensor
    successes: torch.Tensor

    def __len__(self) -> int:
        return len(self.rewards)


@torch.no_grad()
def imagine_windows(
    world_model: VideoWorldModel,
    episodes: Sequence[Episode],
    chunks: int,
    stride: int,
    steps: int = 1,
    initial_noise: float = 0.0,
    batch_size: int = 64,
    progress: bool = True,
) -> ImaginedWindows:
    """Every `stride`-th window of `episodes` (context + `chunks` world-model chunks), imagined
    from its real context frames with its real actions, `steps` denoising steps from
    `initial_noise` (the planner's settings: its candidates are imagined the same way), the
    first chunk from the robot state when the world model reads it."""
    config = world_model.config
    world_model.eval()
    latents = [encode_frames(world_model.codec, episode.frames) for episode in episodes]
    spec = ChunkSpec(config.context_frames, chunks * config.target_frames, config.frame_skip, stride=stride)
    dataset = ChunkDataset(episodes, spec, frames=latents)
    imagined, real, rewards, successes = [], [], [], []
    for batch in tqdm(DataLoader(dataset, batch_size=batch_size), desc="imagining windows", disable=not progress):
        actions = batch["actions"].flatten(1, 2)  # (B, chunks x f_g, k, A) -> (B, L, A)
        imagined.append(world_model.imagine_latents(batch["context"], actions, steps=steps, initial_noise=initial_noise,
                                                    proprio=world_model.proprio_of(batch)))
        real.append(batch["target"])
        rewards.append(batch["rewards"])
        successes.append(batch["successes"])
    return ImaginedWindows(torch.cat(imagined), torch.cat(real), torch.cat(rewards), torch.cat(successes))


def fine_tune_reward_model(
    reward_model: RewardModel,
    windows: ImaginedWindows,
    steps: int,
    batch_size: int = 256,
    lr: float = 3e-4,
    real_fraction: float = 0.25,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train `reward_model` on frames of `windows`: each batch `real_fraction` encoded real
    frames, the rest imagined ones, all with their true rewards and successes. Returns the losses."""
    if not 0 <= real_fraction <= 1:
        raise ValueError(f"real_fraction must be in [0, 1], got {real_fraction}")
    frames = {"imagined": windows.imagined.flatten(0, 1), "real": windows.real.flatten(0, 1)}
    rewards, successes = windows.rewards.flatten(), windows.successes.flatten()
    real_count = round(batch_size * real_fraction)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(reward_model.parameters(), lr=lr)
    reward_model.train()
    losses = []
    for _ in tqdm(range(steps), desc="reward model", disable=not progress):
        index = {
            "imagined": torch.randint(len(rewards), (batch_size - real_count,), generator=generator),
            "real": torch.randint(len(rewards), (real_count,), generator=generator),
        }
        latents = torch.cat([frames[kind][index[kind]] for kind in index])
        chosen = torch.cat(list(index.values()))
        loss = reward_model.loss(latents, rewards[chosen], successes[chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    reward_model.eval()
    return losses


@torch.no_grad()
def reward_metrics(reward_model: RewardModel, windows: ImaginedWindows, success_weight: float = 1.0) -> dict[str, float]:
    """How well `reward_model` reads imagined and real frames of (held-out) windows.

    Per kind of frame: the mean squared error of per-frame rewards, and the Spearman correlation
    across windows of the planner's window score (summed rewards + success_weight x the highest
    success probability) with the true one (summed rewards + success_weight x any success).
    """
    truth = (windows.rewards.sum(dim=1) + success_weight * windows.successes.amax(dim=1)).numpy()
    metrics = {}
    for kind in ("imagined", "real"):
        latents = getattr(windows, kind)
        rewards, _ = reward_model(latents)
        metrics[f"reward_mse_{kind}"] = float(torch.mean((rewards - windows.rewards) ** 2))
        score = reward_model.score(latents, success_weight)
        metrics[f"score_rank_correlation_{kind}"] = float(spearmanr(score.numpy(), truth).statistic)
    return metrics

