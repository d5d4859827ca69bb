"""Beyond one device: data parallelism, and the paper's two-GPU split (model parallel).

§3.2: "The parallelization scheme that we employ essentially puts half of the kernels
(or neurons) on each GPU, with one additional trick: the GPUs communicate only in
certain layers." ``split_weights`` puts half of every layer's kernels (or neurons) on
each of two devices (JAX's mesh and named shardings), and ``tower_program``, run on both
at once by ``jax.shard_map``, is one device's tower: it talks to the other device only
where a layer reads both towers' maps. ``placement`` and ``communication`` read back
where each kernel lives and which layers make the devices talk.

``data_parallel`` is the everyday answer for several devices: every device holds the
whole model and a slice of each batch, and the gradients are averaged (TensorFlow's
``MirroredStrategy``, Keras' ``DataParallel`` on JAX). ``helpers.train.train_model``
takes it with one argument; on JAX, ``DeviceBatches`` makes every batch split evenly.

Taught in ``book/07_model.ipynb`` and ``book/08_training.ipynb``; checked by
``tests/test_distribute.py`` (two virtual CPU devices per backend).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import ops

from helpers.lrn import LocalResponseNormalization

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


class DeviceBatches(keras.utils.PyDataset):
    """``batches`` cut to split evenly across ``devices`` (Keras' ``DataParallel`` on
    JAX gives every device an equal slice of each batch, so B must divide evenly).

    Training (``pad=False``): a short last batch drops its last ``B % devices`` images
    (a different few each epoch, as the order is reshuffled). Evaluation (``pad=True``):
    every batch comes with sample weights, and a short last batch is filled with copies
    of its last image of weight 0, so each image counts exactly once in the metrics.
    """

    def __init__(self, batches: Any, devices: int, *, pad: bool) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.batches, self.devices, self.pad = batches, devices, pad
        self.split = getattr(batches, "split", None)  # the images of one epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        images, labels = self.batches[index]
        n = len(labels)
        if not self.pad:
            keep = n - n % self.devices
            if keep == 0:
                raise ValueError(
                    f"DeviceBatches: a batch of {n} images cannot be split across "
                    f"{self.devices} devices; use a batch of at least {self.devices}"
                )
            return images[:keep], labels[:keep]
        extra = -n % self.devices
        fill = np.r_[np.arange(n), np.full(extra, n - 1)]  # copies of the last image
        weights = (np.arange(n + extra) < n).astype("float32")
        return images[fill], labels[fill], weights

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` of the wrapped batches (resume)."""
        self.batches.set_epoch(epoch)

    def on_epoch_end(self) -> None:
        self.batches.on_epoch_end()


def split_evenly(train: Any, val: Any) -> tuple[Any, Any]:
    """``train`` and ``val`` as ``DeviceBatches`` where the data-parallel engine needs
    every batch to split evenly (JAX with several devices); unchanged elsewhere
    (TensorFlow's ``MirroredStrategy`` splits a short batch by itself)."""
    devices = len(keras.distribution.list_devices())
    if keras.backend.backend() != "jax" or devices == 1:
        return train, val
    train = DeviceBatches(train, devices, pad=False)
    return train, DeviceBatches(val, devices, pad=True)


TOWERS = "towers"
"""The name of the mesh axis along which the two towers (devices) lie."""


def tower_mesh(devices: list | None = None) -> Any:
    """Two devices in a row, one per tower: the mesh of §3.2's split (JAX)."""
    import jax

    devices = devices or jax.devices()[:2]
    if len(devices) != 2:
        raise ValueError(
            f"tower_mesh: needs two devices, found {devices}; on a CPU start "
            "Python with XLA_FLAGS=--xla_force_host_platform_device_count=2"
        )
    return jax.sharding.Mesh(np.array(devices), (TOWERS,))


