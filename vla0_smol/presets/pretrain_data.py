"""Pretraining data for the tiny VLM, generated on the fly: numbers as text, and grounding.

SmolVLM2 arrives at VLA-0 fine-tuning knowing two things that a randomly initialised tiny model
does not (``docs/tiny-learning.md``): how to read and write integers as digit strings, and how
to find objects in pixels. This module generates an endless, seeded stream of small questions
that teach exactly those, and nothing of PushT's solution: no expert action, no trajectory, no
episode of any evaluation seed. Every example is written in the layout the policy reads and
writes (:class:`~vla0_smol.prompt.PromptBuilder`)::

    User:<image>Task: {question}, State: {integers}, Actions:<end_of_utterance>
    Assistant: {integers}<end_of_utterance>

with integers in ``[0, 511]`` (the policy's 512 bins), single spaces, digit tokens.

Skills (:data:`SKILLS`, sampled by :data:`MIXTURE`):

* numbers (the image is a distractor scene): copy, add or subtract a constant, the offset
  between two points (centred on 256, as relative actions are), sort, the largest / smallest,
  a 10-step path interpolating between two points;
* grounding on ``gym-pusht`` frames with random agent and block poses (where is the block, the
  agent, which way the block is turned, the offset from the state point to the block), with the
  policy's random crop;
* grounding on scenes of coloured shapes on coloured backgrounds (where is the red circle, how
  far apart are two shapes), so that the skill is not tied to one image.

Coordinates are in the 512 x 512 frame of PushT's world (x right, y down), which is also the
frame of a 96 x 96 image scaled by 512 / 96.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_INT = 511  # the policy's 512 bins
IMAGE = 96  # pixels of the tiny preset's images
WORLD = 512  # PushT's world and the coordinate frame of every answer
HORIZON = 10  # steps of an interpolated path (PushT's chunk)
CROP = 84  # the policy's random crop on PushT frames (then resized back to IMAGE)

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
    "purple": (140, 50, 170),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")


@dataclass
class Example:
    """One question.

    Attributes:
        skill: name of the skill (a key of :data:`SKILLS`).
        task: the question, as the policy's task string.
        state: integers written after ``State:``, or None for a prompt without them.
        answer: the integers the model must write.
        image: ``(IMAGE, IMAGE, 3)`` uint8 frame.
    """

    skill: str
    task: str
    state: list[int] | None
    answer: list[int]
    image: np.ndarray


def _clip(x) -> list[int]:
    return np.clip(np.rint(np.asarray(x, dtype=np.float64)), 0, MAX_INT).astype(int).reshape(-1).tolist()


# ----------------------------------------------------------------------------- scenes
def shapes_scene(rng: np.random.Generator, count: int) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """A frame with ``count`` distinct coloured shapes; returns it and (name, centre in WORLD units)."""
    bg = rng.integers(150, 256, 3)
    img = np.empty((IMAGE, IMAGE, 3), np.uint8)
    img[:] = bg
    yy, xx = np.mgrid[0:IMAGE, 0:IMAGE] + 0.5
    names = rng.permutation([(c, s) for c in COLOURS for s in SHAPES])[:count]
    objects = []
    for colour, shape in names:
        r = rng.uniform(6, 11)
        cx, cy = rng.uniform(r + 1, IMAGE - r - 1, 2)
        dx, dy = xx - cx, yy - cy
        if shape == "circle":
            inside = dx**2 + dy**2 <= r**2
        elif shape == "square":
            inside = (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
        else:  # triangle pointing up
            inside = (dy <= r * 0.7) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
        img[inside] = COLOURS[colour]
        objects.append((f"{colour} {shape}", np.array([cx, cy]) * WORLD / IMAGE))
    return img, objects


class PushTScenes:
    """``gym-pusht`` frames of random poses (the environment's own renderer).

    Poses are drawn from this module's generator (never from an environment seed), so no frame
    is an episode of the evaluation seeds, and nothing moves: each frame is one reset.
    """

    def __init__(self):
        import gym_pusht  # noqa: F401  (registers the environment)
        import gymnasium as gym

        self.env = gym.make("gym_pusht/PushT-v0", obs_type="pixels_agent_pos", render_mode="rgb_array")
        self.env.reset(seed=0)

    def frame(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """``(image, agent xy, block xy, block angle)`` of a random pose (WORLD units, radians)."""
        agent = rng.uniform(50, 462, 2)
        block = rng.uniform(100, 412, 2)
        angle = rng.uniform(0, 2 * np.pi)
        obs, _ = self.env.reset(options={"reset_to_state": np.array([*agent, *block, angle])})
        image = obs["pixels"]
        if image.shape[:2] != (IMAGE, IMAGE):
            raise ValueError(f"gym-pusht rendered {image.shape}, expected {IMAGE}x{IMAGE}")
        return image, np.asarray(obs["agent_pos"], dtype=np.float64), block, angle

    def close(self) -> None:
        self.env.close()


def random_crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The policy's training augmentation on PushT: a random CROP x CROP window, resized back."""
    from PIL import Image

    top, left = rng.integers(0, IMAGE - CROP + 1, 2)
    window = image[top : top + CROP, left : left + CROP]
    return np.asarray(Image.fromarray(window).resize((IMAGE, IMAGE), Image.BILINEAR))


# ----------------------------------------------------------------------------- skills
def _numbers(rng, n, low=0, high=MAX_INT) -> np.ndarray:
    return rng.integers(low, high + 1, n)


def copy(rng, scene):
    x = _numbers(rng, rng.integers(2, 5))
    return "Repeat the state.", _clip(x), _clip(x)


def add(rng, scene):
    k = int(rng.integers(1, 65))
    x = _numbers(rng, rng.integers(2, 7), 0, MAX_INT - k)
    if rng.random() < 0.5:
        return f"Add {k} to each number.", _clip(x), _clip(x + k)
    return f"Subtract {k} from each number.", _clip(x + k), _clip(x)


def offset(rng, scene):
    a = _numbers(rng, 2)
    b = np.clip(a + rng.integers(-250, 251, 2), 0, MAX_INT)
    return "Offset from the first point to the second.", _clip([*a, *b]), _clip(b - a + 256)


def sort(rng, scene):
    x = _numbers(rng, rng.integers(3, 7))
    return "Sort the numbers.", _clip(x), _clip(np.sort(x))


def extreme(rng, scene):
    x = _numbers(rng, rng.integers(2, 7))
    if rng.random() < 0.5:
        return "The largest number.", _clip(x), _clip([x.max()])
    return "The smallest number.", _clip(x), _clip([x.min()])


def interpolate(rng, scene):
    a, b = _numbers(rng, 2), _numbers(rng, 2)
    t = np.arange(1, HORIZON + 1)[:, None] / HORIZON
    path = a[None] + (b - a)[None] * t  # (HORIZON, 2)
    return f"Go from the first point to the second in {HORIZON} steps.", _clip([*a, *b]), _clip(path)


def pusht_block(rng, scene):
    _, _, block, _ = scene
    return "Where is the T-shaped block?", None, _clip(block)


def pusht_agent(rng, scene):
    _, agent, _, _ = scene
    return "Where is the agent?", None, _clip(agent)


def pusht_angle(rng, scene):
    *_, angle = scene
    return "Which way is the T-shaped block turned?", None, _clip([angle % (2 * np.pi) / (2 * np.pi) * 512])


def pusht_offset(rng, scene):
    _, agent, block, _ = scene
    return "Half the offset from the state to the T-shaped block.", _clip(agent), _clip((block - agent) / 2 + 256)


def shapes_where(rng, scene):
    _, objects = scene
    name, xy = objects[rng.integers(len(objects))]
    return f"Where is the {name}?", None, _clip(xy)


def shapes_apart(rng, scene):
    _, objects = scene
    i, j = rng.permutation(len(objects))[:2]
    (na, a), (nb, b) = objects[i], objects[j]
    return f"How far is the {na} from the {nb}?", None, _clip(np.abs(b - a))


# name -> (function, scene kind); the scene is the image and, for grounding, what it shows
SKILLS = {
    "copy": (copy, "any"),
    "add": (add, "any"),
    "offset": (offset, "any"),
    "sort": (sort, "any"),
    "extreme": (extreme, "any"),
    "interpolate": (interpolate, "any"),
    "pusht_block": (pusht_block, "pusht"),
    "pusht_agent": (pusht_agent, "pusht"),
    "pusht_angle": (pusht_angle, "pusht"),
    "pusht_offset": (pusht_offset, "pusht"),
    "shapes_where": (shapes_where, "shapes1"),
    "shapes_apart": (shapes_apart, "shapes2"),
}
# answers measured on a circle of 512 (the block's angle): evaluation takes the shorter way round
CIRCULAR = frozenset({"pusht_angle"})
# sampling weights. A first run with all skills weighted about equally (copy 1/12 of the data)
# learnt none of them in 1,900 steps of batch 16 (docs/tiny-learning.md): on 2 cores each skill
# needs thousands of examples, so the mixture keeps what the PushT policy reads and writes
# (copying the state, paths between two points, offsets, where the block and the agent are) and
# samples the rest rarely.
MIXTURE = {
    "copy": 2.0,
    "add": 0.25,
    "offset": 1.0,
    "sort": 0.1,
    "extreme": 0.1,
    "interpolate": 1.0,
    "pusht_block": 2.0,
    "pusht_agent": 1.0,
    "pusht_angle": 0.25,
    "pusht_offset": 2.0,
    "shapes_where": 1.0,
    "shapes_apart": 0.1,
}


# The first steps teach only reading and writing numbers (docs/tiny-learning.md: copying the
# state is learnt from scratch in a few hundred steps, while a full mixture sat on a plateau
# for 2,000); the other skills reuse that circuit.
FIRST_MIXTURE = {"copy": 3.0, "offset": 1.0, "interpolate": 1.0}
FIRST_STEPS = 600


class Generator:
    """Endless seeded stream of :class:`Example`; batch ``k`` depends only on (seed, k).

    Args:
        seed: the run's seed.
        mixture: skill -> sampling weight (default :data:`MIXTURE`).
        first_mixture: the mixture of batches ``0 .. first_steps - 1`` (default :data:`FIRST_MIXTURE`).
        first_steps: how many batches use ``first_mixture``.
    """

    def __init__(
        self,
        seed: int,
        mixture: dict[str, float] | None = None,
        first_mixture: dict[str, float] | None = None,
        first_steps: int = FIRST_STEPS,
    ):
        self.seed, self.first_steps = seed, first_steps
        self.mixture = dict(MIXTURE if mixture is None else mixture)
        self.first_mixture = dict(FIRST_MIXTURE if first_mixture is None else first_mixture)
        unknown = (set(self.mixture) | set(self.first_mixture)) - set(SKILLS)
        if unknown:
            raise ValueError(f"unknown skills {sorted(unknown)}; known: {sorted(SKILLS)}")
        self.names = list(self.mixture)
        self._pusht: PushTScenes | None = None

    @staticmethod
    def _probs(mixture: dict[str, float]) -> tuple[list[str], np.ndarray]:
        w = np.array(list(mixture.values()), dtype=np.float64)
        return list(mixture), w / w.sum()

    @property
    def pusht(self) -> PushTScenes:
        if self._pusht is None:
            self._pusht = PushTScenes()
        return self._pusht

    def example(self, skill: str, rng: np.random.Generator) -> Example:
        fn, kind = SKILLS[skill]
        if kind == "pusht" or (kind == "any" and rng.random() < 0.5):
            scene = self.pusht.frame(rng)
            image = random_crop(scene[0], rng)
        else:
            scene = shapes_scene(rng, {"shapes1": rng.integers(1, 4), "shapes2": rng.integers(2, 4)}.get(kind, 2))
            image = scene[0]
        task, state, answer = fn(rng, scene)
        return Example(skill, task, state, answer, image)

    def batch(self, index: int, size: int) -> list[Example]:
        """Training batch number ``index``."""
        rng = np.random.default_rng([self.seed, index])
        names, probs = self._probs(self.first_mixture if index < self.first_steps else self.mixture)
        skills = rng.choice(len(names), size=size, p=probs)
        return [self.example(names[s], rng) for s in skills]

    def eval_set(self, skill: str, size: int, seed: int) -> list[Example]:
        """``size`` fresh examples of one skill from a seed no training batch uses."""
        rng = np.random.default_rng([seed, 1_000_003, list(SKILLS).index(skill)])
        return [self.example(skill, rng) for _ in range(size)]
