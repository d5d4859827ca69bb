"""Tests of helpers.evaluate (top-k, ten views, confusion, retrieval) and helpers.plots on tiny inputs."""

from __future__ import annotations

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from helpers.evaluate import (  # noqa: E402
    confusion_matrix,
    features,
    nearest_neighbours,
    per_class_accuracy,
    predict,
    predict_ten_view,
    softmax,
    summary_table,
    top_k_accuracy,
)
from helpers.plots import image_grid, kernel_images, plot_confusion, plot_history  # noqa: E402
from scipy.spatial.distance import cdist  # noqa: E402


def _tiny_model(classes=7, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 3))
    h = keras.layers.Flatten()(keras.layers.Conv2D(5, 3, activation="relu", name="conv1")(inputs))
    h = keras.layers.Dense(16, activation="relu", name="fc7")(h)
    return keras.Model(inputs, keras.layers.Dense(classes, name="fc8")(h))


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_matches_keras(k):
    rng = np.random.default_rng(k)
    scores, labels = rng.normal(size=(200, 10)).astype(np.float32), rng.integers(0, 10, 200)
    reference = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
    reference.update_state(labels, scores)
    assert top_k_accuracy(scores, labels, k) == pytest.approx(float(reference.result()), abs=1e-6)


def test_top_k_edge_cases():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert top_k_accuracy(scores, np.array([1, 2]), 1) == 0.5
    assert top_k_accuracy(scores, np.array([1, 2]), 3) == 1.0
    with pytest.raises(ValueError, match="k must be in 1..3"):
        top_k_accuracy(scores, np.array([1, 2]), 4)
    with pytest.raises(ValueError, match="scores"):
        top_k_accuracy(scores, np.array([1]), 1)


def test_softmax_matches_tensorflow():
    logits = np.random.default_rng(0).normal(scale=30, size=(4, 9)).astype(np.float32)
    np.testing.assert_allclose(softmax(logits), tf.nn.softmax(logits).numpy(), rtol=1e-5, atol=1e-7)


def test_predict_and_ten_view_on_a_tiny_model():
    model = _tiny_model()
    rng = np.random.default_rng(1)
    views = rng.normal(size=(5, 10, 6, 6, 3)).astype(np.float32)
    labels = rng.integers(0, 7, 5).astype(np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((views, labels)).batch(2)
    probabilities, got_labels = predict_ten_view(model, dataset)
    # Reference: softmax of each view separately, then the mean over the ten views (§4.1).
    expected = np.stack([tf.nn.softmax(model(views[i], training=False)).numpy().mean(axis=0)
                         for i in range(5)])
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    # The centre view alone (index 4 here) gives the single-crop logits.
    centre = tf.data.Dataset.from_tensor_slices((views[:, 4], labels)).batch(3)
    logits, _ = predict(model, centre)
    np.testing.assert_allclose(logits, model(views[:, 4]).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="views"):
        predict_ten_view(model, tf.data.Dataset.from_tensor_slices((views[:, 0], labels)).batch(2))


def test_fc7_features_give_the_logits_through_fc8():
    model = _tiny_model()
    x = np.random.default_rng(2).normal(size=(8, 6, 6, 3)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(8, np.int32))).batch(4)
    fc7, _ = features(model, dataset, "fc7")
    assert fc7.shape == (8, 16)
    fc8 = model.get_layer("fc8")
    through_fc8 = fc7 @ fc8.kernel.numpy() + fc8.bias.numpy()
    np.testing.assert_allclose(through_fc8, model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_confusion_matrix_and_per_class_accuracy_match_pandas():
    rng = np.random.default_rng(3)
    labels, predictions, names = rng.integers(0, 4, 100), rng.integers(0, 4, 100), ["a", "b", "c", "d"]
    confusion = confusion_matrix(labels, predictions, names)
    reference = pd.crosstab(labels, predictions).to_numpy()
    np.testing.assert_array_equal(confusion.to_numpy(), reference)
    accuracy = per_class_accuracy(confusion)
    for c, name in enumerate(names):
        assert accuracy[name] == pytest.approx((predictions[labels == c] == c).mean())
    assert list(accuracy) == sorted(accuracy)


def test_nearest_neighbours_match_scipy():
    rng = np.random.default_rng(4)
    queries, bank = rng.normal(size=(6, 32)), rng.normal(size=(50, 32))
    indices, distances = nearest_neighbours(queries, bank, k=4)
    reference = cdist(queries, bank)
    np.testing.assert_array_equal(indices, np.argsort(reference, axis=1, kind="stable")[:, :4])
    np.testing.assert_allclose(distances, np.sort(reference, axis=1)[:, :4], rtol=1e-9, atol=1e-9)
    assert nearest_neighbours(bank[:3], bank, k=1)[0].ravel().tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(queries, bank, k=51)


def test_summary_table_in_percent():
    scores, labels = np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 2, 1])
    table = summary_table({"run": (scores, labels)}, k=5)
    assert table.loc["run", "top-1 (%)"] == 75.0 and table.loc["run", "top-5 (%)"] == 100.0


def test_plots_draw_titled_figures():
    kernels = np.random.default_rng(5).normal(size=(11, 11, 3, 96))
    images = kernel_images(kernels)
    assert images.shape == (96, 11, 11, 3) and images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_allclose(images[7].max(), 1.0)
    with pytest.raises(ValueError, match="first layer"):
        kernel_images(kernels[:, :, :2])
    history = pd.DataFrame({"epoch": [1, 2], "loss": [2.0, 1.0], "val_loss": [2.1, 1.5],
                            "accuracy": [0.1, 0.3], "val_accuracy": [0.1, 0.2],
                            "learning_rate": [0.01, 0.001]})
    confusion = confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), ["x", "y"])
    grid = image_grid(images[:10], [str(i) for i in range(10)], title="t")
    for fig in (plot_history({"run": history}), grid, plot_confusion(confusion)):
        assert fig._suptitle is not None or fig.axes[0].get_title()
        assert fig.axes[0].get_xlabel() or fig.axes[0].get_title()
        plt.close(fig)