def tower_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of the split network: conv1 to fc8 (the input stage runs before)."""
    return model.layers[model.layers.index(model.get_layer("conv1")) :]


def tower_spec(ndim: int) -> Any:
    """How an array of ``ndim`` axes is cut: along its last (kernels or neurons)."""
    from jax.sharding import PartitionSpec

    return PartitionSpec(*[None] * (ndim - 1), TOWERS)


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of the split network that hold a kernel and a bias."""
    return [layer for layer in tower_layers(model)
            if getattr(layer, "kernel", None) is not None]


def split_weights(model: keras.Model, mesh: Any) -> dict[str, tuple[Any, Any]]:
    """Every weighted layer's kernel and bias cut along the kernels (or neurons) axis,
    half on each device of ``mesh``: ``{name: (kernel, bias)}``, sharded JAX arrays."""
    import jax
    from jax.sharding import NamedSharding

    def halves(array: Any) -> Any:
        sharding = NamedSharding(mesh, tower_spec(len(array.shape)))
        return jax.device_put(np.asarray(array), sharding)

    return {layer.name: (halves(layer.kernel), halves(layer.bias))
            for layer in weighted_layers(model)}


def tower_program(layers: list, weights: dict, images: Any) -> Any:
    """One device's tower of the paper's network, run on both devices at once (§3.2).

    ``weights[name]`` holds this device's half of each layer's kernels (or neurons).
    The towers talk only where a layer reads the maps of both: conv3 and the fully
    connected layers gather the other tower's maps first; the book's LRN window at a
    tower's edge borrows the other tower's two nearest maps.
    """
    import jax

    x = images
    for layer in layers:
        with jax.named_scope(layer.name):
            if isinstance(layer, keras.layers.Conv2D):
                if layer.groups == 1 and x is not images:  # conv3: both towers' maps
                    x = jax.lax.all_gather(x, TOWERS, axis=3, tiled=True)
                kernel, bias = weights[layer.name]
                x = ops.conv(x, kernel, layer.strides, layer.padding) + bias
                x = layer.activation(x)
            elif isinstance(layer, LocalResponseNormalization):
                x = lrn_across_towers(layer, x)
            elif isinstance(layer, keras.layers.MaxPooling2D):
                x = ops.max_pool(x, layer.pool_size, layer.strides, layer.padding)
            elif isinstance(layer, keras.layers.Dense):  # reads every map or neuron
                x = jax.lax.all_gather(x, TOWERS, axis=x.ndim - 1, tiled=True)
                kernel, bias = weights[layer.name]
                x = layer.activation(ops.reshape(x, (x.shape[0], -1)) @ kernel + bias)
            # Flatten: done by fc6 after the gather; Dropout: nothing at test time
    return x  # this device's half of fc8's class scores


def lrn_across_towers(layer: keras.layers.Layer, maps: Any) -> Any:
    """``layer`` (§3.3's LRN) over one tower's maps ``(B, H, W, C/2)``, its window
    reaching into the other tower at the edge, as over all C maps on one device."""
    import jax

    reach = layer.n // 2
    first = jax.lax.axis_index(TOWERS) == 0
    edge = ops.where(first, maps[..., -reach:], maps[..., :reach])  # for the other
    theirs = jax.lax.ppermute(edge, TOWERS, perm=[(0, 1), (1, 0)])
    nothing = ops.zeros_like(theirs)  # beyond the first and last map of the layer
    before, after = ops.where(first, nothing, theirs), ops.where(first, theirs, nothing)
    padded = ops.concatenate([before, maps, after], axis=-1)
    window = type(layer).from_config(layer.get_config())  # the same LRN, wider input
    return window(padded)[..., reach:-reach]


def two_tower_forward(model: keras.Model, mesh: Any) -> Callable[..., Any]:
    """``forward(weights, images) -> logits``: the paper variant ``model`` (after its
    input stage) split across the two devices of ``mesh``, compiled (JAX); ``weights``
    as ``split_weights`` gives them."""
    import jax
    from jax.sharding import PartitionSpec

    layers = tower_layers(model)
    halves = {layer.name: (tower_spec(len(layer.kernel.shape)), tower_spec(1))
              for layer in weighted_layers(model)}
    program = jax.shard_map(
        lambda weights, images: tower_program(layers, weights, images),
        mesh=mesh,
        in_specs=(halves, PartitionSpec()),  # the images: a copy on each device
        out_specs=tower_spec(2),  # the scores (B, classes): half of the classes each
    )
    return jax.jit(program)


