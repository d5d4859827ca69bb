"""The offline set: deterministic, atomic, cached, and hard for a linear model but not for a CNN."""

from __future__ import annotations

import hashlib
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from data_scripts import make_offline_dataset as offline


def _digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            sha.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return sha.hexdigest()


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    kwargs = {"train_per_class": 2, "val_per_class": 1, "image_size": 32}
    a = offline.make_offline_dataset(tmp_path / "a", seed=1, **kwargs)
    b = offline.make_offline_dataset(tmp_path / "b", seed=1, workers=1, **kwargs)
    c = offline.make_offline_dataset(tmp_path / "c", seed=2, **kwargs)
    assert _digest(a) == _digest(b) != _digest(c)
    assert sorted(p.name for p in (a / "train").iterdir()) == sorted(offline.CLASS_NAMES)
    assert len(list(a.glob("train/*/*.png"))) == 20 and len(list(a.glob("val/*/*.png"))) == 10
    with Image.open(next(a.glob("val/star/*.png"))) as image:
        assert image.size == (32, 32) and image.mode == "RGB"


def test_an_interrupted_run_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = offline.draw_image

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt("interrupted")
        return real(*args, **kwargs)

    monkeypatch.setattr(offline, "draw_image", failing)
    with pytest.raises(KeyboardInterrupt):
        offline.make_offline_dataset(
            tmp_path / "set", train_per_class=3, val_per_class=1, image_size=32, workers=1
        )
    assert list(tmp_path.iterdir()) == []  # neither the set nor its temporary folder


def test_ensure_draws_once_then_reuses(tmp_path, monkeypatch):
    monkeypatch.setattr(
        offline,
        "_DEFAULTS",
        {**offline._DEFAULTS, "train_per_class": 1, "val_per_class": 1, "image_size": 32},
    )
    first = offline.ensure_offline_dataset(tmp_path)
    assert first == tmp_path / "offline" and len(list(first.glob("train/*/*.png"))) == 10
    stamp = (first / offline.MANIFEST).stat().st_mtime_ns
    assert offline.ensure_offline_dataset(tmp_path) == first
    assert (first / offline.MANIFEST).stat().st_mtime_ns == stamp  # not redrawn
    (first / offline.MANIFEST).unlink()  # an incomplete set is redrawn
    offline.ensure_offline_dataset(tmp_path)
    assert (first / offline.MANIFEST).exists()


def _arrays(split: int, per_class: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for label in range(len(offline.CLASS_NAMES)):
        for i in range(per_class):
            image = offline.draw_image(label, np.random.default_rng([7, split, label, i]), 64)
            images.append(np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BOX)))
            labels.append(label)
    return np.stack(images).astype(np.float32) / 255.0, np.array(labels)


def test_a_linear_model_does_clearly_worse_than_a_small_cnn():
    x_train, y_train = _arrays(0, 80)
    x_val, y_val = _arrays(1, 20)
    # linear model on raw pixels: ridge regression onto one-hot labels (closed form)
    features = lambda x: np.c_[x.reshape(len(x), -1), np.ones(len(x))]  # noqa: E731
    a = features(x_train)
    w = np.linalg.solve(a.T @ a + 10.0 * np.eye(a.shape[1]), a.T @ np.eye(10)[y_train])
    linear = float(np.mean((features(x_val) @ w).argmax(1) == y_val))
    keras.utils.set_random_seed(0)
    cnn = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(10),
        ]
    )
    cnn.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    cnn.fit(x_train, y_train, epochs=12, batch_size=32, verbose=0)
    convolutional = cnn.evaluate(x_val, y_val, verbose=0)[1]
    assert linear < 0.25  # chance is 0.10: colour and position say nothing about the class
    assert convolutional > linear + 0.15, (linear, convolutional)


def test_command_line_help_and_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        offline.main(["--help"])
    assert exit_info.value.code == 0 and "offline" in capsys.readouterr().out
    assert (
        offline.main(
            [
                "--out",
                str(tmp_path / "o"),
                "--train-per-class",
                "1",
                "--val-per-class",
                "1",
                "--image-size",
                "24",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "o").glob("*/*/*.png"))) == 20
