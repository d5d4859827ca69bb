"""On JAX and PyTorch the helpers never import TensorFlow (its wheel is too large to carry).

The check runs in a fresh process in which TensorFlow cannot be imported at all, as on a
machine without it: every helper module is imported and a tiny AlexNet trains one epoch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import helpers
import keras
import pytest

SCRIPT = """
import sys

sys.modules["tensorflow"] = None  # `import tensorflow` now fails, as where it is not installed
import importlib, pkgutil
import numpy as np
import helpers
modules = [m.name for m in pkgutil.iter_modules(helpers.__path__)]
for name in modules:  # every helper module, the ones added later too
    importlib.import_module(f"helpers.{name}")
print("imported", len(modules), "helper modules")
from helpers.augment import PaperAugmentation
from helpers.data import ImageBatches, Split
from helpers.model import build_alexnet
from helpers.train import train_model

helpers.set_seed()
helpers.profile.describe()
rng = np.random.default_rng(0)
split = Split(rng.integers(0, 255, (8, 77, 77, 3), dtype=np.uint8), np.arange(8) % 2, [])
stage = lambda: PaperAugmentation(67, 77, seed=1)
build = lambda: build_alexnet(2, 67, "paper", input_stage=stage())
train_model(build, ImageBatches(split, 4, shuffle=True), ImageBatches(split, 4, shuffle=False),
            run_name="no-tf", directory=sys.argv[1], epochs=1, verbose=0)
print("tensorflow imported:", sys.modules["tensorflow"] is not None)
"""


def test_helpers_do_not_import_tensorflow(tmp_path):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        pytest.skip("TensorFlow is the backend of this process")
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "tensorflow imported: False" in result.stdout, result.stdout
    helper_files = [p for p in Path(helpers.__file__).parent.glob("*.py")
                    if p.name != "__init__.py"]
    assert f"imported {len(helper_files)} helper modules" in result.stdout, result.stdout
