"""The slow learner: a masked conditional video diffusion model over latent frames."""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol

import torch
from diffusers import EDMEulerScheduler, UNet3DConditionModel
from torch import nn

from ..checkpoint import CheckpointError, load_weights, read_config, save_pretrained
from .action_encoder import ActionEncoder
from .codec import FrameAutoencoder, FrameDecoder
from .config import WorldModelConfig, check_initial_noise
from .frames import frames_to_unit_float
from .gripper_map import GripperMap, hermite_states
from .proprio_encoder import ProprioEncoder
from .state_predictor import StatePredictor
from .temporal_conv import use_fast_temporal_convs


class EpisodicMemory(Protocol):
    """What `imagine` needs of a fast memory (see `sfplan.fast.FastMemory`)."""

    def observe(self, previous: torch.Tensor, new: torch.Tensor, actions: torch.Tensor | None = None) -> float:
        """Write the window previous ++ new (latents (B, T, C, h, w)) into memory; `actions`
        (B, f_g, k, A) are those that led into `new`."""

    def imagining(self, candidates: int) -> AbstractContextManager[None]:
        """The block within which the model imagines `candidates` sequences with the memory."""


class VideoWorldModel(nn.Module):
    """Predicts the next f_g latent frames from f_p clean context frames and the actions between.

    Masked conditioning as in SlowFast-VGen: clean context frames ++ noised target frames
    along time, a mask channel marking the context, loss on the target frames only.
    Beyond the paper, for a small model on a CPU (see docs/world_model.md):
      - frames live in the latent space of a small trained autoencoder (`codec`);
      - every frame also receives the last context frame as input channels, so copying
        the static scene is free and the UNet spends itself on what moves;
      - actions enter three ways: cross-attention tokens (the paper's path), a chunk
        embedding added to the noise-level embedding (reaches every residual block),
        and raw per-frame actions broadcast as input channels at full latent resolution;
      - EDM preconditioning with diffusers' `EDMEulerScheduler`, so one to three Euler
        steps already give usable frames;
      - optionally (`proprio_dim`), the robot state at the last context frame and its one-step
        change, as an extra token and an embedding added to the action summary (`ProprioEncoder`),
        and (`state_predictor_hidden`) an MLP that predicts it after each imagined chunk (`StatePredictor`).
      - optionally (`gripper_map`), where the gripper will be in each target frame, from the state
        predictor and the camera's geometry, as input channels (`GripperMap`).
      - optionally (`imagined_decoder`), a second frame decoder tuned on the latents it imagines.
    """

    def __init__(self, config: WorldModelConfig) -> None:
        super().__init__()
        self.config = config
        self.codec = FrameAutoencoder(config.codec)
        latent_channels = config.codec.latent_channels
        self.action_encoder = ActionEncoder(
            config.action_dim, config.frame_skip, config.target_frames, config.action_token_dim
        )
        self.proprio_encoder = ProprioEncoder(config.proprio_dim, config.action_token_dim) if config.proprio_dim else None
        self.state_predictor = (
            StatePredictor(config.proprio_dim, config.action_dim, config.steps_per_chunk, config.state_predictor_hidden)
            if config.state_predictor_hidden else None
        )
        self.imagined_decoder = FrameDecoder(self.codec) if config.imagined_decoder else None
        self.gripper_map = (
            GripperMap(config.codec.image_size, config.codec.latent_size, config.gripper_map_sigma) if config.gripper_map else None
        )
        in_channels = 2 * latent_channels + 1 + self.action_encoder.channels + (GripperMap.channels if config.gripper_map else 0)
        if config.block_channels[0] < in_channels:
            raise ValueError(f"block_channels[0]={config.block_channels[0]} is narrower than the {in_channels} input channels")
        self.unet = UNet3DConditionModel(
            sample_size=config.codec.latent_size,
            in_channels=in_channels,
            out_channels=latent_channels,
            down_block_types=tuple("CrossAttnDownBlock3D" if a else "DownBlock3D" for a in config.attention_levels),
            up_block_types=tuple("CrossAttnUpBlock3D" if a else "UpBlock3D" for a in reversed(config.attention_levels)),
            block_out_channels=config.block_channels,
            layers_per_block=config.layers_per_block,
            norm_num_groups=math.gcd(32, *config.block_channels),
            cross_attention_dim=config.action_token_dim,
            attention_head_dim=config.attention_heads,
            time_cond_proj_dim=config.action_token_dim,
        )
        # diffusers puts dropout in every temporal conv; our small models underfit, and drawing
        # the dropout masks alone took 8% of a CPU training step.
        for module in self.unet.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
        use_fast_temporal_convs(self.unet)  # same weights; ~2.8x faster temporal convs on CPU
        self.scheduler = EDMEulerScheduler(
            sigma_min=config.sigma_min, sigma_max=config.sigma_max, sigma_data=config.codec.target_std
        )

    # --------------------------------------------------------------- checkpoints
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write `model.safetensors` + `config.json` (codec included) into `directory` atomically.

        Only the base weights are written: fast-memory LoRA adapters injected by peft are
        per-episode state (see `FastMemory.save`), and peft's `base_layer.` names are undone.
        """
        return save_pretrained(self, self.config.to_dict(), directory, state=self.base_state_dict())

    def base_state_dict(self) -> dict[str, torch.Tensor]:
        """The base weights under the names of a model without adapters: fast-memory LoRA
        tensors left out, peft's `base_layer.` names undone."""
        return {name.replace(".base_layer.", "."): tensor for name, tensor in self.state_dict().items() if "lora_" not in name}

    def base_copy(self) -> VideoWorldModel:
        """A new model with a copy of this one's base weights and no adapters (for another
        episode's fast memory), in this model's train/eval mode."""
        copy = type(self)(self.config)
        copy.load_state_dict(self.base_state_dict())
        return copy.train(self.training)

    @classmethod
    def from_pretrained(cls, directory: str | Path, expected: WorldModelConfig | None = None) -> VideoWorldModel:
        """Load a model saved by `save_pretrained`, in eval mode.

        With `expected`, the saved config must equal it; otherwise a CheckpointError lists the
        fields that differ.
        """
        saved = WorldModelConfig.from_dict(read_config(directory))
        if expected is not None and saved != expected:
            differing = sorted(k for k, v in saved.to_dict().items() if expected.to_dict()[k] != v)
            raise CheckpointError(f"checkpoint {directory} was trained with a different config ({', '.join(differing)})")
        return load_weights(cls(saved), directory).eval()

    def proprio_of(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        """A batch's robot states (`ChunkDataset`'s "proprio", (B, 2, P)) when this model reads
        them (`proprio_dim`), else None."""
        return batch["proprio"] if self.proprio_encoder is not None else None

    # ----------------------------------------------------------------- network
    def predict(
        self,
        target_input: torch.Tensor,
        context: torch.Tensor,
        sigma: torch.Tensor,
        actions: torch.Tensor | None,
        null_action: torch.Tensor | None = None,
        proprio: torch.Tensor | None = None,
        null_proprio: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One UNet pass: the raw network output F at the target positions.

        target_input: (B, T_g, C, h, w) preconditioned noisy targets (c_in * x), zeros for regression.
        context:      (B, T_p, C, h, w) clean latents; T_p may be 0 (fast memory's whole-window update).
        sigma:        (B,) noise levels.
        actions:      (B, f_g, k, A) with T_g = f_g, or None for the null action on every sample
                      (then any T_g); null_action: (B,) bool, True to use the null action per sample.
        proprio:      (B, 2, P) robot state one env step before the last context frame and at it, for
                      a model with `proprio_dim` P; None for the learned unknown state (always, when P
                      is 0); null_proprio: (B,) bool, True to use the unknown state per sample.
        Returns (B, T_g, C, h, w).
        """
        batch, num_context = context.shape[:2]
        num_target = target_input.shape[1]
        num_frames = num_context + num_target
        height, width = target_input.shape[-2:]
        scale = 1.0 / self.config.codec.target_std
        action_maps = torch.zeros(batch, num_frames, self.action_encoder.channels, height, width)
        if actions is None:
            tokens, summary = self.action_encoder.null(batch)
        else:
            null = torch.zeros(batch, dtype=torch.bool) if null_action is None else null_action
            tokens, summary, action_channels = self.action_encoder(actions, null)
            action_maps[:, num_context:] = action_channels.expand(-1, -1, -1, height, width)
        if self.proprio_encoder is not None:
            if proprio is None:
                state_token, state_summary = self.proprio_encoder.null(batch)
            else:
                null = torch.zeros(batch, dtype=torch.bool) if null_proprio is None else null_proprio
                state_token, state_summary = self.proprio_encoder(self.proprio_encoder.check(proprio, batch), null)
            tokens, summary = torch.cat([tokens, state_token], dim=1), summary + state_summary
        elif proprio is not None:
            raise ValueError("this world model takes no proprioception (proprio_dim=0): pass proprio=None")
        frames = torch.cat([context * scale, target_input], dim=1)
        if num_context:
            anchor = (context[:, -1:] * scale).expand(-1, num_frames, -1, -1, -1)
        else:
            anchor = torch.zeros_like(frames)
        is_context = torch.zeros(batch, num_frames, 1, height, width)
        is_context[:, :num_context] = 1.0
        inputs = [frames, anchor, is_context, action_maps]
        if self.gripper_map is not None:
            inputs.append(self._gripper_maps(batch, proprio, actions, null_proprio, null_action, num_context, num_target))
        sample = torch.cat(inputs, dim=2).transpose(1, 2)
        noise_level = self.scheduler.precondition_noise(sigma).reshape(batch)
        output = self.unet(sample, noise_level, encoder_hidden_states=tokens, timestep_cond=summary).sample
        return output.transpose(1, 2)[:, num_context:]

    @torch.no_grad()
    def _gripper_maps(
        self, batch: int, proprio: torch.Tensor | None, actions: torch.Tensor | None, null_proprio: torch.Tensor | None,
        null_action: torch.Tensor | None, num_context: int, num_target: int,
    ) -> torch.Tensor:
        """(B, T_p + T_g, 4, h, w) `GripperMap` channels: the last context frame's, then each target
        frame's from `future_states`; zero for frames or samples whose state or actions are unknown."""
        size = self.config.codec.latent_size
        maps = torch.zeros(batch, num_context + num_target, GripperMap.channels, size, size)
        if proprio is None or actions is None:
            return maps
        proprio = proprio.float()
        if num_context:
            maps[:, num_context - 1] = self.gripper_map.current(proprio[:, 1])
        maps[:, num_context:] = self.gripper_map(proprio[:, 1], self.future_states(proprio, actions))
        known = torch.ones(batch, dtype=torch.bool)
        for null in (null_proprio, null_action):
            if null is not None:
                known &= ~null
        return maps * known.view(batch, 1, 1, 1, 1)

    def future_states(self, proprio: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The robot state at each target frame of a chunk, (B, f_g, P): from the state history
        `proprio` (B, 2, P) and the chunk's `actions` (B, f_g, k, A), cubic Hermite interpolation
        between now and the `state_predictor`'s state at the chunk's end (positions and fingers;
        the other dims are interpolated too but mean little)."""
        if self.state_predictor is None:
            raise ValueError("this world model has no state predictor (world_model.state_predictor_hidden=0)")
        config = self.config
        end = self.state_predictor(proprio, actions)
        at_steps = config.frame_skip * torch.arange(1, config.target_frames + 1)
        return hermite_states(proprio.float(), end, config.steps_per_chunk, at_steps)

    def denoising_loss(
        self,
        context: torch.Tensor,
        target: torch.Tensor,
        actions: torch.Tensor | None,
        null_action: torch.Tensor | None = None,
        sigma_mean: float | None = None,
        sigma_std: float | None = None,
        generator: torch.Generator | None = None,
        proprio: torch.Tensor | None = None,
        null_proprio: torch.Tensor | None = None,
        mean_start: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """EDM denoising loss of `target` (B, T_g, C, h, w) at log-normal noise levels, given clean
        `context` (B, T_p, C, h, w) (T_p may be 0), `actions` and `proprio` as in `predict`.

        The noise levels are exp(N(sigma_mean, sigma_std)), by default the training ones; noise
        comes from `generator` (torch's global one when None). Samples flagged in `mean_start`
        (B,) bool are denoised at sigma_max from a zero input instead: the deterministic
        sampler's first step (see `WorldModelConfig.mean_start_fraction`). A `predict_change` model
        denoises the targets' change from `origin`.
        """
        batch = target.shape[0]
        mean = self.config.train_sigma_mean if sigma_mean is None else sigma_mean
        std = self.config.train_sigma_std if sigma_std is None else sigma_std
        sigma = torch.exp(torch.randn(batch, generator=generator) * std + mean)
        target = target - self.origin(context, target.shape[1])
        noisy = target + sigma.view(batch, 1, 1, 1, 1) * torch.randn(target.shape, generator=generator)
        if mean_start is not None:
            sigma = torch.where(mean_start, torch.tensor(self.config.sigma_max), sigma)
            noisy = torch.where(mean_start.view(batch, 1, 1, 1, 1), torch.zeros_like(noisy), noisy)
        sigma_b = sigma.view(batch, 1, 1, 1, 1)
        output = self.predict(self.scheduler.precondition_inputs(noisy, sigma_b), context, sigma, actions, null_action,
                              proprio, null_proprio)
        denoised = self.scheduler.precondition_outputs(noisy, output, sigma_b)
        sigma_data = self.config.codec.target_std
        weight = (sigma_b**2 + sigma_data**2) / (sigma_b * sigma_data) ** 2
        return (weight * (denoised - target) ** 2).mean()

    def loss(
        self, context: torch.Tensor, target: torch.Tensor, actions: torch.Tensor, proprio: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Training loss on latents: context (B, f_p, C, h, w), target (B, f_g, C, h, w), actions (B, f_g, k, A),
        proprio (B, 2, P) or None (see `predict`).

        Diffusion: EDM denoising loss at log-normal noise levels; regression: MSE of a direct
        prediction. Only target frames enter the loss. Actions are replaced by the null
        action for a random `action_dropout` share of the batch while training, the state by the
        unknown state for a random `proprio_dropout` share, and a random `mean_start_fraction`
        share is denoised from the deterministic sampler's start.
        """
        batch = target.shape[0]
        never = torch.zeros(batch, dtype=torch.bool)
        null = torch.rand(batch) < self.config.action_dropout if self.training else never
        null_proprio = torch.rand(batch) < self.config.proprio_dropout if self.training and self.proprio_encoder is not None else never
        if self.config.objective == "regression":
            prediction = self.predict(torch.zeros_like(target), context, torch.ones(batch), actions, null, proprio, null_proprio)
            return nn.functional.mse_loss(prediction + self.origin(context, target.shape[1]), target)
        fraction = self.config.mean_start_fraction
        mean_start = torch.rand(batch) < fraction if self.training and fraction > 0 else None
        return self.denoising_loss(context, target, actions, null, proprio=proprio, null_proprio=null_proprio, mean_start=mean_start)

    # ---------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_chunk(
        self,
        context: torch.Tensor,
        actions: torch.Tensor,
        steps: int | None = None,
        null_action: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        initial_noise: float | None = None,
        proprio: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sample the next chunk: context (B, f_p, C, h, w), actions (B, f_g, k, A) -> (B, f_g, C, h, w).

        `steps` and `initial_noise` default to the config's `denoise_steps` and `initial_noise`;
        `proprio` (B, 2, P) or None: see `predict`.
        """
        batch = context.shape[0]
        shape = (batch, self.config.target_frames, *context.shape[2:])
        null = torch.zeros(batch, dtype=torch.bool) if null_action is None else null_action
        origin = self.origin(context, shape[1])
        if self.config.objective == "regression":
            return self.predict(torch.zeros(shape), context, torch.ones(batch), actions, null, proprio) + origin
        scheduler = EDMEulerScheduler.from_config(self.scheduler.config)  # samplers keep per-call state
        scheduler.set_timesteps(steps or self.config.denoise_steps)
        noise_scale = self.config.initial_noise if initial_noise is None else initial_noise
        check_initial_noise(noise_scale)
        sample = torch.randn(shape, generator=generator) * (scheduler.sigmas[0] * noise_scale)
        for timestep in scheduler.timesteps:
            sigma = scheduler.sigmas[scheduler.step_index if scheduler.step_index is not None else 0]
            model_input = scheduler.scale_model_input(sample, timestep)
            output = self.predict(model_input, context, sigma.expand(batch).float(), actions, null, proprio)
            sample = scheduler.step(output, timestep, sample).prev_sample
        return sample + origin

    def origin(self, context: torch.Tensor, num_target: int) -> torch.Tensor:
        """What the model's diffusion variable is measured from, for `num_target` frames after
        `context` (B, T_p, C, h, w): the last context latent for a `predict_change` model with
        context, else zeros (broadcastable to the targets)."""
        if not self.config.predict_change or context.shape[1] == 0:
            return torch.zeros(())
        return context[:, -1:].expand(-1, num_target, -1, -1, -1)

    def check_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Validate (B, L, A) env actions, L a multiple of the env steps per chunk; returns float32."""
        steps = self.config.steps_per_chunk
        if actions.ndim != 3 or actions.shape[-1] != self.config.action_dim:
            raise ValueError(
                f"actions must be (B, L, {self.config.action_dim}) for this model, got shape {tuple(actions.shape)}"
            )
        if actions.shape[1] == 0 or actions.shape[1] % steps:
            raise ValueError(f"actions must cover whole chunks: L a positive multiple of {steps} env steps, got {actions.shape[1]}")
        if not torch.isfinite(actions).all():
            raise ValueError("actions contain NaN or inf")
        return actions.float()

    @torch.no_grad()
    def imagine_latents(
        self,
        context: torch.Tensor,
        actions: torch.Tensor,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        memory: EpisodicMemory | None = None,
        initial_noise: float | None = None,
        proprio: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Roll out chunk after chunk in latent space.

        context: (B or 1, f_p, C, h, w) latents; actions: (B, L, A) env actions, L = N chunks x
        f_g x k. Each predicted chunk becomes the context of the next. With `memory`, each
        generated chunk is written into it together with the chunk before (the paper's
        Algorithm 1a), so later chunks are imagined with the updated memory (folded into the
        weights while a batch of B > 1 is imagined: see `FastMemory.imagining`). `steps` and
        `initial_noise`: see `sample_chunk`. `proprio` (B or 1, 2, P), the robot state at the last
        context frame (see `predict`), conditions the first chunk; later chunks start from
        imagined frames, whose state is not observed: a model with a `state_predictor` conditions
        the next `state_predictor_horizon` chunks on the states it predicts from the state before
        and the chunk's actions; later chunks, and every later chunk of other models, get the
        learned unknown state.
        Returns (B, N*f_g, C, h, w).
        """
        actions = self.check_actions(actions)
        batch, num_context = actions.shape[0], self.config.context_frames
        if context.shape[1] != num_context:
            raise ValueError(f"need {num_context} context frames, got {context.shape[1]}")
        context = context.expand(batch, -1, -1, -1, -1)
        if proprio is not None:
            proprio = proprio.expand(batch, -1, -1)
        chunks = actions.reshape(batch, -1, self.config.target_frames, self.config.frame_skip, self.config.action_dim)
        predicted = []
        previous = context
        horizon = self.config.state_predictor_horizon or chunks.shape[1]
        for index, chunk_actions in enumerate(chunks.unbind(dim=1)):
            with memory.imagining(batch) if memory is not None else nullcontext():
                chunk = self.sample_chunk(context, chunk_actions, steps=steps, generator=generator, initial_noise=initial_noise,
                                          proprio=proprio)
            if memory is not None:
                memory.observe(previous, chunk, chunk_actions, proprio)
            if proprio is not None and self.state_predictor is not None and index < horizon:
                proprio = self.state_predictor(proprio, chunk_actions)
            else:
                proprio = None
            predicted.append(chunk)
            previous = chunk
            context = torch.cat([context, chunk], dim=1)[:, -num_context:]
        return torch.cat(predicted, dim=1)

    @torch.no_grad()
    def imagine(
        self,
        context_frames: torch.Tensor,
        actions: torch.Tensor,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        memory: EpisodicMemory | None = None,
        initial_noise: float | None = None,
        proprio: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Imagine the frames that `actions` lead to (with `memory`, `steps`, `initial_noise` and
        `proprio`, see `imagine_latents`).

        context_frames: (B or 1, f_p, 3, H, W) uint8 or float in [0, 1], the last f_p frames
        `frame_skip` env steps apart; actions: (B, L, A), L a multiple of f_g * frame_skip.
        Returns (B, L / frame_skip, 3, H, W) float frames in [0, 1].
        """
        frames = frames_to_unit_float(context_frames, self.config.codec.image_size, "context_frames")
        latents = self.imagine_latents(self.codec.encode(frames), actions, steps=steps, generator=generator, memory=memory,
                                      initial_noise=initial_noise, proprio=proprio)
        return self.decode_imagined(latents)

    def decode_imagined(self, latents: torch.Tensor) -> torch.Tensor:
        """(..., C, h, w) latents this model imagined -> (..., 3, H, W) frames in [0, 1]: by its
        `imagined_decoder` when it has one (`WorldModelConfig.imagined_decoder`), else by the codec's."""
        return self.codec.decode(latents, self.imagined_decoder)
