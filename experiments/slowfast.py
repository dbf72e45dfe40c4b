"""The slow-fast learning loop: fine-tune a trained world model to use its fast memory.

    python experiments/slowfast.py env=robosuite-lift train.init_from=runs/lift-wm-anneal train.output=runs/lift-slowfast
Each training episode is written chunk by chunk into a fresh Temp-LoRA adapter while the base
weights learn to predict the next chunk with that adapter in place (SlowFast-VGen Algorithm 1b).
`use_memory=false` is the control: the same schedule without the memory. Interrupted runs resume
at the next episode. Evaluate the output like a slow run: `experiments/eval_fast_memory.py --run`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from sfplan.config_io import config_from_dict
from sfplan.fast import FastMemoryConfig
from sfplan.interrupts import terminate_as_interrupt
from sfplan.training import SlowFastConfig, TrainConfig, slowfast_loop


@hydra.main(version_base="1.3", config_path="../configs", config_name="slowfast")
@terminate_as_interrupt()
def main(cfg: DictConfig) -> None:
    values = OmegaConf.to_container(cfg, resolve=True)
    config = SlowFastConfig(
        train=config_from_dict(TrainConfig, values["train"], "train"),
        fast=config_from_dict(FastMemoryConfig, values["fast"], "fast"),
        use_memory=values["use_memory"],
        eval_episodes=values["eval_episodes"],
        memory_dropout=values["memory_dropout"],
    )
    metrics = slowfast_loop(config, progress=values["progress"])
    print({key: round(value, 4) for key, value in metrics.items()})


if __name__ == "__main__":
    main()
