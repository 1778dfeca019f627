import os
import shutil
import sys

import pytest

ANALYSIS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ANALYSIS)
REPO = os.path.dirname(ANALYSIS)


@pytest.fixture(scope="session")
def epbench_exe():
    """The epbench executable: $EPBENCH (set by ctest), else the default build."""
    exe = os.environ.get("EPBENCH") or os.path.join(REPO, "build", "default", "src", "epbench")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        pytest.fail(f"epbench executable not found at {exe}: build it or set EPBENCH")
    return exe
