"""A private copy of gym-pusht's physics, for planning (the expert) and for replaying (the converter).

Built like gym-pusht's own pymunk world (gym-pusht 0.1.8): four walls, a kinematic disc agent, the
T block. Facts it reproduces: ``space.damping = 0`` wipes velocities every 10 ms sub-step, so the
block moves only while pushed; contacts are frictionless; the agent is a radius-15 disc following
the action (a target point) with a PD law (kp=100, kv=20) over 10 sub-steps of 0.01 s.
"""

from __future__ import annotations

import numpy as np

TEE_COG = np.array([0.0, 45.0])  # centre of gravity of the T in the block frame
AGENT_RADIUS = 15.0
KP, KV, DT, SUBSTEPS = 100.0, 20.0, 0.01, 10  # gym-pusht's PD gains, sub-step and sub-steps per env step


class PushTPhysics:
    """A private pymunk world built like gym-pusht's: 4 walls, a kinematic disc agent, the T block."""

    def __init__(self):
        import pymunk

        self.space = space = pymunk.Space()
        space.gravity = (0, 0)
        space.damping = 0.0  # velocities vanish every sub-step, as in gym-pusht
        for a, b in [((5, 506), (5, 5)), ((5, 5), (506, 5)), ((506, 5), (506, 506)), ((5, 506), (506, 506))]:
            space.add(pymunk.Segment(space.static_body, a, b, 2))
        self.agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        space.add(self.agent, pymunk.Circle(self.agent, AGENT_RADIUS))
        bar = [(-60, 30), (60, 30), (60, 0), (-60, 0)]
        stem = [(-15, 30), (-15, 120), (15, 120), (15, 30)]
        self.block = pymunk.Body(1, 2 * pymunk.moment_for_poly(1, bar))  # gym-pusht counts the bar twice
        shapes = [pymunk.Poly(self.block, bar), pymunk.Poly(self.block, stem)]
        self.block.center_of_gravity = tuple(TEE_COG)
        space.add(self.block, *shapes)

    def set_state(self, agent_xy, block_pose, agent_vel=(0.0, 0.0), block_vel=(0.0, 0.0), block_spin=0.0):
        """Place the bodies; the block's angle is set before its position (it turns about its CoG)."""
        self.block.angle = float(block_pose[2])
        self.block.position = (float(block_pose[0]), float(block_pose[1]))
        self.block.velocity, self.block.angular_velocity = tuple(block_vel), float(block_spin)
        self.agent.position, self.agent.velocity = tuple(map(float, agent_xy)), tuple(map(float, agent_vel))

    def snapshot(self) -> tuple:
        b, a = self.block, self.agent
        return (a.position, (*b.position, b.angle), a.velocity, b.velocity, b.angular_velocity)

    def restore(self, snap: tuple) -> None:
        self.set_state(*snap)

    def block_pose(self) -> tuple[float, float, float]:
        return (*self.block.position, self.block.angle)

    def step(self, target) -> None:
        """One env step (0.1 s) towards ``target``: gym-pusht's PD law over 10 sub-steps."""
        tx, ty = float(target[0]), float(target[1])
        agent, space = self.agent, self.space
        for _ in range(SUBSTEPS):
            (px, py), (vx, vy) = agent.position, agent.velocity
            agent.velocity = (vx + (KP * (tx - px) - KV * vx) * DT, vy + (KP * (ty - py) - KV * vy) * DT)
            space.step(DT)
