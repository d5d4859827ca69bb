"""The portable helpers' tests (``tests/portable``) pass on the JAX and PyTorch backends too.

Keras picks its backend when it is first imported, so each backend runs in its own
process: ``KERAS_BACKEND=<backend> python -m pytest tests/portable``. This process runs
the same tests on TensorFlow. A backend that is not installed is skipped, unless
``ALEXNET_ALL_BACKENDS=1`` (CI sets it), where a missing backend fails.
"""

from __future__ import annotations

import importlib.util
import json
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


TRAIN_AND_SAVE = """
import sys
import numpy as np
from helpers.augment import PaperAugmentation
from helpers.data import ImageBatches, Split
from helpers.model import build_alexnet
from helpers.train import train_model
import keras

folder = sys.argv[1]
rng = np.random.default_rng(0)
split = Split(rng.integers(0, 256, (16, 77, 77, 3), dtype=np.uint8), np.arange(16) % 4, [])
stage = lambda: PaperAugmentation(67, 77, seed=1).set_statistics(
    split.images.mean(axis=0), np.full(3, 1e-3), np.eye(3))
build = lambda: build_alexnet(4, 67, "paper", input_stage=stage())
result = train_model(build, ImageBatches(split, 8, shuffle=True),
                     ImageBatches(split, 8, shuffle=False), run_name="x",
                     directory=f"{folder}/run-{keras.backend.backend()}", epochs=1, verbose=0)
result.model.save_weights(f"{folder}/{keras.backend.backend()}.weights.h5")
logits = keras.ops.convert_to_numpy(result.model(split.images, training=False))
np.save(f"{folder}/{keras.backend.backend()}-logits.npy", logits)
"""

LOAD_AND_COMPARE = """
import json, sys
import numpy as np
from helpers.augment import PaperAugmentation
from helpers.layers import relative_error
from helpers.model import build_alexnet
import keras

folder, sources = sys.argv[1], sys.argv[2].split(",")
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (16, 77, 77, 3), dtype=np.uint8)
model = build_alexnet(4, 67, "paper", input_stage=PaperAugmentation(67, 77, seed=1))
differences = {}
for source in sources:
    model.load_weights(f"{folder}/{source}.weights.h5")
    logits = keras.ops.convert_to_numpy(model(images, training=False))
    differences[source] = relative_error(logits, np.load(f"{folder}/{source}-logits.npy"))
print(json.dumps(differences))
"""


def test_weights_trained_on_one_backend_give_the_same_logits_on_the_others(tmp_path):
    backends = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)]
    if len(backends) < 3 and os.environ.get("ALEXNET_ALL_BACKENDS") == "1":
        pytest.fail(f"only {backends} are installed: pip install -r requirements-backends.txt")
    if len(backends) < 2:
        pytest.skip("needs two backends")

    def run(script: str, backend: str, *args: str) -> str:
        result = subprocess.run([sys.executable, "-c", script, str(tmp_path), *args],
                                cwd=REPO_ROOT, env={**os.environ, "KERAS_BACKEND": backend,
                                     "ALEXNET_PRECISION": "float32"},
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{backend}:\n{result.stderr[-4000:]}"
        return result.stdout

    for backend in backends:
        run(TRAIN_AND_SAVE, backend)
    for backend in backends:
        others = [b for b in backends if b != backend]
        differences = json.loads(run(LOAD_AND_COMPARE, backend, ",".join(others)).splitlines()[-1])
        assert set(differences) == set(others)
        for source, difference in differences.items():
            assert difference < 1e-5, f"{source} weights on {backend}: relative difference {difference}"
