"""The fast learner: Temp-LoRA episodic memory over a world model."""

from .memory import TARGETS, FastMemory, FastMemoryConfig

__all__ = ["TARGETS", "FastMemory", "FastMemoryConfig"]
