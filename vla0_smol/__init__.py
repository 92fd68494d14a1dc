"""VLA-0 on SmolVLM2: actions as text, trained and run through LeRobot.

Importing the package registers the LeRobot policy type ``vla0_smol``.
"""

from .configuration_vla0_smol import VLA0SmolConfig
from .ensemble import ChunkQueue, TemporalEnsembler, ensemble_offline
from .grammar import ActionGrammar
from .masking import MaskingConfig, mask_actions
from .modeling_vla0_smol import VLA0SmolPolicy
from .processor_vla0_smol import make_vla0_smol_pre_post_processors
from .prompt import PromptBuilder
from .tokens import ActionTokenizer, BinTokenTable

__all__ = [
    "ActionGrammar",
    "ActionTokenizer",
    "BinTokenTable",
    "ChunkQueue",
    "MaskingConfig",
    "PromptBuilder",
    "TemporalEnsembler",
    "VLA0SmolConfig",
    "VLA0SmolPolicy",
    "ensemble_offline",
    "make_vla0_smol_pre_post_processors",
    "mask_actions",
]
