"""Slow learning: the frame autoencoder, then the world model and reward model, resumable."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import resource
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from ..checkpoint import CheckpointError, load_weights, read_config, replace_directory, save_pretrained
from ..data import ChunkDataset, ChunkSpec, Episode, load_episodes, read_info, state_transitions
from ..eval.video_metrics import psnr
from ..world_model import FrameAutoencoder, GripperMap, RewardModel, RewardModelConfig, VideoWorldModel, WorldModelConfig
from .config import TrainConfig

STATE_DIR = "training_state"
STATE_FILE = "sfplan_state.pt"  # step, EMA weights and wall time, beside accelerate's state in STATE_DIR
AUTOENCODER_STATE = "training_steps.json"
UNET_INPUT_CONV = "unet.conv_in.weight"
# World-model config fields that only change how the weights are trained or sampled, not their shapes.
TRAINING_ONLY_FIELDS = frozenset(
    {"action_dropout", "proprio_dropout", "objective", "sigma_min", "sigma_max", "train_sigma_mean", "train_sigma_std", "denoise_steps",
     "initial_noise", "mean_start_fraction", "state_predictor_horizon"}
)


def initialise_from(model: VideoWorldModel, reward_model: RewardModel, directory: str | Path) -> None:
    """Copy the weights of the run or checkpoint in `directory` (its `world_model/`, codec and latent
    statistics included, and `reward_model/` when present) into the given models.

    Raises a CheckpointError naming the fields when the architectures differ; the training-only
    fields (`TRAINING_ONLY_FIELDS`) may differ, which is what fine-tuning changes. A model with
    `proprio_dim` may start from one without proprioception: its state encoder starts silent
    (`ProprioEncoder.start_silent`) and keeps its statistics; one with a longer state from one whose
    state is its first dims (`ProprioEncoder.extend_from`: the extra dims start silent; its state
    predictor, of other shapes, starts unfitted). A model with `state_predictor_hidden`
    may start from one without a state predictor: its own stays unfitted (see `fit_state_predictor`);
    one with `imagined_decoder` from one without (the run tunes it at its end); one with `gripper_map`
    from one without: the map's input channels start at zero weights, so until training it predicts
    what the source does (the trainer gives the map its camera).
    """
    directory = Path(directory)
    source = VideoWorldModel.from_pretrained(directory / "world_model")
    ours, theirs = model.config.to_dict(), source.config.to_dict()
    adding = {field for field in ("proprio_dim", "state_predictor_hidden", "imagined_decoder", "gripper_map")
              if not theirs[field] and ours[field]}
    extending_state = 0 < theirs["proprio_dim"] < ours["proprio_dim"]
    if extending_state:
        adding |= {"proprio_dim"} | ({"state_predictor_hidden"} if ours["state_predictor_hidden"] else set())
    may_differ = TRAINING_ONLY_FIELDS | {"codec"} | adding | ({"gripper_map_sigma"} if "gripper_map" in adding else set())
    differing = [key for key in ours if key not in may_differ and ours[key] != theirs[key]]
    differing += [
        f"codec.{key}" for key in ours["codec"]
        if key not in ("latent_mean", "latent_std") and ours["codec"][key] != theirs["codec"][key]
    ]
    if differing:
        raise CheckpointError(
            f"cannot start from {directory}: its world model differs in {', '.join(differing)}; "
            "use the world_model config it was trained with"
        )
    if extending_state:
        model.proprio_encoder.extend_from(source.proprio_encoder)
    elif "proprio_dim" in adding:
        model.proprio_encoder.start_silent()
    new_modules = tuple({"proprio_dim": "proprio_encoder.", "state_predictor_hidden": "state_predictor.",
                         "imagined_decoder": "imagined_decoder.", "gripper_map": "gripper_map."}[field] for field in adding)
    kept = {name: tensor for name, tensor in model.state_dict().items() if name.startswith(new_modules)}
    weights = {name: tensor for name, tensor in source.state_dict().items() if not name.startswith(new_modules)}
    if "gripper_map" in adding:  # its input channels come last and start silent
        first_conv = weights[UNET_INPUT_CONV]
        weights[UNET_INPUT_CONV] = torch.cat([first_conv, first_conv.new_zeros(first_conv.shape[0], GripperMap.channels,
                                                                               *first_conv.shape[2:])], dim=1)
    model.load_state_dict({**weights, **kept})
    model.codec.set_latent_statistics(source.codec.latent_mean.flatten(), source.codec.latent_std.flatten())
    if (directory / "reward_model").is_dir():
        load_weights(reward_model, directory / "reward_model")


def fit_state_predictor(model: VideoWorldModel, episodes: Sequence[Episode], steps: int, seed: int = 0) -> float:
    """Fit `model.state_predictor` on the chunk-long state transitions of `episodes` (see
    `StatePredictor.fit`); returns its mean normalised loss over the last 100 steps."""
    if model.state_predictor is None:
        raise ValueError("this world model has no state predictor (world_model.state_predictor_hidden=0)")
    config = model.config
    transitions = state_transitions(episodes, config.target_frames, config.frame_skip)
    losses = model.state_predictor.fit(*transitions, steps=steps, seed=seed)
    return float(np.mean(losses[-100:]))


def extended_copy(model: VideoWorldModel, new_module: str, **config_changes: object) -> VideoWorldModel:
    """A model built with `model`'s config and `config_changes` (which add the submodule `new_module`),
    holding every base weight of `model` and the new submodule's freshly built weights (replacing
    any `model` has)."""
    extended = VideoWorldModel(dataclasses.replace(model.config, **config_changes))
    fresh = {name: tensor for name, tensor in extended.state_dict().items() if name.startswith(f"{new_module}.")}
    extended.load_state_dict({**model.base_state_dict(), **fresh})
    return extended


def with_state_predictor(
    model: VideoWorldModel, episodes: Sequence[Episode], hidden: int = 256, steps: int = 3000, seed: int = 0
) -> VideoWorldModel:
    """A copy of a trained `model` that reads the robot state, its weights unchanged, plus a
    `StatePredictor` of width `hidden` fitted on the state transitions of `episodes` (those the model
    trained on) with `fit_state_predictor`. The predictor's initial weights come from torch's global
    generator; `seed` orders the fit's batches."""
    if not model.config.proprio_dim:
        raise ValueError("this world model reads no robot state (proprio_dim=0): there is no state to predict")
    extended = extended_copy(model, "state_predictor", state_predictor_hidden=hidden)
    fit_state_predictor(extended, episodes, steps, seed=seed)
    return extended.eval()


