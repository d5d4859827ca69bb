"""helpers.evaluate (top-k, ten views, features, confusion, retrieval) and helpers.plots.

Runs on every backend; references are Keras' own metrics, NumPy and SciPy.
"""

from __future__ import annotations

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from helpers.augment import PaperAugmentation  # noqa: E402
from helpers.data import ImageBatches, Split  # noqa: E402
from helpers.evaluate import (  # noqa: E402
    binomial_standard_error,
    colour_share,
    confusion_matrix,
    features,
    nearest_neighbours,
    per_class_accuracy,
    predict,
    predict_ten_view,
    row_shares,
    split_accuracy,
    summary_table,
    top_k_accuracy,
    tower_colour_shares,
    tower_split_verdict,
)
from helpers.layers import softmax  # noqa: E402
from helpers.plots import (  # noqa: E402
    image_grid,
    kernel_images,
    plot_confusion,
    plot_history,
)
from scipy.spatial.distance import cdist  # noqa: E402

from .arrays import TOY_EIGENVALUES, TOY_EIGENVECTORS, noise_split  # noqa: E402

RNG = np.random.default_rng(0)
NOISE = noise_split(RNG, 7, 9, 5)
IMAGES, LABELS = NOISE.images, NOISE.labels


def _model(classes: int = 5) -> keras.Model:
    """The book's input stage, then conv1, fc7 and fc8, as AlexNet names them."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((9, 9, 3), dtype="uint8")
    stage = PaperAugmentation(6, 9, seed=1).set_statistics(
        IMAGES.mean(0), TOY_EIGENVALUES, TOY_EIGENVECTORS)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(stage(inputs))
    x = keras.layers.Dense(8, activation="relu", name="fc7")(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(classes, name="fc8")(x))


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_matches_keras(k):
    rng = np.random.default_rng(k)
    scores = rng.normal(size=(200, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 200)
    reference = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
    reference.update_state(labels, scores)
    expected = float(_np(reference.result()))
    assert top_k_accuracy(scores, labels, k) == pytest.approx(expected, abs=1e-6)


def test_top_k_edge_cases():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert top_k_accuracy(scores, np.array([1, 2]), 1) == 0.5
    assert top_k_accuracy(scores, np.array([1, 2]), 3) == 1.0
    with pytest.raises(ValueError, match="k must be in 1..3"):
        top_k_accuracy(scores, np.array([1, 2]), 4)
    with pytest.raises(ValueError, match="scores"):
        top_k_accuracy(scores, np.array([1]), 1)


def test_predict_features_and_ten_views_on_a_tiny_model():
    model = _model()
    batches = ImageBatches(Split(IMAGES, LABELS, []), 3, shuffle=False)
    logits, labels = predict(model, batches)
    np.testing.assert_array_equal(labels, LABELS)
    np.testing.assert_allclose(logits, _np(model(IMAGES, training=False)), rtol=1e-5,
                               atol=1e-5)
    fc7, _ = features(model, batches, "fc7")  # fc8 is linear: logits from the features
    fc8 = model.get_layer("fc8")
    through = fc7 @ _np(fc8.kernel) + _np(fc8.bias)
    np.testing.assert_allclose(through, logits, rtol=1e-4, atol=1e-4)

    probabilities, labels = predict_ten_view(model, batches)
    # Reference: the ten patches cut by NumPy, each scored, softmax averaged (§4.1).
    centred = IMAGES.astype(np.float32) - IMAGES.mean(0)
    spots = [(0, 0), (0, 3), (3, 0), (3, 3), (1, 1)]
    patches = [centred[:, t : t + 6, s : s + 6] for t, s in spots]
    patches += [p[:, :, ::-1] for p in patches]
    net = keras.Model(model.get_layer("conv1").input, model.output)
    scores = [softmax(_np(net(p, training=False)).astype(np.float64)) for p in patches]
    np.testing.assert_allclose(probabilities, np.mean(scores, axis=0), rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(labels, LABELS)


def test_split_accuracy_scores_the_split_it_names():
    model = _model()
    shifted = (LABELS + 1) % 5  # another split: the same images, other labels

    class TwoSplits:
        def batches(self, split: str, batch_size: int) -> ImageBatches:
            labels = LABELS if split == "val" else shifted
            return ImageBatches(Split(IMAGES, labels, []), batch_size, shuffle=False)

    logits = _np(model(IMAGES, training=False))
    for split, labels in [("val", LABELS), ("train", shifted)]:
        for k in (1, 3):
            expected = top_k_accuracy(logits, labels, k)
            measured = split_accuracy(model, TwoSplits(), split, k=k, batch_size=3)
            assert measured == pytest.approx(expected)
    # the two splits score differently, so a mixed-up split would fail above
    assert any(top_k_accuracy(logits, LABELS, k) != top_k_accuracy(logits, shifted, k)
               for k in (1, 3))


def test_confusion_matrix_and_per_class_accuracy_match_pandas():
    rng = np.random.default_rng(3)
    labels, predictions = rng.integers(0, 4, 100), rng.integers(0, 4, 100)
    names = ["a", "b", "c", "d"]
    confusion = confusion_matrix(labels, predictions, names)
    np.testing.assert_array_equal(confusion.to_numpy(),
                                  pd.crosstab(labels, predictions).to_numpy())
    accuracy = per_class_accuracy(confusion)
    for c, name in enumerate(names):
        assert accuracy[name] == pytest.approx((predictions[labels == c] == c).mean())
    assert list(accuracy) == sorted(accuracy)
    shares = row_shares(confusion)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(shares), accuracy[names])
    empty = confusion.copy()
    empty.loc["b"] = 0  # a class without validation images has no accuracy, not 0
    assert np.isnan(per_class_accuracy(empty)["b"]) and row_shares(empty).loc["b"].isna().all()


def test_nearest_neighbours_match_scipy():
    rng = np.random.default_rng(4)
    queries, bank = rng.normal(size=(6, 32)), rng.normal(size=(50, 32))
    indices, distances = nearest_neighbours(queries, bank, k=4)
    reference = cdist(queries, bank)
    np.testing.assert_array_equal(indices,
                                  np.argsort(reference, axis=1, kind="stable")[:, :4])
    np.testing.assert_allclose(distances, np.sort(reference, axis=1)[:, :4], rtol=1e-9,
                               atol=1e-9)
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
    assert images.shape == (96, 11, 11, 3) and images.min() == 0.0
    np.testing.assert_allclose(images.max(axis=(1, 2, 3)), 1.0)
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
    colours = ["tab:red" if i % 2 else "black" for i in range(3)]
    grid = image_grid(images[:3], ["a", "b", "c"], columns=2, title_colours=colours)
    assert [ax.title.get_color() for ax in grid.axes[:3]] == colours
    assert not grid.axes[3].axison  # the empty fourth cell
    plt.close(grid)


def test_predict_pairs_logits_with_their_labels_on_shuffled_batches():
    """Each image's pixels hold its label; the model's logit c is c x - c^2 / 2 (max at x)."""
    labels = np.arange(40, dtype=np.int32) % 5
    images = np.broadcast_to(labels[:, None, None, None], (40, 4, 4, 3)).astype(np.uint8)
    inputs = keras.Input((4, 4, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)[:, :1]
    classifier = keras.layers.Dense(5)
    model = keras.Model(inputs, classifier(mean))
    classes = np.arange(5, dtype=np.float32)
    classifier.set_weights([classes[None, :], -classes**2 / 2])
    batches = ImageBatches(Split(images, labels, []), 8, shuffle=True)
    for _ in range(2):  # the second call sees the next epoch's order
        scores, truth = predict(model, batches)
        assert top_k_accuracy(scores, truth) == 1.0
        assert sorted(truth) == sorted(labels)


def test_colour_share_is_zero_for_grey_kernels_and_sqrt_two_thirds_for_one_channel():
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.normal(size=(11, 11, 1, 4)), 3, axis=2)
    red = np.zeros((11, 11, 3, 4))
    red[:, :, 0] = rng.normal(size=(11, 11, 4))
    shares = colour_share(np.concatenate([grey, red], axis=-1))
    np.testing.assert_allclose(shares, [0] * 4 + [np.sqrt(2 / 3)] * 4, atol=1e-12)
    # the measure ignores a kernel's scale and sign
    np.testing.assert_allclose(colour_share(-3 * red), shares[4:], atol=1e-12)


def test_tower_colour_shares_compare_the_two_halves():
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(11, 11, 3, 96))
    first, second, differ = tower_colour_shares(noise)
    assert abs(first - second) < 0.05 and not differ  # random kernels: no towers
    greyish = noise.copy()
    greyish[..., :48] = noise[..., :48].mean(axis=2, keepdims=True) + 0.1 * noise[..., :48]
    first, second, differ = tower_colour_shares(greyish)
    assert first < 0.2 < 0.7 < second and differ
    assert tower_split_verdict(greyish) == (
        f"colour share {first:.2f} vs {second:.2f}", "direction reproduced")
    assert tower_split_verdict(noise)[1] == "not reproduced"


def test_binomial_standard_error_matches_the_spread_of_simulated_accuracies():
    rng = np.random.default_rng(0)
    simulated = rng.binomial(500, 0.3, size=20_000) / 500  # 500 images, 30% right
    assert binomial_standard_error(0.3, 500) == pytest.approx(simulated.std(), rel=0.02)
    assert binomial_standard_error(1.0, 10) == 0.0
    with pytest.raises(ValueError, match="0 <= p <= 1"):
        binomial_standard_error(1.2, 10)
