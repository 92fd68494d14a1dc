"""LeRobot's ``lerobot-train``, with one exit made safe for data-parallel runs on CPUs.

``python -m vla0_smol.lerobot_train <lerobot-train arguments>`` runs LeRobot's own entry point
unchanged. The one difference is at the very end of a run on several processes with the gloo
backend (CPUs: ``accelerate launch --multi_gpu ... --policy.device=cpu``, or
:func:`vla0_smol.training.run_lerobot_train` with ``processes > 1``). There, when ``train()``
returns, Python frees the DDP reducer while gloo's worker thread may still be releasing the last
barrier's tensors. The reducer's destructor joins that thread with the GIL held and the thread
waits for the GIL, so the process never exits. This was seen with torch 2.11 under load: the
checkpoint written, one of two workers stuck in ``~ProcessGroupGloo`` (pytorch/pytorch#56297
describes the pattern). :func:`exit_after_training_on_gloo` ends such a process with ``os._exit(0)``
once LeRobot's ``accelerator.end_training()``, the last statement of its ``train()``, has
returned, after finishing wandb and flushing logs and streams. On GPUs (NCCL) and in a single
process it changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys


def _exit_now() -> None:
    """Finish what Python's shutdown would have finished, then leave without it."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
    logging.shutdown()  # flushes and closes every handler (LeRobot's log, metrics.jsonl)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@contextlib.contextmanager
def exit_after_training_on_gloo():
    """Within: a gloo process group's process exits right after ``Accelerator.end_training``."""
    from accelerate import Accelerator

    original = Accelerator.end_training

    def end_training(self, *args, **kwargs):
        import torch.distributed as dist

        gloo = dist.is_available() and dist.is_initialized() and dist.get_backend() == "gloo"
        original(self, *args, **kwargs)  # destroys the process group (not the reducer's reference to it)
        if gloo:
            _exit_now()

    Accelerator.end_training = end_training
    try:
        yield
    finally:
        Accelerator.end_training = original


def main() -> None:
    from lerobot.scripts import lerobot_train

    with exit_after_training_on_gloo():
        lerobot_train.main()


if __name__ == "__main__":
    main()
