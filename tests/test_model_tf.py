"""``TowerConv2D`` against Keras' own grouped ``Conv2D`` on TensorFlow, the reference.

Keras' ``Conv2D(groups=2)`` is an independent implementation of the two-GPU split of
§3.2 (one grouped kernel call); ``TowerConv2D`` computes it as one convolution per tower.
With the same weights, outputs and gradients must agree. The backend-neutral checks of
the model are in ``tests/portable/test_model.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers.layers import relative_error
from helpers.model import TowerConv2D, build_alexnet


def pair(filters: int, kernel: int, groups: int, x: np.ndarray) -> tuple:
    """A TowerConv2D and a Keras Conv2D with the same random weights."""
    ours = TowerConv2D(filters, kernel, padding="same", groups=groups, activation="relu")
    reference = keras.layers.Conv2D(filters, kernel, padding="same", groups=groups,
                                    activation="relu")
    for layer in (ours, reference):
        layer.build(x.shape)
    rng = np.random.default_rng(filters)
    weights = [rng.normal(scale=0.05, size=w.shape).astype(np.float32) for w in ours.weights]
    ours.set_weights(weights)
    reference.set_weights(weights)
    return ours, reference


# §3.5 / Figure 2: conv2 (27x27x96 -> 256, 5x5), conv4 (13x13x384 -> 384), conv5 (-> 256)
@pytest.mark.parametrize("side, channels, filters, kernel", [(27, 96, 256, 5), (13, 384, 384, 3),
                                                           (13, 384, 256, 3)])
def test_tower_conv_equals_keras_grouped_conv(side, channels, filters, kernel):
    x = tf.constant(np.random.default_rng(side).normal(size=(2, side, side, channels)), tf.float32)
    ours, reference = pair(filters, kernel, 2, x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        out, expected = ours(x), reference(x)
        loss_ours, loss_reference = tf.reduce_sum(out**2), tf.reduce_sum(expected**2)
    assert relative_error(out.numpy(), expected.numpy()) < 1e-5
    assert float(tf.reduce_max(tf.abs(expected))) > 0.1  # not all zeros after the ReLU
    for grad_ours, grad_reference in [(tape.gradient(loss_ours, x), tape.gradient(loss_reference, x)),
                                      (tape.gradient(loss_ours, ours.kernel),
                                       tape.gradient(loss_reference, reference.kernel))]:
        assert relative_error(grad_ours.numpy(), grad_reference.numpy()) < 1e-5


def test_the_paper_model_equals_one_built_with_keras_grouped_conv():
    """Swap every TowerConv2D of the paper model for Conv2D(groups=2): same logits."""
    model = build_alexnet(num_classes=10, input_size=67)
    x = inputs = keras.Input((67, 67, 3))
    for layer in model.layers[1:]:
        if isinstance(layer, TowerConv2D):
            twin = keras.layers.Conv2D.from_config(layer.get_config())
            x = twin(x)
            twin.set_weights(layer.get_weights())
        else:
            x = layer(x)
    reference = keras.Model(inputs, x)
    images = np.random.default_rng(0).normal(scale=50.0, size=(2, 67, 67, 3)).astype(np.float32)
    ours, expected = model(images).numpy(), reference(images).numpy()
    assert np.abs(expected).max() > 1e-3
    assert relative_error(ours, expected) < 1e-5
    assert relative_error(ours - ours.mean(axis=0), expected - expected.mean(axis=0)) < 1e-3
