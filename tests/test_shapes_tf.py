"""The output-size formula of ``helpers.shapes`` against ``tf.nn.conv2d``'s own shapes.

The backend-neutral checks (the paper's layers, the table against the Keras model) are in
``tests/portable/test_shapes.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from helpers.shapes import alexnet_table, conv_output_size


def test_conv_output_size_matches_tensorflow_on_random_cases():
    rng = np.random.default_rng(2012)
    for _ in range(60):
        kernel, stride, pad = int(rng.integers(1, 12)), int(rng.integers(1, 5)), int(rng.integers(0, 4))
        n = int(rng.integers(max(kernel - 2 * pad, 1), 40))
        x = tf.zeros((1, n, n, 1))
        w = tf.zeros((kernel, kernel, 1, 1))
        explicit = tf.nn.conv2d(x, w, stride, [[0, 0], [pad, pad], [pad, pad], [0, 0]]).shape[1]
        assert conv_output_size(n, kernel, stride, pad) == explicit, (n, kernel, stride, pad)
        assert conv_output_size(n, kernel, stride, "same") == tf.nn.conv2d(x, w, stride, "SAME").shape[1]
        if kernel <= n:
            valid = tf.nn.conv2d(x, w, stride, "VALID").shape[1]
            assert conv_output_size(n, kernel, stride, "valid") == valid


def test_table_walks_tensorflow_ops_through_alexnet():
    """tf.nn ops with the table's kernels, strides and paddings give the table's shapes."""
    table = alexnet_table(input_size=99, num_classes=10)
    x = tf.zeros((1, 99, 99, 3))
    for name, row in table.iterrows():
        if row.type == "conv":  # a grouped layer has the output shape of an ungrouped one
            size, stride = (int(v) for v in row.kernel.replace("/", "×").split("×")[1:])
            pad = int(row.padding)
            w = tf.zeros((size, size, x.shape[-1], row.output[-1]))
            x = tf.nn.conv2d(x, w, stride, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        elif row.type == "pool":
            x = tf.nn.max_pool2d(x, 3, 2, "VALID")
        else:
            continue
        assert tuple(x.shape[1:]) == row.output, name
