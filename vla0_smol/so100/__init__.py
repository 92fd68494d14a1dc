"""SO100/SO101: fine-tune on an arm's dataset and deploy on the arm, readable (or deletable) as this one folder.

* ``profiles``: the blog's recipe adapted to the arm (``smoke``, ``cpu``, ``full``).
* ``dataset``: a dataset of the arm's shape recorded on the simulated arm; ``pipeline``: data -> ``lerobot-train``.
* ``deploy``: the asynchronous, clamped, stoppable control loop (``run_policy``).
* ``arm``: the trained policy loaded for it, a connected arm (simulated or real), calibration, review.
* ``preflight``: checks before torque goes on; ``panel``: the live panel (Start / Stop, cameras, joints,
  counters); ``replay``: the recorded episode replayed and summarised.
* ``sim``: LeRobot's ``SO100Follower`` on an emulated Feetech bus and video-file cameras (no hardware).
"""
