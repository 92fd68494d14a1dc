"""``make demo``'s terminal: one line on the video backend, no third-party tracebacks or warnings."""

import logging
import warnings

import pytest

from vla0_smol.book.terminal import choose_video_backend, quiet_terminal


@pytest.mark.timeout(1200)
def test_demo_output_is_free_of_third_party_noise(smoke_demo):
    proc = smoke_demo.proc  # the smoke demo, run once for this test and test_demo.py
    assert proc.returncode == 0, proc.stderr[-3000:]
    both = proc.stdout + proc.stderr
    assert "Traceback" not in both, both[:3000]
    assert "pkg_resources" not in both and "libtorchcodec" not in both
    said = [line for line in proc.stdout.splitlines() if line.startswith("video decoding: ")]
    assert len(said) == 1 and ("PyAV" in said[0] or "torchcodec" in said[0])


def test_real_warnings_stay_visible(capsys):
    lines = []
    backend = quiet_terminal(say=lines.append)
    assert backend == choose_video_backend()[0] and len(lines) == 1
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        warnings.warn("pkg_resources is deprecated as an API", UserWarning, stacklevel=1)
        warnings.warn("a real problem", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["a real problem"]
    log = logging.getLogger("lerobot.utils.import_utils")
    kept = [f.filter(logging.makeLogRecord({"msg": "disk full"})) for f in log.filters]
    notice = logging.makeLogRecord({"msg": "'torchcodec' is not available in your platform"})
    dropped = [f.filter(notice) for f in log.filters]
    assert all(kept) and not any(dropped)
