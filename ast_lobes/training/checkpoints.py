"""A SpeechBrain Checkpointer whose checkpoints survive a kill mid-save,
and the random generators' state as a recoverable.

SpeechBrain's ``Checkpointer`` writes a checkpoint's meta file
(``CKPT.yaml``, which makes a folder count as a checkpoint) before its
parameter files, so a run killed while saving leaves a checkpoint that
recovery picks and cannot load. ``AtomicCheckpointer`` writes the meta file
last, by an atomic rename, so a folder is a checkpoint only once all its
files are whole. (A deletion cut short leaves an older checkpoint, which
the same keys never choose again and the next save deletes.)

With several processes every process must see the same checkpoints when
SpeechBrain chooses the ones to delete: ``Checkpointer.delete_checkpoints``
(SpeechBrain 1.1.2) has each process list them and then makes one
collective call per deletion (``_delete_checkpoint`` is
``main_process_only``, which broadcasts), so two processes that listed
different checkpoints wait for each other for ever. The meta file is
therefore published before the processes leave ``save_checkpoint``
together, and the deletions are chosen and made by the main process
alone (on storage shared by several machines a listing can lag).
"""

import logging
import os
import random
import shutil

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    METAFNAME,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import (
    MainProcessContext,
    ddp_barrier,
    if_main_process,
)

from ast_lobes.training.data.sampling import distributed_place
from ast_lobes.training.run_fingerprint import value_digest, write_identity

logger = logging.getLogger(__name__)

PENDING_META = f".{METAFNAME}.partial"


class AtomicCheckpointer(Checkpointer):
    """``speechbrain.utils.checkpoints.Checkpointer`` with atomic saves.

    Takes the same arguments and is used the same way (YAML: ``!new:``).
    Folders left incomplete by an interrupted save are removed, with a
    warning, when the run recovers.

    Example
    -------
    >>> import tempfile, torch
    >>> model = torch.nn.Linear(2, 2)
    >>> folder = tempfile.mkdtemp()
    >>> checkpointer = AtomicCheckpointer(folder, {"model": model})
    >>> checkpoint = checkpointer.save_checkpoint(meta={"epoch": 1})
    >>> sorted(path.name for path in checkpoint.path.iterdir())
    ['CKPT.yaml', 'model.ckpt']
    >>> checkpointer.recover_if_possible().meta["epoch"]
    1
    """

    run_identity = None  # set by check_run_identity, stored in each
    recovered = None  # the checkpoint the last recovery loaded

    def save_checkpoint(
        self, meta=None, end_of_epoch=True, name=None, **kwargs
    ):
        """Saves like SpeechBrain (with the run's identity: its digest in
        the meta, the whole in ``run_identity.json``; see
        ``ast_lobes.training.run_fingerprint``), then publishes the meta
        file."""
        meta = dict(meta or {})
        if self.run_identity is not None:
            # SpeechBrain parses every meta file several times per save:
            # one short string there, the details beside it
            meta["run_identity"] = value_digest(self.run_identity)
        if name is not None and if_main_process():
            stale_meta = self._custom_checkpoint_dirpath(name) / METAFNAME
            if stale_meta.exists():
                os.remove(stale_meta)
        checkpoint = super().save_checkpoint(
            meta=meta, end_of_epoch=end_of_epoch, name=name, **kwargs
        )
        ddp_barrier()  # every process's files are written
        if checkpoint is not None and self.run_identity is not None:
            write_identity(checkpoint.path, self.run_identity)
        if checkpoint is not None:
            os.replace(
                checkpoint.path / PENDING_META, checkpoint.path / METAFNAME
            )
        ddp_barrier()  # and published before any process lists checkpoints
        return checkpoint

    def delete_checkpoints(self, **kwargs):
        """Deletes as SpeechBrain's ``delete_checkpoints`` (same keyword
        arguments), the checkpoints chosen and deleted by the main process
        alone while the others wait (see the module's documentation)."""
        ddp_barrier()
        if if_main_process():
            with MainProcessContext():  # SpeechBrain's collectives: no-ops
                super().delete_checkpoints(**kwargs)
        ddp_barrier()

    def save_and_keep_only(self, *args, importance_keys=None, **kwargs):
        """SpeechBrain's, with a new ``importance_keys`` list each call:
        its default list is one list shared by every call, which each
        call that keeps the latest checkpoint lengthens by one key
        (SpeechBrain 1.1), so that the n-th save of a process read every
        checkpoint's meta file about 2n times (a 40-epoch head's grid of
        six spent most of its time there)."""
        return super().save_and_keep_only(
            *args, importance_keys=list(importance_keys or []), **kwargs
        )

    def _save_checkpoint_metafile(
        self, fpath, meta_to_include=None, end_of_epoch=True
    ):
        return super()._save_checkpoint_metafile(
            fpath.parent / PENDING_META, meta_to_include or {}, end_of_epoch
        )

    def recover_if_possible(self, *args, **kwargs):
        """Removes incomplete checkpoint folders, then recovers as usual."""
        if if_main_process():
            self.remove_incomplete()
        ddp_barrier()
        self.recovered = super().recover_if_possible(*args, **kwargs)
        return self.recovered

    def remove_incomplete(self):
        """Removes checkpoint folders without a meta file (interrupted saves).

        Returns
        -------
        list of pathlib.Path
            The folders removed.
        """
        if not self.checkpoints_dir.is_dir():
            return []
        removed = []
        for path in sorted(self.checkpoints_dir.iterdir()):
            if (
                path.is_dir()
                and path.name.startswith(CKPT_PREFIX)
                and not (path / METAFNAME).exists()
            ):
                logger.warning(
                    "Removing %s: its save was interrupted (no %s)",
                    path, METAFNAME,
                )  # fmt: skip
                shutil.rmtree(path)
                removed.append(path)
        return removed


