"""The update rules behind :mod:`lrbench.core.optimizers`, one module per ``torch.optim`` class.

Each rule is a small class over a stack of configurations (:mod:`lrbench.core.optim.base`):
its constants made once, torch's state buffers, and ``step``, whose docstring is torch's update
line by line. Where a compiled kernel exists (SGD, and Adam/AdamW without amsgrad), ``step``
chooses between it and the numpy code in one place, as ``torch.optim.adam`` chooses between its
implementations; both do the same operations in the same order, so the bits are the same.
A new optimizer: a module here, a line in :data:`RULES`, its entry in ``optimizers.OPTIMIZERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lrbench.core.optim.adagrad import Adagrad
from lrbench.core.optim.adam import Adam, AdamW
from lrbench.core.optim.base import Hyperparameters, Rule
from lrbench.core.optim.nadam import NAdam
from lrbench.core.optim.rmsprop import RMSprop
from lrbench.core.optim.sgd import SGD

# Each takes (the resolved hyperparameters of every configuration, the stacked parameters,
# cycle_momentum).
RULES: dict[str, Callable[[Hyperparameters, Sequence[np.ndarray], bool], Rule]] = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "nadam": NAdam,
}
