"""PushT (gym-pusht): the blog's ablation benchmark, readable (or deletable) as this one folder.

* ``task``: the T, its goal and coverage; the ``lerobot/pusht`` dataset format.
* ``physics``: a private copy of gym-pusht's physics (planning, replaying).
* ``expert``: the scripted expert's planner; ``demos``: its episodes written as a LeRobotDataset.
* ``human``: the original human demonstrations (zarr) converted to the same format.
* ``profiles``: ``smoke``, ``cpu``, ``full``; ``pipeline``: data -> train -> evaluate, cached on disk.
* ``evaluation``: batched, seeded rollouts (success rate, mean max coverage, videos); ``checkpoints``:
  every saved checkpoint of a run evaluated on the same seeds, the best and the last reported.
"""
