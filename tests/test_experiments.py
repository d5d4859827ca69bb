"""Tests of helpers.experiments: the small CNN, the training loop, epochs-to-threshold, activations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.experiments import (
    ACTIVATIONS,
    common_threshold,
    epochs_to_threshold,
    evaluate_error,
    gradient_norms_through_stack,
    seconds_to_threshold,
    small_cnn,
    speedup_table,
    train_with_history,
)


def history(errors, seconds=None):
    seconds = seconds or [float(i + 1) for i in range(len(errors))]
    return pd.DataFrame({"epoch": range(1, len(errors) + 1), "train_error": errors, "seconds": seconds})


def test_epochs_to_threshold_is_the_first_epoch_at_or_below():
    assert epochs_to_threshold([0.9, 0.5, 0.25, 0.1], 0.25) == 3
    assert epochs_to_threshold([0.9, 0.2, 0.3], 0.25) == 2  # first crossing, even if it rises again
    assert epochs_to_threshold([0.9, 0.5], 0.25) is None


def test_seconds_to_threshold_reads_the_cumulative_time():
    assert seconds_to_threshold(history([0.9, 0.3, 0.2], [2.0, 5.0, 9.5]), 0.25) == 9.5
    assert seconds_to_threshold(history([0.9, 0.3]), 0.25) is None


def test_common_threshold_falls_back_to_the_lowest_error_every_run_reached():
    fast, slow = history([0.5, 0.2, 0.1]), history([0.8, 0.6, 0.4])
    assert common_threshold([fast, slow], 0.25) == pytest.approx(0.4)
    assert common_threshold([fast, history([0.6, 0.24])], 0.25) == 0.25
    table = speedup_table({"fast": fast, "slow": slow}, common_threshold([fast, slow], 0.25))
    assert table.loc["fast", "epochs"] == 2 and table.loc["slow", "epochs"] == 3
    with pytest.raises(ValueError, match="at least one"):
        common_threshold([], 0.25)


def test_activation_derivatives_match_finite_differences():
    z = np.linspace(-4, 4, 81) + 0.013  # avoid ReLU's kink at exactly 0
    for name, (f, df) in ACTIVATIONS.items():
        numeric = (f(z + 1e-6) - f(z - 1e-6)) / 2e-6
        np.testing.assert_allclose(df(z), numeric, atol=1e-6, err_msg=name)


def test_gradient_norms_match_tensorflow_autodiff():
    import tensorflow as tf

    depth, width, batch = 4, 8, 3
    rng = np.random.default_rng(2012)  # the same draws the helper makes
    weights = [tf.constant(rng.normal(0.0, 1.0 / np.sqrt(width), (width, width))) for _ in range(depth)]
    inputs = [tf.constant(rng.normal(size=(batch, width)))]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs[0])
        for w in weights:
            inputs.append(tf.tanh(inputs[-1] @ w))
            tape.watch(inputs[-1])
        total = tf.reduce_sum(inputs[-1])
    expected = [float(tf.sqrt(tf.reduce_mean(tape.gradient(total, h) ** 2))) for h in inputs[:-1]]
    got = gradient_norms_through_stack("tanh", depth=depth, width=width, batch=batch)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_sigmoid_gradient_vanishes_relu_does_not_with_he_scale():
    sigmoid = gradient_norms_through_stack("sigmoid", depth=20, width=64, weight_std=np.sqrt(2))
    relu = gradient_norms_through_stack("relu", depth=20, width=64, weight_std=np.sqrt(2))
    assert sigmoid[0] / sigmoid[-1] < 1e-6  # sigma' <= 1/4 per layer
    assert 0.1 < relu[0] / relu[-1] < 10
    with pytest.raises(ValueError, match="unknown activation"):
        gradient_norms_through_stack("gelu")


def test_small_cnn_same_seed_same_weights_for_relu_and_tanh():
    relu = small_cnn((16, 16, 3), 4, "relu", seed=7)
    tanh = small_cnn((16, 16, 3), 4, "tanh", seed=7)
    for a, b in zip(relu.get_weights(), tanh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other = small_cnn((16, 16, 3), 4, "relu", seed=8)
    assert not np.array_equal(relu.get_weights()[0], other.get_weights()[0])
    assert relu.output_shape == (None, 4)
    weighted = [layer for layer in relu.layers if layer.get_weights()]
    assert len(weighted) == 4  # the paper's "four-layer" network
    with pytest.raises(ValueError, match="activation"):
        small_cnn((16, 16, 3), 4, "swish")


def test_small_cnn_dropout_layers_are_active_only_in_training():
    import keras

    model = small_cnn((8, 8, 3), 3, dense_units=16, dropout_rate=0.5)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 2
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


def separable_problem(n=256, size=8, seed=0):
    """Class 0: dark images, class 1: bright ones; a CNN learns it in a few epochs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype("int32")
    x = (rng.random((n, size, size, 3)) * 0.5 + 0.5 * y[:, None, None, None]).astype("float32") - 0.5
    return x, y


