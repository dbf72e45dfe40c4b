"""Train the slow learner (frame autoencoder, world model, reward model) on an HDF5 dataset.

    python experiments/train_world_model.py env=robosuite-lift train.dataset=data/lift.h5 train.output=runs/lift
Interrupted runs resume from `<output>/training_state` (train.resume=true). On several GPUs:
`accelerate launch experiments/train_world_model.py ...`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from sfplan.interrupts import terminate_as_interrupt
from sfplan.training import TrainConfig, train_slow
from sfplan.world_model import WorldModelConfig


@hydra.main(version_base="1.3", config_path="../configs", config_name="train_world_model")
@terminate_as_interrupt()
def main(cfg: DictConfig) -> None:
    model_config = WorldModelConfig.from_dict(OmegaConf.to_container(cfg.world_model, resolve=True))
    metrics = train_slow(model_config, TrainConfig(**OmegaConf.to_container(cfg.train, resolve=True)), progress=cfg.progress)
    print({key: round(value, 4) for key, value in metrics.items()})


if __name__ == "__main__":
    main()
