"""Scripted closed-loop experts that read privileged simulator state: Lift, Stack and Push.

Each expert is a small state machine over `env.unwrapped.task_state()`; its phase is
re-checked against the state every step, so it recovers when an action goes astray.
The shared `ScriptedExpert` base adds Gaussian action noise and optional exploration
segments (random actions, pauses, gripper toggles) for world-model training data.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod

import gymnasium as gym
import numpy as np
from scipy.spatial.transform import Rotation

from sfplan.envs.pointmass_push import ARENA_HALF_WIDTH


class Exploration(enum.Enum):
    """What an exploration segment does instead of the expert's action."""

    RANDOM = "random"
    """Uniformly random actions over the whole action space."""
    PAUSE = "pause"
    """Zero motion; a gripper keeps the expert's command so a held object is not dropped."""
    GRIPPER_TOGGLE = "gripper_toggle"
    """The expert's motion with the opposite gripper command."""


MIN_SEGMENT_STEPS, MAX_SEGMENT_STEPS = 3, 10
"""Length range (inclusive) of one exploration segment, env steps."""


class ScriptedExpert(ABC):
    """Base of the scripted experts: the noise and exploration around a closed-loop `_expert_action`.

    Every action is the expert's (or, inside an exploration segment, the segment's) plus
    N(0, noise^2) per dimension, clipped to the env's Box action space. With probability
    `explore_prob` per step a segment of 3-10 steps starts, of one of `Exploration`'s kinds
    (the gripper toggle only where the action has a gripper). All randomness comes from one
    generator seeded by `seed` in `__init__` and again by `reset(seed)`.
    """

    gripper_index: int | None = None
    """Index of the gripper command in the action (-1 open, +1 close), None without a gripper."""

    def __init__(self, env: gym.Env, noise: float = 0.1, explore_prob: float = 0.0, seed: int | None = None) -> None:
        space = env.action_space
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"{type(self).__name__} needs a Box action space, got {space}")
        if noise < 0:
            raise ValueError(f"noise is a standard deviation and must be >= 0, got {noise}")
        if not 0.0 <= explore_prob <= 1.0:
            raise ValueError(f"explore_prob is a probability and must be in [0, 1], got {explore_prob}")
        self.env = env.unwrapped
        self.noise = noise
        self.explore_prob = explore_prob
        self._low, self._high = space.low, space.high
        kinds = list(Exploration)
        if self.gripper_index is None:
            kinds.remove(Exploration.GRIPPER_TOGGLE)
        self._kinds = kinds
        self._rng = np.random.default_rng(seed)
        self._segment: Exploration | None = None
        self._segment_steps_left = 0
        self._reset_phase()

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; reseed the noise and exploration when `seed` is given."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._segment = None
        self._segment_steps_left = 0
        self._reset_phase()

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The expert's action for the env's current state, with noise and exploration: float32 (A,)."""
        # The state machine runs every step, also while exploring, so its phase stays current.
        action = self._expert_action(observation, self.env.task_state())
        if self._segment is None and self._rng.random() < self.explore_prob:
            self._segment = self._kinds[self._rng.integers(len(self._kinds))]
            self._segment_steps_left = int(self._rng.integers(MIN_SEGMENT_STEPS, MAX_SEGMENT_STEPS + 1))
        if self._segment is not None:
            action = self._explore(action, self._segment)
            self._segment_steps_left -= 1
            if self._segment_steps_left == 0:
                self._segment = None
        action = action + self._rng.normal(0.0, self.noise, action.shape)
        return np.clip(action, self._low, self._high).astype(np.float32)

    def _explore(self, expert_action: np.ndarray, kind: Exploration) -> np.ndarray:
        if kind is Exploration.RANDOM:
            return self._rng.uniform(self._low, self._high)
        if kind is Exploration.PAUSE:
            action = np.zeros_like(expert_action)
            if self.gripper_index is not None:
                action[self.gripper_index] = expert_action[self.gripper_index]
            return action
        action = expert_action.copy()
        action[self.gripper_index] = -expert_action[self.gripper_index]
        return action

    @abstractmethod
    def _reset_phase(self) -> None:
        """Put the state machine back at its first phase."""

    @abstractmethod
    def _expert_action(self, observation: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> np.ndarray:
        """The noise-free action (A,) float64 for `state` (from `task_state()`); may advance the phase."""


class _Phase(enum.Enum):
    """Phases of the pick-and-place state machine, in their usual order."""

    APPROACH = enum.auto()  # hover above the object, gripper open
    DESCEND = enum.auto()  # lower around the object
    CLOSE = enum.auto()  # close the fingers until they stop
    LIFT = enum.auto()  # raise the held object
    TRANSPORT = enum.auto()  # carry it above the place target
    LOWER = enum.auto()  # set it down on the target
    RELEASE = enum.auto()  # open the fingers
    RETREAT = enum.auto()  # move the open gripper up and away


_DOWN = Rotation.from_quat([1.0, 0.0, 0.0, 0.0])
"""Gripper pointing straight down, at the Panda's starting yaw (robosuite's x, y, z, w quaternion)."""


class _PickPlaceExpert(ScriptedExpert):
    """Pick `object_key` up with a Panda under OSC delta control and, when `place_key` is set,
    put it down on that object, let go and retreat. Lengths are metres, world frame."""

    gripper_index = 6
    _POSITION_GAIN = 20.0  # action per metre of error: commands the whole error (1.0 = 5 cm) each step
    _ROTATION_SCALE = 0.5  # radians of rotation commanded by a rotation action of 1 (OSC default)
    _HOVER = 0.08  # height above the object before descending onto it
    _LIFT = 0.12  # height gained by the object before Lift holds or Stack transports
    _CARRY_CLEARANCE = 0.05  # gap between the carried object's bottom and the target's top
    _REACHED = 0.01  # position error counted as arrived
    _PRE_GRASP = 0.045  # gripper-site height above the object centre where the fingertips clear its top
    _CENTRED = 0.01  # horizontal error under which the open gripper descends past the pre-grasp height
    _STRAYED = 0.04  # horizontal error that sends the machine back a phase (the object moved)
    _HELD_DISTANCE = 0.03  # object centre to gripper site when held
    _OPEN_FINGER = 0.035  # finger joint position above which the gripper counts as open
    _EMPTY_FINGER = 0.006  # finger joint position below which the gripper closed on nothing

    object_key: str  # the object to pick: `task_state()` key without `_pos`
    place_key: str | None = None  # the object to put it on, None to just hold it up
    object_half_size: float = 0.0  # half side of the picked cube, when placing it
    place_half_size: float = 0.0  # half side of the cube it goes on

    def _reset_phase(self) -> None:
        self._phase = _Phase.APPROACH
        self._previous_finger = np.inf
        self._lift_height = np.inf

    def _expert_action(self, observation: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> np.ndarray:
        eef, obj = state["eef_pos"], state[f"{self.object_key}_pos"]
        finger = float(state["gripper_qpos"][0] - state["gripper_qpos"][1]) / 2
        self._phase = self._next_phase(eef, obj, finger, state)
        self._previous_finger = finger
        target, close = self._target(eef, obj, state)
        action = np.zeros(7)
        action[:3] = np.clip(self._POSITION_GAIN * (target - eef), -1.0, 1.0)
        action[3:6] = self._rotation_action(observation["proprio"][3:7])
        action[6] = 1.0 if close else -1.0
        return action

    def _rotation_action(self, eef_quat: np.ndarray) -> np.ndarray:
        """Turn the gripper back to pointing down: OSC takes world-frame axis-angle deltas."""
        error = (_DOWN * Rotation.from_quat(eef_quat).inv()).as_rotvec()
        return np.clip(error / self._ROTATION_SCALE, -1.0, 1.0)

    def _held(self, eef: np.ndarray, obj: np.ndarray, finger: float) -> bool:
        return np.linalg.norm(eef - obj) < self._HELD_DISTANCE and self._EMPTY_FINGER < finger < self._OPEN_FINGER

    def _on_place_target(self, obj: np.ndarray, state: dict[str, np.ndarray]) -> bool:
        below = state[f"{self.place_key}_pos"]
        resting_height = self.object_half_size + self.place_half_size
        centred = np.linalg.norm(obj[:2] - below[:2]) < self.place_half_size
        return bool(centred and obj[2] - below[2] > resting_height - 0.01)

    def _next_phase(self, eef: np.ndarray, obj: np.ndarray, finger: float, state: dict[str, np.ndarray]) -> _Phase:
        phase = self._phase
        horizontal_error = np.linalg.norm(eef[:2] - obj[:2])
        if phase is _Phase.APPROACH:
            hover = obj + [0.0, 0.0, self._HOVER]
            if np.linalg.norm(eef - hover) < 2 * self._REACHED and finger > self._OPEN_FINGER:
                return _Phase.DESCEND
        elif phase is _Phase.DESCEND:
            if horizontal_error > self._STRAYED:
                return _Phase.APPROACH
            if np.linalg.norm(eef - obj) < self._REACHED:
                return _Phase.CLOSE
        elif phase is _Phase.CLOSE:
            if np.linalg.norm(eef - obj) > self._HELD_DISTANCE or finger < self._EMPTY_FINGER:
                return _Phase.APPROACH
            if abs(finger - self._previous_finger) < 5e-4 and self._held(eef, obj, finger):
                self._lift_height = obj[2] + self._LIFT
                return _Phase.LIFT
        elif phase in (_Phase.LIFT, _Phase.TRANSPORT, _Phase.LOWER):
            if not self._held(eef, obj, finger):
                return _Phase.APPROACH
            if phase is _Phase.LIFT and self.place_key is not None and obj[2] > self._lift_height - 2 * self._REACHED:
                return _Phase.TRANSPORT
            if phase is not _Phase.LIFT:
                return self._next_place_phase(phase, obj, state)
        elif phase is _Phase.RELEASE:
            if finger > self._OPEN_FINGER:
                return _Phase.RETREAT
        elif phase is _Phase.RETREAT and not self._on_place_target(obj, state):
            return _Phase.APPROACH
        return phase

    def _next_place_phase(self, phase: _Phase, obj: np.ndarray, state: dict[str, np.ndarray]) -> _Phase:
        error = self._place_goal(state, phase) - obj
        if phase is _Phase.TRANSPORT and np.linalg.norm(error) < self._REACHED:
            return _Phase.LOWER
        if phase is _Phase.LOWER:
            if np.linalg.norm(error[:2]) > self._STRAYED:
                return _Phase.TRANSPORT
            if abs(error[2]) < self._REACHED / 2:
                return _Phase.RELEASE
        return phase

    def _place_goal(self, state: dict[str, np.ndarray], phase: _Phase) -> np.ndarray:
        """Where the carried object's centre should go: above the target, or resting on it."""
        resting_height = self.object_half_size + self.place_half_size
        clearance = self._CARRY_CLEARANCE if phase is _Phase.TRANSPORT else 0.0
        return state[f"{self.place_key}_pos"] + [0.0, 0.0, resting_height + clearance]

    def _target(self, eef: np.ndarray, obj: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, bool]:
        """The gripper-site target position (3,) and whether the gripper should be closed."""
        phase = self._phase
        if phase is _Phase.APPROACH:
            hover = obj + [0.0, 0.0, self._HOVER]
            # Rise first when low beside the object, so the open fingers do not sweep it away.
            if np.linalg.norm(eef[:2] - obj[:2]) > self._STRAYED and eef[2] < hover[2] - self._REACHED:
                hover[:2] = eef[:2]
            return hover, False
        if phase is _Phase.DESCEND:
            # Off centre, stop just above the object's top, so a finger does not land on it.
            centred = np.linalg.norm(eef[:2] - obj[:2]) < self._CENTRED
            straddling = eef[2] - obj[2] < self._PRE_GRASP - self._REACHED
            height = obj[2] if centred or straddling else obj[2] + self._PRE_GRASP
            return np.array([obj[0], obj[1], height]), False
        if phase is _Phase.CLOSE:
            return obj.copy(), True
        if phase is _Phase.LIFT:
            return np.array([eef[0], eef[1], eef[2] + self._lift_height - obj[2]]), True
        if phase in (_Phase.TRANSPORT, _Phase.LOWER):
            # Steer the held object rather than the gripper: the grasp offset cancels out.
            return eef + self._place_goal(state, phase) - obj, True
        if phase is _Phase.RELEASE:
            return eef.copy(), False
        return np.array([eef[0], eef[1], self._lift_height]), False