def placement(weights: dict[str, tuple[Any, Any]]) -> pd.DataFrame:
    """Where each kernel lives: its shape, and the part each device holds."""
    rows = []
    for name, (kernel, _) in weights.items():
        shards = {f"on {shard.device}": tuple(shard.data.shape)
                  for shard in kernel.addressable_shards}
        rows.append({"layer": name, "kernel": tuple(kernel.shape), **shards})
    return pd.DataFrame(rows).set_index("layer")


def communication(forward: Any, weights: dict, images: Any,
                  names: list[str]) -> pd.DataFrame:
    """The collective operations (device-to-device transfers) that each layer of
    ``names`` compiles to in ``forward(weights, images)``, by kind, read from the
    compiled program: one row per layer, one column per kind found."""
    program = forward.lower(weights, images).compile().as_text()
    found = []
    for line in program.splitlines():
        kind = next(
            (c for c in COLLECTIVES if f" {c}(" in line or f"{c}-start(" in line), None
        )
        scope = re.search(r'op_name="[^"]*?/(' + "|".join(names) + r')/', line)
        if kind and scope:
            found.append({"layer": scope.group(1), "kind": kind})
    table = pd.DataFrame(found, columns=["layer", "kind"])
    counts = pd.crosstab(table["layer"], table["kind"]) if found else pd.DataFrame()
    return counts.reindex(names, fill_value=0).rename_axis(index="layer", columns=None)


def two_gpu_report(
    num_classes: int = 10, input_size: int = 67, seed: int = 2012
) -> dict:
    """The paper's network on two devices (§3.2): where it lives, where it talks.

    Also checks that its logits equal those of the grouped single-device model with the
    same weights. Runs in this process (which must be JAX with two devices).
    """
    from helpers.model import build_alexnet

    keras.utils.set_random_seed(seed)
    model = build_alexnet(num_classes, input_size, "paper")
    images = np.random.default_rng(seed).normal(0, 50, (4, input_size, input_size, 3))
    images = images.astype("float32")  # as if mean-subtracted (no input stage here)
    mesh = tower_mesh()
    weights = split_weights(model, mesh)
    forward = two_tower_forward(model, mesh)
    split_logits = np.asarray(forward(weights, images))
    grouped_logits = keras.ops.convert_to_numpy(model(images, training=False))
    names = [layer.name for layer in tower_layers(model)]
    held = bytes_per_device(weights)
    return {
        "placement": placement(weights).astype(str).to_dict(orient="split"),
        "communication": communication(forward, weights, images, names).to_dict(
            orient="split"),
        "max_logit_difference": float(np.abs(split_logits - grouped_logits).max()),
        "max_logit": float(np.abs(grouped_logits).max()),
        "bytes_per_device": held,
        "bytes_one_device": int(sum(np.asarray(w).nbytes for w in model.weights)),
    }


def bytes_per_device(weights: dict[str, tuple[Any, Any]]) -> dict[str, int]:
    """How many bytes of the split weights each device holds."""
    held: dict[str, int] = {}
    for pair in weights.values():
        for array in pair:
            for shard in array.addressable_shards:
                device = str(shard.device)
                held[device] = held.get(device, 0) + shard.data.nbytes
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
    for table in ("placement", "communication"):
        split = report[table]
        report[table] = pd.DataFrame(
            split["data"], index=split["index"], columns=split["columns"]
        ).rename_axis("layer")
    return report


if __name__ == "__main__":  # python -m helpers.distribute '{"input_size": 67}'
    print(
        json.dumps(
            two_gpu_report(**json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}"))
        )
    )
