"""A SpeechBrain ``Brain`` for audio classification with an AST.

It expects these hparams (see the recipes' YAML files):

* modules ``compute_features`` (``KaldiFbank``), ``normalize``
  (``FbankNormalization``), ``encoder`` and ``classifier``;
* ``loss``: ``ce`` (cross-entropy on one-hot or mixed targets) or ``bce``;
* ``lr_schedule`` (``ReferenceLRSchedule``), ``epoch_counter``,
  ``train_logger``; optionally ``spec_augment``, ``mixup`` and
  ``fbank_noise`` (training only), and ``metrics_file``.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os

import speechbrain as sb
import torch
import torch.nn.functional as F


class AudioClassificationBrain(sb.Brain):
    """Trains and evaluates ``classifier(encoder(normalize(fbank(wav))))``.

    Validation accuracy (argmax against the strongest target) is logged
    every epoch, written as one JSON line per epoch to ``metrics_file`` and
    used to keep the best checkpoint beside the latest one.
    """

    def compute_forward(self, batch, stage):
        """Logits ``[batch, n_classes]`` and the (possibly mixed) targets."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        targets, _ = batch.targets
        training = stage == sb.Stage.TRAIN
        mixup = getattr(self.hparams, "mixup", None)
        if training and mixup is not None:
            wavs, lens, targets = mixup(wavs, lens, targets)
        feats = self.modules.compute_features(wavs, lens)
        augment = getattr(self.hparams, "spec_augment", None)
        if training and augment is not None:
            feats = augment(feats)
        feats = self.modules.normalize(feats)
        noise = getattr(self.hparams, "fbank_noise", None)
        if training and noise is not None:
            feats = noise(feats)
        logits = self.modules.classifier(self.modules.encoder(feats))
        return logits.squeeze(1), targets

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy or BCE; accumulates accuracy outside training."""
        logits, targets = predictions
        if self.hparams.loss == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, targets)
        else:
            loss = F.cross_entropy(logits, targets)
        if stage != sb.Stage.TRAIN:
            hits = logits.argmax(dim=-1) == targets.argmax(dim=-1)
            self.correct += int(hits.sum())
            self.total += hits.numel()
        return loss

    def on_fit_batch_start(self, batch, should_step):
        """Sets the learning rate of the coming optimizer step."""
        self.hparams.lr_schedule.set_lr(
            self.optimizer,
            self.hparams.epoch_counter.current,
            self.optimizer_step + 1,
        )

    def on_stage_start(self, stage, epoch=None):
        """Resets the accuracy counters."""
        self.correct = 0
        self.total = 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, checkpoints and records the epoch's metrics."""
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        stats = {"loss": stage_loss, "accuracy": self.correct / self.total}
        if stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"accuracy": stats["accuracy"], "epoch": epoch},
                max_keys=["accuracy"],
                num_to_keep=1,
            )
            self.record({"epoch": epoch, **stats})
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={
                    "evaluated epochs": self.hparams.epoch_counter.current
                },
                test_stats=stats,
            )
            self.record({"test": True, **stats})
        self.last_stats = stats

    def record(self, stats):
        """Appends one JSON line to ``metrics_file`` (main process only)."""
        path = getattr(self.hparams, "metrics_file", None)
        if path is None or not sb.utils.distributed.if_main_process():
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(stats) + "\n")


def read_metrics(path):
    """Validation accuracy per epoch from a ``metrics_file``.

    A re-run epoch (after an interruption) replaces the earlier line.

    Returns
    -------
    dict
        epoch (int) to accuracy (float).
    """
    per_epoch = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            stats = json.loads(line)
            if "epoch" in stats:
                per_epoch[int(stats["epoch"])] = float(stats["accuracy"])
    return per_epoch


def set_seed(seed):
    """Seeds torch (all devices); returns the seed for YAML use."""
    torch.manual_seed(seed)
    return seed
