"""SFPlanner: model-predictive control in the slow-fast world model, the object users import."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .checkpoint import CheckpointError, replace_directory, save_pretrained
from .config_io import config_from_dict, strict_json
from .data import proprio_history
from .fast import FastMemory, FastMemoryConfig
from .planning import PLANNERS, PlanStats, SamplingPlannerConfig, make_planner
from .world_model import RewardModel, ValueModel, VideoWorldModel
from .world_model.config import check_initial_noise

AGENT_CONFIG = "sfplanner.json"
PROPOSAL_POLICY = "proposal_policy"
VALUE_MODEL = "value_model"


class ProposalPolicy(Protocol):
    """A policy that proposes action sequences for the planner (e.g. `sfplan.policies.BCPolicy`)."""

    def propose(
        self, observation: dict[str, np.ndarray], count: int, horizon: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """`count` action sequences (count, horizon, A) for this observation."""


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch threads and restore the caller's count after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class ProgressReading:
    """The reward model's reading of a real frame: predicted reward and success logit."""

    reward: float
    success_logit: float


def prior_stalled(readings: Sequence[ProgressReading], window: int, tolerance: float) -> bool:
    """Whether an episode read at each replan has stopped progressing: the last `window`
    readings' rewards never beat the best before them by more than `tolerance`, and the latest
    predicts no success. Always False for window 0 or with no more than `window` readings."""
    if window == 0 or len(readings) <= window or readings[-1].success_logit >= 0:
        return False
    rewards = [reading.reward for reading in readings]
    return max(rewards[-window:]) <= max(rewards[:-window]) + tolerance


