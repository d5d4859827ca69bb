"""Two devices on one CPU: the paper's two-GPU split and data parallelism (``helpers.distribute``).

Each check runs in a fresh process that sees two virtual CPU devices: JAX's host platform
device count, TensorFlow's logical CPU devices. A backend that is not installed is
skipped (unless ``ALEXNET_ALL_BACKENDS=1``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT


def needs(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        if os.environ.get("ALEXNET_ALL_BACKENDS") == "1":
            pytest.fail(f"{backend} is not installed: pip install -r requirements-backends.txt")
        pytest.skip(f"{backend} is not installed")


def run(script: str, env: dict[str, str]) -> dict:
    """Run ``script`` in a fresh Python with ``env``; it prints one JSON line last."""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT,
                            env={**os.environ, **env}, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_two_gpu_split_puts_half_of_every_layer_on_each_device_and_changes_nothing():
    needs("jax")
    from helpers.distribute import run_two_gpu_report

    report = run_two_gpu_report(num_classes=10, input_size=67)
    placement = report["placement"]
    assert list(placement.columns) == ["kernel", "on cpu:0", "on cpu:1"]
    assert placement.loc["conv2", "kernel"] == "(5, 5, 48, 256)"
    for device in ("on cpu:0", "on cpu:1"):  # §3.2: half of the kernels (or neurons) each
        assert placement.loc["conv2", device] == "(5, 5, 48, 128)"
        assert placement.loc["conv3", device] == "(3, 3, 256, 192)"
        assert placement.loc["fc7", device] == "(4096, 2048)"
        assert placement.loc["fc8", device] == "(4096, 10)"  # copied: 10 classes
    assert report["max_logit_difference"] <= 1e-5 * max(1.0, report["max_logit"])
    assert report["communication"].get("conv3", 0) >= 1, "conv3 reads both towers' maps"
    assert report["communication"].get("fc6", 0) >= 1, "fc6 reads both towers' maps"


DATA_PARALLEL = """
import json, os, sys
import numpy as np
import keras
from helpers.data import ImageBatches, Split
from helpers.distribute import data_parallel
from helpers.model import build_alexnet
from helpers.seeding import set_seed
from helpers.train import train_model
{setup}
rng = np.random.default_rng(0)
split = Split(rng.integers(0, 256, (64, 77, 77, 3), dtype=np.uint8), np.arange(64) % 4, [])


def build():
    from helpers.augment import PaperAugmentation
    first = PaperAugmentation(67, 77, augment=False)  # no random crops: same images everywhere
    return build_alexnet(4, 67, "paper", dropout_rate=0.0, input_stage=first)


weights = {{}}
for name, parallel in (("one", False), ("two", True)):
    set_seed(1)
    result = train_model(build, ImageBatches(split, 32, shuffle=True),
                         ImageBatches(split, 32, shuffle=False), run_name=name,
                         directory=os.path.join(sys.argv[1] if len(sys.argv) > 1 else "/tmp",
                                                name), epochs=1, resume=False, verbose=0,
                         data_parallel=parallel)
    weights[name] = [np.asarray(w) for w in result.model.get_weights()]
diff = max(float(np.abs(a - b).max()) for a, b in zip(weights["one"], weights["two"]))
size = max(float(np.abs(a).max()) for a in weights["one"])
print(json.dumps({{"difference": diff, "size": size,
                   "devices": len(keras.distribution.list_devices())}}))
"""

TF_TWO_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_data_parallel_epoch_on_two_devices_equals_one_device(backend, tmp_path):
    needs(backend)
    env = {"KERAS_BACKEND": backend}
    setup = TF_TWO_CPUS if backend == "tensorflow" else ""
    if backend == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    script = DATA_PARALLEL.format(setup=setup).replace('"/tmp"', repr(str(tmp_path)))
    report = run(script, env)
    assert report["devices"] == 2
    assert report["difference"] <= 1e-4 * report["size"], report
