"""A training schedule fitted to a time budget on the machine it runs on.

After the first epoch the budget knows what an epoch (training and
validation) costs here; it sets the number of epochs that fit the minutes
left, less the final test, and moves the learning-rate decay in
proportion (the YAML's shape: decay from ``milestone_start`` of
``number_of_epochs``). The first epoch's pace is not the run's (a
warm-up makes it slower, or later epochs are): until the decay starts,
every epoch fits the plan again to the pace of the epochs after the
first. From then on each epoch checks the clock and ends the run early
if the next epoch would not fit. The best validation
checkpoint is then tested and exported as usual. The plan is stored in
each checkpoint's meta, so a resumed run keeps its schedule and counts
the minutes it had already spent; in a distributed run every process
follows the main process's plan.

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging
import math
import time

logger = logging.getLogger(__name__)
_run_started = None


def mark_run_start():
    """Starts the clock a time budget counts from: a recipe's run (each
    fold of a cross-validation, a teacher and its student together)."""
    global _run_started
    _run_started = time.monotonic()


def run_started():
    """When ``mark_run_start`` last started the clock (None: never)."""
    return _run_started


class TimeBudget:
    """Fits a run's epochs and learning-rate decay to ``minutes``.

    Arguments
    ---------
    minutes : float
        Wall-clock minutes for the run, from its start (``start``'s
        ``started``: the recipe's ``mark_run_start``) to the end of the
        test.
    epochs : int
        The YAML's ``number_of_epochs`` (the shape of its schedule).
    milestone_start : int
        The YAML's first learning-rate decay epoch.
    max_epochs : int or None
        At most this many epochs however many would fit (None: 4 x
        ``epochs``).
    clock : callable
        Seconds (``time.monotonic``; replaceable in tests).

    Example
    -------
    >>> now = [0.0]
    >>> budget = TimeBudget(10, epochs=30, milestone_start=20,
    ...                     clock=lambda: now[0])
    >>> budget.start()
    >>> now[0] = 30.0  # the first epoch took 30 s, its validation 5 s
    >>> budget.epoch_done(1, valid_seconds=5.0, after_training_share=1.0)
    (19, 13)
    >>> budget.plan["epochs"], budget.plan["milestone_start"]
    (19, 13)
    """

    def __init__(self, minutes, epochs, milestone_start, max_epochs=None,
                 clock=time.monotonic):  # fmt: skip
        if minutes is None or float(minutes) <= 0:
            raise ValueError(f"time_budget is {minutes!r}; give minutes > 0")
        self.seconds = 60.0 * float(minutes)
        self.epochs = int(epochs)
        self.milestone_start = int(milestone_start)
        self.max_epochs = int(max_epochs or 4 * self.epochs)
        self.clock = clock
        self.plan = None
        self.spent_before = 0.0
        self.started = None
        self.first_epoch = 0
        self.first_epoch_done = None

    def start(self, stored_plan=None, epoch=0, started=None):
        """Starts the clock (at ``started``, in ``clock``'s seconds, or
        now); ``stored_plan`` is a resumed run's plan (from its checkpoint
        meta), ``epoch`` its epochs done."""
        self.started = self.clock() if started is None else started
        self.epoch_started = self.clock()
        self.first_epoch = epoch
        self.first_epoch_done = None
        if stored_plan:
            self.plan = dict(stored_plan)
            self.spent_before = float(stored_plan["spent_seconds"])
            logger.info(
                "time budget: resumed at epoch %d, %s spent of %s; "
                "plan: %d epochs, decay from epoch %d",
                epoch, _minutes(self.spent_before), _minutes(self.seconds),
                self.plan["epochs"], self.plan["milestone_start"],
            )  # fmt: skip

    def spent(self):
        """Seconds spent by this run, resumed parts included."""
        return self.spent_before + self.clock() - self.started

    def epoch_done(self, epoch, valid_seconds, after_training_share):
        """After ``epoch``: the number of epochs and the decay epoch.

        Arguments
        ---------
        epoch : int
            The epoch just finished (from 1).
        valid_seconds : float
            How long its validation took.
        after_training_share : float
            Clips scored after training (the test, stored teacher
            outputs) per validation clip: the time kept for them.

        Returns
        -------
        tuple
            ``(epochs, milestone_start)`` of the plan.
        """
        spent = self.spent()
        per_epoch = (self.clock() - self.epoch_started) / (
            epoch - self.first_epoch
        )
        reserve = valid_seconds * max(after_training_share, 1.0) * 1.2
        left = self.seconds - spent - reserve
        if self.first_epoch_done is None:
            self.first_epoch_done = (self.clock(), epoch)
        elif epoch + 1 < self.plan["milestone_start"]:
            done_at, done_epoch = self.first_epoch_done
            pace = (self.clock() - done_at) / (epoch - done_epoch)
            epochs, milestone = self.fit(epoch, left, pace)
            planned = (self.plan["epochs"], self.plan["milestone_start"])
            if epochs > epoch and (epochs, milestone) != planned:
                logger.info(
                    "time budget: epochs after the first take %.0f s; %d "
                    "epochs fit, learning-rate decay from epoch %d",
                    pace, epochs, milestone,
                )  # fmt: skip
                self.plan.update(epochs=epochs, milestone_start=milestone)
        if self.plan is None:
            epochs, milestone = self.fit(epoch, left, per_epoch)
            self.plan = {"epochs": epochs, "milestone_start": milestone}
            logger.info(
                "time budget %s: %s spent, an epoch takes %.0f s "
                "(validation %.0f s); %d epochs fit (at most %d), "
                "learning-rate decay from epoch %d (the YAML: %d epochs, "
                "decay from %d)",
                _minutes(self.seconds), _minutes(spent), per_epoch,
                valid_seconds, epochs,
                self.max_epochs, milestone, self.epochs, self.milestone_start,
            )  # fmt: skip
        elif epoch < self.plan["epochs"] and left < per_epoch:
            logger.info(
                "time budget: %s left, under one epoch (%.0f s): ending "
                "after epoch %d of %d",
                _minutes(max(left, 0.0)), per_epoch, epoch,
                self.plan["epochs"],
            )  # fmt: skip
            self.plan["epochs"] = epoch
        self.plan["epochs"], self.plan["milestone_start"] = main_process_plan(
            self.plan["epochs"], self.plan["milestone_start"]
        )
        self.plan["spent_seconds"] = spent
        return self.plan["epochs"], self.plan["milestone_start"]

    def fit(self, epoch, left, per_epoch):
        """``(epochs, milestone_start)`` that fit ``left`` seconds after
        ``epoch`` at ``per_epoch`` seconds an epoch."""
        fit = epoch + max(0, math.floor(left / per_epoch))
        epochs = max(epoch, min(fit, self.max_epochs))
        milestone = max(1, round(self.milestone_start * epochs / self.epochs))
        return epochs, milestone


def main_process_plan(epochs, milestone_start):
    """``(epochs, milestone_start)`` of the main process in every process
    of a distributed run (their clocks differ a little; one epoch more in
    one process would leave the others waiting), else as given."""
    import torch.distributed

    if not (torch.distributed.is_available()
            and torch.distributed.is_initialized()):  # fmt: skip
        return epochs, milestone_start
    plan = [epochs, milestone_start]
    torch.distributed.broadcast_object_list(plan, src=0)
    return plan[0], plan[1]


def _minutes(seconds):
    return f"{seconds / 60:.1f} min"
