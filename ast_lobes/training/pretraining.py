"""Self-supervised pretraining of the AST encoder by masked patch
modelling (SSAST) with SpeechBrain's ``Brain``: resumable, with the two
losses and the discriminative accuracy logged every epoch.

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging
import time

import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset

from ast_lobes.audio.io import read_segment
from ast_lobes.training.brain import check_autocast_precision, log_time_left
from ast_lobes.training.checkpoints import log_resume
from ast_lobes.training.evaluation.metrics_file import append_metrics_line
from ast_lobes.training.heap import keep_freed_memory

logger = logging.getLogger(__name__)
LOGGED = ("loss", "discriminative", "generative", "accuracy")


def pretraining_dataset(manifest, sample_rate=16000):
    """The clips of a pretraining manifest (``wav``, ``start``, ``stop``)
    as a dataset with ``id`` and ``sig``."""
    dataset = DynamicItemDataset.from_csv(manifest)

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def read(path, start, stop):
        return read_segment(path, float(start), float(stop), sample_rate)

    dataset.add_dynamic_item(read)
    dataset.set_output_keys(["id", "sig"])
    return dataset


class MaskedPatchBrain(sb.Brain):
    """Pretrains ``modules.model`` (a ``MaskedPatchModel``, see
    ``ast_lobes.model.masked_patches``) on
    ``normalize(compute_features(wav))``.

    hparams: ``epoch_counter``, ``train_logger``, optionally
    ``lr_schedule`` (``ReferenceLRSchedule``), ``metrics_file`` (one JSON
    line per epoch) and ``seed`` (the validation masks are the same every
    epoch).
    """

    def compute_forward(self, batch, stage):
        """The losses of a batch (a dict, see ``MaskedPatchModel``)."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        feats = self.modules.compute_features(wavs, lens)
        feats = self.modules.normalize(feats)
        generator = None if stage == sb.Stage.TRAIN else self.valid_masks
        return self.modules.model(feats, generator)

    def compute_objectives(self, predictions, batch, stage):
        """The total loss; the parts are summed for the epoch's log."""
        count = len(batch.id)
        for key in LOGGED:
            self.sums[key] += float(predictions[key].detach()) * count
        self.count += count
        return predictions["loss"]

    random_state = None  # ast_lobes.training.checkpoints.RandomState

    def on_fit_batch_start(self, batch, should_step):
        """Sets the learning rate of the coming step (and, in a run resumed
        inside an epoch, the random generators' saved state)."""
        if self.random_state is not None:
            self.random_state.apply_pending()
        schedule = getattr(self.hparams, "lr_schedule", None)
        if schedule is not None:
            schedule.set_lr(self.optimizer, self.hparams.epoch_counter.current,
                            self.optimizer_step + 1)  # fmt: skip

    def on_stage_start(self, stage, epoch=None):
        """Resets the sums; validation masks from a fixed seed."""
        self.sums = dict.fromkeys(LOGGED, 0.0)
        self.count = 0
        seed = getattr(self.hparams, "seed", 0)
        self.valid_masks = torch.Generator().manual_seed(seed)

    def stage_stats(self):
        """The epoch's mean losses and accuracy."""
        return {key: self.sums[key] / max(self.count, 1) for key in LOGGED}

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs both stages, checkpoints after validation."""
        stats = self.stage_stats()
        if stage == sb.Stage.TRAIN:
            if self.random_state is not None:  # resumed after the last batch
                self.random_state.apply_pending()
            self.train_stats = stats
            return
        lr = self.optimizer.param_groups[0]["lr"]
        self.hparams.train_logger.log_stats(
            stats_meta={"epoch": epoch, "lr": lr},
            train_stats=self.train_stats,
            valid_stats=stats,
        )
        append_metrics_line(
            getattr(self.hparams, "metrics_file", None),
            {"epoch": epoch, "train": self.train_stats, "valid": stats},
        )
        self.checkpointer.save_and_keep_only(
            meta={"loss": stats["loss"], "epoch": epoch}, min_keys=["loss"],
            num_to_keep=1,
        )  # fmt: skip
        log_time_left(self, epoch)

    def on_fit_start(self):
        """Refuses a slow ``--precision bf16``, keeps freed memory for the
        next steps (``keep_freed_memory``), starts as usual and notes the
        clock for the time left."""
        logger.info(keep_freed_memory())
        check_autocast_precision(
            self, getattr(self.hparams, "force_precision", False)
        )
        super().on_fit_start()
        log_resume(self)
        self.fit_clock = (time.monotonic(), self.hparams.epoch_counter.current)
