"""Training: slow learning of the world model and reward model, and the slow-fast loop that
teaches the world model to use its fast memory."""

from .config import TrainConfig
from .decoder import imagined_frame_pairs, retune_imagined_decoder, tune_imagined_decoder, with_imagined_decoder
from .slow import (
    SlowTrainer, TrainedRun, add_run_arguments, copy_run_files, fit_state_predictor, load_run, run_from_arguments,
    train_slow, with_state_predictor,
)
from .slowfast import SlowFastConfig, SlowFastLoop, slowfast_loop

__all__ = [
    "SlowFastConfig", "SlowFastLoop", "SlowTrainer", "TrainConfig", "TrainedRun", "add_run_arguments", "copy_run_files",
    "fit_state_predictor", "imagined_frame_pairs", "load_run", "retune_imagined_decoder", "run_from_arguments",
    "slowfast_loop", "train_slow", "tune_imagined_decoder", "with_imagined_decoder", "with_state_predictor",
]
