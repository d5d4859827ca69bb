"""The paper's update rule (PaperSGD) and learning-rate schedule (§5), on every backend.

The reference is §5's rule computed by hand in NumPy; ``tests/test_train.py`` also
checks PaperSGD against an L2 penalty differentiated by TensorFlow.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers.optim import PaperSGD, PlateauSchedule, updates
from keras import ops


def _steps(optimizer, values, gradients_per_step):
    variables = [keras.Variable(v) for v in values]
    for gradients in gradients_per_step:
        optimizer.apply_gradients(zip([ops.convert_to_tensor(g) for g in gradients],
                                      variables, strict=True))
    return [np.asarray(ops.convert_to_numpy(v)) for v in variables]


def test_weight_decay_goes_through_momentum_like_the_paper():
    """Three steps by hand: v <- 0.9 v - wd*lr*w - lr*g; w <- w + v (kernels only)."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 2)).astype(np.float32)
    b0 = rng.normal(size=(2,)).astype(np.float32)
    grads = [[rng.normal(size=(3, 2)).astype(np.float32),
              rng.normal(size=(2,)).astype(np.float32)] for _ in range(3)]
    lr, mu, wd = 0.1, 0.9, 0.05  # large, so that a wrong rule shows
    w, b = w0.astype(np.float64), b0.astype(np.float64)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for gw, gb in grads:
        vw = mu * vw - wd * lr * w - lr * gw
        vb = mu * vb - lr * gb  # biases: no decay
        w, b = w + vw, b + vb
    got_w, got_b = _steps(PaperSGD(lr, mu, l2=wd), [w0, b0], grads)
    np.testing.assert_allclose(got_w, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b, rtol=1e-5, atol=1e-6)
    decoupled_w, _ = _steps(keras.optimizers.SGD(lr, mu, weight_decay=wd), [w0, b0], grads)
    assert np.abs(decoupled_w - w).max() > 1e-3  # Keras' decoupled decay is another rule
    all_w, all_b = _steps(PaperSGD(lr, mu, l2=wd, decay_all=True), [w0, b0], grads)
    assert np.abs(all_b - b).max() > 1e-3  # decay_all decays the biases too


def test_warmup_scales_the_first_steps_linearly():
    sizes = []
    optimizer = PaperSGD(learning_rate=0.1, momentum=0.0, l2=0.0, warmup_steps=4)
    w = keras.Variable(np.zeros(1, np.float32))
    for _ in range(6):
        before = float(ops.convert_to_numpy(w)[0])
        optimizer.apply_gradients([(ops.ones((1,)), w)])
        sizes.append(before - float(ops.convert_to_numpy(w)[0]))
    np.testing.assert_allclose(sizes, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rtol=1e-5)
    config = PaperSGD(0.01, warmup_steps=7, l2=1e-3).get_config()
    again = PaperSGD.from_config(config)
    assert (again.warmup_steps, again.l2, again.momentum) == (7, 1e-3, 0.9)
    with pytest.raises(ValueError, match="warmup_steps"):
        PaperSGD(warmup_steps=-1)
    with pytest.raises(ValueError, match="5e-4"):
        PaperSGD(l2=-1.0)


def test_plateau_schedule_divides_by_ten_three_times_then_finishes():
    schedule, rate, rates = PlateauSchedule(patience=2), 0.01, []
    errors = [0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    for error in errors:
        rates.append(rate)
        rate = schedule.update(error, rate)
        if schedule.finished:
            break
    # epochs 3-4 do not improve on 0.8: divided after epoch 4; and so on, three times
    assert rates[:5] == [0.01, 0.01, 0.01, 0.01, 0.001]
    assert schedule.reductions == 3 and schedule.finished  # §5: three, then stop
    assert len(rates) == 11 and rates[-1] == pytest.approx(1e-5)  # then it stops
    restored = PlateauSchedule.from_dict(schedule.to_dict())
    assert restored == schedule


def test_a_fixed_reduction_counts_as_one_of_the_three():
    schedule = PlateauSchedule(patience=2)
    assert schedule.update(0.5, 0.01) == 0.01
    assert schedule.reduce(0.01) == pytest.approx(0.001)
    assert schedule.reductions == 1 and not schedule.finished


def test_updates_follow_one_weight_through_the_paper_rule_step_by_step():
    """``updates`` against the rule by hand: v <- mu v - wd lr w - lr g; w <- w + v."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(2, 2))
    grads = [rng.normal(size=(2, 2)) for _ in range(4)]
    path = updates(PaperSGD(0.1, 0.9, l2=0.05), w0, grads)
    w, v, expected = w0.copy(), np.zeros_like(w0), []
    for g in grads:
        v = 0.9 * v - 0.05 * 0.1 * w - 0.1 * g
        w = w + v
        expected.append(w)
    assert path.shape == (4, 2, 2) and path.dtype == np.float32
    np.testing.assert_allclose(path, np.stack(expected), rtol=1e-5, atol=1e-6)
    no_gradient = [np.zeros((1, 1))] * 30  # Keras' decoupled decay: (1 - c lr) per step
    decoupled = updates(keras.optimizers.SGD(0.1, 0.9, weight_decay=0.05), np.ones((1, 1)),
                        no_gradient)
    np.testing.assert_allclose(decoupled[:, 0, 0], (1 - 0.05 * 0.1) ** np.arange(1, 31),
                               rtol=1e-5)
