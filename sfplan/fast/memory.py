"""Fast learning: Temp-LoRA, an episode's memory written into LoRA weights at inference time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file, save_file

from ..checkpoint import CheckpointError
from ..world_model import VideoWorldModel

ADAPTER = "fast"
TARGETS = {
    "temporal_attention": r".*(temp_attentions\.\d+|transformer_in)\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)",
    "temporal": r".*((temp_attentions\.\d+|transformer_in)\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
    r"|temp_convs\.\d+\.(conv1\.2|conv[234]\.3))",
    "all_attention": r".*attn[12]\.(to_q|to_k|to_v|to_out\.0)",
    "late_temporal_attention": r".*(mid_block|up_blocks\.\d+)\.temp_attentions\.\d+\.transformer_blocks\.\d+\.attn[12]\."
    r"(to_q|to_k|to_v|to_out\.0)",
    "late_temporal": r".*(mid_block|up_blocks\.\d+)\.(temp_attentions\.\d+\.transformer_blocks\.\d+\.attn[12]\."
    r"(to_q|to_k|to_v|to_out\.0)|temp_convs\.\d+\.(conv1\.2|conv[234]\.3))",
}
"""Which UNet layers carry the adapter: temporal attention (the paper's Temp-LoRA), temporal
attention and temporal convolutions, or every attention layer; the `late_` sets keep only those
of the middle and decoder blocks, so an update's backward pass stops at the middle block instead
of running through the whole UNet (the paper's set starts at its input, `transformer_in`)."""
WINDOW_MODES = ("whole", "masked", "transition", "prediction")


@dataclass
class FastMemoryConfig:
    """Temp-LoRA settings.

    layers:          a key of TARGETS.
    rank, alpha:     LoRA rank and scaling numerator (scale = alpha / rank).
    lr:              Adam learning rate of the adapter (the paper's 1e-4 is for a pretrained
                     1.4B model; a small model trained here wants more).
    steps_per_chunk: gradient steps per observed window.
    window:          "whole" (the paper's rule: previous chunk ++ new chunk all noised, null
                     action), "masked" (previous chunk clean as context, new chunk noised, null
                     action) or "transition" (the last f_p frames of the previous chunk clean as
                     context, the new chunk noised, with the actions that led to it: the world
                     model's own prediction task, on this episode's experience; the robot
                     state before the new chunk too, when `observe` is given it), or
                     "prediction" (the same, denoised from the deterministic sampler's start,
                     a zero input at sigma_max, whatever sigma_mean/std say: exactly the
                     one-step prediction the planner imagines with initial noise 0).
    sigma_mean/std:  log-normal noise levels of the update (EDM's P_mean, P_std).
    update_every:    write only every N-th observed window (the first, then every N-th after it)
                     and skip the rest. One update (a backward pass) costs about three chunks
                     imagined for one candidate, so writing every window triples Algorithm 1a's
                     time at batch 1; N trades how much the memory learns for time
                     (docs/fast_memory.md, session 22).
    """

    layers: str = "temporal_attention"
    rank: int = 8
    alpha: float = 8.0
    lr: float = 1e-3
    steps_per_chunk: int = 1
    window: str = "whole"
    sigma_mean: float = -0.4
    sigma_std: float = 1.2
    update_every: int = 1

    def __post_init__(self) -> None:
        if self.update_every < 1 or self.steps_per_chunk < 1:
            raise ValueError(f"update_every and steps_per_chunk must be at least 1, got {self.update_every}, "
                             f"{self.steps_per_chunk}")
        if self.layers not in TARGETS:
            raise ValueError(f"unknown fast memory layers {self.layers!r}; known: {', '.join(TARGETS)}")
        if self.window not in WINDOW_MODES:
            raise ValueError(f"window must be one of {', '.join(WINDOW_MODES)}, got {self.window!r}")


class FastMemory:
    """Episodic memory of one world model, stored in a LoRA adapter on its UNet.

    `reset()` starts a fresh adapter (LoRA B = 0, so the model is exactly the base model)
    and a fresh optimiser; `observe(previous, new)` writes a window of latents into the
    adapter with the base weights frozen; `disabled()` gives the base model; `save/load`
    write adapter-only safetensors; `store(name)/recall(name)` keep several episodes'
    adapters in memory and switch between them.
    """

    def __init__(self, model: VideoWorldModel, config: FastMemoryConfig | None = None, seed: int = 0) -> None:
        self.model = model
        self.config = config or FastMemoryConfig()
        lora = LoraConfig(r=self.config.rank, lora_alpha=self.config.alpha, target_modules=TARGETS[self.config.layers])
        inject_adapter_in_model(lora, model.unet, adapter_name=ADAPTER)
        self._layers = [module for module in model.unet.modules() if isinstance(module, LoraLayer)]
        for name, parameter in model.named_parameters():
            parameter.requires_grad_("lora_" in name)
        self.parameters = [p for name, p in model.unet.named_parameters() if "lora_" in name]
        self._generator = torch.Generator().manual_seed(seed)
        self._episodes: dict[str, dict[str, torch.Tensor]] = {}
        self._merged = False
        self.reset()

    # ------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Fresh adapter and optimiser for a new episode: outputs equal the base model's. The
        adapter's random LoRA A comes from this memory's seed (episode after episode), not from
        torch's global generator, so runs repeat and the caller's random state is left alone."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=self._generator)))
            for layer in self._layers:
                layer.reset_lora_parameters(ADAPTER, init_lora_weights=True)
        self.optimizer = torch.optim.Adam(self.parameters, lr=self.config.lr)
        self.chunks_observed = 0

    @contextmanager
    def disabled(self) -> Iterator[None]:
        """Within this block the model runs without the adapter (exactly the base model)."""
        if self._merged:
            raise RuntimeError("disabled() inside merged(): the base weights hold the adapter there")
        for layer in self._layers:
            layer.enable_adapters(False)
        try:
            yield
        finally:
            for layer in self._layers:
                layer.enable_adapters(True)

    @contextmanager
    def merged(self) -> Iterator[None]:
        """Within this block the adapter is folded into the base weights: the model computes what
        it computes with the adapter in place (up to float rounding) without the LoRA branch in
        every call, which for many candidates costs up to a quarter of a chunk (with temporal
        convolutions adapted; see docs/fast_memory.md). Use it around
        imagination; writing into the memory inside it is refused. On exit the base weights
        are copied back exactly."""
        if self._merged:
            raise RuntimeError("the fast memory is already merged into the model")
        saved = []
        with torch.no_grad():
            for layer in self._layers:
                if not layer.disable_adapters:
                    weight = layer.get_base_layer().weight
                    saved.append((layer, weight, weight.clone()))
                    weight += layer.get_delta_weight(ADAPTER)
                    layer.enable_adapters(False)
        self._merged = True
        try:
            yield
        finally:
            with torch.no_grad():
                for layer, weight, original in saved:
                    weight.copy_(original)
                    layer.enable_adapters(True)
            self._merged = False

    def imagining(self, candidates: int) -> AbstractContextManager[None]:
        """The block to imagine `candidates` sequences in: folded into the weights (`merged`) for
        more than one; for a single candidate the LoRA branch costs less than the fold."""
        return self.merged() if candidates > 1 else nullcontext()

    # -------------------------------------------------------------- writing
    def observe(
        self, previous: torch.Tensor, new: torch.Tensor, actions: torch.Tensor | None = None, proprio: torch.Tensor | None = None
    ) -> float | None:
        """Write one local window into the adapter; returns the mean loss of the update steps, or
        None for a window that `update_every` skips.

        previous, new: (B, T, C, h, w) latents of the previous and the newest chunk, observed or
        imagined alike. "whole" noises previous ++ new and denoises all of it with the null
        action (the paper's rule); "masked" keeps `previous` clean as context and denoises `new`;
        "transition" also keeps the last f_p frames of `previous` clean and denoises `new`, given
        `actions` (B, f_g, k, A), the actions that led into `new` (required there, ignored otherwise),
        and `proprio` (B, 2, P), the robot state at the last frame of `previous`, for a world model
        that reads it (None: the unknown state; ignored by the other windows); "prediction" is
        "transition" from the deterministic sampler's start.
        """
        if previous.shape[2:] != new.shape[2:]:
            raise ValueError(f"previous and new chunks differ in frame shape: {tuple(previous.shape)} vs {tuple(new.shape)}")
        if self._merged:
            raise RuntimeError("observe() inside merged(): leave the merged block before writing into the memory")
        if self.config.window in ("transition", "prediction") and actions is None:
            raise ValueError(f"window={self.config.window!r} learns from the actions that led into the new chunk: "
                             "pass observe(..., actions=...)")
        skipped = self.chunks_observed % self.config.update_every != 0
        self.chunks_observed += 1
        if skipped:
            return None
        was_training = self.model.training
        self.model.train()
        with torch.enable_grad(), self._only_adapter_learns():  # imagination runs under no_grad
            losses = [self._update_step(previous, new, actions, proprio) for _ in range(self.config.steps_per_chunk)]
        self.model.train(was_training)
        return sum(losses) / len(losses)

    @contextmanager
    def _only_adapter_learns(self) -> Iterator[None]:
        """Base weights frozen and the adapter trainable for an update, whatever the caller set
        (the slow-fast loop trains the base between updates); the caller's flags come back after."""
        adapter = {id(parameter) for parameter in self.parameters}
        flags = [(parameter, parameter.requires_grad) for parameter in self.model.parameters()]
        for parameter, _ in flags:
            parameter.requires_grad_(id(parameter) in adapter)
        try:
            yield
        finally:
            for parameter, flag in flags:
                parameter.requires_grad_(flag)

    def _update_step(
        self, previous: torch.Tensor, new: torch.Tensor, actions: torch.Tensor | None, proprio: torch.Tensor | None
    ) -> float:
        if self.config.window == "whole":
            window = torch.cat([previous, new], dim=1).detach()
            loss = self._loss(window[:, :0], window)
        elif self.config.window == "masked":
            loss = self._loss(previous.detach(), new.detach())
        else:
            context = previous[:, -self.model.config.context_frames :].detach()
            from_mean = torch.full((len(new),), self.config.window == "prediction")
            loss = self._loss(context, new.detach(), actions, proprio, from_mean)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def _loss(
        self,
        context: torch.Tensor,
        target: torch.Tensor,
        actions: torch.Tensor | None = None,
        proprio: torch.Tensor | None = None,
        from_mean: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The world model's EDM loss at this memory's noise levels, with `actions` or the null action
        and `proprio` or the unknown state; samples flagged in `from_mean` from the sampler's start."""
        return self.model.denoising_loss(
            context, target, actions, sigma_mean=self.config.sigma_mean, sigma_std=self.config.sigma_std, generator=self._generator,
            proprio=proprio, mean_start=from_mean,
        )

    # ------------------------------------------------------ episodes on hand
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The adapter's weights (LoRA tensors only), detached copies."""
        state = get_peft_model_state_dict(self.model.unet, adapter_name=ADAPTER)
        return {name: tensor.detach().clone() for name, tensor in state.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Put adapter weights from `state_dict()` back; a fresh optimiser follows."""
        result = set_peft_model_state_dict(self.model.unet, state, adapter_name=ADAPTER)
        if getattr(result, "unexpected_keys", None):
            raise CheckpointError(f"adapter state does not fit this model: unexpected {result.unexpected_keys[:3]}")
        self.optimizer = torch.optim.Adam(self.parameters, lr=self.config.lr)

    def store(self, name: str) -> None:
        """Keep the current adapter under `name` (multi-episode recall)."""
        self._episodes[name] = self.state_dict()

    def recall(self, name: str) -> None:
        """Switch to the adapter stored under `name`."""
        if name not in self._episodes:
            raise KeyError(f"no stored episode {name!r}; stored: {', '.join(self._episodes) or 'none'}")
        self.load_state_dict(self._episodes[name])

    def save(self, path: str | Path) -> Path:
        """Write the adapter (only) and its config to a safetensors file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        save_file(self.state_dict(), str(temp), metadata={k: str(v) for k, v in asdict(self.config).items()})
        temp.replace(path)
        return path

    def load(self, path: str | Path) -> None:
        """Read an adapter written by `save`; its config (layers, rank) must match this memory's."""
        path = Path(path)
        if not path.exists():
            raise CheckpointError(f"no adapter file at {path}")
        state = load_file(str(path))
        mine = self.state_dict()
        if set(state) != set(mine) or any(state[k].shape != mine[k].shape for k in mine):
            raise CheckpointError(f"adapter {path} was saved with other layers or rank than {self.config}")
        self.load_state_dict(state)