def split_episodes(episodes: Sequence[Episode], holdout: int) -> tuple[list[Episode], list[Episode]]:
    """The last `holdout` episodes are held out; the rest are for training."""
    if not 0 <= holdout < len(episodes):
        raise ValueError(f"cannot hold out {holdout} of {len(episodes)} episodes; collect more or lower holdout_episodes")
    return list(episodes[: len(episodes) - holdout]), list(episodes[len(episodes) - holdout :])


def run_episodes(config: TrainConfig, image_size: int) -> tuple[list[Episode], list[Episode]]:
    """The episodes a run with `config` trains on (its dataset's, less the held-out ones, then every
    episode of its `extra_datasets`) and those it holds out (the last `holdout_episodes` of its dataset)."""
    episodes = load_episodes(config.dataset, env_name=config.env_name, image_size=image_size)
    trained_on, held_out = split_episodes(episodes, config.holdout_episodes)
    for path in config.extra_datasets:
        trained_on += load_episodes(path, env_name=config.env_name, image_size=image_size)
    return trained_on, held_out


def _unit_images(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def train_autoencoder(
    codec: FrameAutoencoder, frames: np.ndarray, steps: int, batch_size: int, lr: float, seed: int, progress: bool = True
) -> list[float]:
    """Train `codec` to reconstruct random batches of `frames` (N, H, W, 3) uint8; returns the losses.

    Afterwards records the per-channel latent statistics, so encoded latents have std `target_std`.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(codec.parameters(), lr=lr)
    codec.train()
    losses = []
    for _ in tqdm(range(steps), desc="autoencoder", disable=not progress):
        index = torch.randint(len(frames), (batch_size,), generator=generator).numpy()
        loss = codec.reconstruction_loss(_unit_images(frames[index]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    codec.eval()
    sample = frames[torch.randperm(len(frames), generator=generator)[:2048].numpy()]
    with torch.no_grad():
        raw = torch.cat([codec.encode_raw(_unit_images(part)) for part in np.array_split(sample, max(1, len(sample) // 256))])
    codec.set_latent_statistics(raw.mean(dim=(0, 2, 3)), raw.std(dim=(0, 2, 3)))
    return losses


@torch.no_grad()
def encode_frames(codec: FrameAutoencoder, frames: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, C, h, w) normalised latents."""
    codec.eval()
    return torch.cat([codec.encode(_unit_images(frames[i : i + batch_size])) for i in range(0, len(frames), batch_size)])


def _batches(dataset: ChunkDataset, batch_size: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
    while True:
        index = torch.randint(len(dataset), (batch_size,), generator=generator).tolist()
        items = [dataset[i] for i in index]
        yield {key: torch.stack([item[key] for item in items]) for key in items[0]}


class SlowTrainer:
    """Trains a `VideoWorldModel` and a `RewardModel` on an episode dataset.

    Stage 1 trains the frame autoencoder (skipped when `output/autoencoder` exists); stage 2
    trains the UNet and the reward model on encoded windows with EMA weights (a state predictor,
    when the model has one, is fitted before it); a model with an imagined-frame decoder has it
    tuned after it. Every
    `checkpoint_every` steps it writes, each atomically: `world_model/` and `reward_model/`
    (EMA weights, safetensors + config.json) and `training_state/` (optimisers, EMA, step,
    RNG), so an interrupted run resumes where it stopped. Losses and held-out PSNR go to
    `log.csv` and tensorboard.
    """

    def __init__(self, model_config: WorldModelConfig, train_config: TrainConfig, progress: bool = True) -> None:
        self.train_config = train_config
        self.progress = progress
        self.output = Path(train_config.output)
        torch.set_num_threads(train_config.threads)
        torch.manual_seed(train_config.seed)
        self.train_episodes, self.held_out_episodes = run_episodes(train_config, train_config.image_size)
        if model_config.codec.image_size != train_config.image_size:
            raise ValueError(f"world model codec image_size {model_config.codec.image_size} != dataset image_size {train_config.image_size}")
        action_dim = self.train_episodes[0].actions.shape[1]
        if action_dim != model_config.action_dim:
            raise ValueError(f"dataset actions have {action_dim} dims but world_model.action_dim={model_config.action_dim}")
        self.model = VideoWorldModel(model_config)
        if self.model.proprio_encoder is not None:
            proprio_dim = self.train_episodes[0].proprio.shape[1]
            if proprio_dim != model_config.proprio_dim:
                raise ValueError(f"dataset proprioception has {proprio_dim} dims but world_model.proprio_dim="
                                 f"{model_config.proprio_dim} (0 for a model without it)")
            self.model.proprio_encoder.set_statistics([episode.proprio for episode in self.train_episodes])
        self.reward_model = RewardModel(
            RewardModelConfig(model_config.codec.latent_channels, model_config.codec.latent_size)
        )
        self.spec = ChunkSpec(model_config.context_frames, model_config.target_frames, model_config.frame_skip)

    # ------------------------------------------------------------------ stages
    def prepare_codec(self) -> None:
        """Train the autoencoder to `autoencoder_steps` (continuing a saved one that has fewer
        steps, with a fresh optimiser), or load it from `output/autoencoder`; then freeze it."""
        directory = self.output / "autoencoder"
        codec = self.model.codec
        done = 0
        if (directory / "config.json").exists():
            saved = read_config(directory)
            codec.set_latent_statistics(torch.tensor(saved["latent_mean"]), torch.tensor(saved["latent_std"]))
            load_weights(codec, directory)
            done = json.loads((directory / AUTOENCODER_STATE).read_text())["steps"]
        remaining = self.train_config.autoencoder_steps - done
        if remaining > 0:
            frames = np.concatenate([episode.frames for episode in self.train_episodes])
            losses = train_autoencoder(
                codec, frames, remaining, self.train_config.autoencoder_batch,
                lr=1e-3, seed=self.train_config.seed + done, progress=self.progress,
            )
            save_pretrained(codec, asdict(codec.config), directory, extra_json={AUTOENCODER_STATE: {"steps": done + remaining}})
            held_out = np.concatenate([episode.frames for episode in self.held_out_episodes])[::7][:256]
            with torch.no_grad():
                images = _unit_images(held_out)
                reconstruction = codec.decode(codec.encode(images))
            self._log_row({"stage": "autoencoder", "step": done + remaining, "loss": float(np.mean(losses[-100:])),
                           "eval/psnr": psnr(reconstruction, images).mean().item()})
        codec.requires_grad_(False)
        codec.eval()

    def prepare_state_predictor(self, resuming: bool) -> None:
        """Fit the world model's state predictor, when it has one that is not fitted yet (a resumed
        run loads it with the training state), then freeze it: the denoising loss never trains it."""
        predictor = self.model.state_predictor
        if predictor is None:
            return
        if not resuming and int(predictor.fitted_steps) == 0:
            steps = self.train_config.state_predictor_steps
            loss = fit_state_predictor(self.model, self.train_episodes, steps, seed=self.train_config.seed)
            self._log_row({"stage": "state_predictor", "step": steps, "loss": loss})
        predictor.requires_grad_(False)

    def prepare_gripper_map(self) -> None:
        """Give the world model's gripper map, when it has one without a camera yet, the projection
        of the camera the dataset was recorded with (its env built with the recorded options)."""
        gripper_map = self.model.gripper_map
        if gripper_map is None or gripper_map.has_camera:
            return
        from sfplan.envs import camera_projection

        info = read_info(self.train_config.dataset)
        gripper_map.set_camera(camera_projection(info.env_name, **info.env_kwargs))

    def prepare_imagined_decoder(self) -> None:
        """Freeze the world model's imagined-frame decoder, when it has one, while the world model
        trains: the run tunes it at its end (`tune_imagined_decoder_at_end`). Until it is tuned it
        renders as the codec's decoder does (a copy of it), so the held-out PSNR logged meanwhile
        means the same as for a model without one."""
        decoder = self.model.imagined_decoder
        if decoder is None:
            return
        if int(decoder.tuned_steps) == 0:
            decoder.copy_from(self.model.codec)
        decoder.requires_grad_(False)

    def start_from(self, directory: str | Path) -> None:
        """Take the weights of `directory` (see `initialise_from`). Its codec becomes this run's
        `output/autoencoder`, counted as `autoencoder_steps` trained steps, unless the run already
        has one: a codec adapted to new frames (a later call with more `autoencoder_steps`) is kept."""
        initialise_from(self.model, self.reward_model, directory)
        if (self.output / "autoencoder" / "config.json").exists():
            return
        codec = self.model.codec
        state = {"steps": self.train_config.autoencoder_steps, "initialised_from": str(directory)}
        save_pretrained(codec, asdict(codec.config), self.output / "autoencoder", extra_json={AUTOENCODER_STATE: state})

    def run(self) -> dict[str, float]:
        """Run both stages to `steps`; returns the last held-out metrics."""
        config = self.train_config
        resuming = config.resume and (self.output / STATE_DIR / STATE_FILE).exists()
        if config.init_from is not None and not resuming:
            self.start_from(config.init_from)
        self.prepare_codec()
        if config.steps == 0:  # autoencoder only
            return {}
        self.prepare_state_predictor(resuming)
        self.prepare_gripper_map()
        self.prepare_imagined_decoder()
        codec = self.model.codec
        train_latents = [encode_frames(codec, e.frames) for e in self.train_episodes]
        held_latents = [encode_frames(codec, e.frames) for e in self.held_out_episodes]
        train_set = ChunkDataset(self.train_episodes, self.spec, frames=train_latents)
        held_latent_set = ChunkDataset(self.held_out_episodes, self.spec, frames=held_latents)
        held_pixel_set = ChunkDataset(self.held_out_episodes, self.spec)
        eval_index = np.linspace(0, len(held_latent_set) - 1, min(config.eval_windows, len(held_latent_set))).astype(int)
        self._eval_latent = [held_latent_set[i] for i in eval_index]
        self._eval_pixels = [held_pixel_set[i] for i in eval_index]
        reward_latents = torch.cat([latents[1:] for latents in train_latents])
        reward_targets = torch.from_numpy(np.concatenate([e.rewards for e in self.train_episodes]))
        success_targets = torch.from_numpy(np.concatenate([e.successes for e in self.train_episodes]).astype(np.float32))

        trainable = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
        reward_optimizer = torch.optim.AdamW(self.reward_model.parameters(), lr=config.lr)
        accelerator = Accelerator(
            log_with="tensorboard",
            project_config=ProjectConfiguration(project_dir=str(self.output), logging_dir=str(self.output / "tensorboard")),
        )
        model, reward_model, optimizer, reward_optimizer = accelerator.prepare(
            self.model, self.reward_model, optimizer, reward_optimizer
        )
        ema = EMAModel(trainable, decay=config.ema_decay)
        reward_ema = EMAModel(self.reward_model.parameters(), decay=config.ema_decay)
        # tensorboard's hparams take scalars and strings only
        hparams = {k: ",".join(v) if isinstance(v, list) else v for k, v in asdict(config).items() if v is not None}
        accelerator.init_trackers("slow", config=hparams)
        step, self._wall_before = self._resume(accelerator, ema, reward_ema) if config.resume else (0, 0.0)
        trains_now = step < config.steps
        self._run_started = time.perf_counter()
        generator = torch.Generator().manual_seed(config.seed + step)
        batches = _batches(train_set, config.batch_size, generator)
        metrics: dict[str, float] = {}
        window_losses, reward_losses, started = [], [], time.perf_counter()
        bar = tqdm(range(step, config.steps), initial=step, total=config.steps, desc="world model", disable=not self.progress)
        for step in bar:
            model.train()
            for group in (*optimizer.param_groups, *reward_optimizer.param_groups):
                group["lr"] = config.learning_rate(step)
            batch = next(batches)
            loss = model.loss(batch["context"], batch["target"], batch["actions"], self.model.proprio_of(batch))
            optimizer.zero_grad()
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            ema.step(trainable)
            index = torch.randint(len(reward_latents), (4 * config.batch_size,), generator=generator)
            reward_loss = reward_model.loss(reward_latents[index], reward_targets[index], success_targets[index])
            reward_optimizer.zero_grad()
            accelerator.backward(reward_loss)
            reward_optimizer.step()
            reward_ema.step(self.reward_model.parameters())
            window_losses.append(loss.item())
            reward_losses.append(reward_loss.item())
            done = step + 1
            if done % config.log_every == 0:
                elapsed = time.perf_counter() - started
                metrics = {"train/loss": float(np.mean(window_losses)), "train/reward_loss": float(np.mean(reward_losses)),
                           "train/lr": config.learning_rate(step),
                           "train/steps_per_s": len(window_losses) / elapsed, "train/wall_s": self._wall_seconds(),
                           "train/max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
                window_losses, reward_losses, started = [], [], time.perf_counter()
                if done % config.eval_every == 0:
                    metrics.update(self._evaluate(ema))
                accelerator.log(metrics, step=done)
                self._log_row({"stage": "world_model", "step": done, **metrics})
                bar.set_postfix(loss=f"{metrics['train/loss']:.4f}", psnr=f"{metrics.get('eval/psnr', float('nan')):.2f}")
            if done % config.checkpoint_every == 0 or done == config.steps:
                self._save(accelerator, ema, reward_ema, done)
        decoder = self.model.imagined_decoder
        if decoder is not None and (trains_now or int(decoder.tuned_steps) == 0):
            metrics = self.tune_imagined_decoder_at_end(accelerator, ema, reward_ema)
        accelerator.end_training()
        return metrics

    def tune_imagined_decoder_at_end(self, accelerator: Accelerator, ema: EMAModel, reward_ema: EMAModel) -> dict[str, float]:
        """Retune the imagined-frame decoder (`retune_imagined_decoder`) on what the EMA world model
        imagines for the training episodes (`imagined_decoder_steps`, `imagined_decoder_stride`), log
        and save; returns the held-out metrics."""
        from .decoder import retune_imagined_decoder  # decoder -> reward -> this module

        config = self.train_config
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        ema.store(trainable)
        ema.copy_to(trainable)
        losses = retune_imagined_decoder(self.model, self.train_episodes, config.imagined_decoder_steps,
                                         config.imagined_decoder_stride, config.seed, self.progress)
        ema.restore(trainable)
        metrics = self._evaluate(ema)
        self._log_row({"stage": "imagined_decoder", "step": config.imagined_decoder_steps,
                       "loss": float(np.mean(losses[-100:])), **metrics})
        self._save(accelerator, ema, reward_ema, config.steps)
        return metrics

    # ------------------------------------------------------------- internals
    @torch.no_grad()
    def _evaluate(self, ema: EMAModel) -> dict[str, float]:
        """Held-out next-chunk PSNR of the EMA weights, at the configured denoising steps."""
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        ema.store(trainable)
        ema.copy_to(trainable)
        self.model.eval()
        batch = {key: torch.stack([item[key] for item in self._eval_latent]) for key in ("context", "actions", "proprio")}
        target = torch.stack([item["target"] for item in self._eval_pixels]).float() / 255.0
        last = torch.stack([item["context"][-1:] for item in self._eval_pixels]).float() / 255.0
        generator = torch.Generator().manual_seed(0)
        predicted = self.model.decode_imagined(self.model.sample_chunk(batch["context"], batch["actions"], generator=generator,
                                                                       proprio=self.model.proprio_of(batch)))
        ema.restore(trainable)
        return {
            "eval/psnr": psnr(predicted, target).mean().item(),
            "eval/psnr_repeat_last": psnr(last.expand_as(target), target).mean().item(),
        }

    def _save(self, accelerator: Accelerator, ema: EMAModel, reward_ema: EMAModel, step: int) -> None:
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        for averaged, module, parameters, name in (
            (ema, self.model, trainable, "world_model"),
            (reward_ema, self.reward_model, list(self.reward_model.parameters()), "reward_model"),
        ):
            averaged.store(parameters)
            averaged.copy_to(parameters)
            save_pretrained(module, module.config.to_dict(), self.output / name)
            averaged.restore(parameters)

        def build(temp: Path) -> None:
            accelerator.save_state(str(temp))
            state = {"ema": ema.state_dict(), "reward_ema": reward_ema.state_dict(), "step": step, "wall_s": self._wall_seconds()}
            torch.save(state, temp / STATE_FILE)

        replace_directory(build, self.output / STATE_DIR)

    def _wall_seconds(self) -> float:
        """World-model training time so far, summed over resumed runs."""
        return self._wall_before + time.perf_counter() - self._run_started

    def _resume(self, accelerator: Accelerator, ema: EMAModel, reward_ema: EMAModel) -> tuple[int, float]:
        """Load the training state when there is one; returns (step, training seconds so far)."""
        directory = self.output / STATE_DIR
        if not (directory / STATE_FILE).exists():
            return 0, 0.0
        accelerator.load_state(str(directory))
        state = torch.load(directory / STATE_FILE, weights_only=False)
        ema.load_state_dict(state["ema"])
        reward_ema.load_state_dict(state["reward_ema"])
        return int(state["step"]), float(state.get("wall_s", 0.0))

    def _log_row(self, row: dict[str, float | str | int]) -> None:
        path = self.output / "log.csv"
        self.output.mkdir(parents=True, exist_ok=True)
        fields = ["stage", "step", "loss", "train/loss", "train/reward_loss", "train/steps_per_s", "train/wall_s",
                  "train/max_rss_mb", "eval/psnr", "eval/psnr_repeat_last"]
        append_log_row(path, fields, row)


def append_log_row(path: Path, fields: list[str], row: dict[str, float | str | int]) -> None:
    """Append `row` to the CSV log at `path` (header `fields` when new); keys not in `fields` are left out."""
    new = not path.exists()
    with open(path, "a", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def saved_step(directory: str | Path) -> int | None:
    """The world-model step of a run's saved weights and training state (None before the first checkpoint)."""
    path = Path(directory) / STATE_DIR / STATE_FILE
    return int(torch.load(path, weights_only=False)["step"]) if path.exists() else None


def train_slow(model_config: WorldModelConfig, train_config: TrainConfig, progress: bool = True) -> dict[str, float]:
    """Train the slow learner end to end (see `SlowTrainer`); returns the last held-out metrics."""
    Path(train_config.output).mkdir(parents=True, exist_ok=True)
    (Path(train_config.output) / "train_config.json").write_text(json.dumps(asdict(train_config), indent=2))
    return SlowTrainer(model_config, train_config, progress=progress).run()


@dataclass(frozen=True)
class TrainedRun:
    """What a training output directory holds: the EMA world model, its training config, the
    held-out episodes of its dataset (never trained on) and the rest of them (trained on)."""

    model: VideoWorldModel
    train_config: TrainConfig
    held_out: list[Episode]
    trained_on: list[Episode]


def load_run(directory: str | Path, dataset: str | Path | None = None) -> TrainedRun:
    """Load the world model of a training run, the episodes it held out and those it trained on
    (with every episode of its `extra_datasets`).

    A folder without `train_config.json` (a shipped checkpoint, say) needs `dataset`, the file its
    world model was trained on: the last `TrainConfig.holdout_episodes` (5) episodes are held out.
    """
    directory = Path(directory)
    config_path = directory / "train_config.json"
    if not config_path.exists() and dataset is None:
        raise CheckpointError(f"{directory} has no train_config.json: for a checkpoint, name the dataset its world model "
                              "was trained on (`dataset`; --dataset in the eval scripts)")
    if config_path.exists() and dataset is not None:
        raise CheckpointError(f"{directory} is a training run whose train_config.json names its dataset: drop the dataset")
    if dataset is None:
        config = TrainConfig(**json.loads(config_path.read_text()))
    else:
        config = TrainConfig(dataset=str(dataset), output=str(directory), env_name=read_info(dataset).env_name)
    model = VideoWorldModel.from_pretrained(directory / "world_model")
    trained_on, held_out = run_episodes(config, model.config.codec.image_size)
    return TrainedRun(model, config, held_out, trained_on)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The evaluation scripts' `--run` (a training output, or a checkpoint with `world_model/`) and
    `--dataset` (for a checkpoint: the dataset its world model was trained on), read by `run_from_arguments`."""
    parser.add_argument("--run", required=True, type=Path,
                        help="training output directory (world_model/, train_config.json), or a checkpoint with --dataset")
    parser.add_argument("--dataset", type=Path,
                        help="for a --run without train_config.json: the dataset its world model was trained on (last 5 episodes held out)")


def copy_run_files(run: str | Path, out: str | Path) -> None:
    """Copy a run's `reward_model/`, `train_config.json` and `log.csv` (those it has) into `out`, so
    a world model written to `out/world_model` loads like the run (eval scripts, export_agent.py);
    nothing to do when `out` is the run itself."""
    run, out = Path(run), Path(out)
    if out.resolve() == run.resolve():
        return
    for name in ("reward_model", "train_config.json", "log.csv"):
        source = run / name
        if source.is_dir():
            shutil.copytree(source, out / name, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, out / name)


def run_from_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainedRun:
    """`load_run(args.run, args.dataset)`; a CheckpointError ends the script with the parser's usage error."""
    try:
        return load_run(args.run, args.dataset)
    except CheckpointError as error:
        parser.error(str(error))
