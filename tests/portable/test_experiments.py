"""Tests of helpers.experiments on any Keras backend: the small CNN, the training loop
and the learning-rate search.

The reference checks against TensorFlow's autodiff live in ``tests/test_experiments.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import set_seed
from helpers.experiments import (
    CUDA_CONVNET_STD,
    evaluate_error,
    learning_rate_sweep,
    small_cnn,
    train_with_history,
)


def test_small_cnn_is_cuda_convnets_four_layer_net():
    model = small_cnn((32, 32, 3), 10, "tanh")
    weighted = [layer for layer in model.layers if layer.get_weights()]
    assert [layer.name for layer in weighted] == ["conv1", "conv2", "conv3", "logits"]
    assert [layer.kernel.shape[:2] for layer in weighted[:3]] == [(5, 5)] * 3
    pools = [layer for layer in model.layers if "pool" in layer.name]
    assert [type(p).__name__ for p in pools] == ["MaxPooling2D"] * 3  # §3.4
    averaged = small_cnn((32, 32, 3), 10, pooling=("max", "avg", "avg"))
    assert isinstance(averaged.get_layer("pool3"), keras.layers.AveragePooling2D)
    # 'same' 3/2 pooling gives cuda-convnet's sizes: 32 -> 16 -> 8 -> 4
    assert model.get_layer("flatten").output.shape[1] == 4 * 4 * 64
    for layer, std in zip(weighted, CUDA_CONVNET_STD, strict=True):
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
        assert kernel.std() == pytest.approx(std, rel=0.1) and not bias.any()
    glorot = small_cnn((32, 32, 3), 10, kernel_std=None).get_layer("conv1").kernel
    limit = np.sqrt(6 / (5 * 5 * 3 + 5 * 5 * 32))
    assert np.abs(keras.ops.convert_to_numpy(glorot)).max() <= limit
    assert np.abs(keras.ops.convert_to_numpy(glorot)).max() > 0.9 * limit


def test_small_cnn_same_seed_same_weights_for_relu_and_tanh():
    relu = small_cnn((16, 16, 3), 4, "relu", seed=7)
    tanh = small_cnn((16, 16, 3), 4, "tanh", seed=7)
    for a, b in zip(relu.get_weights(), tanh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other = small_cnn((16, 16, 3), 4, "relu", seed=8)
    assert not np.array_equal(relu.get_weights()[0], other.get_weights()[0])
    assert relu.output_shape == (None, 4)
    with pytest.raises(ValueError, match="activation"):
        small_cnn((16, 16, 3), 4, "swish")
    with pytest.raises(ValueError, match="pooling"):
        small_cnn((16, 16, 3), 4, pooling=("max", "avg"))
    with pytest.raises(ValueError, match="kernel_std"):
        small_cnn((16, 16, 3), 4, kernel_std=(0.1, 0.1))


def test_small_cnn_dropout_layers_are_active_only_in_training():
    model = small_cnn((8, 8, 3), 3, dense_units=16, dropout_rate=0.5, kernel_std=None)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 2
    assert [layer.name for layer in model.layers if layer.get_weights()][3:] == [
        "fc4", "fc5", "logits"]
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    def run(training):
        return keras.ops.convert_to_numpy(model(x, training=training))

    np.testing.assert_allclose(run(False), run(False))
    assert not np.allclose(run(True), run(False))


def separable_problem(n=256, size=8, seed=0):
    """Class 0: dark images, class 1: bright ones; a CNN learns it in a few epochs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype("int32")
    x = rng.random((n, size, size, 3)) * 0.5 + 0.5 * y[:, None, None, None] - 0.5
    return x.astype("float32"), y


def tiny(seed=2012):
    return small_cnn((8, 8, 3), 2, widths=(4, 4, 4), kernel_std=None, seed=seed)