@dataclass
class SFPlannerConfig:
    """How the agent plans.

    planner:         a key of `sfplan.planning.PLANNERS` ("mppi" or "cem").
    horizon_chunks:  planned world-model chunks (each `target_frames * frame_skip` env steps).
    replan_every:    env steps executed from each plan before replanning (action chunking);
                     0 means one world-model chunk.
    samples, iterations, elites, temperature, noise_beta, binary_dims, hold_binary, init_std, min_std,
    max_std, prior_fraction, max_score_calls, prior_margin: the sampling planner's settings (see `SamplingPlannerConfig`).
    denoise_steps:   world-model sampling steps per imagined chunk.
    initial_noise:   the world model's sampling noise scale while planning (see
                     `WorldModelConfig.initial_noise`): 0, deterministic imagination, so candidates
                     differ only by their actions, not by their noise draw (on held-out lift
                     windows also +0.2 dB next-chunk PSNR at one step: results/world_model.md).
    imagination_draws: imagine each candidate this many times with independent noise (needs
                     initial_noise > 0) and score it pessimistically: the mean over draws minus
                     `uncertainty_penalty` x their standard deviation, so a plan whose outcome the
                     model is unsure of (say, a grasp that holds in some draws and not in others)
                     ranks below a sure one. 1: one imagination per candidate.
    uncertainty_penalty: weight of the draws' standard deviation in the score (draws > 1).
    success_weight:  score = sum of predicted rewards + success_weight * max predicted success
                     (+ the value term below).
    stall_replans:   with a prior margin, lift the margin (execute the best candidate) while the
                     prior looks stuck: the reward model's reward of the real frame seen at the
                     last `stall_replans` replans never beat its best before them by more than
                     `stall_tolerance`, and it predicts no success. A good prior's plan is kept
                     while it makes progress; when it stops making any, the world model's guess is
                     worth trying. 0: the margin always applies.
    stall_tolerance: reward the real frames must gain to count as progress (reward per step).
    stall_rescue_replans: replans in a row the planner acts for once the prior is seen stuck; then
                     the prior is followed again and watched for a fresh `stall_replans` window, so
                     a rescue that did not help (a lift tried before the grasp held, say) is not
                     followed by more overrides from a state the planner made worse. 0: the planner
                     acts for as long as the stall lasts.
    value_weight:    adds value_weight x the value model's value of the last imagined frame (its
                     discounted reward-to-go, in reward per step), so the score sees past the
                     horizon: whether the episode is still on its way to success. Needs a value
                     model (`value_model/` in the checkpoint); 0: not used.
    use_memory:      write each completed real chunk into a Temp-LoRA fast memory.
    keep_memory:     keep the memory across episodes (multi-episode mode) instead of resetting it.
    memory:          the fast memory's settings.
    threads:         torch threads for all the agent does in `reset` and `act` (encoding frames,
                     fast-memory updates, planning); the caller's count is restored after each call.
    seed:            seeds the planner's sampling.
    """

    planner: str = "mppi"
    horizon_chunks: int = 2
    replan_every: int = 0
    samples: int = 32
    iterations: int = 2
    elites: int = 6
    temperature: float = 0.5
    noise_beta: float = 0.0
    binary_dims: tuple[int, ...] = ()
    hold_binary: bool = False
    init_std: float = 0.6
    min_std: float = 0.05
    max_std: float = 1.0
    prior_fraction: float = 0.0
    max_score_calls: int | None = None
    prior_margin: float | None = None
    denoise_steps: int = 1
    initial_noise: float = 0.0
    imagination_draws: int = 1
    uncertainty_penalty: float = 1.0
    success_weight: float = 1.0
    value_weight: float = 0.0
    stall_replans: int = 0
    stall_tolerance: float = 0.02
    stall_rescue_replans: int = 0
    use_memory: bool = True
    keep_memory: bool = False
    memory: FastMemoryConfig = field(default_factory=FastMemoryConfig)
    threads: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.memory, dict):
            self.memory = FastMemoryConfig(**self.memory)
        if isinstance(self.prior_margin, str):  # "inf" in sfplanner.json (strict JSON has no Infinity)
            try:
                self.prior_margin = float(self.prior_margin)
            except ValueError:
                raise ValueError(f"prior_margin must be a number, null or \"inf\", got {self.prior_margin!r}") from None
        if self.planner not in PLANNERS:
            raise ValueError(f"unknown planner {self.planner!r}; known: {', '.join(sorted(PLANNERS))}")
        check_initial_noise(self.initial_noise)
        if self.imagination_draws < 1:
            raise ValueError(f"imagination_draws must be >= 1, got {self.imagination_draws}")
        if self.imagination_draws > 1 and self.initial_noise == 0:
            raise ValueError("imagination_draws > 1 needs initial_noise > 0: from the noise's mean every draw is the same")
        if self.uncertainty_penalty < 0:
            raise ValueError(f"uncertainty_penalty must be >= 0, got {self.uncertainty_penalty}")
        if min(self.stall_replans, self.stall_tolerance, self.stall_rescue_replans) < 0:
            raise ValueError(f"stall_replans, stall_tolerance and stall_rescue_replans must be >= 0, got "
                             f"{self.stall_replans}, {self.stall_tolerance}, {self.stall_rescue_replans}")
        if self.stall_replans > 0 and self.prior_margin is None:
            raise ValueError("stall_replans > 0 lifts the prior margin while the prior is stuck; set prior_margin "
                             "(e.g. inf: follow the prior unless it is stuck) or stall_replans=0")
        if self.value_weight < 0:
            raise ValueError(f"value_weight must be >= 0, got {self.value_weight}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SFPlannerConfig:
        """Build from a dict; unknown keys raise a ValueError naming them."""
        return config_from_dict(cls, values, "SFPlanner")


class SFPlanner:
    """Plans by imagining candidate action sequences in a `VideoWorldModel` and scoring them.

    Every `replan_every` env steps it encodes the last f_p frames (`frame_skip` apart),
    lets the planner propose batches of action sequences, imagines each batch in one
    world-model call, scores the imagined latents with the `RewardModel`, and queues the
    first actions of the best plan. Each completed real chunk of frames is written into the
    fast memory, so imagination adapts to the episode. With `proposals` (a behaviour-cloned
    policy, say), `prior_fraction` of each iteration's candidates come from it. With a
    `value_model` and `value_weight > 0` the score also counts the value of the last imagined frame.
    With `prior_margin=inf` and `stall_replans` it is a watchdog: it follows the proposal policy
    without imagining anything and plans only while the policy is stuck.

    `progress_readings` holds the reward model's reading of the real frame at each replan of the
    current episode (what `stall_replans` watches); `plan_seconds` and `plan_stats` one entry
    per replan since the agent was made.

    Completed real chunks are written into the fast memory lazily, when imagination first needs
    the adapter (a replan that scores candidates, reading `last_imagined` or `memory`, or
    `write_memory()`): the same updates in the same order as writing each chunk when it
    completes, so the actions are the same, but a watchdog that follows its prior pays for the
    memory only when it plans.
    """

    def __init__(
        self,
        world_model: VideoWorldModel,
        reward_model: RewardModel,
        config: SFPlannerConfig | None = None,
        proposals: ProposalPolicy | None = None,
        value_model: ValueModel | None = None,
    ) -> None:
        self.world_model = world_model.eval()
        self.reward_model = reward_model.eval()
        self.value_model = value_model.eval() if value_model is not None else None
        self.config = config or SFPlannerConfig()
        self.proposals = proposals
        if (proposals is None) != (self.config.prior_fraction == 0):
            raise ValueError("prior_fraction > 0 needs a proposal policy, and a proposal policy needs prior_fraction > 0")
        if self.config.value_weight > 0 and value_model is None:
            raise ValueError(
                "value_weight > 0 needs a value model: train one with experiments/train_value_model.py and export it "
                "with experiments/export_agent.py --value-model, or set value_weight=0"
            )
        wm = world_model.config
        self.replan_every = self.config.replan_every or wm.steps_per_chunk
        planner_config = SamplingPlannerConfig(
            horizon=self.config.horizon_chunks * wm.steps_per_chunk,
            action_dim=wm.action_dim,
            **{name: getattr(self.config, name) for name in (
                "samples", "iterations", "elites", "temperature", "noise_beta", "binary_dims", "hold_binary",
                "init_std", "min_std", "max_std", "prior_fraction", "max_score_calls", "prior_margin")},
        )
        self.planner = make_planner(self.config.planner, planner_config)
        self._memory = FastMemory(world_model, self.config.memory, seed=self.config.seed) if self.config.use_memory else None
        self._unwritten_chunks: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []  # (previous, new, actions, state)
        self._generator = torch.Generator().manual_seed(self.config.seed)
        self.plan_seconds: list[float] = []
        self.plan_stats: list[PlanStats] = []
        self._latents: list[torch.Tensor] = []
        self._proprio: list[np.ndarray] = []  # per frame, for a world model conditioned on the robot state
        self._actions: list[np.ndarray] = []  # executed this episode, one per env step
        self._queue: list[np.ndarray] = []
        self.progress_readings: list[ProgressReading] = []  # the real frame at each replan of this episode
        self._watch_from = 0  # first reading of the window the stall gate watches (see stall_rescue_replans)
        self._rescues_in_row = 0
        self._first_frame_given = False
        self._latest_plan: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor] | None = None  # context, state, first-chunk actions
        self._last_imagined: torch.Tensor | None = None
        self._lanes: list[SFPlanner] = [self]  # one agent per env of a vector (see `predict`)

    # ------------------------------------------------------------ persistence
    @classmethod
    def from_pretrained(cls, directory: str | Path, proposals: ProposalPolicy | None = None, **overrides: Any) -> SFPlanner:
        """Load `world_model/`, `reward_model/` and, if present, `sfplanner.json`, `value_model/`
        and the behaviour-cloned `proposal_policy/` from `directory`.

        `overrides` replace fields of the saved agent config (e.g. `samples=64`); `proposals`
        replaces the saved proposal policy. With `prior_fraction=0` no proposal policy is used.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"no SFPlanner checkpoint at {directory}: train a world model with "
                                  "experiments/train_world_model.py, then write the agent there with experiments/export_agent.py")
        world_model = VideoWorldModel.from_pretrained(directory / "world_model")
        reward_model = RewardModel.from_pretrained(directory / "reward_model")
        value_model = ValueModel.from_pretrained(directory / VALUE_MODEL) if (directory / VALUE_MODEL).is_dir() else None
        saved = {}
        if (directory / AGENT_CONFIG).exists():
            try:
                saved = json.loads((directory / AGENT_CONFIG).read_text())
            except json.JSONDecodeError as error:
                raise CheckpointError(f"{directory / AGENT_CONFIG} is not valid JSON ({error}); re-export the agent "
                                      "with experiments/export_agent.py or fix the file") from None
        config = SFPlannerConfig.from_dict({**saved, **overrides})
        if config.prior_fraction == 0:
            proposals = None
        elif proposals is None and (directory / PROPOSAL_POLICY).is_dir():
            from .policies import BCPolicy

            proposals = BCPolicy.from_pretrained(directory / PROPOSAL_POLICY)
        return cls(world_model, reward_model, config, proposals=proposals, value_model=value_model)

    def save(self, directory: str | Path) -> Path:
        """Write world model, reward model, value model (when there is one), agent config and the
        proposal policy (when it has `save_pretrained`) into `directory` atomically."""

        def build(temp: Path) -> None:
            self.world_model.save_pretrained(temp / "world_model")  # base weights; adapters are per episode
            save_pretrained(self.reward_model, self.reward_model.config.to_dict(), temp / "reward_model")
            if self.value_model is not None:
                save_pretrained(self.value_model, self.value_model.config.to_dict(), temp / VALUE_MODEL)
            (temp / AGENT_CONFIG).write_text(strict_json(asdict(self.config)))
            if hasattr(self.proposals, "save_pretrained"):
                self.proposals.save_pretrained(temp / PROPOSAL_POLICY)

        return replace_directory(build, directory)

    # ------------------------------------------------------------ inspection
    @property
    def memory(self) -> FastMemory | None:
        """The episode's fast memory (None with `use_memory=False`), every completed real chunk
        written into it (pending writes are made now, with the agent's thread count)."""
        self.write_memory()
        return self._memory

    @property
    def last_imagined(self) -> torch.Tensor | None:
        """(1, F, C, h, w) latents the world model imagines for the first chunk of the latest plan
        (None before the first replan). Imagined on the first read after each replan, with the
        fast memory as it is then and noise seeded by `seed`: planning does not pay for it."""
        if self._last_imagined is None and self._latest_plan is not None:
            context, state, actions = self._latest_plan
            with torch_threads(self.config.threads):
                self.write_memory()
                self._last_imagined = self.world_model.imagine_latents(
                    context, actions, steps=self.config.denoise_steps,
                    generator=torch.Generator().manual_seed(self.config.seed), initial_noise=self.config.initial_noise,
                    proprio=state)
        return self._last_imagined

    # ----------------------------------------------------------------- acting
    def check_env(self, env: Any) -> None:
        """Raise a ValueError when `env`'s actions or images do not match the world model."""
        wm = self.world_model.config
        shape = getattr(env.action_space, "shape", None)
        if shape != (wm.action_dim,):
            raise ValueError(f"env actions have shape {shape} but the world model was trained on ({wm.action_dim},)")
        image = env.observation_space["image"].shape
        size = wm.codec.image_size
        if image != (size, size, 3):
            raise ValueError(f"env images are {image} but the world model was trained on {(size, size, 3)}; make the env with image_size={size}")
        proprio = env.observation_space["proprio"].shape if "proprio" in env.observation_space.spaces else None
        if wm.proprio_dim and proprio != (wm.proprio_dim,):
            raise ValueError(f"env proprioception has shape {proprio} but the world model reads ({wm.proprio_dim},)")

    def reset(self, observation: dict[str, np.ndarray] | None = None) -> None:
        """Start a new episode: forget frames, queued actions and the warm start; fresh memory
        unless `keep_memory`. With `observation`, it becomes the first frame."""
        self._latents, self._proprio, self._actions, self._queue, self.progress_readings = [], [], [], [], []
        self._watch_from, self._rescues_in_row = 0, 0
        self._latest_plan, self._last_imagined = None, None
        self.planner.reset()
        if self._memory is not None and not self.config.keep_memory:
            self._unwritten_chunks.clear()
            self._memory.reset()
        self._first_frame_given = observation is not None
        if observation is not None:
            with torch_threads(self.config.threads):
                self._remember(observation)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The action for this env step's observation, (A,) float32; replans every `replan_every` steps.

        Call once per env step. The first call of an episode may follow `reset(observation)`
        with the same observation.
        """
        with torch_threads(self.config.threads):
            if self._first_frame_given:
                self._first_frame_given = False
            else:
                self._remember(observation)
            self._observation = observation
            if not self._queue:
                self._replan()
        self._actions.append(self._queue.pop(0))
        return self._actions[-1]

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """stable-baselines3's `predict`, for one env or a vector of N envs.

        One env: observation arrays without a batch axis give an (A,) action. A batch of N
        (a `VecEnv`'s observations) gives (N, A): env 0 is this agent, env i > 0 the agent
        `lane(i)`, made on first use with this agent's models and settings, seed `seed + i`,
        and a copy of the world model of its own when it keeps a fast memory. `episode_start`
        ((N,) bools, as SB3 passes them) starts a new episode in each env where it is True.
        Returns (action float32, `state` unchanged: the agents' memory lives in their frames
        and adapters).
        """
        image = observation.get("image") if isinstance(observation, dict) else None
        if not isinstance(image, np.ndarray) or image.ndim != 4:
            if episode_start is not None and bool(np.asarray(episode_start).reshape(-1)[0]):
                self.reset()
            return self.act(observation), state
        count = image.shape[0]
        starts = np.zeros(count, dtype=bool) if episode_start is None else np.asarray(episode_start, dtype=bool).reshape(-1)
        if starts.shape != (count,):
            raise ValueError(f"episode_start must hold one flag per env: {count} observations, {starts.size} flags")
        actions = []
        for index, start in enumerate(starts):
            lane = self.lane(index)
            if start:
                lane.reset()
            actions.append(lane.act({key: value[index] for key, value in observation.items()}))
        return np.stack(actions), state

    def lane(self, index: int) -> SFPlanner:
        """The agent of env `index` of a vector of envs (see `predict`): this agent for 0."""
        while len(self._lanes) <= index:
            seed = self.config.seed + len(self._lanes)
            world_model = self.world_model.base_copy() if self._memory is not None else self.world_model
            self._lanes.append(SFPlanner(world_model, self.reward_model, replace(self.config, seed=seed), self.proposals, self.value_model))
        return self._lanes[index]

    def write_memory(self) -> None:
        """Write every completed real chunk not yet written into the fast memory now, in order
        (the agent does it itself when it imagines; call this to time or inspect the memory)."""
        if not self._unwritten_chunks:
            return
        with torch_threads(self.config.threads):
            while self._unwritten_chunks:
                self._memory.observe(*self._unwritten_chunks[0])
                del self._unwritten_chunks[0]

    @torch.no_grad()
    def score_imagined(self, latents: torch.Tensor) -> torch.Tensor:
        """The planner's score of (N, F, C, h, w) imagined latent videos, (N,): the reward model's
        `score`, plus `value_weight` x the value model's value of each video's last frame."""
        scores = self.reward_model.score(latents, self.config.success_weight)
        if self.config.value_weight > 0:
            scores = scores + self.config.value_weight * self.value_model(latents[:, -1])
        return scores

    @torch.no_grad()
    def score_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """The planner's scores, (N,), of (N, H, A) action sequences that start after the latest
        observation the agent was given: each imagined from the agent's frames with its fast memory
        (and `imagination_draws`) and scored by `score_imagined`, exactly as a replan scores its
        candidates. Lets a caller ask the agent what it expects of plans of its own."""
        expected = (self.planner.config.horizon, self.world_model.config.action_dim)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected:
            raise ValueError(f"actions must be (N, {expected[0]}, {expected[1]}) (N, horizon, action_dim), "
                             f"got {tuple(actions.shape)}")
        if not self._latents:
            raise ValueError("no frames yet: call reset(observation) or act(observation) before score_actions")
        with torch_threads(self.config.threads):
            return self._score_actions(self._context(), self._state(), actions.float())

    # -------------------------------------------------------------- internals
    def _remember(self, observation: dict[str, np.ndarray]) -> None:
        image = observation.get("image") if isinstance(observation, dict) else None
        size = self.world_model.config.codec.image_size
        if not isinstance(image, np.ndarray) or image.shape != (size, size, 3) or image.dtype != np.uint8:
            got = "no 'image'" if image is None else f"{getattr(image, 'shape', None)} {getattr(image, 'dtype', type(image).__name__)}"
            raise ValueError(f"observation['image'] must be ({size}, {size}, 3) uint8 as the world model was trained on; got {got}")
        frame = torch.from_numpy(image).permute(2, 0, 1).float().div(255.0)
        proprio_dim = self.world_model.config.proprio_dim
        if proprio_dim:
            state = observation.get("proprio")
            if not isinstance(state, np.ndarray) or state.shape != (proprio_dim,) or not np.isfinite(state).all():
                raise ValueError(f"observation['proprio'] must be ({proprio_dim},) finite floats: this world model reads "
                                 f"the robot state; got {getattr(state, 'shape', state)}")
            self._proprio.append(state.astype(np.float32))
        with torch.no_grad():
            self._latents.append(self.world_model.codec.encode(frame[None, None])[0, 0])
        self._observe_completed_chunk()

    def _context(self) -> torch.Tensor:
        """(1, f_p, C, h, w) latents of the last context frames, `frame_skip` apart."""
        return self._frames(self.world_model.config.context_frames, len(self._latents) - 1)

    def _state(self, step: int | None = None) -> torch.Tensor | None:
        """(1, 2, P) robot state at frame `step` (default: the latest) and one env step before, for a
        world model conditioned on it (`proprio_dim`); None otherwise."""
        if not self._proprio:
            return None
        return torch.from_numpy(proprio_history(np.stack(self._proprio), len(self._proprio) - 1 if step is None else step))[None]

    def _score_actions(self, context: torch.Tensor, state: torch.Tensor | None, actions: torch.Tensor) -> torch.Tensor:
        """(N,) scores of (N, H, A) actions imagined from `context` and `state` (see `score_actions`)."""
        self.write_memory()
        draws = self.config.imagination_draws
        with self._memory.imagining(len(actions) * draws) if self._memory is not None else nullcontext():
            latents = self.world_model.imagine_latents(
                context, actions.repeat(draws, 1, 1), steps=self.config.denoise_steps, generator=self._generator,
                initial_noise=self.config.initial_noise, proprio=state)
        scores = self.score_imagined(latents)
        if draws == 1:
            return scores
        scores = scores.reshape(draws, len(actions))
        return scores.mean(dim=0) - self.config.uncertainty_penalty * scores.std(dim=0)

    def _prior_stalled(self) -> bool:
        """Record the reward model's reading of the current real frame; True when the episode
        has stopped progressing (see `SFPlannerConfig.stall_replans`)."""
        reward, success_logit = self.reward_model(self._latents[-1][None])
        self.progress_readings.append(ProgressReading(float(reward), float(success_logit)))
        config = self.config
        stalled = prior_stalled(self.progress_readings[self._watch_from :], config.stall_replans, config.stall_tolerance)
        self._rescues_in_row = self._rescues_in_row + 1 if stalled else 0
        if config.stall_rescue_replans and self._rescues_in_row == config.stall_rescue_replans:
            self._watch_from, self._rescues_in_row = len(self.progress_readings), 0
        return stalled

    def _frames(self, count: int, end: int) -> torch.Tensor:
        """Latents of `count` frames `frame_skip` apart ending at index `end` (episode start repeated)."""
        skip = self.world_model.config.frame_skip
        index = [max(0, end - skip * (count - 1 - i)) for i in range(count)]
        return torch.stack([self._latents[i] for i in index])[None]

    def _observe_completed_chunk(self) -> None:
        wm = self.world_model.config
        last = len(self._latents) - 1
        if self._memory is None or last == 0 or last % wm.steps_per_chunk:
            return
        new = self._frames(wm.target_frames, last)
        previous = self._frames(wm.target_frames, last - wm.steps_per_chunk)
        executed = np.stack(self._actions[last - wm.steps_per_chunk : last])
        actions = torch.from_numpy(executed).reshape(1, wm.target_frames, wm.frame_skip, wm.action_dim)
        # with the robot state the chunk was predicted from, when the agent reads one
        self._unwritten_chunks.append((previous, new, actions, self._state(last - wm.steps_per_chunk)))

    @torch.no_grad()
    def _replan(self) -> None:
        start = time.perf_counter()
        context, state = self._context(), self._state()
        score = lambda actions: self._score_actions(context, state, actions)  # noqa: E731

        prior = None
        if self.proposals is not None:
            observation, horizon = self._observation, self.planner.config.horizon
            prior = lambda count: self.proposals.propose(observation, count, horizon, self._generator)  # noqa: E731
        plan = self.planner.plan(score, generator=self._generator, prior=prior, keep_prior_within_margin=not self._prior_stalled())
        self.planner.shift(self.replan_every)
        self._queue = [action for action in plan[: self.replan_every].numpy().astype(np.float32)]
        self._latest_plan = (context, state, plan[None, : self.world_model.config.steps_per_chunk])
        self._last_imagined = None
        self.plan_seconds.append(time.perf_counter() - start)
        self.plan_stats.append(self.planner.last_stats)

