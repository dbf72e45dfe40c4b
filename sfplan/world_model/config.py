"""Configuration of the slow learner: frame codec, action conditioning, UNet and sampler."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..config_io import config_from_dict
from .gripper_map import MIN_STATE_DIM


def check_initial_noise(value: float) -> None:
    """Raise a ValueError unless the sampler's starting-noise scale is in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"initial_noise must be in [0, 1] (0: deterministic, 1: full noise), got {value}")


CODEC_NORMS = ("group", "channel")


@dataclass
class CodecConfig:
    """The frame autoencoder: (3, H, W) pixels <-> (latent_channels, H/f, W/f) latents.

    image_size:        side of the square input frames, pixels.
    latent_channels:   channels of the latent frame.
    block_channels:    encoder/decoder widths; len-1 halvings, so 3 levels give a 4x smaller latent.
    latent_mean/std:   per-channel statistics of the training latents, set after the
                       autoencoder is trained, so the world model sees latents of std `target_std`.
    target_std:        the std latents are normalised to (the EDM sigma_data).
    kl_weight:         weight of the KL term in autoencoder training. 0 trains a deterministic
                       autoencoder on the posterior means: with 1e-6 the first lift codec
                       collapsed 3 of its 4 channels to noise the decoder ignores.
    norm:              "group": diffusers' GroupNorm, whose statistics pool the whole frame, so
                       the arm moving anywhere shifts every latent; "channel": each pixel
                       normalised over its own channels, so a latent changes only when something
                       moves within its receptive field (docs/world_model.md, session 14).
    """

    image_size: int = 64
    latent_channels: int = 4
    block_channels: tuple[int, ...] = (16, 32, 64)
    latent_mean: list[float] = field(default_factory=list)
    latent_std: list[float] = field(default_factory=list)
    target_std: float = 0.5
    kl_weight: float = 0.0
    norm: str = "group"

    def __post_init__(self) -> None:
        if self.norm not in CODEC_NORMS:
            raise ValueError(f"codec.norm must be one of {', '.join(CODEC_NORMS)}, got {self.norm!r}")

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.block_channels) - 1)


