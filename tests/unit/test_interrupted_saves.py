"""A save killed halfway never becomes the checkpoint a run resumes from,
and every process of a run resumes its own random generators."""

import os

import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from ast_lobes.training.checkpoints import AtomicCheckpointer


class Killed(Exception):
    """Stands for the process dying while a parameter file is written."""


def save_killed_halfway(checkpointer, model):
    """Saves epoch 2 but dies on the second file, after the first."""

    def die(obj, path):
        path.write_bytes(b"PK\x03\x04 partial zip")
        raise Killed

    checkpointer.add_recoverable("late", model, custom_save_hook=die)
    with pytest.raises(Killed):
        checkpointer.save_checkpoint(meta={"epoch": 2})


@pytest.mark.parametrize(
    "kind, resumes", [(Checkpointer, False), (AtomicCheckpointer, True)]
)
def test_interrupted_save_leaves_the_last_whole_checkpoint(
    kind, resumes, tmp_path
):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    first = kind(tmp_path, {"model": model, "late": torch.nn.Linear(1, 1)})
    first.save_checkpoint(meta={"epoch": 1})
    with torch.no_grad():
        model.weight.add_(1.0)
    save_killed_halfway(kind(tmp_path, {"model": model}), torch.nn.Linear(1, 1))

    resumed_model = torch.nn.Linear(3, 2)
    resumed = kind(
        tmp_path, {"model": resumed_model, "late": torch.nn.Linear(1, 1)}
    )
    if not resumes:  # SpeechBrain's own picks the broken one
        with pytest.raises(RuntimeError):
            resumed.recover_if_possible()
        return
    checkpoint = resumed.recover_if_possible()
    assert checkpoint.meta["epoch"] == 1
    torch.testing.assert_close(resumed_model.state_dict(), saved)
    assert len(list(tmp_path.iterdir())) == 1  # the broken folder is gone


def test_saving_under_a_name_again_replaces_it(tmp_path):
    model = torch.nn.Linear(2, 2)
    checkpointer = AtomicCheckpointer(tmp_path, {"model": model})
    checkpointer.save_checkpoint(meta={"epoch": 1}, name="latest")
    checkpointer.save_checkpoint(meta={"epoch": 2}, name="latest")
    (checkpoint,) = checkpointer.list_checkpoints()
    assert checkpoint.meta["epoch"] == 2
    assert checkpoint.path.name == "CKPT+latest"


def draws():
    import random

    import numpy as np

    return (torch.rand(2).tolist(), np.random.rand(2).tolist(),
            random.random())  # fmt: skip


def generators_in_process(rank, folder, results):
    import random

    import numpy as np
    import torch.distributed

    from ast_lobes.training.checkpoints import RandomState

    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
        world_size=2,
    )  # fmt: skip
    torch.manual_seed(100 + rank)
    np.random.seed(200 + rank)
    random.seed(300 + rank)
    state = RandomState()
    state.save(os.path.join(folder, "rng.pt"))  # every process calls it
    expected = draws()
    torch.manual_seed(0)  # the resumed process starts from other states
    np.random.seed(0)
    random.seed(0)
    torch.distributed.barrier()
    state.load(os.path.join(folder, "rng.pt"), end_of_epoch=True)
    results[rank] = (expected, draws())
    torch.distributed.destroy_process_group()


def test_each_process_resumes_its_own_generators(tmp_path):
    import torch.multiprocessing

    from ast_lobes.training.checkpoints import RandomState

    with torch.multiprocessing.Manager() as manager:
        results = manager.dict()
        torch.multiprocessing.spawn(
            generators_in_process, (str(tmp_path), results), nprocs=2
        )
        results = dict(results)
    for rank in (0, 1):
        expected, got = results[rank]
        assert got == expected, rank
    assert results[0][0] != results[1][0]  # two processes, two streams
    # one process resuming a two-process checkpoint takes the main one's
    RandomState().load(str(tmp_path / "rng.pt"), end_of_epoch=True)
    assert torch.rand(2).tolist() == results[0][0][0]


def intra_epoch_saves_in_process(rank, folder, saves):
    import datetime
    import time

    import torch.distributed

    os.environ["RANK"] = os.environ["LOCAL_RANK"] = str(rank)  # as torchrun
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
        world_size=2, timeout=datetime.timedelta(seconds=15),
    )  # fmt: skip
    if rank == 0:  # the main process late to publish, every time
        replace = os.replace

        def late_replace(source, target):
            time.sleep(0.2)
            replace(source, target)

        os.replace = late_replace
    checkpointer = AtomicCheckpointer(
        os.path.join(folder, "save"), {"model": torch.nn.Linear(2, 2)}
    )
    for _ in range(saves):  # as Brain._save_intra_epoch_ckpt saves
        checkpointer.save_and_keep_only(
            end_of_epoch=False, num_to_keep=1, meta={"intra": True},
            ckpt_predicate=lambda c: "intra" in c.meta,
        )  # fmt: skip
    listed = len(checkpointer.list_checkpoints())
    torch.distributed.destroy_process_group()
    if listed != 1:
        raise AssertionError(f"rank {rank} lists {listed} checkpoints")


def test_two_processes_keep_one_intra_epoch_checkpoint(tmp_path):
    """Both processes list the same checkpoints when SpeechBrain chooses
    which to delete (one collective call per deletion): before, the main
    process published a checkpoint after the others had listed them, and
    both waited for ever (a gloo timeout here)."""
    import torch.multiprocessing

    torch.multiprocessing.spawn(
        intra_epoch_saves_in_process, (str(tmp_path), 4), nprocs=2
    )
    (kept,) = os.listdir(tmp_path / "save")
    assert sorted(os.listdir(tmp_path / "save" / kept)) == [
        "CKPT.yaml", "model.ckpt"
    ]  # fmt: skip


def test_a_save_reads_the_checkpoints_as_often_the_hundredth_time(
    tmp_path, monkeypatch
):
    """SpeechBrain's shared default list of ``importance_keys`` grew by
    one key a save, so each save listed the checkpoints more often than
    the one before."""
    listed = []
    original = Checkpointer.list_checkpoints

    def counted(self):
        listed.append(1)
        return original(self)

    monkeypatch.setattr(Checkpointer, "list_checkpoints", counted)
    checkpointer = AtomicCheckpointer(tmp_path, {"m": torch.nn.Linear(2, 2)})
    per_save = []
    for epoch in range(1, 31):
        before = len(listed)
        checkpointer.save_and_keep_only(
            meta={"accuracy": epoch % 7, "epoch": epoch},
            max_keys=["accuracy"], num_to_keep=1,
        )  # fmt: skip
        per_save.append(len(listed) - before)
    assert per_save[-1] == per_save[1]
    kept = {c.meta["epoch"] for c in checkpointer.list_checkpoints()}
    assert kept == {27, 30}  # the best (accuracy 6) and the latest
