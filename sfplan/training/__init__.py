"""Training: slow learning of the world model and reward model (the slow-fast loop comes later)."""

from .config import TrainConfig
from .slow import SlowTrainer, train_slow

__all__ = ["SlowTrainer", "TrainConfig", "train_slow"]
