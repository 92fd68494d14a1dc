"""A scripted PushT expert: plan each push in a private copy of the physics, then execute it.

The expert sees only the 5-number state (agent x, y; block x, y, angle), read from the
observation's ``agent_pos`` and ``info["block_pose"]``. It never touches the live environment:
it plans in its own pymunk world built like gym-pusht's (:class:`~vla0_smol.pusht.physics.PushTPhysics`).
Episodes and datasets of its demonstrations are made by :mod:`vla0_smol.pusht.demos`.

Algorithm, one push at a time:
1. Cost ``J`` = mean distance (px) between the T's 8 outline corners now and at the goal.
2. Candidate pushes, in the block frame: points every ~10 px along each edge, pushed along the
   inward normal (kept when a disc touching there misses the T), and 3 blends of the inward
   normals at each of the 6 outer corners.
3. For each candidate, start ``standoff`` px behind the contact point and simulate pushes of
   1..14 steps at ``speed = clip(0.25 J, 2, 10)`` px/step (plus 2 steps holding the target);
   keep the (candidate, length) with the lowest ``J + 0.01 * travel``. If no push gains 0.05 px,
   nudge the agent 20 px in a random direction instead.
4. Travel to the start point in a straight line when it keeps clear of the T, else around a
   circle about the block's centre of gravity; wait 2 steps, push, hold 2 steps; re-plan.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .physics import AGENT_RADIUS, TEE_COG, PushTPhysics
from .task import GOAL_POSE, TEE_OUTLINE, tee_corners

GOAL_CORNERS = tee_corners(GOAL_POSE)  # (8, 2)


@dataclass
class ExpertConfig:
    """Settings of ``PushTExpert`` (defaults: the prototype that solved 250/250 seeds)."""

    # --- candidate pushes ---
    edge_spacing: float = 10.0  # px between candidate contact points along an edge
    corner_blends: tuple[float, ...] = (0.25, 0.5, 0.75)  # weights mixing a corner's two inward normals
    # --- planning in the private physics ---
    standoff: float = 20.0  # px between the contact point and the push's start point
    max_push_steps: int = 14  # longest push simulated, in env steps
    settle_steps: int = 2  # steps waiting at the start point before pushing
    hold_steps: int = 2  # steps holding the last target after a push (the agent lags ~0.2 s)
    speed_gain: float = 0.25  # push speed = clip(speed_gain * J, min_speed, max_speed) px/step
    min_speed: float = 2.0  # px/step
    max_speed: float = 10.0  # px/step
    travel_weight: float = 0.01  # cost per px between the agent and a push's start point
    min_gain: float = 0.05  # px of J a push must gain, otherwise a random nudge
    nudge: float = 20.0  # px, length of a random nudge
    # --- travel ---
    clearance: float = 18.0  # px a straight path must keep from the T
    orbit_radius: float = 102.0  # px, circle about the centre of gravity used to go round the T
    orbit_step_deg: float = 22.5  # largest angular step along that circle
    backoff: float = 25.0  # px to back away first when the agent is closer than `clearance`
    max_move: float = 30.0  # px the target moves at most per step while travelling
    bounds: tuple[float, float] = (22.0, 490.0)  # box (both axes) a start point must lie in
    # --- variety ---
    top_k: int = 1  # pick uniformly among the k best pushes (1: always the best, fully deterministic)

    def __post_init__(self):
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.max_push_steps < 1:
            raise ValueError(f"max_push_steps must be >= 1, got {self.max_push_steps}")
        if not 0 < self.min_speed <= self.max_speed:
            raise ValueError(f"need 0 < min_speed <= max_speed, got {self.min_speed}, {self.max_speed}")


def tee_cost(block_pose) -> float:
    """``J``: mean distance (px) between the T's outline corners at ``block_pose`` and at the goal."""
    return float(np.linalg.norm(tee_corners(block_pose) - GOAL_CORNERS, axis=1).mean())


# ----------------------------------------------------------------------------- geometry helpers
def _point_segment_distance(p, a, b) -> float:
    ab, ap = b - a, p - a
    t = min(max(float(ap @ ab) / max(float(ab @ ab), 1e-12), 0.0), 1.0)
    return float(np.hypot(*(ap - t * ab)))


