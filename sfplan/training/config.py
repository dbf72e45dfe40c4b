"""Configuration of slow (world model + reward model) training."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """How to train the slow learner.

    dataset:              HDF5 file from experiments/collect.py.
    extra_datasets:       more HDF5 files (same env and image size) whose episodes are all trained
                          on, e.g. on-policy episodes of the planner's prior (`policy=prior`). The
                          held-out episodes stay those of `dataset`, so held-out PSNR stays comparable.
    output:               directory for checkpoints, logs and the training state.
    env_name, image_size: what the dataset must have been recorded with.
    holdout_episodes:     the last N episodes are never trained on; held-out PSNR uses them.
    autoencoder_steps:    steps of autoencoder training before the world model (skipped when
                          `output/autoencoder` exists).
    autoencoder_batch:    frames per autoencoder step.
    steps:                total world-model optimiser steps (resume continues to this number).
    batch_size:           windows per world-model step.
    lr, weight_decay:     AdamW settings for world and reward model.
    lr_warmdown_steps:    the learning rate falls linearly from `lr` to 0 over the last this many
                          steps before `steps` (0: constant). Annealing at the end of a run is a
                          cheap gain over the EMA of constant-rate weights; see `learning_rate`.
    state_predictor_steps: Adam steps that fit a world model's `StatePredictor` (`state_predictor_hidden`)
                          on the training episodes' state transitions, once, before the world model
                          trains (seconds on a CPU).
    imagined_decoder_steps, imagined_decoder_stride: for a world model with `imagined_decoder`, the
                          run ends by tuning it (`tune_imagined_decoder`, this many Adam steps) on the
                          first chunks the trained model imagines for every `stride`-th window of the
                          training episodes (about 20 min for the lift defaults on 2 threads, half of it imagining).
    ema_decay:            decay of the EMA weights that are evaluated and saved.
    log_every, eval_every, checkpoint_every: in steps.
    eval_windows:         held-out windows in the PSNR check during training.
    seed:                 seeds weights, noise and batch order.
    threads:              torch.set_num_threads.
    resume:               continue from `output/training_state` when it exists.
    init_from:            a directory holding `world_model/` (and optionally `reward_model/`), e.g.
                          a shipped checkpoint or another run: a fresh run starts from its weights
                          instead of from scratch, its codec counted as `autoencoder_steps` trained
                          steps. To adapt that codec to new frames (another env), run once with
                          steps=0, then with more `autoencoder_steps`. The architecture must match;
                          training-only fields (noise levels, action dropout, denoising steps,
                          objective) may differ. Unused when resuming.
    """

    dataset: str
    output: str
    extra_datasets: list[str] = field(default_factory=list)
    env_name: str | None = None
    image_size: int = 64
    holdout_episodes: int = 5
    autoencoder_steps: int = 2500
    autoencoder_batch: int = 16
    steps: int = 20000
    batch_size: int = 12
    lr: float = 3e-4
    lr_warmdown_steps: int = 0
    weight_decay: float = 1e-2
    state_predictor_steps: int = 3000
    imagined_decoder_steps: int = 1500
    imagined_decoder_stride: int = 8
    ema_decay: float = 0.999
    log_every: int = 50
    eval_every: int = 500
    checkpoint_every: int = 500
    eval_windows: int = 32
    seed: int = 0
    threads: int = 2
    resume: bool = True
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.imagined_decoder_steps < 1 or self.imagined_decoder_stride < 1:
            raise ValueError(f"imagined_decoder_steps and imagined_decoder_stride must be at least 1, got "
                             f"{self.imagined_decoder_steps} and {self.imagined_decoder_stride}")
        if not 0 <= self.lr_warmdown_steps <= self.steps:
            raise ValueError(f"lr_warmdown_steps must be between 0 and steps={self.steps}, got {self.lr_warmdown_steps}")

    def learning_rate(self, step: int) -> float:
        """The learning rate of optimiser step `step` (0-based): `lr`, then linear warm-down to 0."""
        remaining = self.steps - step
        if remaining >= self.lr_warmdown_steps:
            return self.lr
        return self.lr * remaining / self.lr_warmdown_steps