def log_resume(brain):
    """Logs where a Brain's ``fit`` resumed, after its checkpointer's
    recovery (main process): ``resumed at step S of epoch E from
    CHECKPOINT``, S the training steps of epoch E already done (0 after a
    checkpoint made at the end of the epoch before), or that no epoch is
    left."""
    checkpoint = getattr(brain.checkpointer, "recovered", None)
    if checkpoint is None or not if_main_process():
        return
    counter = brain.hparams.epoch_counter
    if counter.current >= counter.limit:
        logger.info(
            "resumed after the last epoch, %d, from %s: nothing left to "
            "train", counter.current, checkpoint.path,
        )  # fmt: skip
        return
    logger.info(
        "resumed at step %d of epoch %d from %s", brain.step,
        counter.current + 1, checkpoint.path,
    )  # fmt: skip


class RandomState:
    """The random generators of Python, NumPy and torch (CPU and CUDA) as a
    checkpoint recoverable, so that a run resumed from a checkpoint draws
    the same mixup, masks and dropout as the run that was not stopped.

    With several processes every one's generators are gathered into the
    checkpoint (the main process writes it) and each restores its own; a
    checkpoint made with another process count restores the main
    process's only.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "rng.pt")
    >>> state = RandomState()
    >>> state.save(path)
    >>> expected = torch.rand(3)
    >>> state.load(path, end_of_epoch=True)
    >>> torch.equal(torch.rand(3), expected)
    True
    >>> state.load(path, end_of_epoch=False)  # applied before a batch
    >>> torch.equal(torch.rand(3), expected)
    False
    >>> state.apply_pending()
    >>> torch.equal(torch.rand(3), expected)
    True
    """

    @mark_as_saver
    def save(self, path):
        """Writes every process's generator states (a collective call
        with several processes)."""
        states = [generator_states()]
        world, rank = distributed_place()
        if world > 1:
            states = [None] * world
            torch.distributed.all_gather_object(states, generator_states())
        if rank == 0:
            torch.save({"processes": states}, path)

    pending = None

    @mark_as_loader
    def load(self, path, end_of_epoch):
        """Restores this process's states: at once for a checkpoint made at
        an epoch's end; for one made inside an epoch at ``apply_pending``,
        before the next training batch, since the data loader draws its
        seed when the epoch starts (or when the training stage ends, for a
        checkpoint made after the epoch's last batch: the next epoch's
        loader draws before its first batch)."""
        stored = torch.load(path, weights_only=True)
        states = stored.get("processes", [stored])  # 0.4: the main one's
        world, rank = distributed_place()
        if len(states) == world:
            self.pending = states[rank]
        elif rank == 0:
            self.pending = states[0]
            logger.warning(
                "%s holds the generators of %d processes, this run has %d: "
                "only the main process's are restored", path, len(states),
                world,
            )  # fmt: skip
        if end_of_epoch:
            self.apply_pending()

    def apply_pending(self):
        """Sets the generators to a loaded state not yet applied."""
        state, self.pending = self.pending, None
        if state is None:
            return
        random.setstate(state["python"])
        name, keys, position, has_gauss, gauss = state["numpy"]
        np.random.set_state(
            (name, keys.numpy().astype(np.uint32), position, has_gauss, gauss)
        )
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


# every process saves: the states are gathered before the main one writes
register_checkpoint_hooks(RandomState, save_on_main_only=False)


def keep_random_state(brain):
    """Puts a ``RandomState`` in ``brain``'s checkpoints (as
    ``random_state``, optional to load: older checkpoints lack it); the
    Brain calls its ``apply_pending`` before each training batch.

    Returns
    -------
    RandomState
        Also ``brain.random_state``.
    """
    brain.random_state = RandomState()
    brain.checkpointer.add_recoverable(
        "random_state", brain.random_state, optional_load=True
    )
    return brain.random_state


def generator_states():
    """This process's generator states, loadable with ``weights_only``."""
    return {
        "python": random.getstate(),
        "numpy": numpy_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all()
        if torch.cuda.is_available()
        else [],
    }


def numpy_state():
    """NumPy's global generator state, its key as a tensor (so that the
    checkpoint loads with ``weights_only``)."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return (name, torch.from_numpy(keys.astype(np.int64)), position,
            has_gauss, gauss)  # fmt: skip
