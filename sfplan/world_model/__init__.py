"""The slow learner: frame codec, action-conditioned video diffusion model, reward and value models."""

from .codec import FrameAutoencoder, FrameDecoder
from .config import CodecConfig, WorldModelConfig
from .gripper_map import GripperMap
from .model import VideoWorldModel
from .reward import RewardModel, RewardModelConfig
from .state_predictor import StatePredictor
from .value import ValueModel, ValueModelConfig, value_targets

__all__ = [
    "CodecConfig", "FrameAutoencoder", "FrameDecoder", "GripperMap", "RewardModel", "RewardModelConfig", "StatePredictor",
    "ValueModel", "ValueModelConfig", "VideoWorldModel", "WorldModelConfig", "value_targets",
]
