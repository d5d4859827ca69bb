"""helpers.saturation: the units' derivatives and the gradient through a deep stack.

The check against TensorFlow's autodiff is in ``tests/test_saturation_tf.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.saturation import ACTIVATIONS, gradient_norms_through_stack


def test_activation_derivatives_match_finite_differences():
    z = np.linspace(-4, 4, 81) + 0.013  # avoid ReLU's kink at exactly 0
    for name, (f, df) in ACTIVATIONS.items():
        numeric = (f(z + 1e-6) - f(z - 1e-6)) / 2e-6
        np.testing.assert_allclose(df(z), numeric, atol=1e-6, err_msg=name)


def test_sigmoid_gradient_vanishes_relu_does_not_with_he_scale():
    sigmoid = gradient_norms_through_stack("sigmoid", depth=20, width=64,
                                           weight_std=np.sqrt(2))
    relu = gradient_norms_through_stack("relu", depth=20, width=64, weight_std=np.sqrt(2))
    assert sigmoid[0] / sigmoid[-1] < 1e-6  # sigma' <= 1/4 per layer
    assert 0.1 < relu[0] / relu[-1] < 10
    with pytest.raises(ValueError, match="unknown activation"):
        gradient_norms_through_stack("gelu")
