"""A checkpoint knows its run: the identity stored with it is compared
with a new run's before anything trains."""

import pytest
import torch

from ast_lobes import (
    AudioSpectrogramTransformer,
    FbankNormalization,
    KaldiFbank,
)
from ast_lobes.training.checkpoints import AtomicCheckpointer
from ast_lobes.training.run_fingerprint import (
    RunIdentityError,
    check_run_identity,
    run_identity,
)


def identity(tmp_path, train_rows="a,x\n", fold=1, frames=100):
    manifest = tmp_path / f"train_{hash(train_rows)}.csv"
    manifest.write_text("ID,wav,label\n" + train_rows)
    hparams = {
        "encoder": AudioSpectrogramTransformer(
            model_size=None, embed_dim=32, depth=1, num_heads=2,
            target_length=frames,
        ),
        "compute_features": KaldiFbank(target_length=frames),
        "normalize": FbankNormalization((-4.0, 3.0)),
        "fold": fold,
        "init_from": None,
    }  # fmt: skip
    return run_identity({"train": str(manifest)}, hparams, ["x", "y"])


def saved_run(folder, run):
    checkpointer = AtomicCheckpointer(folder, {"m": torch.nn.Linear(2, 2)})
    check_run_identity(checkpointer, run)
    checkpointer.save_checkpoint(meta={"epoch": 1})
    return AtomicCheckpointer(folder, {"m": torch.nn.Linear(2, 2)})


def test_the_same_run_resumes_and_another_is_refused(tmp_path):
    first = identity(tmp_path)
    checkpointer = saved_run(tmp_path / "save", first)
    assert check_run_identity(checkpointer, identity(tmp_path)) == 0
    other = identity(tmp_path, "b,y\n", fold=2, frames=128)
    with pytest.raises(RunIdentityError) as refused:
        check_run_identity(checkpointer, other)
    message = str(refused.value)
    assert "holds 1 checkpoint of another run" in message
    assert "the train split's clips or labels" in message
    assert "fold (1, this run 2)" in message
    assert "architecture (target_length)" in message
    assert "front_end (target_length)" in message
    assert "--start_over true" in message and "--resume_anyway" in message


def test_resume_anyway_keeps_and_start_over_deletes(tmp_path):
    checkpointer = saved_run(tmp_path / "save", identity(tmp_path))
    other = identity(tmp_path, "b,y\n")
    assert check_run_identity(checkpointer, other, resume_anyway=True) == 0
    assert len(checkpointer.list_checkpoints()) == 1
    assert check_run_identity(checkpointer, other, start_over=True) == 1
    assert checkpointer.list_checkpoints() == []


def test_a_checkpoint_without_identity_is_refused(tmp_path):
    old = AtomicCheckpointer(tmp_path / "save", {"m": torch.nn.Linear(2, 2)})
    old.save_checkpoint(meta={"epoch": 1})  # as before 0.3
    with pytest.raises(RunIdentityError, match="made before runs had an"):
        check_run_identity(old, identity(tmp_path))
