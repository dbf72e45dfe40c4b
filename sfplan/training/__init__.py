"""Training: slow learning of the world model and reward model (the slow-fast loop comes later)."""

from .config import TrainConfig
from .slow import SlowTrainer, TrainedRun, load_run, train_slow

__all__ = ["SlowTrainer", "TrainConfig", "TrainedRun", "load_run", "train_slow"]
