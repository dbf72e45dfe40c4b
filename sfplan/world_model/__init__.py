"""The slow learner: frame codec, action-conditioned video diffusion model, reward model."""

from .codec import FrameAutoencoder
from .config import CodecConfig, WorldModelConfig
from .model import VideoWorldModel
from .reward import RewardModel, RewardModelConfig

__all__ = ["CodecConfig", "FrameAutoencoder", "RewardModel", "RewardModelConfig", "VideoWorldModel", "WorldModelConfig"]
