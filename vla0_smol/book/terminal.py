"""A readable terminal for ``make demo``: the video backend chosen once, third-party noise filtered.

Without this, every LeRobot dataset that is opened tries ``import torchcodec``; where FFmpeg's
shared libraries are missing, each attempt logs five tracebacks (one per FFmpeg version) before
LeRobot falls back to PyAV, and importing gym-pusht makes pygame warn that ``pkg_resources`` is
deprecated. Neither says anything about the run. :func:`quiet_terminal` probes torchcodec once,
says in one line which backend decodes videos, and filters exactly those messages: every other
warning and log record is still shown.
"""

from __future__ import annotations

import logging
import sys
import warnings

_FALLBACK_NOTICES = ("'torchcodec' is not available", "'torchcodec' is installed but cannot be loaded")


def choose_video_backend() -> tuple[str, str]:
    """``("torchcodec" | "pyav", why)``: torchcodec where it loads FFmpeg, else PyAV.

    When torchcodec cannot load, it is marked absent for this process (``sys.modules`` entry
    ``None``), so LeRobot and transformers pick PyAV without trying the import again.
    """
    import importlib.util

    if sys.modules.get("torchcodec", False) is None:
        return "pyav", "torchcodec was ruled out earlier in this process"
    if importlib.util.find_spec("torchcodec") is None:
        return "pyav", "torchcodec is not installed"
    try:
        import torchcodec  # noqa: F401 - loads libtorchcodec and FFmpeg's shared libraries
    except (ImportError, OSError, RuntimeError) as err:
        missing = next((w for w in str(err).split() if w.startswith("libav") and ".so" in w), None)
        _rule_out_torchcodec()
        why = "torchcodec cannot load FFmpeg's shared libraries"
        return "pyav", why + (f" ({missing.rstrip(':')} not found)" if missing else "")
    return "torchcodec", "FFmpeg's shared libraries load"


def _rule_out_torchcodec() -> None:
    """``import torchcodec`` fails fast from now on; libraries that already looked for it are told."""
    sys.modules["torchcodec"] = None  # type: ignore[assignment]  # import torchcodec -> ImportError
    if "datasets.config" in sys.modules:  # read at import: find_spec said yes
        sys.modules["datasets.config"].TORCHCODEC_AVAILABLE = False


class _DropFallbackNotice(logging.Filter):
    """Drops LeRobot's per-dataset "falling back to pyav" record (said once by :func:`quiet_terminal`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in record.getMessage() for n in _FALLBACK_NOTICES)


def quiet_terminal(say=print) -> str:
    """Choose the video backend (said in one line) and filter the known third-party noise.

    Returns the backend. Filtered: pygame's ``pkg_resources`` deprecation warning and LeRobot's
    torchcodec fallback notice; nothing else.
    """
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    logging.getLogger("lerobot.utils.import_utils").addFilter(_DropFallbackNotice())
    backend, why = choose_video_backend()
    say(f"video decoding: {'torchcodec' if backend == 'torchcodec' else 'PyAV'} ({why})")
    return backend