def test_training_loop_learns_a_small_case_and_records_each_epoch():
    set_seed(2012)
    x, y = separable_problem()
    model = tiny()
    h = train_with_history(model, x, y, epochs=6, batch_size=32, learning_rate=0.05,
                           x_val=x[:64], y_val=y[:64])
    assert list(h.columns) == ["epoch", "train_loss", "train_error", "val_error", "seconds"]
    assert list(h["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert h["seconds"].is_monotonic_increasing
    assert h["train_error"].iloc[-1] <= 0.05
    # the recorded error is the model's error on the training set, checked independently
    logits = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    assert h["train_error"].iloc[-1] == pytest.approx(np.mean(logits.argmax(1) != y))
    assert evaluate_error(model, x, y)[0] == pytest.approx(h["train_loss"].iloc[-1],
                                                           rel=1e-5)


def test_training_loop_stops_at_the_threshold():
    set_seed(2012)
    x, y = separable_problem()
    h = train_with_history(tiny(), x, y, epochs=20, batch_size=32, learning_rate=0.001,
                           stop_at=0.2)
    assert h["train_error"].iloc[-1] <= 0.2
    assert (h["train_error"].iloc[:-1] > 0.2).all() and 1 < len(h) < 20


def test_training_loop_is_deterministic_and_rejects_bad_arguments():
    x, y = separable_problem(n=64)
    runs = []
    for _ in range(2):
        set_seed(2012)
        runs.append(train_with_history(tiny(), x, y, epochs=2, batch_size=16,
                                       learning_rate=0.05))
    np.testing.assert_array_equal(runs[0]["train_loss"], runs[1]["train_loss"])
    set_seed(2012)
    sampled = train_with_history(tiny(), x, y, epochs=1, batch_size=16,
                                 learning_rate=0.05, eval_size=10)
    # measured on 10 images: the error is a multiple of 1/10
    tenths = sampled["train_error"].to_numpy() * 10
    np.testing.assert_allclose(tenths, np.round(tenths), atol=1e-5)
    with pytest.raises(ValueError, match="labels"):
        train_with_history(tiny(), x, y[:10], epochs=1, batch_size=8, learning_rate=0.1)


def test_training_loop_takes_the_papers_update_in_place_of_plain_sgd():
    from helpers.optim import PaperSGD

    x, y = separable_problem(n=64)
    runs = {}
    for name, optimizer in [("sgd", None), ("paper, no decay", PaperSGD(0.05, l2=0.0)),
                            ("paper, decay", PaperSGD(0.05, l2=0.05))]:
        set_seed(2012)
        runs[name] = train_with_history(tiny(), x, y, epochs=2, batch_size=16,
                                        learning_rate=0.05, optimizer=optimizer)
    # without decay the paper's update is SGD with momentum 0.9; the decay changes it
    np.testing.assert_allclose(runs["paper, no decay"]["train_loss"],
                               runs["sgd"]["train_loss"], rtol=1e-5)
    assert not np.allclose(runs["paper, decay"]["train_loss"], runs["sgd"]["train_loss"],
                           rtol=1e-5)


def test_learning_rate_sweep_picks_the_rate_that_reaches_the_threshold_first():
    x, y = separable_problem(n=128)
    set_seed(2012)
    sweep = learning_rate_sweep(tiny, x, y, [1e-4, 0.1], threshold=0.1, max_epochs=6,
                                batch_size=16)
    assert sweep.best == 0.1
    assert np.isnan(sweep.table.loc[1e-4, "epochs"])  # too slow to get there in 6 epochs
    assert len(sweep.histories[1e-4]) == 6
    epochs = int(sweep.table.loc[0.1, "epochs"])
    assert sweep.histories[0.1]["train_error"].iloc[-1] <= 0.1
    assert len(sweep.histories[0.1]) == epochs < 6
    # a slow rate tried after the best one stops once it can no longer win
    set_seed(2012)
    pruned = learning_rate_sweep(tiny, x, y, [0.1, 1e-4], threshold=0.1, max_epochs=6,
                                 batch_size=16)
    assert pruned.best == 0.1 and len(pruned.histories[1e-4]) == epochs


def test_load_experiment_data_uses_the_book_data_when_cifar10_is_not_cached(
        monkeypatch, tmp_path):
    import types

    import helpers.data
    import helpers.experiments as experiments

    def fake_load_dataset(name=None, *, image_size, subset_size=None, seed=2012):
        crops = {"train": np.zeros((4, image_size, image_size, 3), np.float32),
                 "val": np.ones((2, image_size, image_size, 3), np.float32)}
        source = types.SimpleNamespace(description=f"fake, subset {subset_size}, seed {seed}",
                                       is_real=True)
        return types.SimpleNamespace(
            centre_crops=crops.__getitem__, source=source,
            train=types.SimpleNamespace(labels=np.array([0, 1, 0, 1], np.int32)),
            val=types.SimpleNamespace(labels=np.array([1, 0], np.int32)))

    monkeypatch.setattr(experiments, "CIFAR10_CACHE", tmp_path / "absent")
    monkeypatch.setattr(helpers.data, "load_dataset", fake_load_dataset)
    data = experiments.load_experiment_data(16, 4, seed=3)
    assert data.x_train.shape == (4, 16, 16, 3) and data.y_train.dtype == np.int32
    assert list(data.y_val) == [1, 0] and data.is_real
    assert data.description == "fake, subset 4, seed 3, centre crops of 16 px"


def test_load_experiment_data_reads_cifar10_from_the_keras_cache(monkeypatch, tmp_path):
    import helpers.experiments as experiments

    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), np.arange(6)[:, None]
    test = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8), np.arange(2)[:, None]
    monkeypatch.setattr(experiments, "CIFAR10_CACHE", tmp_path)  # it exists
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: (train, test))
    data = experiments.load_experiment_data(32, 4, seed=1)
    assert data.description.startswith("CIFAR-10") and data.x_train.shape == (4, 32, 32, 3)
    kept = np.sort(np.random.default_rng(1).permutation(6)[:4])
    np.testing.assert_array_equal(data.y_train, kept)
    np.testing.assert_allclose(data.x_train, train[0][kept] / 255.0, rtol=1e-6)
    small = experiments.load_experiment_data(16, None)
    assert small.x_val.shape == (2, 16, 16, 3) and small.y_val.dtype == np.int32
