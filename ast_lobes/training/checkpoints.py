"""A SpeechBrain Checkpointer whose checkpoints survive a kill mid-save.

SpeechBrain's ``Checkpointer`` writes a checkpoint's meta file
(``CKPT.yaml``, which makes a folder count as a checkpoint) before its
parameter files, so a run killed while saving leaves a checkpoint that
recovery picks and cannot load. ``AtomicCheckpointer`` writes the meta file
last, by an atomic rename, so a folder is a checkpoint only once all its
files are whole. (A deletion cut short leaves an older checkpoint, which
the same keys never choose again and the next save deletes.)
"""

import logging
import os
import shutil

from speechbrain.utils.checkpoints import CKPT_PREFIX, METAFNAME, Checkpointer
from speechbrain.utils.distributed import ddp_barrier, if_main_process

from ast_lobes.training.identity import value_digest, write_identity

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

    def save_checkpoint(
        self, meta=None, end_of_epoch=True, name=None, **kwargs
    ):
        """Saves like SpeechBrain (with the run's identity: its digest in
        the meta, the whole in ``run_identity.json``; see
        ``ast_lobes.training.identity``), then publishes the meta file."""
        meta = dict(meta or {})
        if self.run_identity is not None:
            # SpeechBrain parses every meta file many times per save: one
            # short string there, the details beside it
            meta["run_identity"] = value_digest(self.run_identity)
        if name is not None and if_main_process():
            stale_meta = self._custom_checkpoint_dirpath(name) / METAFNAME
            if stale_meta.exists():
                os.remove(stale_meta)
        checkpoint = super().save_checkpoint(
            meta=meta, end_of_epoch=end_of_epoch, name=name, **kwargs
        )
        ddp_barrier()
        if checkpoint is not None and self.run_identity is not None:
            write_identity(checkpoint.path, self.run_identity)
        if checkpoint is not None:
            os.replace(
                checkpoint.path / PENDING_META, checkpoint.path / METAFNAME
            )
        return checkpoint

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
        return super().recover_if_possible(*args, **kwargs)

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
