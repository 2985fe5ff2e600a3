"""The time budget's schedule, on a clock the test moves by hand."""

import pytest

from ast_lobes.training.budget import TimeBudget


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_first_epoch_sets_the_epochs_that_fit_and_moves_the_decay():
    clock = Clock()
    budget = TimeBudget(5, epochs=30, milestone_start=20, clock=clock)
    budget.start(started=90.0)  # 10 s of preparation before training
    clock.now += 20.0  # epoch 1: 20 s, 2 s of it validation
    # 300 s - 30 s spent - 2 s x 1.5 test share x 1.2 = 266.4 s left:
    # 13 more epochs of 20 s; decay at 20 / 30 of 14 epochs = 9.33
    assert budget.epoch_done(
        1, valid_seconds=2.0, after_training_share=1.5
    ) == (14, 9)
    assert budget.plan["spent_seconds"] == 30.0


def test_epochs_after_the_slow_first_fit_the_plan_again_until_the_decay():
    clock = Clock()
    budget = TimeBudget(10, epochs=30, milestone_start=20, clock=clock)
    budget.start()
    clock.now += 30.0  # epoch 1: 30 s (warm-up), 2 s of it validation
    # 600 s - 30 s - 2.4 s = 567.6 s left: 18 more epochs of 30 s;
    # decay at 20 / 30 of 19 = 12.67
    assert budget.epoch_done(1, 2.0, 1.0) == (19, 13)
    clock.now += 20.0  # epoch 2: 20 s; 547.6 s left, 27 epochs of 20 s
    assert budget.epoch_done(2, 2.0, 1.0) == (29, 19)
    clock.now += 20.0
    assert budget.epoch_done(3, 2.0, 1.0) == (29, 19)
    clock.now += 40.0  # epoch 4: 40 s, 26.7 s on average since epoch 1:
    # 487.6 s left, 18 more epochs; decay at 20 / 30 of 22 = 14.67
    assert budget.epoch_done(4, 2.0, 1.0) == (22, 15)
    for epoch in range(5, 18):
        clock.now += 20.0
        plan = budget.epoch_done(epoch, 2.0, 1.0)
    # epoch 17 at 370 s: 20.6 s an epoch after the first, 227.6 s left
    assert plan == (27, 18)
    for epoch in range(18, 21):  # the decay has started: the plan holds
        clock.now += 5.0  # however fast the epochs go now
        assert budget.epoch_done(epoch, 2.0, 1.0) == (27, 18)


def test_a_slower_epoch_ends_the_run_before_the_plan():
    clock = Clock()
    budget = TimeBudget(2, epochs=30, milestone_start=20, clock=clock)
    budget.start()
    clock.now += 10.0
    assert budget.epoch_done(1, 1.0, 1.0) == (11, 7)  # 108.8 s left
    for epoch in range(2, 6):
        clock.now += 10.0
        assert budget.epoch_done(epoch, 1.0, 1.0) == (11, 7)
    clock.now += 55.0  # epoch 6 took 55 s: 120 - 105 - 1.2 = 13.8 s left,
    # under the 17.5 s an epoch now averages
    assert budget.epoch_done(6, 1.0, 1.0) == (6, 7)


def test_at_most_max_epochs_and_at_least_the_epoch_done():
    clock = Clock()
    budget = TimeBudget(60, epochs=10, milestone_start=5, clock=clock)
    budget.start()
    clock.now += 1.0
    assert budget.epoch_done(1, 0.1, 1.0) == (40, 20)  # 4 x 10 epochs
    tight = TimeBudget(0.1, epochs=10, milestone_start=5, clock=clock)
    tight.start()
    clock.now += 30.0  # one epoch already spent five times the budget
    assert tight.epoch_done(1, 1.0, 1.0) == (1, 1)


def test_a_resumed_run_keeps_its_plan_and_counts_the_minutes_spent():
    clock = Clock()
    budget = TimeBudget(5, epochs=30, milestone_start=20, clock=clock)
    stored = {"epochs": 14, "milestone_start": 9, "spent_seconds": 200.0}
    budget.start(stored, epoch=4)
    clock.now += 20.0  # epoch 5: 220 s spent, 300 - 220 - 2.4 > 20 s
    assert budget.epoch_done(5, 2.0, 1.0) == (14, 9)
    clock.now += 60.0  # epoch 6 took 60 s: 280 s spent, under an epoch left
    assert budget.epoch_done(6, 2.0, 1.0) == (6, 9)
    assert budget.plan["spent_seconds"] == 280.0


@pytest.mark.parametrize("minutes", [0, -1, None])
def test_a_budget_of_no_minutes_is_refused(minutes):
    with pytest.raises(ValueError, match="time_budget"):
        TimeBudget(minutes, epochs=3, milestone_start=2)


def plan_in_process(rank, folder, results):
    import torch.distributed

    from ast_lobes.training.budget import main_process_plan

    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
        world_size=2,
    )  # fmt: skip
    # each process's own clock gave another plan
    results[rank] = main_process_plan(14 + rank, 9 + rank)
    torch.distributed.destroy_process_group()


def test_every_process_of_a_distributed_run_follows_the_main_one(tmp_path):
    import torch.multiprocessing

    with torch.multiprocessing.Manager() as manager:
        results = manager.dict()
        torch.multiprocessing.spawn(plan_in_process, (str(tmp_path), results),
                                    nprocs=2)  # fmt: skip
        assert dict(results) == {0: (14, 9), 1: (14, 9)}
