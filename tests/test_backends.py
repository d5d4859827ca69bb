"""The portable helpers' tests (``tests/portable``) pass on the JAX and PyTorch backends too.

Keras picks its backend when it is first imported, so each backend runs in its own
process: ``KERAS_BACKEND=<backend> python -m pytest tests/portable``. This process runs
the same tests on TensorFlow. A backend that is not installed is skipped, unless
``ALEXNET_ALL_BACKENDS=1`` (CI sets it), where a missing backend fails.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.backends


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_portable_tests_pass_on(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        if os.environ.get("ALEXNET_ALL_BACKENDS") == "1":
            pytest.fail(f"{backend} is not installed: pip install -r requirements-backends.txt")
        pytest.skip(f"{backend} is not installed (pip install -r requirements-backends.txt)")
    env = {**os.environ, "KERAS_BACKEND": backend}
    command = [sys.executable, "-m", "pytest", "tests/portable", "-q", "-p", "no:cacheprovider",
               "-o", "addopts=", "--durations=5"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"tests/portable on {backend}: {seconds:.0f} s\n{result.stdout[-3000:]}")
    assert result.returncode == 0, f"on {backend}:\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