def test_training_loop_learns_a_small_case_and_records_each_epoch():
    from helpers import set_seed

    set_seed(2012)
    x, y = separable_problem()
    model = small_cnn((8, 8, 3), 2, widths=(4, 4, 4))
    h = train_with_history(model, x, y, epochs=6, batch_size=32, learning_rate=0.05,
                           x_val=x[:64], y_val=y[:64])
    assert list(h.columns) == ["epoch", "train_loss", "train_error", "val_error", "seconds"]
    assert list(h["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert h["seconds"].is_monotonic_increasing
    assert h["train_error"].iloc[-1] <= 0.05
    assert epochs_to_threshold(h["train_error"], 0.05) is not None
    # the recorded error is the model's error on the training set, checked independently
    logits = model.predict(x, verbose=0)
    assert h["train_error"].iloc[-1] == pytest.approx(np.mean(logits.argmax(1) != y))
    assert evaluate_error(model, x, y)[0] == pytest.approx(h["train_loss"].iloc[-1], rel=1e-5)


def test_training_loop_is_deterministic_and_rejects_bad_arguments():
    from helpers import set_seed

    x, y = separable_problem(n=64)
    runs = []
    for _ in range(2):
        set_seed(2012)
        runs.append(train_with_history(small_cnn((8, 8, 3), 2, widths=(4, 4, 4)), x, y,
                                       epochs=2, batch_size=16, learning_rate=0.05))
    np.testing.assert_array_equal(runs[0]["train_loss"], runs[1]["train_loss"])
    set_seed(2012)
    sampled = train_with_history(small_cnn((8, 8, 3), 2, widths=(4, 4, 4)), x, y, epochs=1, batch_size=16,
                                 learning_rate=0.05, eval_size=10)
    assert (sampled["train_error"] * 10).round(9).apply(float.is_integer).all()  # measured on 10 images
    with pytest.raises(ValueError, match="labels"):
        train_with_history(small_cnn((8, 8, 3), 2), x, y[:10], epochs=1, batch_size=8, learning_rate=0.1)


def test_load_experiment_arrays_uses_the_book_data_when_cifar10_is_not_cached(monkeypatch, tmp_path):
    import types

    import helpers.data
    import helpers.experiments as experiments

    def fake_load_arrays(name=None, *, image_size, subset_size=None, seed=2012):
        images = np.zeros((4, image_size, image_size, 3), dtype=np.float64)
        source = types.SimpleNamespace(description=f"fake set, subset {subset_size}, seed {seed}")
        return images, [0, 1, 0, 1], images[:2], [1, 0], ["a", "b"], source

    monkeypatch.setattr(experiments, "CIFAR10_CACHE", tmp_path / "absent")
    monkeypatch.setattr(helpers.data, "load_arrays", fake_load_arrays)
    x_train, y_train, x_val, y_val, description = experiments.load_experiment_arrays(16, 4, seed=3)
    assert x_train.shape == (4, 16, 16, 3) and x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert list(y_val) == [1, 0] and description == "fake set, subset 4, seed 3"
