"""Beyond one device: data parallelism, and the paper's two-GPU split (model parallel).

§3.2: "The parallelization scheme that we employ essentially puts half of the kernels
(or neurons) on each GPU, with one additional trick: the GPUs communicate only in
certain layers." ``two_gpu_layout`` writes the first half of that with the Keras
distribution API (JAX): every convolution keeps half of its kernels on each device, fc6
and fc7 half of their neurons. XLA's partitioner then inserts the transfers the layers
need. ``placement`` and ``communication`` read back where each kernel lives and which
layers make the devices talk.

``data_parallel`` is the everyday answer for several devices: every device holds the
whole model and a slice of each batch, and the gradients are averaged (TensorFlow's
``MirroredStrategy``, Keras' ``DataParallel`` on JAX). ``helpers.train.train_model``
takes it with one argument.

Taught in ``book/07_model.ipynb`` and ``book/08_training.ipynb``; checked by
``tests/test_distribute.py`` (two virtual CPU devices per backend).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import AbstractContextManager
from typing import Any

import keras
import numpy as np
import pandas as pd

COLLECTIVES = (
    "all-gather",
    "all-reduce",
    "reduce-scatter",
    "all-to-all",
    "collective-permute",
)
TWO_DEVICES_ENV = {
    "KERAS_BACKEND": "jax",
    # the host platform's device count applies to the CPU only: a JAX built for CUDA
    # would otherwise compute on the (single) GPU and see one device
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
}
"""A JAX process with two virtual CPU devices: the paper's two GPUs on any machine."""


def data_parallel(devices: list[str] | None = None) -> AbstractContextManager:
    """A scope to build, compile and fit a model on every device (or on ``devices``).

    Each device holds a full copy of the weights and computes the gradient of its slice
    of every batch; the slices' gradients are averaged, so a global batch of 128 on two
    devices makes the same update as 128 on one. TensorFlow: ``MirroredStrategy``;
    JAX: ``keras.distribution.DataParallel``.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(devices).scope()
    if backend == "jax":
        return keras.distribution.DataParallel(devices=devices).scope()
    raise ValueError(
        f"data_parallel: Keras has no multi-device engine for the {backend} "
        "backend; use KERAS_BACKEND=tensorflow or jax (or one device)"
    )


def two_gpu_layout(
    devices: list[str] | None = None,
) -> keras.distribution.ModelParallel:
    """§3.2's split across two devices, as a Keras ``ModelParallel`` distribution (JAX).

    Kernels and biases of conv1-conv5 are split along their kernels, fc6 and fc7 along
    their neurons: half on each device. fc8 and the input stage are copied to both.
    Build the paper variant inside ``two_gpu_layout().scope()``.
    """
    devices = devices or keras.distribution.list_devices()[:2]
    if len(devices) != 2:
        raise ValueError(
            f"two_gpu_layout: needs two devices, found {devices}; on a CPU start "
            "Python with XLA_FLAGS=--xla_force_host_platform_device_count=2"
        )
    mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], devices)
    layout = keras.distribution.LayoutMap(mesh)
    layout["conv[1-5]/kernel"] = (None, None, None, "model")  # half of the kernels each
    layout["conv[1-5]/bias"] = ("model",)
    layout["fc[67]/kernel"] = (None, "model")  # half of the neurons each
    layout["fc[67]/bias"] = ("model",)
    return keras.distribution.ModelParallel(layout_map=layout, batch_dim_name="batch")


def placement(model: keras.Model) -> pd.DataFrame:
    """Where each kernel lives: its shape, and the part each device holds (JAX only)."""
    rows = []
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        shards = {
            str(s.device): tuple(s.data.shape) for s in kernel.value.addressable_shards
        }
        rows.append(
            {
                "layer": layer.name,
                "kernel": tuple(kernel.shape),
                **{f"on {device}": shape for device, shape in shards.items()},
            }
        )
    return pd.DataFrame(rows).set_index("layer")


def communication(model: keras.Model, images: np.ndarray) -> pd.Series:
    """How many collective operations (device-to-device transfers) each layer's forward
    pass compiles to, read from the compiled program (JAX only)."""
    import jax

    def forward(trainable: list, non_trainable: list, x: Any) -> Any:
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    variables = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )
    program = jax.jit(forward).lower(*variables, images).compile().as_text()
    layers = []
    for line in program.splitlines():
        kind = next(
            (c for c in COLLECTIVES if f" {c}(" in line or f"{c}-start(" in line), None
        )
        name = re.search(r'op_name="[^"]*?/([a-z]+\d*)/', line)
        if kind and name:
            layers.append(name.group(1))
    counts = pd.Series(layers, dtype=str).value_counts()
    names = [layer.name for layer in model.layers]
    return counts.reindex([n for n in names if n in counts.index], fill_value=0).rename(
        "collective operations"
    )


def two_gpu_report(
    num_classes: int = 10, input_size: int = 67, seed: int = 2012
) -> dict:
    """The paper's network on two devices (§3.2): where it lives, where it talks.

    Also checks that its logits equal those of the grouped single-device model with the
    same weights. Runs in this process (which must be JAX with two devices).
    """
    from helpers.model import build_alexnet

    keras.utils.set_random_seed(seed)
    layout = two_gpu_layout()
    with layout.scope():
        towers = build_alexnet(num_classes, input_size, "paper")
    images = np.random.default_rng(seed).normal(0, 50, (4, input_size, input_size, 3))
    images = images.astype("float32")
    with layout.scope():
        split_logits = keras.ops.convert_to_numpy(towers(images, training=False))
        talks = communication(towers, images)
    one_device = build_alexnet(num_classes, input_size, "paper")
    one_device.set_weights([np.asarray(w) for w in towers.get_weights()])
    grouped_logits = keras.ops.convert_to_numpy(one_device(images, training=False))
    difference = float(np.abs(split_logits - grouped_logits).max())
    return {
        "placement": placement(towers).astype(str).to_dict(orient="split"),
        "communication": talks.to_dict(),
        "max_logit_difference": difference,
        "max_logit": float(np.abs(grouped_logits).max()),
        "bytes_per_device": bytes_per_device(towers),
        "bytes_one_device": int(sum(np.asarray(w).nbytes for w in towers.weights)),
    }


def bytes_per_device(model: keras.Model) -> dict[str, int]:
    """How many bytes of the model's variables each device holds (JAX only)."""
    held: dict[str, int] = {}
    for variable in model.weights:
        for shard in variable.value.addressable_shards:
            held[str(shard.device)] = held.get(str(shard.device), 0) + shard.data.nbytes
    return held


def run_two_gpu_report(**kwargs: Any) -> dict:
    """``two_gpu_report`` in a fresh JAX process with two virtual CPU devices."""
    command = [sys.executable, "-m", "helpers.distribute", json.dumps(kwargs)]
    result = subprocess.run(
        command, env={**os.environ, **TWO_DEVICES_ENV}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"run_two_gpu_report: the JAX process failed (is JAX installed? "
            f"pip install -r requirements.txt):\n{result.stderr[-3000:]}"
        )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    split = report["placement"]
    report["placement"] = pd.DataFrame(
        split["data"], index=split["index"], columns=split["columns"]
    )
    report["communication"] = pd.Series(
        report["communication"], name="collective operations"
    )
    return report


if __name__ == "__main__":  # python -m helpers.distribute '{"input_size": 67}'
    print(
        json.dumps(
            two_gpu_report(**json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}"))
        )
    )
