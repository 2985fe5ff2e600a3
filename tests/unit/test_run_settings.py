"""The Brain takes what a run's data decide (``RunSettings``) when it is
built; nothing is set on it afterwards."""

import dataclasses
import os

import pytest
from hyperpyyaml import load_hyperpyyaml

from ast_lobes import AudioClassificationBrain
from ast_lobes.training.checkpoints import RandomState
from ast_lobes.training.run_settings import RunSettings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
CPU_YAML = os.path.join(ROOT, "recipes", "AudioFolder", "hparams", "cpu.yaml")


class EpochSampler:
    """A sampler with ``set_epoch``, as the Brain calls it."""

    def set_epoch(self, epoch):
        self.epoch = epoch


def built_brain(folder, run_settings=None):
    """The AudioFolder CPU recipe's Brain, its folders in ``folder``."""
    with open(CPU_YAML, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, {"experiment_folder": folder})
    return AudioClassificationBrain(
        modules=hparams["modules"], hparams=hparams,
        run_opts={"device": "cpu"}, checkpointer=hparams["checkpointer"],
        run_settings=run_settings,
    )  # fmt: skip


def test_the_brain_keeps_the_run_settings_it_is_built_with(tmp_path):
    sampler = EpochSampler()
    brain = built_brain(str(tmp_path), RunSettings(
        label_names=("dog", "rain"), after_training_share=2.5,
        train_sampler=sampler, keep_random_state=True,
    ))  # fmt: skip
    assert brain.label_names == ["dog", "rain"]
    assert brain.after_training_share == 2.5
    assert brain.train_sampler is sampler
    assert isinstance(brain.random_state, RandomState)
    assert brain.checkpointer.recoverables["random_state"] is (
        brain.random_state
    )


def test_without_run_settings_the_brain_has_the_defaults(tmp_path):
    brain = built_brain(str(tmp_path))
    assert brain.label_names is None
    assert brain.after_training_share == 1.0
    assert brain.train_sampler is None
    assert brain.random_state is None
    assert "random_state" not in brain.checkpointer.recoverables


def test_run_settings_do_not_change_once_made():
    settings = RunSettings(label_names=("dog",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.label_names = ("cat",)
