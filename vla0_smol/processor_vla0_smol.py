"""Pre- and post-processors of the ``vla0_smol`` policy (LeRobot's pipeline steps).

The policy bins state and actions itself from their raw values (so that relative actions are
formed in raw units), and returns raw absolute actions; the pipelines therefore only rename,
batch and move tensors. Images stay in [0, 1]; the policy crops, resizes and normalises them.

LeRobot's (un)normaliser steps are kept, with the IDENTITY mapping of the config, because
``lerobot-train`` addresses them by name when it resumes or fine-tunes a checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch
from lerobot.processor import PolicyAction, PolicyProcessorPipeline, make_policy_processor_pipelines
from lerobot.processor.factory import make_default_policy_processor_steps

from .configuration_vla0_smol import VLA0SmolConfig


def make_vla0_smol_pre_post_processors(
    config: VLA0SmolConfig,
    dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None,
) -> tuple[
    PolicyProcessorPipeline[dict[str, Any], dict[str, Any]],
    PolicyProcessorPipeline[PolicyAction, PolicyAction],
]:
    """Pipelines: rename -> add batch dim -> device -> (identity) normalise; the reverse out."""
    steps = make_default_policy_processor_steps(config, dataset_stats)
    return make_policy_processor_pipelines(
        input_steps=[steps.rename_observations, steps.add_batch_dim, steps.to_device, steps.normalize],
        output_steps=[steps.unnormalize, steps.to_cpu],
    )
