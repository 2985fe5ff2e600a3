"""The epochs' weight average against hand-computed moving averages, and
a run's identity with it."""

import pytest
import torch

from ast_lobes.training.run_fingerprint import identity_differences
from ast_lobes.training.weight_average import EpochWeightAverage


def test_average_of_weights_and_batchnorm_statistics_by_hand():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    average = EpochWeightAverage({"model": model}, epochs=4)
    assert not average.updated
    snapshots = []
    for _ in range(3):  # an "epoch": the weights and statistics move
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter))
        model.train()
        model(torch.randn(16, 3) * 3 + 1)  # BatchNorm's running statistics
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        average.update({"model": model})
    assert average.updated
    averaged = average.averaged_modules["model"].state_dict()
    for key, value in averaged.items():
        if key.endswith("num_batches_tracked"):
            continue
        first, second, third = (snapshot[key] for snapshot in snapshots)
        # the first copies; then each moves a quarter of the way
        expected = 0.75 * (0.75 * first + 0.25 * second) + 0.25 * third
        assert torch.allclose(value, expected, atol=1e-6), key
    assert not torch.allclose(averaged["0.weight"], snapshots[-1]["0.weight"])

    ddp_like = torch.nn.Module()  # copy_to unwraps a DDP wrapper's module
    ddp_like.module = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)
    )
    average.copy_to({"model": ddp_like})
    for key, value in ddp_like.module.state_dict().items():
        assert torch.equal(value, averaged[key]), key


def test_the_average_is_scored_in_eval_mode():
    model = torch.nn.BatchNorm1d(2)
    average = EpochWeightAverage({"model": model}, epochs=2)
    average.update({"model": model})
    average.train()
    bare = average.averaged_modules["model"]
    assert not bare.training
    bare(torch.randn(8, 2) + 5)  # scoring leaves its statistics alone
    assert torch.equal(bare.running_mean, torch.zeros(2))


@pytest.mark.parametrize("epochs", [0, 0.5, -2])
def test_fewer_than_one_epoch_is_refused(epochs):
    with pytest.raises(ValueError, match="weight_ema_epochs is"):
        EpochWeightAverage({"model": torch.nn.Linear(1, 1)}, epochs)


def test_turning_the_average_on_or_off_is_another_run():
    plain = {"splits": {"train": "a"}, "settings": {"fold": None}}
    averaged = {
        "splits": {"train": "a"},
        "settings": {"fold": None, "weight_ema_epochs": 5},
    }
    assert identity_differences(plain, averaged) == ["weight_ema_epochs"]
    assert identity_differences(averaged, plain) == ["weight_ema_epochs"]
    assert identity_differences(averaged, averaged) == []