def _inside(p, poly) -> bool:
    """Even-odd test: is point ``p`` inside polygon ``poly`` (n, 2)?"""
    x, y, inside = p[0], p[1], False
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _cross(o, a, b) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _segment_polygon_distance(a, b, poly) -> float:
    """Distance from segment ``ab`` to polygon ``poly`` (0 when they touch or ``a`` lies inside)."""
    if _inside(a, poly):
        return 0.0
    best = math.inf
    for c, d in zip(poly, np.roll(poly, -1, axis=0)):
        d1, d2, d3, d4 = _cross(c, d, a), _cross(c, d, b), _cross(a, b, c), _cross(a, b, d)
        if d1 * d2 < 0 and d3 * d4 < 0:
            return 0.0
        best = min(
            best,
            _point_segment_distance(a, c, d),
            _point_segment_distance(b, c, d),
            _point_segment_distance(c, a, b),
            _point_segment_distance(d, a, b),
        )
    return best


def candidate_pushes(cfg: ExpertConfig) -> tuple[np.ndarray, np.ndarray]:
    """Contact points (M, 2) and unit push directions (M, 2), in the block frame."""
    poly, points, dirs = TEE_OUTLINE, [], []
    edges = np.roll(poly, -1, axis=0) - poly  # (8, 2), counter-clockwise
    normals = np.stack([edges[:, 1], -edges[:, 0]], 1) / np.linalg.norm(edges, axis=1, keepdims=True)  # outward
    for i, (start, edge) in enumerate(zip(poly, edges)):
        m = max(1, round(float(np.linalg.norm(edge)) / cfg.edge_spacing))
        for j in range(m):
            p = start + edge * (j + 0.5) / m
            disc = p + normals[i] * AGENT_RADIUS
            clear = min(_point_segment_distance(disc, c, c + e) for c, e in zip(poly, edges))
            if clear >= AGENT_RADIUS - 1e-6 and not _inside(disc, poly):
                points.append(p)
                dirs.append(-normals[i])
    for i in range(len(poly)):
        if _cross(poly[i - 1], poly[i], poly[(i + 1) % len(poly)]) <= 0:
            continue  # a concave corner: nothing can push there
        for w in cfg.corner_blends:
            d = -(w * normals[i - 1] + (1 - w) * normals[i])
            points.append(poly[i].copy())
            dirs.append(d / np.linalg.norm(d))
    return np.array(points), np.array(dirs)


@dataclass
class Push:
    """A planned push, in world coordinates."""

    start: np.ndarray  # (2,) where the agent waits before pushing
    direction: np.ndarray  # (2,) unit push direction
    speed: float  # px per step
    steps: int  # push length in env steps
    cost: float  # predicted J after the push