class LiftExpert(_PickPlaceExpert):
    """Lift (robosuite): grasp the cube from above and hold it 12 cm up (success at 4 cm).

    `env` is `sfplan.envs.make("robosuite-lift")`; `noise` is the per-dimension Gaussian
    action noise std, `explore_prob` the per-step chance of an exploration segment.
    """

    object_key = "cube"


class StackExpert(_PickPlaceExpert):
    """Stack (robosuite): pick cubeA, set it on cubeB, let go and retreat upwards.

    Success is robosuite's check: cubeA lifted, touching cubeB and not grasped. Arguments
    as for `LiftExpert`, with `env` from `sfplan.envs.make("robosuite-stack")`.
    """

    object_key = "cubeA"
    place_key = "cubeB"
    object_half_size = 0.02  # robosuite's Stack cubes: 4 cm cubeA on 5 cm cubeB
    place_half_size = 0.025


class PushExpert(ScriptedExpert):
    """Point-mass push: get behind the block on the goal's far side, then push it onto the goal.

    `env` is `sfplan.envs.make("pointmass-push")`; the action is a force (2,) in [-1, 1],
    which the agent's damping turns into a velocity of about 0.5 m/s per unit. When a
    wall leaves no room behind the block, it pushes at the smallest angle off the goal
    direction that has room, which slides the block along and away from the wall.
    Lengths in metres in the arena plane.
    """

    _REACH = ARENA_HALF_WIDTH - 0.03  # farthest the agent's centre gets from the arena centre
    _CONTACT = 0.065  # agent radius (3 cm) plus the block's half side (3.5 cm)
    _BEHIND = 0.085  # agent-to-block distance of the push-off point behind the block
    _ALIGNED = 0.025  # sideways offset from the push line at which pushing starts
    _AROUND = 0.1  # radius of the detour circle round the block
    _CLEAR = 0.085  # closest a straight path may pass the block: its 5 cm half diagonal plus the agent
    _ARC_STEP = np.deg2rad(45)  # how far along the detour circle each waypoint leads
    _GAIN = 6.0  # desired velocity (m/s) per metre of position error
    _ACTION_PER_VELOCITY = 2.0  # the agent's terminal speed is 0.5 m/s at an action of 1
    _MAX_PUSH_SPEED = 0.45  # m/s, i.e. full force (0.4 m/s with the block); slower near the goal
    _PUSH_ANGLES = np.deg2rad([0, 15, -15, 30, -30, 45, -45, 60, -60, 75, -75])  # turns off the goal direction

    def _reset_phase(self) -> None:
        self._pushing = False

    def _expert_action(self, observation: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> np.ndarray:
        agent, block = state["agent_pos"], state["block_pos"]
        to_goal = state["goal_pos"] - block
        distance = float(np.linalg.norm(to_goal))
        behind, direction = self._push_off(block, to_goal / max(distance, 1e-6))
        side = np.array([-direction[1], direction[0]])
        along, across = float((agent - block) @ direction), float((agent - block) @ side)
        aligned = abs(across) < self._ALIGNED * (2.0 if self._pushing else 1.0)
        self._pushing = aligned and along < -self._CONTACT + 0.02
        if self._pushing:
            speed = min(self._MAX_PUSH_SPEED, 2.0 * distance + 0.1)
            velocity = speed * direction - self._GAIN * across * side
        else:
            velocity = self._GAIN * (self._waypoint(agent, block, behind) - agent)
        return np.clip(self._ACTION_PER_VELOCITY * velocity, -1.0, 1.0)

    def _push_off(self, block: np.ndarray, to_goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Push-off point (2,) and unit push direction (2,): behind the block as seen from the goal,
        or, where a wall leaves no room there, the smallest turn off that which has room."""
        for angle in self._PUSH_ANGLES:
            cos, sin = np.cos(angle), np.sin(angle)
            turned = np.array([cos * to_goal[0] - sin * to_goal[1], sin * to_goal[0] + cos * to_goal[1]])
            behind = np.clip(block - self._BEHIND * turned, -self._REACH, self._REACH)
            offset = block - behind
            if np.linalg.norm(offset) > self._CONTACT + 0.005:
                return behind, offset / np.linalg.norm(offset)
        return block - self._BEHIND * to_goal, to_goal

    def _waypoint(self, agent: np.ndarray, block: np.ndarray, behind: np.ndarray) -> np.ndarray:
        """Next point (2,) on the way to `behind`: straight there when the path clears the block,
        else a step along a circle round the block, the shorter way unless a wall closes it."""
        path = behind - agent
        nearest = agent + np.clip((block - agent) @ path / max(path @ path, 1e-9), 0.0, 1.0) * path
        if np.linalg.norm(nearest - block) > self._CLEAR:
            return behind
        angle = np.arctan2(*(agent - block)[::-1])
        turn = (np.arctan2(*(behind - block)[::-1]) - angle) % (2 * np.pi)
        turns = sorted((turn, turn - 2 * np.pi), key=abs)
        open_turns = [t for t in turns if not self._arc_blocked(block, angle, t)] or turns
        step = np.clip(open_turns[0], -self._ARC_STEP, self._ARC_STEP)
        return self._on_circle(block, angle + step)

    def _on_circle(self, block: np.ndarray, angle: float) -> np.ndarray:
        """The point at `angle` on the detour circle round `block`, pulled in from the walls."""
        return np.clip(block + self._AROUND * np.array([np.cos(angle), np.sin(angle)]), -self._REACH, self._REACH)

    def _arc_blocked(self, block: np.ndarray, angle: float, turn: float) -> bool:
        """Whether a wall leaves the agent no room to pass on the arc from `angle` through `turn` radians."""
        samples = angle + np.linspace(0.0, turn, 12)
        return any(np.linalg.norm(self._on_circle(block, a) - block) < self._CONTACT + 0.005 for a in samples)
