"""Entry point LeRobot imports for third-party policies (distributions named ``lerobot_policy_*``).

Importing it registers the ``vla0_smol`` policy type with LeRobot's config registry.
"""

import vla0_smol  # noqa: F401