@dataclass
class WorldModelConfig:
    """The masked conditional video diffusion model and how it samples.

    context_frames:   f_p, clean past frames given to the model.
    target_frames:    f_g, frames predicted per chunk.
    frame_skip:       env steps between consecutive frames; each target frame is reached by
                      `frame_skip` actions.
    action_dim:       env action size A.
    block_channels:   UNet3D widths per level (the first at least as wide as the input).
    attention_levels: which UNet levels use cross-attention to the action tokens.
    layers_per_block: resnets per UNet level.
    attention_heads:  attention heads per UNet level (diffusers calls this `attention_head_dim`).
    action_token_dim: width of the action tokens (cross-attention) and global action embedding.
    action_dropout:   chance per training sample of replacing all actions by the learned null
                      action (gives the null-action pass used by fast memory and guidance).
    proprio_dim:      size P of the robot's proprioception the model is conditioned on (its state at
                      the last context frame and one env step before: exact velocity where two
                      frames give it only to the pixel); 0 for none.
    proprio_dropout:  chance per training sample of the learned null state, the condition of the
                      chunks after the first in a rollout when there is no `state_predictor_hidden`.
    state_predictor_hidden: width of the MLP (`StatePredictor`) that predicts the robot state after each
                      imagined chunk from the state before it and the chunk's actions, so the chunks after the
                      first are conditioned on a state up to `state_predictor_horizon` (the second chunk +0.4
                      dB on lift, docs/world_model.md, session 19); 0: chunks after the first get the learned
                      unknown state. Needs `proprio_dim`.
    state_predictor_horizon: chunks after the observed state that are conditioned on predicted states;
                      later ones get the unknown state. Predicted open loop from actions alone, the state
                      drifts (on lift 0-2 cm after one chunk, 2-8 after eight, 13-17 after 32), and a
                      confidently wrong state costs more than an unknown one: over 128-frame lift
                      rollouts, three predictors each gained 0.01-0.18 dB with 4, while with 12 or no
                      limit they ranged from -0.2 to +0.4 dB (session 19). 0: no limit.
    gripper_map:      draw where the gripper will be in each target frame into the UNet's input
                      (`GripperMap`): the end effector's state at each target frame, interpolated
                      between the observed state and the `StatePredictor`'s state at the chunk's end,
                      projected through the recording camera into the latent grid as a blob with
                      the move since the last context frame (docs/world_model.md, session 22).
                      Needs a robosuite state (`proprio_dim` >= 9) and `state_predictor_hidden`.
    gripper_map_sigma: width of the gripper's blob in latent pixels.
    imagined_decoder: keep a second frame decoder (`FrameDecoder`) for the latents the model imagines,
                      tuned on them against the real frames (experiments/tune_imagined_decoder.py);
                      `imagine` and the evaluations decode imagined latents with it, while `codec.decode`
                      stays the autoencoder's (docs/world_model.md, session 20). Off: one decoder for both.
    objective:        "diffusion" (EDM denoiser) or "regression" (the same UNet trained to predict
                      the target latents directly with MSE: the deterministic baseline).
    predict_change:   denoise (or regress) each target latent's change from the last context latent
                      instead of the latent itself: what does not move needs no output, and the
                      deterministic sampler starts from "repeat the last frame". On lift it
                      trailed predicting latents by 0.2-0.35 dB at equal steps: the error is where
                      the arm moves (docs/world_model.md, session 17). Without context (fast memory's
                      whole-window update) the change is the latent itself.
    sigma_min/max:    EDM noise range for sampling; sigma_data is the codec's target_std.
    train_sigma_mean/std: log-normal training noise distribution (EDM's P_mean, P_std). Higher
                      than EDM's (-1.2, 1.2) image setting: with 1-2 sampling steps the prediction
                      made at sigma_max decides the imagined frames, so high noise gets most training.
    mean_start_fraction: share of training samples denoised at sigma_max from the noise's mean (a
                      zero noisy input): exactly the first step of deterministic sampling
                      (`initial_noise` 0), an input the log-normal noise levels never show the
                      model. 0 trains the plain EDM loss.
    denoise_steps:    Euler steps per chunk at sampling time.
    initial_noise:    scale of the noise sampling starts from: 1 draws from the model's
                      distribution; 0 starts at the noise's mean, so sampling is deterministic
                      and one step gives the model's mean prediction of the chunk (the planner's
                      choice: sharper on average, and candidates' scores carry no sampling noise).
    """

    codec: CodecConfig = field(default_factory=CodecConfig)
    context_frames: int = 2
    target_frames: int = 4
    frame_skip: int = 2
    action_dim: int = 7
    block_channels: tuple[int, ...] = (32, 64, 64)
    attention_levels: tuple[bool, ...] = (False, False, True)
    layers_per_block: int = 1
    attention_heads: int = 4
    action_token_dim: int = 128
    action_dropout: float = 0.1
    proprio_dim: int = 0
    proprio_dropout: float = 0.2
    state_predictor_hidden: int = 0
    state_predictor_horizon: int = 4
    gripper_map: bool = False
    gripper_map_sigma: float = 1.5
    imagined_decoder: bool = False
    objective: str = "diffusion"
    predict_change: bool = False
    sigma_min: float = 0.002
    sigma_max: float = 5.0
    train_sigma_mean: float = 0.4
    train_sigma_std: float = 1.0
    mean_start_fraction: float = 0.0
    denoise_steps: int = 1
    initial_noise: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.codec, dict):
            self.codec = CodecConfig(**{**self.codec, "block_channels": tuple(self.codec.get("block_channels", (16, 32, 64)))})
        self.block_channels = tuple(self.block_channels)
        self.attention_levels = tuple(self.attention_levels)
        if self.objective not in ("diffusion", "regression"):
            raise ValueError(f"objective must be 'diffusion' or 'regression', got {self.objective!r}")
        if len(self.attention_levels) != len(self.block_channels):
            raise ValueError("attention_levels needs one entry per UNet level (block_channels)")
        if self.proprio_dim < 0 or not 0.0 <= self.proprio_dropout <= 1.0:
            raise ValueError(f"proprio_dim must be >= 0 and proprio_dropout in [0, 1], got {self.proprio_dim}, {self.proprio_dropout}")
        if self.state_predictor_horizon < 0:
            raise ValueError(f"state_predictor_horizon must be >= 0 (0: no limit), got {self.state_predictor_horizon}")
        if self.state_predictor_hidden < 0 or (self.state_predictor_hidden and not self.proprio_dim):
            raise ValueError(f"state_predictor_hidden must be >= 0, and > 0 only with proprio_dim (the state it predicts), "
                             f"got {self.state_predictor_hidden} with proprio_dim={self.proprio_dim}")
        if self.gripper_map and (self.proprio_dim < MIN_STATE_DIM or not self.state_predictor_hidden):
            raise ValueError(f"gripper_map needs a robosuite robot state (proprio_dim >= {MIN_STATE_DIM}) and a state "
                             f"predictor (state_predictor_hidden > 0), got {self.proprio_dim} and {self.state_predictor_hidden}")
        if self.gripper_map_sigma <= 0:
            raise ValueError(f"gripper_map_sigma must be > 0, got {self.gripper_map_sigma}")
        if not 0.0 <= self.mean_start_fraction <= 1.0:
            raise ValueError(f"mean_start_fraction must be in [0, 1], got {self.mean_start_fraction}")
        if self.denoise_steps < 1:
            raise ValueError(f"denoise_steps must be at least 1, got {self.denoise_steps}")
        check_initial_noise(self.initial_noise)

    @property
    def steps_per_chunk(self) -> int:
        """Env steps covered by one predicted chunk."""
        return self.target_frames * self.frame_skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> WorldModelConfig:
        """Inverse of `to_dict`; unknown keys raise a ValueError naming them."""
        return config_from_dict(cls, values, "world model")
