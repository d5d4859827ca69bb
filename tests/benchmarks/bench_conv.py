"""Loop vs vectorized NumPy vs TensorFlow on AlexNet's conv1, measured in one run.

conv1 (§3.5): a 227x227x3 image, 96 kernels of 11x11x3, stride 4, giving 55x55x96.
The loop version runs once on the full problem (it takes seconds); the other two
take the median of several repeats, called in turn (``helpers.timing.median_times``,
the helper the convolution chapter times with). Run from the repository root:

    python tests/benchmarks/bench_conv.py [--batch 1] [--repeats 20]

Targets: vectorized at least 100x faster than the loop, and within 10x of TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from helpers.layers import conv2d, conv2d_loop, relative_error  # noqa: E402
from helpers.timing import median_times  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1, help="images per call (default 1)")
    parser.add_argument("--repeats", type=int, default=20, help="repeats of the fast versions (default 20)")
    args = parser.parse_args()

    rng = np.random.default_rng(2012)
    x = rng.standard_normal((args.batch, 227, 227, 3)).astype(np.float32)
    w = (rng.standard_normal((11, 11, 3, 96)) * 0.01).astype(np.float32)  # §5: N(0, 0.01) weights
    b = np.zeros(96, np.float32)

    start = time.perf_counter()
    looped = conv2d_loop(x, w, b, stride=4)
    loop_s = time.perf_counter() - start
    fast = median_times({"vectorized": lambda: conv2d(x, w, b, stride=4),
                         "tf": lambda: tf.nn.conv2d(x, w, 4, "VALID").numpy() + b}, args.repeats)
    vectorized_s, tf_s = fast["vectorized"], fast["tf"]

    reference = tf.nn.conv2d(x, w, 4, "VALID").numpy() + b
    error = relative_error(conv2d(x, w, b, stride=4), reference)
    assert np.allclose(looped, reference, rtol=1e-4, atol=1e-5), "the loop version disagrees with TensorFlow"

    print(f"conv1: {x.shape} * {w.shape}, stride 4 -> {reference.shape}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"TensorFlow {tf.__version__}")
    print(f"max relative difference vectorized vs TensorFlow: {error:.1e}")
    print(f"loop        {loop_s * 1e3:10.1f} ms")
    print(f"vectorized  {vectorized_s * 1e3:10.2f} ms   "
          f"{loop_s / vectorized_s:7.0f}x faster than the loop (target >= 100x)")
    print(f"TensorFlow  {tf_s * 1e3:10.2f} ms   "
          f"vectorized is {vectorized_s / tf_s:.1f}x TensorFlow's time (target <= 10x)")


if __name__ == "__main__":
    main()
