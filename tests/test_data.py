"""The data loader: finding data sets, decoding, caching, corrupt files, statistics.

Nothing here depends on the Keras backend (``tests/portable/test_data.py`` checks the
batches and the input stage on every backend).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import data, datasets
from helpers.shapes import resize_size
from PIL import Image

SIZE = 16  # network input; images are made at resize_size(16) = 18 px: no resampling
R = resize_size(SIZE)


def _write_images(folder: Path, classes: dict[str, int], seed: int, size: int = R,
                  fmt: str = "png") -> list[np.ndarray]:
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
def small_set(tmp_path):
    folder = tmp_path / "small"
    train = _write_images(folder / "train", {"b_dog": 6, "a_cat": 4}, seed=1)
    val = _write_images(folder / "val", {"b_dog": 3, "a_cat": 2}, seed=2)
    return folder, train, val


def test_train_val_folders_give_images_labels_and_the_mean_image(isolated_folders, small_set):
    folder, train, val = small_set
    splits = data.load_dataset(folder, image_size=SIZE)
    assert splits.class_names == ["a cat", "b dog"]  # sorted folders, "_" as spaces
    assert (splits.num_train, splits.num_val) == (10, 5)
    assert splits.source.is_real and str(folder) in splits.source.description
    # files are read class by class in sorted order: a_cat (written second) first
    train_sorted = np.stack(train[6:] + train[:6])
    np.testing.assert_array_equal(splits.train.images, train_sorted)
    np.testing.assert_array_equal(splits.train.labels, [0] * 4 + [1] * 6)
    np.testing.assert_array_equal(splits.val.images, np.stack(val[3:] + val[:3]))
    assert splits.train.images.dtype == np.uint8 and splits.val.labels.dtype == np.int32
    # §2: "subtracting the mean activity over the training set from each pixel"
    np.testing.assert_allclose(splits.mean_image, train_sorted.mean(0), atol=1e-3)
    crops = splits.centre_crops("val")
    assert crops.shape == (5, SIZE, SIZE, 3) and 0.0 <= crops.min() <= crops.max() <= 1.0


def test_pca_statistics_match_numpy(isolated_folders, small_set):
    folder, train, _ = small_set
    splits = data.load_dataset(folder, image_size=SIZE)
    pixels = np.stack(train).reshape(-1, 3).astype(np.float64) / 255.0
    values = np.linalg.eigvalsh(np.cov(pixels.T, bias=True))[::-1]  # §4.1, in [0, 1]
    np.testing.assert_allclose(splits.eigenvalues, values, rtol=1e-4)
    vectors = splits.eigenvectors
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=1e-5)


def test_subsets_are_drawn_with_the_seed_and_statistics_follow_them(isolated_folders, small_set):
    folder, _, _ = small_set
    a = data.load_dataset(folder, image_size=SIZE, subset_size=4, val_size=3, seed=1)
    b = data.load_dataset(folder, image_size=SIZE, subset_size=4, val_size=3, seed=1)
    assert (a.num_train, a.num_val) == (4, 3)
    assert a.train.files == b.train.files and a.val.files == b.val.files
    np.testing.assert_allclose(a.mean_image, a.train.images.mean(0), atol=1e-3)
    assert "4 train / 3 val" in a.source.description


def test_corrupt_files_are_skipped_with_a_warning_naming_them(isolated_folders, small_set):
    folder, _, _ = small_set
    (folder / "train" / "a_cat" / "empty.png").write_bytes(b"")
    good = (folder / "train" / "b_dog" / "000.png").read_bytes()
    (folder / "train" / "b_dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "val" / "a_cat" / "notes.txt").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = data.load_dataset(folder, image_size=SIZE)
    messages = " ".join(str(w.message) for w in caught if "unreadable" in str(w.message))
    assert all(name in messages for name in ("empty.png", "truncated.png", "notes.txt"))
    assert (splits.num_train, splits.num_val) == (10, 5)
    assert all(path.suffix == ".png" for path in splits.val.files)


def test_single_folder_is_split_with_a_seed(tmp_path):
    folder = tmp_path / "flat"
    _write_images(folder, {"cats": 30, "dogs": 30}, seed=4)
    a = datasets.list_files(folder, seed=1)
    b = datasets.list_files(folder, seed=1)
    assert a.train_files == b.train_files and not set(a.train_files) & set(a.val_files)
    assert len(a.train_files) + len(a.val_files) == 60 and len(a.val_files) == 12  # 20% of each
    assert sorted(a.val_labels) == [0] * 6 + [1] * 6
    assert a.classes == ["cats", "dogs"]


def test_stratified_holdout_by_count_or_fraction_depends_only_on_seed_and_items():
    by_class = {"b": list(range(10)), "a": list(range(100, 103))}
    train, val = datasets.stratified_holdout(by_class, seed=3, count=2)
    assert {k: len(v) for k, v in val.items()} == {"a": 2, "b": 2}
    assert sorted(train["b"] + val["b"]) == list(range(10)) and not set(train["b"]) & set(val["b"])
    shuffled = {"a": by_class["a"][::-1], "b": by_class["b"][::-1]}
    assert datasets.stratified_holdout(shuffled, seed=3, count=2) == (train, val)
    assert datasets.stratified_holdout(by_class, seed=4, count=2) != (train, val)
    _, val = datasets.stratified_holdout({"a": [1], "b": list(range(10))}, seed=0, fraction=0.25)
    assert (len(val["a"]), len(val["b"])) == (0, 2)  # round(2.5) = 2; one item stays in train
    with pytest.raises(ValueError, match="'a' has 3 items, too few"):
        datasets.stratified_holdout(by_class, seed=0, count=3)
    with pytest.raises(ValueError, match="count or fraction"):
        datasets.stratified_holdout(by_class, seed=0)


def test_missing_or_empty_folder_says_how_to_fetch(isolated_folders, tmp_path):
    with pytest.raises(ValueError, match="python -m data_scripts"):
        data.load_dataset(tmp_path / "nothing", image_size=SIZE)
    (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
    with pytest.raises(datasets.DataNotFoundError, match="python -m data_scripts"):
        data.load_dataset(tmp_path / "empty", image_size=SIZE)
    with pytest.raises(ValueError, match="download_imagenette --variant 320"):
        data.load_dataset("imagenette2-320", image_size=SIZE)


def test_best_available_prefers_imagenette_and_names_its_classes(isolated_folders, monkeypatch):
    monkeypatch.setattr(datasets, "_offline_folder",
                        lambda: pytest.fail("the offline set must not be drawn"))
    classes = {"n01440764": 2, "n03888257": 2}
    _write_images(isolated_folders / "imagenette2-160" / "train", classes, seed=5, size=24)
    _write_images(isolated_folders / "imagenette2-160" / "val", {k: 1 for k in classes}, seed=6,
                  size=24, fmt="jpeg")
    splits = data.load_dataset(image_size=SIZE)
    assert splits.class_names == ["tench", "parachute"]
    assert splits.source.name == "imagenette2-160" and splits.source.is_real
    assert splits.train.images.shape == (4, R, R, 3)
    assert data.find_dataset(None, 224)[0] == "imagenette2-160"  # the only variant


def test_without_photographs_the_drawn_set_is_used_and_says_so(isolated_folders, small_set,
                                                              monkeypatch):
    folder, _, _ = small_set
    monkeypatch.setattr(datasets, "_offline_folder", lambda: folder)
    splits = data.load_dataset(image_size=SIZE, subset_size=5)
    assert splits.source.name == "offline" and not splits.source.is_real
    assert "5 train" in splits.source.description
    assert "no photographs" in splits.source.description


def test_decoded_images_are_cached(isolated_folders, small_set, monkeypatch):
    folder, _, _ = small_set
    first = data.load_dataset(folder, image_size=SIZE)
    monkeypatch.setattr(data, "load_image",
                        lambda *a: pytest.fail("decoded again instead of read from cache"))
    second = data.load_dataset(folder, image_size=SIZE, subset_size=3)
    np.testing.assert_array_equal(first.train.images[np.isin(first.train.files,
                                                             second.train.files)],
                                  second.train.images)
    assert list((isolated_folders.parent / "artifacts" / "data_cache").glob("*.npz"))


def test_load_image_resizes_the_shorter_side_and_crops_the_centre(tmp_path):
    """§2: shorter side to 256, then the central 256 x 256 patch (here 20 x 40 -> 10)."""
    array = np.zeros((20, 40, 3), np.uint8)
    array[:, 10:30] = 255  # a white band in the middle half of the width
    Image.fromarray(array).save(tmp_path / "wide.png")
    image = data.load_image(tmp_path / "wide.png", 10)
    assert image.shape == (10, 10, 3)
    assert image[:, 2:8].min() == 255  # the centre is kept, not squashed
    assert data.load_image(tmp_path / "missing.png", 10) is None
