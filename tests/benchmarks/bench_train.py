"""How close does training AlexNet come to what this machine can compute? One run, ratios.

Measures, in one process and one run:

1. the machine's float32 matrix-multiply rate (GFLOP/s), the yardstick (and bfloat16's);
2. images/s and GFLOP/s of training each model the book trains (quick and full sizes,
   paper and modern variants) through ``helpers.train.train_model`` itself: uint8 batches
   from ``ImageBatches``, the augmentation inside the step, the paper's optimiser, one
   checkpoint per epoch; each as a share of the matmul rate;
3. what the paper variant's two towers and LRN cost, against the ways they were computed
   before (Keras' grouped ``Conv2D(groups=2)``; TensorFlow's fused LRN kernel);
4. the checkpoint's share of an epoch of the quick profile on Imagenette (9,469 images);
5. the input pipeline at 227 px: ``ImageBatches`` gathering uint8 batches (and, on
   TensorFlow, ``tf.data`` doing the same: shuffle, batch, prefetch), and the
   augmentation layer alone (crop, flip, PCA colour, mean subtraction), in images/s;
6. with ``--comparison`` instead: what chapter 08's comparison of set-ups costs at the full
   profile's size (the modern variant at 227 px with the annotated original's batch of 2,
   with and without momentum, and with the book's batch), and the minutes the full
   profile's comparison cell spends training them.

    python tests/benchmarks/bench_train.py            # everything (a few minutes on 2 cores)
    python tests/benchmarks/bench_train.py --quick    # the quick-profile models only
    python tests/benchmarks/bench_train.py --comparison   # 08's set-ups, full size (a GPU)
    ALEXNET_PRECISION=float32 python tests/benchmarks/bench_train.py   # no bfloat16

The process warms up on one throwaway run (its first run is slower), then every model is
measured in turn, ``ROUNDS`` times, and its fastest round is reported: on a shared
machine the fastest round is the least disturbed one.

A training step costs about three forward passes (forward, and two products per layer
backward), so GFLOP/s = images/s x 3 x 2 x multiply-adds per image.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from helpers.augment import PaperAugmentation  # noqa: E402
from helpers.data import ImageBatches, Split  # noqa: E402
from helpers.model import TowerConv2D, build_alexnet, layer_costs  # noqa: E402
from helpers.profile import accelerator_names, get_profile, training_precision  # noqa: E402
from helpers.shapes import resize_size  # noqa: E402
from helpers.timing import median_times  # noqa: E402
from helpers.train import train_model  # noqa: E402

IMAGENETTE_TRAIN = 9_469
ROUNDS = 2  # every model is measured this many times, in turn; the fastest counts


def matmul_gflops(n: int = 2048, repeats: int = 10) -> dict[str, float]:
    """``n x n`` matrix products per second as GFLOP/s (median of ``repeats``), by dtype.

    Only one element of each product is copied back to the host (it waits for the
    whole product), so the copy is not what is timed.
    """
    a = keras.random.normal((n, n), seed=1)
    b = keras.random.normal((n, n), seed=2)
    pairs = {"float32": (a, b), "bfloat16": (keras.ops.cast(a, "bfloat16"),
                                             keras.ops.cast(b, "bfloat16"))}
    calls = {dtype: (lambda x=x, y=y: float(keras.ops.matmul(x, y)[0, 0]))
             for dtype, (x, y) in pairs.items()}
    seconds = median_times(calls, repeats)
    return {dtype: 2 * n**3 / s / 1e9 for dtype, s in seconds.items()}


def synthetic_split(n: int, side: int, classes: int = 10) -> Split:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    return Split(images, (np.arange(n) % classes).astype(np.int32), [])


def stage(size: int, images: np.ndarray) -> PaperAugmentation:
    layer = PaperAugmentation(size, resize_size(size), seed=1)
    return layer.set_statistics(images.mean(axis=0), np.full(3, 0.01), np.eye(3))


def train_rate(build, size: int, batch: int, n: int, folder: Path,
               momentum: float = 0.9) -> dict[str, float]:
    """images/s of the second epoch of ``train_model`` on ``n`` synthetic images; checkpoint s."""
    split = synthetic_split(n, resize_size(size))
    small_val = Split(split.images[:batch], split.labels[:batch], [])
    result = train_model(lambda: build(stage(size, split.images)),
                         ImageBatches(split, batch, shuffle=True),
                         ImageBatches(small_val, batch, shuffle=False),
                         run_name="bench", directory=folder, epochs=2, resume=False,
                         momentum=momentum, verbose=0)
    last = result.history.iloc[-1]
    macs = layer_costs(result.model)["multiply_adds"].sum()
    images_per_s = n / last["seconds"]
    return {"images/s": images_per_s, "GFLOP/s": images_per_s * 6 * macs / 1e9,
            "checkpoint s": last["checkpoint_s"], "epoch s": last["seconds"]}


def tf_grouped_and_fused() -> dict[str, object]:
    """Builders of the paper variant computed the older ways (TensorFlow only)."""
    import tensorflow as tf
    from helpers import model as model_module

    class FusedLRN(keras.layers.Layer):  # TensorFlow's fused kernel, the paper's constants
        def call(self, x):  # the CPU kernel takes float32 only (not bfloat16)
            y = tf.nn.local_response_normalization(tf.cast(x, "float32"), 2, 2.0, 1e-4, 0.75)
            return tf.cast(y, x.dtype)

    def with_layers(conv_class, lrn_class):
        def build(num_classes, size, variant, input_stage):
            old = model_module.TowerConv2D, model_module.LocalResponseNormalization
            model_module.TowerConv2D, model_module.LocalResponseNormalization = conv_class, lrn_class
            try:
                return build_alexnet(num_classes, size, variant, input_stage=input_stage)
            finally:
                model_module.TowerConv2D, model_module.LocalResponseNormalization = old
        return build

    from helpers.lrn import LocalResponseNormalization
    return {"paper, Keras grouped Conv2D (before)": with_layers(keras.layers.Conv2D,
                                                                 LocalResponseNormalization),
            "paper, TensorFlow's fused LRN": with_layers(TowerConv2D, FusedLRN)}


def pipeline_rates(size: int = 227, batch: int = 128, n: int = 1024) -> dict[str, float]:
    """images/s of gathering uint8 batches and of the augmentation layer alone, at ``size``."""
    split = synthetic_split(n, resize_size(size))
    batches = ImageBatches(split, batch, shuffle=True)
    start = time.perf_counter()
    for i in range(len(batches)):
        batches[i]
    gather = n / (time.perf_counter() - start)
    rates = {"ImageBatches (uint8 gather)": gather}
    if keras.backend.backend() == "tensorflow":  # the alternative there: tf.data
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
        data = data.shuffle(n, seed=0).batch(batch).prefetch(tf.data.AUTOTUNE)
        for _ in data.take(1):  # warm-up: builds the pipeline's threads
            pass
        start = time.perf_counter()
        for images, _ in data:
            float(images[0, 0, 0, 0])  # waits for the batch
        rates["tf.data (shuffle, batch, prefetch)"] = n / (time.perf_counter() - start)
    layer = stage(size, split.images)
    def run(images) -> float:  # waits for the batch; copies one number, not the batch
        return float(images[0, 0, 0, 0])

    run(layer(split.images[:batch], training=True))  # warm-up
    start = time.perf_counter()
    for i in range(len(batches)):
        run(layer(batches[i][0], training=True))
    rates["PaperAugmentation (eager, per batch)"] = n / (time.perf_counter() - start)
    compiled = None  # as it runs: inside the compiled step
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(lambda x: layer(x, training=True))
    elif keras.backend.backend() == "jax":
        import jax

        compiled = jax.jit(lambda x: layer(x, training=True))
    if compiled is not None:
        run(compiled(batches[0][0]))
        start = time.perf_counter()
        for i in range(len(batches)):
            run(compiled(batches[i][0]))
        rates["PaperAugmentation (compiled, as in the step)"] = n / (time.perf_counter() - start)
    return rates


def comparison_cost(folder: Path, steps: int = 256) -> None:
    """08's set-ups at the full profile's size: images/s, and the full profile's minutes."""
    cmp = get_profile("full")["comparison"]
    setups = {  # name: (batch, momentum, rows of 08's `setups` trained this way)
        "batch 2, no momentum (the original)": (2, 0.0, 1),
        "batch 2, momentum 0.9 (two rows: flips)": (2, 0.9, 2),
        f"batch {cmp.batch_size}, momentum 0.9 (the book's)": (cmp.batch_size, 0.9, 1)}

    def build(input_stage):
        return build_alexnet(10, cmp.image_size, "modern", input_stage=input_stage)

    train_rate(build, cmp.image_size, 2, 2 * 16, folder / "warm-up")
    print(f"08's comparison at {cmp.image_size} px, modern variant, "
          f"{steps} steps an epoch; the full profile trains each set-up for "
          f"{cmp.epochs} epochs of {IMAGENETTE_TRAIN:,} images")
    print(f"{'set-up':44s} {'img/s':>7} {'epoch s':>8} {'minutes':>8}")
    total = 0.0
    for i, (name, (batch, momentum, rows)) in enumerate(setups.items()):
        row = train_rate(build, cmp.image_size, batch, batch * steps, folder / str(i),
                         momentum=momentum)
        epoch = IMAGENETTE_TRAIN / row["images/s"]
        minutes = epoch * cmp.epochs / 60 * rows
        total += minutes
        print(f"{name:44s} {row['images/s']:7.0f} {epoch:8.1f} {minutes:8.1f}")
    print(f"the full profile's comparison cell (four set-ups): {total:.0f} minutes of "
          "training at most")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the quick-profile models")
    parser.add_argument("--comparison", action="store_true",
                        help="only 08's comparison of set-ups at the full profile's size")
    args = parser.parse_args()
    accelerated = bool(accelerator_names())
    # on an accelerator a smaller product takes less time than launching it
    rates = matmul_gflops(8192 if accelerated else 2048)
    peak = rates["float32"]
    print(f"backend {keras.backend.backend()}, {os.cpu_count()} cores, "
          f"training precision {training_precision()}")
    print(f"float32 matmul: {peak:.1f} GFLOP/s (the yardstick); "
          f"bfloat16 matmul: {rates['bfloat16']:.1f} GFLOP/s\n")
    if args.comparison:
        with tempfile.TemporaryDirectory() as folder:
            comparison_cost(Path(folder))
        return
    quick, full = get_profile("quick")["alexnet"], get_profile("full")["alexnet"]
    runs = [("quick", quick.image_size, quick.batch_size, variant, 1024)
            for variant in ("paper", "modern")]
    if not args.quick:
        steps = 32 if accelerated else 2  # on a GPU an epoch of 2 steps is overhead
        runs += [("full", full.image_size, full.batch_size, variant, steps * full.batch_size)
                 for variant in ("paper", "modern")]
    measured = {}  # name -> (builder, size, batch, n)
    for profile, size, batch, variant, n in runs:
        def build(input_stage, size=size, variant=variant):
            return build_alexnet(10, size, variant, input_stage=input_stage)
        measured[f"{profile} {size} px, batch {batch}, {variant}"] = (build, size, batch, n)
    if keras.backend.backend() == "tensorflow":
        for name, builder in tf_grouped_and_fused().items():
            def build(input_stage, builder=builder):
                return builder(10, quick.image_size, "paper", input_stage)
            measured[f"quick {quick.image_size} px, batch {quick.batch_size}, {name}"] = (
                build, quick.image_size, quick.batch_size, 1024)
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        first = next(iter(measured.values()))
        train_rate(*first, Path(folder) / "warm-up")  # the process's first run is slow
        for round_ in range(ROUNDS):  # in turn, and each one's fastest round
            for i, (name, (build, size, batch, n)) in enumerate(measured.items()):
                row = train_rate(build, size, batch, n, Path(folder) / f"{i}-{round_}")
                if name not in rows or row["images/s"] > rows[name]["images/s"]:
                    rows[name] = row
    print(f"{'training step (through train_model)':60s} {'img/s':>7} {'GFLOP/s':>8} {'share':>6}")
    for name, row in rows.items():
        print(f"{name:60s} {row['images/s']:7.0f} {row['GFLOP/s']:8.1f} "
              f"{row['GFLOP/s'] / peak:6.0%}")
    quick_paper = rows[f"quick {quick.image_size} px, batch {quick.batch_size}, paper"]
    quick_modern = rows[f"quick {quick.image_size} px, batch {quick.batch_size}, modern"]
    print(f"\npaper / modern images/s (quick): "
          f"{quick_paper['images/s'] / quick_modern['images/s']:.2f}")
    for name, row in (("paper", quick_paper), ("modern", quick_modern)):
        epoch = IMAGENETTE_TRAIN / row["images/s"]
        print(f"checkpoint of the quick {name} model: {row['checkpoint s']:.2f} s, "
              f"{row['checkpoint s'] / epoch:.1%} of an Imagenette epoch ({epoch:.0f} s)")
    print("\ninput pipeline at 227 px, batch 128:")
    for name, rate in pipeline_rates().items():
        print(f"  {name:40s} {rate:8.0f} images/s")


if __name__ == "__main__":
    main()
