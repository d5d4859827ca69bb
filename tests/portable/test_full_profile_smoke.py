"""The full profile, smoke-tested on a CPU: every experiment's settings for one step.

The website is built with the full profile on a GPU; nothing there should fail on what a
CPU can catch: a variant or size the builder refuses, a shape that does not fit at 227
pixels, a dtype that breaks under mixed precision (float16, as on a GPU; bfloat16), or a
layer XLA cannot compile. Each AlexNet experiment of the full profile builds its model as
``helpers.train`` does, with the data's input stage, and trains one step of its own batch
size on synthetic images; the small-CNN experiments do the same.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers.augment import PaperAugmentation
from helpers.data import ImageBatches, Split
from helpers.experiments import small_cnn, train_with_history
from helpers.model import build_alexnet, minimum_input_size
from helpers.profile import get_profile
from helpers.seeding import set_seed
from helpers.shapes import resize_size
from helpers.train import build_on_device, compile_paper, train_model

from .arrays import noise_split

FULL = get_profile("full")
ALEXNET_EXPERIMENTS = ["data", "alexnet", "evaluation", "comparison", "ablation", "small_data"]
SMALL_CNN_EXPERIMENTS = ["relu_vs_tanh", "dropout"]


def test_the_full_profile_names_every_experiment_of_the_book():
    assert set(FULL.experiments) == set(ALEXNET_EXPERIMENTS + SMALL_CNN_EXPERIMENTS)


@pytest.mark.parametrize("experiment", ALEXNET_EXPERIMENTS)
def test_alexnet_settings_are_buildable(experiment):
    settings = FULL[experiment]
    assert settings.image_size >= minimum_input_size()
    assert settings.batch_size >= 1 and settings.epochs >= 1
    model = build_alexnet(10, settings.image_size, settings.model_variant)
    assert model.output_shape == (None, 10)


def _split(side: int, n: int, classes: int = 10) -> Split:
    return noise_split(np.random.default_rng(0), n, side, classes)


def _stage(size: int, split: Split) -> PaperAugmentation:
    stage = PaperAugmentation(size, resize_size(size), seed=1)
    return stage.set_statistics(split.images.mean(axis=0), np.full(3, 1e-3), np.eye(3))


@pytest.mark.parametrize("variant", sorted({FULL[e].model_variant for e in ALEXNET_EXPERIMENTS}))
def test_one_full_size_training_step_through_train_model(variant, tmp_path):
    """227-pixel crops of 256-pixel images, the paper's batch of 128, checkpointed."""
    settings = FULL["alexnet"]
    split = _split(resize_size(settings.image_size), settings.batch_size)
    result = train_model(
        lambda: build_alexnet(10, settings.image_size, variant,
                              input_stage=_stage(settings.image_size, split)),
        ImageBatches(split, settings.batch_size, shuffle=True),
        ImageBatches(Split(split.images[:8], split.labels[:8], []), 8, shuffle=False),
        run_name="full", directory=tmp_path, epochs=1, verbose=0)
    assert np.isfinite(result.history["loss"].iloc[0])
    assert (tmp_path / "epoch-001.weights.h5").exists()


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_and_keeps_float32_logits(policy, monkeypatch):
    """The GPU's float16 policy (and the CPU's bfloat16) on the paper's network."""
    if policy == "mixed_float16" and keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow's CPU convolutions have no float16 kernels; the GPU has")
    monkeypatch.setenv("ALEXNET_PRECISION", policy)
    split = _split(77, 4)
    model = compile_paper(build_on_device(
        lambda: build_alexnet(10, 67, "paper", input_stage=_stage(67, split))))
    assert model.get_layer("conv2").compute_dtype == policy.split("_")[1]
    assert model.get_layer("conv2").kernel.dtype == "float32"  # the weights stay float32
    logits = model(split.images, training=False)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    loss = model.train_on_batch(split.images, split.labels)
    assert np.all(np.isfinite(loss))


def test_the_step_compiles_with_xla(no_deterministic_kernels, monkeypatch):
    """On a GPU, where ``set_seed`` leaves deterministic kernels off, the step uses XLA."""
    if keras.backend.backend() == "torch":
        pytest.skip("XLA is TensorFlow's and JAX's compiler; PyTorch's is torch.compile")
    monkeypatch.setattr("helpers.profile.accelerator_names", lambda: ["GPU:0"])
    set_seed()
    split = _split(77, 4)
    model = compile_paper(build_alexnet(10, 67, "paper", input_stage=_stage(67, split)))
    model.jit_compile = True  # what jit_compile="auto" chooses on a GPU
    assert model.jit_compile is True, "Keras refused to compile the step with XLA"
    loss = model.train_on_batch(split.images, split.labels)
    assert np.all(np.isfinite(loss))


@pytest.mark.parametrize("experiment", SMALL_CNN_EXPERIMENTS)
def test_small_cnn_settings_train_one_epoch_of_their_batch(experiment):
    settings = FULL[experiment]
    rng = np.random.default_rng(0)
    size = settings.image_size
    x = rng.uniform(0, 1, (settings.batch_size, size, size, 3)).astype("float32")
    y = (np.arange(settings.batch_size) % 10).astype("int32")
    dense = 256 if experiment == "dropout" else 0
    model = small_cnn((size, size, 3), 10, dense_units=dense, dropout_rate=0.5 if dense else 0.0)
    history = train_with_history(model, x, y, epochs=1, batch_size=settings.batch_size,
                                 learning_rate=0.001)
    assert len(history) == 1 and np.isfinite(history["train_loss"].iloc[0])
