"""The data loader: finding data sets, decoding, caching, corrupt files, mean subtraction, pipelines."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import augment, data, datasets
from PIL import Image

SIZE = 16  # network input; images are made at resize_size(16) = 18 px so that resizing is the identity
R = augment.resize_size(SIZE)


def _write_images(
    folder: Path, classes: dict[str, int], seed: int, size: int = R, fmt: str = "png"
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            array = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(array).save(folder / name / f"{i:03d}.{fmt}")
            arrays.append(array)
    return arrays


@pytest.fixture()
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "data"


@pytest.fixture()
def small_set(tmp_path):
    folder = tmp_path / "small"
    train = _write_images(folder / "train", {"b_dog": 6, "a_cat": 4}, seed=1)
    val = _write_images(folder / "val", {"b_dog": 3, "a_cat": 2}, seed=2)
    return folder, train, val


def _collect(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_train_val_folders_shapes_labels_and_mean_subtraction(roots, small_set):
    folder, train, val = small_set
    splits = data.load_dataset(folder, image_size=SIZE, batch_size=4, flip="none")
    assert splits.class_names == ["a_cat", "b_dog"]  # sorted folder names
    assert (splits.num_train, splits.num_val) == (10, 5)
    assert splits.source.is_real and str(folder) in splits.source.description
    # files are read class by class in sorted order: a_cat (written second) first
    train_sorted = np.stack(train[6:] + train[:6]).astype(np.float64)
    np.testing.assert_allclose(
        splits.mean_image, train_sorted.mean(0), atol=1e-3
    )  # §2: mean over the training set
    x_val, y_val = _collect(splits.val)
    assert x_val.shape == (5, SIZE, SIZE, 3) and x_val.dtype == np.float32 and y_val.dtype == np.int32
    np.testing.assert_array_equal(y_val, [0, 0, 1, 1, 1])
    raw_val = np.stack(val[3:] + val[:3]).astype(np.float32)
    restored = x_val + augment.center_crop(splits.mean_image, SIZE)
    np.testing.assert_allclose(restored, augment.center_crop(raw_val, SIZE), atol=1e-3)
    views, labels = _collect(splits.val_ten_view)
    assert views.shape == (5, 10, SIZE, SIZE, 3)
    np.testing.assert_allclose(views[:, 4], x_val, atol=1e-4)  # view 4 is the centre crop


def test_pca_statistics_match_numpy(roots, small_set):
    folder, train, _ = small_set
    splits = data.load_dataset(folder, image_size=SIZE, batch_size=4)
    pixels = np.stack(train).reshape(-1, 3).astype(np.float64)
    values = np.linalg.eigvalsh(np.cov(pixels.T / 255.0, bias=True))[::-1]  # PCA of pixel values in [0, 1]
    np.testing.assert_allclose(splits.eigenvalues, values, rtol=1e-4)
    np.testing.assert_allclose(splits.mean_rgb, pixels.mean(0), rtol=1e-4)


def test_train_pipeline_is_augmented_reproducible_and_reshuffled(roots, small_set):
    folder, _, _ = small_set
    first = data.load_dataset(folder, image_size=SIZE, batch_size=10, seed=3)
    second = data.load_dataset(folder, image_size=SIZE, batch_size=10, seed=3)
    epoch_a, labels_a = _collect(first.train)
    epoch_b, _ = _collect(first.train)
    np.testing.assert_array_equal(epoch_a, _collect(second.train)[0])  # same seed, same numbers
    assert not np.allclose(epoch_a, epoch_b)  # a new epoch: new order, crops, flips and colours
    assert sorted(labels_a) == [0] * 4 + [1] * 6
    eval_x, eval_y = _collect(first.train_eval)  # not shuffled, not augmented
    np.testing.assert_array_equal(eval_y, [0] * 4 + [1] * 6)
    assert eval_x.shape == (10, SIZE, SIZE, 3)


def test_flip_always_mirrors_train_and_val(roots, small_set):
    folder, _, _ = small_set
    plain = data.load_dataset(
        folder, image_size=SIZE, batch_size=4, flip="none", augment=False, shuffle=False
    )
    always = data.load_dataset(
        folder, image_size=SIZE, batch_size=4, flip="always", augment=False, shuffle=False
    )
    for name in ("val", "train"):
        np.testing.assert_array_equal(
            _collect(getattr(always, name))[0], _collect(getattr(plain, name))[0][:, :, ::-1]
        )
    with pytest.raises(ValueError, match="flip"):
        data.load_dataset(folder, image_size=SIZE, batch_size=4, flip="sometimes")


def test_corrupt_files_are_skipped_with_one_warning(roots, small_set):
    folder, _, _ = small_set
    (folder / "train" / "a_cat" / "empty.png").write_bytes(b"")
    good = (folder / "train" / "b_dog" / "000.png").read_bytes()
    (folder / "train" / "b_dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "val" / "a_cat" / "notes.txt").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = data.load_dataset(folder, image_size=SIZE, batch_size=4)
    messages = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(messages) == 1
    assert all(name in messages[0] for name in ("empty.png", "truncated.png", "notes.txt"))
    assert (splits.num_train, splits.num_val) == (10, 5)


def test_single_folder_is_split_with_a_seed(roots, tmp_path):
    folder = tmp_path / "flat"
    _write_images(folder, {"cats": 30, "dogs": 30}, seed=4)
    a = data.list_splits(folder, seed=1)
    b = data.list_splits(folder, seed=1)
    assert a[0] == b[0] and not set(a[0]) & set(a[2])
    assert len(a[0]) + len(a[2]) == 60 and 4 <= len(a[2]) <= 20
    assert a[4] == ["cats", "dogs"]


def test_missing_or_empty_folder_says_how_to_fetch(roots, tmp_path):
    with pytest.raises(ValueError, match="python -m data_scripts"):
        data.load_dataset(tmp_path / "nothing", image_size=SIZE, batch_size=4)
    (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
    with pytest.raises(data.DataNotFoundError, match="python -m data_scripts"):
        data.load_arrays(tmp_path / "empty", image_size=SIZE)
    with pytest.raises(ValueError, match="download_imagenette --variant 320"):
        data.load_arrays("imagenette2-320", image_size=SIZE)


def test_best_available_prefers_imagenette_and_names_its_classes(roots, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_offline_folder", lambda: pytest.fail("the offline set must not be drawn"))
    _write_images(roots / "imagenette2-160" / "train", {"n01440764": 2, "n03888257": 2}, seed=5, size=24)
    _write_images(
        roots / "imagenette2-160" / "val", {"n01440764": 1, "n03888257": 1}, seed=6, size=24, fmt="jpeg"
    )
    x_train, y_train, x_val, y_val, names, source = data.load_arrays(image_size=SIZE)
    assert names == ["tench", "parachute"] and source.name == "imagenette2-160" and source.is_real
    assert x_train.shape == (4, SIZE, SIZE, 3) and x_val.shape == (2, SIZE, SIZE, 3)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0 and x_train.dtype == np.float32
    assert data.find_dataset(None, 224)[0] == "imagenette2-160"  # the only variant present


def test_without_real_data_the_offline_set_is_used(roots, small_set, monkeypatch):
    folder, _, _ = small_set
    monkeypatch.setattr(datasets, "_offline_folder", lambda: folder)
    *_, source = data.load_arrays(image_size=SIZE, subset_size=5)
    assert source.name == "offline" and not source.is_real
    assert "5 train" in source.description and "no real images" in source.description


def test_decoded_images_are_cached(roots, small_set, monkeypatch):
    folder, _, _ = small_set
    first = data.load_arrays(folder, image_size=SIZE)
    monkeypatch.setattr(
        data, "load_image", lambda *a: pytest.fail("decoded again instead of read from the cache")
    )
    second = data.load_arrays(folder, image_size=SIZE)
    np.testing.assert_array_equal(first[0], second[0])
    assert list((roots.parent / "artifacts" / "data_cache").glob("*.npz"))


def test_pca_colour_shift_in_the_pipeline_is_one_colour_per_image(roots, small_set):
    folder, _, _ = small_set
    kwargs = {"image_size": SIZE, "batch_size": 10, "seed": 5, "flip": "random"}
    with_pca, _ = _collect(data.load_dataset(folder, pca_color=True, **kwargs).train)
    splits = data.load_dataset(folder, pca_color=False, **kwargs)
    without, _ = _collect(splits.train)  # same seeds: same order, crops and flips; only the colour differs
    offsets = (with_pca - without).reshape(len(without), -1, 3)
    np.testing.assert_allclose(offsets, np.broadcast_to(offsets[:, :1], offsets.shape), atol=1e-3)
    alphas = offsets[:, 0] / 255.0 @ splits.eigenvectors / splits.eigenvalues  # §4.1: alpha ~ N(0, 0.1)
    assert np.all(np.abs(alphas) < 0.6) and alphas.std() > 0.02