class PushTExpert:
    """Scripted PushT expert with a ``reset()`` + ``act()`` interface.

    Deterministic given the seed passed to ``reset`` (the seed drives nudges and ``top_k`` picks).

    Args:
        config: settings; None for the defaults.
        **overrides: fields of ``ExpertConfig`` to change, e.g. ``top_k=3`` for varied demonstrations.
    """

    def __init__(self, config: ExpertConfig | None = None, **overrides):
        self.config = dataclasses.replace(config or ExpertConfig(), **overrides)
        self.contacts, self.directions = candidate_pushes(self.config)  # (M, 2), (M, 2) block frame
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; ``seed`` makes the expert's random choices reproducible."""
        self.rng = np.random.default_rng(seed)
        self.physics = PushTPhysics()  # fresh contact caches: same seed, same plans
        self.queue: deque[np.ndarray] = deque()
        self.plans, self.plan_seconds = 0, 0.0

    def act(self, obs, info: Mapping) -> np.ndarray:
        """Next target (2,) float32, from the observation's ``agent_pos`` and ``info["block_pose"]``."""
        agent, block = read_state(obs, info)
        if not self.queue:
            t0 = time.perf_counter()
            self.queue.extend(self._next_targets(agent, block))
            self.plan_seconds += time.perf_counter() - t0
            self.plans += 1
        return np.clip(self.queue.popleft(), 0.0, 512.0).astype(np.float32)

    # --------------------------------------------------------------------------- planning
    def plan(self, agent: np.ndarray, block: np.ndarray) -> list[Push]:
        """Candidate pushes simulated from this state, best first (only those that gain ``min_gain``)."""
        cfg, sim = self.config, self.physics
        j0 = tee_cost(block)
        speed = float(np.clip(cfg.speed_gain * j0, cfg.min_speed, cfg.max_speed))
        c, s = math.cos(block[2]), math.sin(block[2])
        rot = np.array([[c, -s], [s, c]])
        contacts = self.contacts @ rot.T + block[:2]  # (M, 2) world
        directions = self.directions @ rot.T  # (M, 2)
        lo, hi = cfg.bounds
        pushes = []
        for contact, d in zip(contacts, directions):
            start = contact - d * cfg.standoff
            if not (lo <= start[0] <= hi and lo <= start[1] <= hi):
                continue
            travel = cfg.travel_weight * float(np.linalg.norm(start - agent))
            sim.set_state(start, block)
            best = None
            for k in range(1, cfg.max_push_steps + 1):
                target = start + d * speed * k
                sim.step(target)
                snap = sim.snapshot()
                for _ in range(cfg.hold_steps):
                    sim.step(target)
                j = tee_cost(sim.block_pose())
                if best is None or j < best.cost:
                    best = Push(start, d, speed, k, j)
                sim.restore(snap)
            if best.cost <= j0 - cfg.min_gain:
                pushes.append((best.cost + travel, len(pushes), best))
        return [p for _, _, p in sorted(pushes, key=lambda x: x[:2])]

    def _next_targets(self, agent: np.ndarray, block: np.ndarray) -> list[np.ndarray]:
        cfg = self.config
        pushes = self.plan(agent, block)
        if not pushes:  # stuck: a small random move changes the contact situation
            angle = self.rng.uniform(0, 2 * math.pi)
            return [agent + cfg.nudge * np.array([math.cos(angle), math.sin(angle)])]
        push = pushes[int(self.rng.integers(min(cfg.top_k, len(pushes))))] if cfg.top_k > 1 else pushes[0]
        targets = self._travel(agent, push.start, block)
        targets += [push.start] * cfg.settle_steps
        targets += [push.start + push.direction * push.speed * k for k in range(1, push.steps + 1)]
        targets += [targets[-1]] * cfg.hold_steps
        return targets

    def _travel(self, agent: np.ndarray, goal: np.ndarray, block: np.ndarray) -> list[np.ndarray]:
        """Targets leading the agent to ``goal`` without touching the T (at most ``max_move`` px apart)."""
        cfg = self.config
        poly = tee_corners(block)  # (8, 2)
        # a start point next to a concave corner lies nearer than `clearance`: approach it no closer
        clear = min(cfg.clearance, _segment_polygon_distance(goal, goal, poly) - 0.5)
        waypoints = [goal]
        if _segment_polygon_distance(agent, goal, poly) < clear:
            c, s = math.cos(block[2]), math.sin(block[2])
            cog = block[:2] + np.array([[c, -s], [s, c]]) @ TEE_COG
            start, waypoints = agent, []
            if _segment_polygon_distance(agent, agent, poly) < cfg.clearance:  # too close: back off first
                away = agent - cog
                start = agent + cfg.backoff * away / max(float(np.linalg.norm(away)), 1e-9)
                waypoints.append(start)
            phi0 = math.atan2(start[1] - cog[1], start[0] - cog[0])
            lo, hi = cfg.bounds
            options = []
            for sign in (1, -1):
                arc = []
                for i in range(int(360 / cfg.orbit_step_deg) + 1):
                    phi = phi0 + sign * math.radians(cfg.orbit_step_deg) * i
                    arc.append(cog + cfg.orbit_radius * np.array([math.cos(phi), math.sin(phi)]))
                    if _segment_polygon_distance(arc[-1], goal, poly) >= clear:
                        break
                outside = sum(not (lo <= p[0] <= hi and lo <= p[1] <= hi) for p in arc)
                options.append((outside, len(arc), arc))
            waypoints += min(options, key=lambda o: o[:2])[2] + [goal]
        targets, here = [], agent
        for w in waypoints:
            n = max(1, math.ceil(float(np.linalg.norm(w - here)) / cfg.max_move))
            targets += [here + (w - here) * i / n for i in range(1, n + 1)]
            here = w
        return targets


def read_state(obs, info: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """Agent position (2,) and block pose (3,) from a gym-pusht observation and info dict."""
    if isinstance(obs, Mapping) and "agent_pos" in obs:
        agent = np.asarray(obs["agent_pos"], dtype=np.float64)
    elif np.shape(obs) == (5,):  # obs_type="state": agent x, y, block x, y, angle
        agent = np.asarray(obs[:2], dtype=np.float64)
    else:
        raise ValueError("obs must hold 'agent_pos' (obs_type='pixels_agent_pos') or be the 5-number state")
    if "block_pose" in info:
        block = np.asarray(info["block_pose"], dtype=np.float64)
    elif np.shape(obs) == (5,):
        block = np.asarray(obs[2:], dtype=np.float64)
    else:
        raise ValueError("info must hold 'block_pose' (gym-pusht's info dict), the expert needs the block's pose")
    return agent, block
