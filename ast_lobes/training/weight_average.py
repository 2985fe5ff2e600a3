"""An exponential moving average of a model's weights, one step an epoch.

On small data sets a small model's weights wander from epoch to epoch
at a constant learning rate, and so does its validation accuracy: the
best validation epoch is then partly luck. Averaging the weights of the
last epochs (Polyak averaging; SWA, Izmailov et al., 2018) smooths the
wandering. ``EpochWeightAverage`` keeps the average with PyTorch's
``AveragedModel``, BatchNorm statistics included, and is a checkpoint
recoverable of its own, so that an interrupted run resumes it.

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def epochs_problem(epochs):
    """Why ``epochs`` cannot be an average's reach (``weight_ema_epochs``),
    or None: it is a number of epochs, at least 1.

    Example
    -------
    >>> epochs_problem(5) is None
    True
    >>> epochs_problem(0.5)
    'weight_ema_epochs is 0.5: the weights are averaged over a number of \
epochs, at least 1; set 0 for no average'
    """
    if (
        isinstance(epochs, bool)
        or not isinstance(epochs, (int, float))
        or epochs < 1
    ):
        return (
            f"weight_ema_epochs is {epochs!r}: the weights are averaged "
            "over a number of epochs, at least 1; set 0 for no average"
        )
    return None


def bare_module(module):
    """The module inside a DDP (or other ``.module``) wrapper."""
    return getattr(module, "module", module)


class EpochWeightAverage(torch.nn.Module):
    """Exponential moving average of modules' weights over epochs.

    The first ``update`` copies the weights; each later one moves the
    average toward the weights by ``1 / epochs``, so that an epoch ``k``
    updates ago weighs ``(1 - 1 / epochs) ** k`` times the newest.

    Arguments
    ---------
    modules : dict
        Name to ``torch.nn.Module`` (e.g. ``encoder`` and ``classifier``);
        the average holds a copy of each.
    epochs : float
        How many epochs the average reaches back over (at least 1; 1 is
        the newest weights alone).

    Example
    -------
    >>> layer = torch.nn.Linear(1, 1, bias=False)
    >>> average = EpochWeightAverage({"layer": layer}, epochs=4)
    >>> for value in (1.0, 2.0):
    ...     _ = layer.weight.data.fill_(value)
    ...     average.update({"layer": layer})
    >>> average.averaged_modules["layer"].weight.item()  # 1 + (2 - 1) / 4
    1.25
    >>> _ = layer.weight.data.fill_(0.0)
    >>> average.copy_to({"layer": layer})
    >>> layer.weight.item()
    1.25
    >>> average.train().averaged_modules.training
    False
    """

    def __init__(self, modules, epochs):
        super().__init__()
        problem = epochs_problem(epochs)
        if problem is not None:
            raise ValueError(problem)
        self.epochs = epochs
        bare = torch.nn.ModuleDict(
            {name: bare_module(module) for name, module in modules.items()}
        )
        self.average = AveragedModel(
            bare,
            multi_avg_fn=get_ema_multi_avg_fn(1 - 1 / epochs),
            use_buffers=True,
        )
        self.train(False)

    def train(self, mode=True):
        """Keeps the average in eval mode (it is never trained: its
        BatchNorm statistics are averaged, not updated by what it scores)."""
        return super().train(False)

    @property
    def updated(self):
        """Whether the average holds any epoch's weights yet."""
        return int(self.average.n_averaged) > 0

    @property
    def averaged_modules(self):
        """The averaged modules, by name (a ``ModuleDict``)."""
        return self.average.module

    def update(self, modules):
        """Moves the average toward ``modules``' weights (one epoch)."""
        self.average.update_parameters(
            torch.nn.ModuleDict(
                {name: bare_module(module) for name, module in modules.items()}
            )
        )

    def copy_to(self, modules):
        """Loads the averaged weights into ``modules`` (by name)."""
        for name, module in modules.items():
            bare_module(module).load_state_dict(
                self.average.module[name].state_dict()
            )
