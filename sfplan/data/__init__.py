"""Episodes, their HDF5 storage (robomimic layout) and chunk windows for world-model training."""

from .chunks import ChunkDataset, ChunkSpec, consecutive_chunks, proprio_history, state_transitions
from .episode import Episode
from .hdf5 import DatasetError, DatasetInfo, EpisodeWriter, load_episodes, read_info

__all__ = ["ChunkDataset", "ChunkSpec", "DatasetError", "DatasetInfo", "Episode", "EpisodeWriter", "consecutive_chunks", "load_episodes", "proprio_history",
           "read_info", "state_transitions"]
