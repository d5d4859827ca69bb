"""The paper's optimiser and learning-rate schedule (§5).

"We trained our models using stochastic gradient descent with a batch size of 128
examples, momentum of 0.9, and weight decay of 0.0005", with the update rule

    v <- 0.9 v - 0.0005 lr w - lr dL/dw,    w <- w + v,

and a learning rate that starts at 0.01 and is divided by 10 "when the validation error
rate stopped improving with the current learning rate ... reduced three times prior to
termination". ``PaperSGD`` is the rule, ``PlateauSchedule`` the schedule; both are plain
Keras and run on every backend. ``updates`` follows one weight through an optimiser's
steps, for comparisons with the rule written out by hand.

Taught in ``book/08_training.ipynb``; checked by ``tests/portable/test_optim.py`` (every
backend) and ``tests/test_train.py`` (against an L2 penalty in TensorFlow).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np
from keras import ops


def updates(optimizer: keras.optimizers.Optimizer, weight: np.ndarray,
            gradients: Iterable[np.ndarray]) -> np.ndarray:
    """The values of ``weight`` after each update of ``optimizer``, one per gradient.

    Returns ``(steps, *weight.shape)``: row ``t`` is the weight after update ``t + 1``.
    One float32 variable, as in a model, so that an optimiser's rule can be compared
    with the paper's update written out by hand, step by step.
    """
    variable = keras.Variable(np.asarray(weight, np.float32))
    path = []
    for gradient in gradients:
        step = ops.convert_to_tensor(np.asarray(gradient, np.float32))
        optimizer.apply_gradients([(step, variable)])
        path.append(ops.convert_to_numpy(variable))
    return np.stack(path)


@keras.saving.register_keras_serializable(package="alexnet")
class PaperSGD(keras.optimizers.SGD):
    """SGD with momentum and the paper's weight decay, *inside* the momentum (§5).

    The decay term ``l2 * w`` is added to the gradient before the momentum update,
    like the gradient of an L2 penalty; Keras' ``SGD(weight_decay=...)`` instead
    shrinks the weights outside the momentum (decoupled) and decays every variable.
    Only kernels (two or more dimensions) are decayed, as in the reference Caffe
    AlexNet; ``decay_all=True`` decays biases too. ``warmup_steps`` (not in the paper;
    0, the default, turns it off) raises the learning rate linearly from
    ``1 / warmup_steps`` of its value to all of it over the first steps.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9,
                 l2: float = 5e-4, decay_all: bool = False, warmup_steps: int = 0,
                 name: str = "paper_sgd", **kwargs: Any) -> None:
        if l2 < 0:  # §5: learning rate 0.01, momentum 0.9, weight decay 0.0005
            raise ValueError(f"PaperSGD: l2 must be >= 0 (the paper: 5e-4), got {l2}")
        if warmup_steps < 0:
            raise ValueError(f"PaperSGD: warmup_steps must be >= 0, got {warmup_steps}")
        super().__init__(learning_rate=learning_rate, momentum=momentum,
                         nesterov=False, name=name, **kwargs)
        self.l2, self.decay_all = float(l2), bool(decay_all)
        self.warmup_steps = int(warmup_steps)

    def decays(self, variable: Any) -> bool:
        """Whether ``variable`` receives weight decay (kernels: rank >= 2)."""
        return self.l2 > 0 and (self.decay_all or len(variable.shape) >= 2)

    def warmup(self) -> Any:
        """The share of the rate this step uses: ``min(1, step / warmup_steps)``."""
        step = ops.cast(self.iterations + 1, "float32")
        return ops.minimum(1.0, step / float(max(self.warmup_steps, 1)))

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if self.decays(variable):  # §5: dL/dw + 0.0005 w, then keras' momentum step
            gradient = ops.add(ops.cast(gradient, variable.dtype),
                               ops.multiply(self.l2, variable))
        if self.warmup_steps:  # not in the paper (see the class docstring)
            learning_rate = ops.multiply(learning_rate, self.warmup())
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("nesterov", None)
        return {**config, "l2": self.l2, "decay_all": self.decay_all,
                "warmup_steps": self.warmup_steps}


@dataclass
class PlateauSchedule:
    """Divide the learning rate by ``factor`` when the error stops improving (§5).

    ``update`` takes the epoch's validation error and learning rate and returns the
    rate for the next epoch. After ``max_reductions`` reductions, the next plateau
    sets ``finished``: the paper's "reduced three times prior to termination".
    ``patience`` (epochs without a new best before a reduction) and ``min_delta`` are
    ours: the paper does not say how it decided. Plain data, so it goes into the
    checkpoint.
    """

    patience: int = 2
    factor: float = 0.1  # §5: divided by 10
    max_reductions: int = 3  # §5: reduced three times
    min_delta: float = 1e-4
    best: float = math.inf
    wait: int = 0
    reductions: int = 0
    finished: bool = False

    def update(self, error: float, learning_rate: float) -> float:
        """The next epoch's rate: divided by ``factor`` after ``patience`` epochs whose
        validation ``error`` set no new best; ``finished`` after the last reduction."""
        if error < self.best - self.min_delta:
            self.best, self.wait = error, 0
            return learning_rate
        self.wait += 1
        if self.wait < self.patience:
            return learning_rate
        self.wait = 0
        if self.reductions == self.max_reductions:
            self.finished = True  # stopped improving at the last rate: terminate
            return learning_rate
        self.reductions += 1
        return learning_rate * self.factor

    def reduce(self, learning_rate: float) -> float:
        """Divide the rate now, whatever the error did (not the paper's rule)."""
        self.wait, self.reductions = 0, self.reductions + 1
        return learning_rate * self.factor

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlateauSchedule:
        return cls(**data)
