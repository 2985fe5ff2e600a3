"""The reference AST learning-rate schedule: warm-up, then per-epoch steps.

Authors
 * AST-SpeechBrain contributors 2026
"""


class ReferenceLRSchedule:
    """Learning rate as a function of the epoch and the optimizer step.

    During epoch ``e`` (counted from 1) the rate is ``lr * gamma ** k``,
    ``k`` being the number of milestones ``start, start + step, ...`` not
    above ``e - 1`` (PyTorch's ``MultiStepLR`` stepped after each epoch, as
    in the reference). During the first ``warmup_steps`` optimizer steps it
    is further scaled by ``step / warmup_steps``. The schedule holds no
    state: the epoch counter and SpeechBrain's ``optimizer_step`` are both
    restored with a checkpoint, so a resumed run continues on the same curve.

    Arguments
    ---------
    lr : float
        Base learning rate.
    milestone_start : int
        First epoch after which the rate is multiplied by ``gamma``.
    milestone_step : int
        Epochs between further multiplications.
    gamma : float
        Multiplier at each milestone.
    warmup_steps : int
        Linear warm-up length in optimizer steps (0 for none).

    Example
    -------
    >>> schedule = ReferenceLRSchedule(1e-4, 5, 1, 0.85)
    >>> [round(schedule(epoch, 100), 8) for epoch in (1, 5, 6, 7)]
    [0.0001, 0.0001, 8.5e-05, 7.225e-05]
    >>> ReferenceLRSchedule(1e-5, 2, 1, 0.5, warmup_steps=1000)(1, 250)
    2.5e-06
    """

    def __init__(
        self, lr, milestone_start, milestone_step, gamma, warmup_steps=0
    ):
        self.lr = lr
        self.milestone_start = milestone_start
        self.milestone_step = milestone_step
        self.gamma = gamma
        self.warmup_steps = warmup_steps

    def __call__(self, epoch, step):
        """Rate for optimizer ``step`` (from 1) during ``epoch`` (from 1)."""
        finished = epoch - 1
        passed = 0
        if finished >= self.milestone_start:
            passed = (finished - self.milestone_start) // self.milestone_step
            passed += 1
        lr = self.lr * self.gamma**passed
        if self.warmup_steps and step < self.warmup_steps:
            lr *= step / self.warmup_steps
        return lr

    def set_lr(self, optimizer, epoch, step):
        """Writes the rate into every parameter group; returns it."""
        lr = self(epoch, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr
