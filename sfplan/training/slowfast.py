"""The slow-fast learning loop (SlowFast-VGen's Algorithm 1b): teach the base world model to use
the episodic memory that its fast learner writes."""

from __future__ import annotations

import json
import resource
import shutil
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import CheckpointError, load_weights, replace_directory
from ..data import ChunkSpec, consecutive_chunks
from ..eval.fast_memory_eval import local_window, online_adaptation
from ..fast import FastMemory, FastMemoryConfig
from ..world_model import VideoWorldModel
from .config import TrainConfig
from .slow import append_log_row, encode_frames, run_episodes

STATE_DIR = "training_state"
STATE_FILE = "slowfast_state.pt"
LOOP_FILE = "slowfast.json"


@dataclass
class SlowFastConfig:
    """How to run the slow-fast loop.

    train:         what and how to train, with `TrainConfig`'s meanings: `dataset`
                   (+ `extra_datasets`), `output`, `holdout_episodes`, `init_from` (required: the
                   loop fine-tunes a trained slow learner, its codec and reward model are kept),
                   `steps` (base optimiser steps), `batch_size` (chunk predictions whose gradients
                   make one base step), `lr`, `lr_warmdown_steps`, `weight_decay`, `log_every`,
                   `eval_every`, `checkpoint_every`, `seed`, `threads`, `resume`. No EMA: the
                   loop is a short fine-tune, end it with a warm-down instead.
    fast:          the fast memory written in the inner loop; use the settings the agent and the
                   evaluation will use, since the base learns to work with exactly this memory.
    use_memory:    false runs the same schedule without writing the memory (its adapter stays
                   empty: the base model): the control that tells the loop's effect from that of
                   more training.
    eval_episodes: held-out episodes in the online-adaptation check at `eval_every`.
    memory_dropout: share of chunk predictions made by the base alone (adapter disabled; the
                   adapter still observes the chunk), so the base stays good while an episode's
                   memory is still empty, as it is when every episode starts.
    """

    train: TrainConfig
    fast: FastMemoryConfig = field(default_factory=FastMemoryConfig)
    use_memory: bool = True
    eval_episodes: int = 2
    memory_dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.memory_dropout <= 1.0:
            raise ValueError(f"memory_dropout is a share of chunks, between 0 and 1; got {self.memory_dropout}")
        if self.train.init_from is None:
            raise ValueError("the slow-fast loop fine-tunes a trained world model: set train.init_from to a run or checkpoint directory")
        if self.eval_episodes < 0:
            raise ValueError(f"eval_episodes must be >= 0, got {self.eval_episodes}")


