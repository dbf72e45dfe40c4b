"""The fast learner: Temp-LoRA episodic memory over a world model."""

from .memory import TARGETS, WINDOW_MODES, FastMemory, FastMemoryConfig

__all__ = ["TARGETS", "WINDOW_MODES", "FastMemory", "FastMemoryConfig"]
