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
        assert placement.loc["fc8", device] == "(4096, 5)"  # half of the 10 classes
    assert report["max_logit_difference"] <= 1e-5 * max(1.0, report["max_logit"])
    talks = report["communication"]
    gathers = talks["all-gather"]
    # §3.2: conv3 and the fully connected layers read both towers' maps, nothing else
    assert gathers[gathers > 0].index.tolist() == ["conv3", "fc6", "fc7", "fc8"]
    assert (gathers[gathers > 0] == 1).all()
    # the book's LRN window crosses the towers' edge: one exchange of two maps each
    permutes = talks["collective-permute"]
    assert permutes[permutes > 0].to_dict() == {"lrn1": 1, "lrn2": 1}
    assert set(talks.columns) == {"all-gather", "collective-permute"}
    assert talks.loc[["conv1", "conv2", "conv4", "conv5", "pool5"]].to_numpy().sum() == 0


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

UNEVEN = """
import json, os, sys
import numpy as np
import keras
from helpers.data import ImageBatches, Split
from helpers.evaluate import predict, top_k_accuracy
from helpers.model import build_alexnet
from helpers.seeding import set_seed
from helpers.train import train_model

rng = np.random.default_rng(0)
images = rng.integers(0, 256, (104, 77, 77, 3), dtype=np.uint8)
train = Split(images[:69], np.arange(69) % 4, [])  # batches of 32, 32, 5: 5 is odd
val = Split(images[69:], np.arange(35) % 4, [])  # 32 and 3


def build():
    from helpers.augment import PaperAugmentation
    return build_alexnet(4, 67, "paper", input_stage=PaperAugmentation(67, 77, augment=False))


def run(name, epochs, resume):
    set_seed(1)
    return train_model(build, ImageBatches(train, 32, shuffle=True),
                       ImageBatches(val, 32, shuffle=False), run_name=name,
                       directory=os.path.join(FOLDER, name), epochs=epochs,
                       resume=resume, verbose=0, data_parallel=True)


whole = run("whole", 2, False)
run("halves", 1, False)
halves = run("halves", 2, True)  # resumed after its first epoch, on two devices again
weights = [(np.asarray(a), np.asarray(b)) for a, b in
           zip(whole.model.get_weights(), halves.model.get_weights())]
logits, labels = predict(whole.model, ImageBatches(val, 35, shuffle=False))
print(json.dumps({{
    "devices": len(keras.distribution.list_devices()),
    "resumed_at": halves.resumed_at,
    "difference": max(float(np.abs(a - b).max()) for a, b in weights),
    "size": max(float(np.abs(a).max()) for a, _ in weights),
    "val_accuracy": float(whole.history["val_accuracy"].iloc[-1]),
    "accuracy_of_model": top_k_accuracy(logits, labels),
    "val_loss": float(whole.history["val_loss"].iloc[-1]),
    "loss_of_model": float(keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    ).mean())}}))
"""


def test_data_parallel_on_jax_takes_batches_that_do_not_split_evenly_and_resumes(tmp_path):
    """69 training images in batches of 32 leave a last batch of 5, 35 validation images
    one of 3: two devices cannot split them evenly. Training drops the odd image, the
    validation batch is padded with weight 0, so every validation image counts once;
    a run interrupted after its first epoch resumes to the same weights."""
    needs("jax")
    env = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    script = UNEVEN.replace("FOLDER", repr(str(tmp_path))).replace("{{", "{").replace(
        "}}", "}")
    report = run(script, env)
    assert report["devices"] == 2
    assert report["resumed_at"] == 2
    assert report["difference"] <= 1e-5 * report["size"], report
    assert report["val_accuracy"] == pytest.approx(report["accuracy_of_model"], abs=1e-6)
    # the loss averages each batch over its real images; Keras then weighs the padded
    # last batch as 4 images, not 3: a difference of at most a few parts in a thousand
    assert report["val_loss"] == pytest.approx(report["loss_of_model"], rel=5e-3)


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