class SlowFastLoop:
    """Algorithm 1b, run online: each training episode gets a fresh adapter; for each of its
    chunks in order, the base model (with the adapter holding the chunks before, frozen) predicts
    the chunk from the previous one under the masked conditional loss and the BASE weights get
    the gradient; then the adapter observes the window (previous chunk ++ this chunk) with the
    base frozen, as `FastMemory.observe` does at inference. The paper first collects every
    adapter state of a pass, then trains the base on them; running both in one pass gives the
    same pairs (chunk, memory of the chunks before it) without storing adapters, with memories
    written by the base of a few steps earlier rather than of the pass's start.

    Writes `world_model/` (base weights only), `reward_model/` (copied from `init_from`),
    `train_config.json` (so `load_run` and the eval scripts read the output like a slow run),
    `slowfast.json`, `log.csv` and `training_state/`, each atomically; resumes at the next episode.
    """

    def __init__(self, config: SlowFastConfig, progress: bool = True) -> None:
        self.config = config
        self.progress = progress
        train = config.train
        self.output = Path(train.output)
        torch.set_num_threads(train.threads)
        torch.manual_seed(train.seed)
        source = Path(train.init_from)
        resuming = train.resume and (self.output / STATE_DIR / STATE_FILE).exists()
        self.model = VideoWorldModel.from_pretrained(source / "world_model")
        if resuming:
            load_weights(self.model, self.output / "world_model")
        size = self.model.config.codec.image_size
        train_episodes, self.held_out = run_episodes(train, size)
        if train_episodes[0].actions.shape[1] != self.model.config.action_dim:
            raise ValueError(
                f"dataset actions have {train_episodes[0].actions.shape[1]} dims but the world model in {source} takes "
                f"{self.model.config.action_dim}"
            )
        spec = ChunkSpec(self.model.config.context_frames, self.model.config.target_frames, self.model.config.frame_skip)
        self.episodes = []
        for episode in train_episodes:
            if episode.num_steps >= spec.span_steps:
                latents = encode_frames(self.model.codec, episode.frames)
                self.episodes.append(consecutive_chunks(spec, latents, torch.from_numpy(episode.actions)))
        if not self.episodes:
            raise ValueError(f"no training episode of {train.dataset} holds a whole chunk")
        # The control carries the adapter too, never written while training (LoRA B = 0: exactly
        # the base model), so that both runs are checked the same way.
        self.memory = FastMemory(self.model, config.fast, seed=train.seed)
        frozen = {id(p) for p in self.memory.parameters} | {id(p) for p in self.model.codec.parameters()}
        self.trainable = [p for p in self.model.parameters() if id(p) not in frozen]
        for parameter in self.model.parameters():
            parameter.requires_grad_(id(parameter) not in frozen)
        self.optimizer = torch.optim.AdamW(self.trainable, lr=train.lr, weight_decay=train.weight_decay)
        self._dropout_generator = torch.Generator().manual_seed(train.seed)

    # ------------------------------------------------------------------- run
    def run(self) -> dict[str, float]:
        """Train to `train.steps`; returns the last logged metrics."""
        train = self.config.train
        step, cursor, wall_before = self._resume() if train.resume else (0, 0, 0.0)
        if step == 0:
            self._write_run_files()
        started = time.perf_counter()
        losses: list[float] = []
        memory_losses: list[float] = []
        metrics: dict[str, float] = {}
        pending, next_eval, next_save = 0, step, self._next(step, train.checkpoint_every)
        bar = tqdm(total=train.steps, initial=step, desc="slow-fast loop", disable=not self.progress)
        self.optimizer.zero_grad()
        while step < train.steps:
            if step >= next_eval and self.config.eval_episodes:
                metrics.update(self._evaluate_and_log(step))
                next_eval = self._next(step, train.eval_every)
            for chunk_loss, memory_loss in self._episode(self._episode_order(cursor)):
                losses.append(chunk_loss)
                memory_losses += [] if memory_loss is None else [memory_loss]
                pending += 1
                if pending < train.batch_size:
                    continue
                for group in self.optimizer.param_groups:
                    group["lr"] = train.learning_rate(step)
                torch.nn.utils.clip_grad_norm_(self.trainable, 1.0)
                self.optimizer.step()
                self.optimizer.zero_grad()
                pending, step = 0, step + 1
                bar.update()
                if step % train.log_every == 0:
                    wall = wall_before + time.perf_counter() - started
                    logged = {"train/loss": float(np.mean(losses)), "train/lr": train.learning_rate(step - 1),
                              "train/wall_s": wall, "train/max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
                    if memory_losses:
                        logged["train/memory_loss"] = float(np.mean(memory_losses))
                    self._log_row({"step": step, **logged})
                    metrics.update(logged)
                    bar.set_postfix(loss=f"{metrics['train/loss']:.4f}")
                    losses, memory_losses = [], []
                if step == train.steps:
                    break
            cursor += 1
            if step >= next_save or step == train.steps:
                self._save(step, cursor, wall_before + time.perf_counter() - started)
                next_save = self._next(step, train.checkpoint_every)
        bar.close()
        if self.config.eval_episodes:
            metrics.update(self._evaluate_and_log(step))
        return metrics

    def _episode(self, index: int) -> Iterator[tuple[float, float | None]]:
        """One training episode chunk by chunk: the base's loss on each chunk (its gradient added
        to the base weights' .grad, scaled for the batch) and the memory's loss on the window after it."""
        first, chunks, actions = self.episodes[index]
        self.memory.reset()
        previous = first[None]
        f_p = self.model.config.context_frames
        for chunk, chunk_actions in zip(chunks, actions):
            self.model.train()
            target, chunk_actions = chunk[None], chunk_actions[None]
            base_alone = torch.rand(1, generator=self._dropout_generator).item() < self.config.memory_dropout
            with self.memory.disabled() if base_alone else nullcontext():
                loss = self.model.loss(previous[:, -f_p:], target, chunk_actions)
            (loss / self.config.train.batch_size).backward()
            memory_loss = self.memory.observe(previous, target, chunk_actions) if self.config.use_memory else None
            yield loss.item(), memory_loss
            previous = target

    def _episode_order(self, cursor: int) -> int:
        """The episode at position `cursor` of the training stream: a fresh permutation every pass."""
        count = len(self.episodes)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(self.config.train.seed + cursor // count))
        return int(order[cursor % count])

    @staticmethod
    def _next(step: int, every: int) -> int:
        return (step // every + 1) * every

    # -------------------------------------------------------------- checking
    def evaluate(self) -> dict[str, float]:
        """Held-out online adaptation at deterministic sampling: mean PSNR of predicting each next
        chunk by the base alone and by base + the memory of the episode's chunks so far."""
        self.model.eval()
        episodes = self.held_out[: self.config.eval_episodes]
        curves = [online_adaptation(self.model, self.memory, e, local_window, initial_noise=0.0) for e in episodes]
        self.memory.reset()
        return {
            "eval/psnr_base": float(np.mean([np.mean(c["base"]) for c in curves])),
            "eval/psnr_memory": float(np.mean([np.mean(c["memory"]) for c in curves])),
        }

    def _evaluate_and_log(self, step: int) -> dict[str, float]:
        metrics = self.evaluate()
        self._log_row({"step": step, **metrics})
        return metrics

    # ------------------------------------------------------------ persistence
    def _write_run_files(self) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "train_config.json").write_text(json.dumps(asdict(self.config.train), indent=2) + "\n")
        loop = {key: value for key, value in asdict(self.config).items() if key != "train"}  # train: train_config.json
        (self.output / LOOP_FILE).write_text(json.dumps(loop, indent=2) + "\n")
        rewards = Path(self.config.train.init_from) / "reward_model"
        if rewards.is_dir():
            replace_directory(lambda temp: shutil.copytree(rewards, temp, dirs_exist_ok=True), self.output / "reward_model")

    def _save(self, step: int, cursor: int, wall_s: float) -> None:
        self.model.save_pretrained(self.output / "world_model")

        def build(temp: Path) -> None:
            torch.save({"optimizer": self.optimizer.state_dict(), "step": step, "cursor": cursor, "wall_s": wall_s}, temp / STATE_FILE)

        replace_directory(build, self.output / STATE_DIR)

    def _resume(self) -> tuple[int, int, float]:
        """(step, next episode position, training seconds so far) from the saved state, or zeros."""
        path = self.output / STATE_DIR / STATE_FILE
        if not path.exists():
            return 0, 0, 0.0
        try:
            state = torch.load(path, weights_only=False)
        except (RuntimeError, OSError, EOFError) as error:
            raise CheckpointError(f"{path} cannot be read ({error}); delete {self.output} to start again") from error
        self.optimizer.load_state_dict(state["optimizer"])
        return int(state["step"]), int(state["cursor"]), float(state["wall_s"])

    def _log_row(self, row: dict[str, float | int]) -> None:
        path = self.output / "log.csv"
        fields = ["step", "train/loss", "train/memory_loss", "train/lr", "train/wall_s", "train/max_rss_mb",
                  "eval/psnr_base", "eval/psnr_memory"]
        append_log_row(path, fields, row)


def slowfast_loop(config: SlowFastConfig, progress: bool = True) -> dict[str, float]:
    """Run the slow-fast loop (see `SlowFastLoop`); returns the last metrics."""
    return SlowFastLoop(config, progress=progress).run()
