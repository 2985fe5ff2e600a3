"""A SpeechBrain ``Brain`` for audio classification with an AST.

It expects these hparams (see the recipes' YAML files):

* modules ``compute_features`` (``KaldiFbank``), ``normalize``
  (``FbankNormalization``), ``encoder`` and ``classifier``;
* ``loss``: ``ce`` (cross-entropy on one-hot or mixed targets) or ``bce``;
* ``lr_schedule`` (``ReferenceLRSchedule``), ``epoch_counter``,
  ``train_logger``;
* optionally any of ``ast_lobes.training.hparams_check.OPTIONAL_HPARAMS``: the
  training stages ``spec_augment``, ``mixup`` and ``fbank_noise``,
  ``metrics_file``, ``multi_label`` (adds mAP, mAUC and d-prime),
  ``best_key``, ``keep_all_checkpoints``, ``predictions_folder``,
  ``per_class_file``, ``weight_ema_epochs``, ``fbank_cache_mb`` (each
  clip's fbank computed once and kept: ``FbankCache``)... A key that is a
  near-miss of one of them is refused (``UnknownHparamError``).

Every forward pass, training and evaluation alike, goes through
``ast_lobes.AudioClassificationPipeline``, the module the tagger, the
exported model and the ONNX export run.

Authors
 * AST-SpeechBrain contributors 2026
"""

import copy
import logging
import os
import time

import numpy as np
import speechbrain as sb
import torch
import torch.nn.functional as F

from ast_lobes.augmentation.draws import augment_features
from ast_lobes.inference.decision import decide_precision
from ast_lobes.inference.precision import set_inference_precision
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.training.budget import TimeBudget, run_started
from ast_lobes.training.checkpoints import keep_random_state, log_resume
from ast_lobes.training.data.fbank_cache import FbankCache
from ast_lobes.training.data.sampling import (
    EvaluationPart,
    distributed_place,
    interleave_parts,
)
from ast_lobes.training.evaluation.metrics import MultiLabelStats
from ast_lobes.training.evaluation.metrics_file import append_metrics_line
from ast_lobes.training.heap import keep_freed_memory
from ast_lobes.training.hparams_check import (
    TRAINING_STAGES,
    active_stage,
    check_head_settings,
    check_optional_hparams,
    describe_stages,
    optional,
)
from ast_lobes.training.run_settings import RunSettings
from ast_lobes.training.weight_average import EpochWeightAverage

logger = logging.getLogger(__name__)


class AudioClassificationBrain(sb.Brain):
    """Trains and evaluates ``classifier(encoder(normalize(fbank(wav))))``.

    Every evaluation reports the loss and the accuracy (the share of clips
    whose highest-scoring class is a target class: plain accuracy for
    single-label data), and for ``multi_label`` the corpus-level mAP, mAUC
    and d-prime. Validation metrics are logged every epoch, written as one
    JSON line per epoch to ``metrics_file`` and used (``best_key``) to keep
    the best checkpoint beside the latest one, or every epoch's checkpoint
    with ``keep_all_checkpoints``.

    With ``weight_ema_epochs`` (``EpochWeightAverage``), validation
    scores the average of the epochs' weights, and the weights a run ends
    with, tests and exports are that average (of the checkpoint tested).

    It takes SpeechBrain's arguments (``modules``, ``opt_class``,
    ``hparams``, ``run_opts``, ``checkpointer``) and ``run_settings``, a
    ``RunSettings``: what the run's data decide (the label names, the
    training sampler...).
    """

    evaluation_name = "test"
    use_current_weights = False
    budget = None
    random_state = None  # ast_lobes.training.checkpoints.RandomState

    def __init__(self, *args, hparams=None, run_settings=None, **kwargs):
        check_optional_hparams(hparams or {})
        check_head_settings(hparams or {})
        if (hparams or {}).get("loss") not in ("ce", "bce"):
            raise ValueError(
                f"hparams loss is {(hparams or {}).get('loss')!r}; expected "
                "'ce' (cross-entropy) or 'bce' (binary cross-entropy)"
            )
        super().__init__(*args, hparams=hparams, **kwargs)
        force = optional(hparams or {}, "force_precision")
        self.test_precisions = [  # a slow explicit mode fails here, early
            decide_precision(mode, str(self.device), force=force)
            for mode in optional(hparams or {}, "test_precisions")
        ]
        check_autocast_precision(self, force)
        self.settings = {
            name: optional(hparams or {}, name)
            for name in (
                "mixup",
                "spec_augment",
                "fbank_noise",
                "multi_label",
                "best_key",
                "keep_all_checkpoints",
                "predictions_folder",
                "per_class_file",
                "metrics_file",
                "distillation",
            )
        }
        for name in TRAINING_STAGES:
            self.settings[name] = active_stage(self.settings[name])
        self.weight_average = None
        epochs = optional(hparams or {}, "weight_ema_epochs")
        if epochs:
            self.weight_average = EpochWeightAverage(
                self.averaged_modules, epochs
            )
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable(
                    "weight_average", self.weight_average
                )
        self.fbank_cache = None
        cache_mb = optional(hparams or {}, "fbank_cache_mb")
        if cache_mb and FbankCache.applies_to(self.modules.compute_features):
            self.fbank_cache = FbankCache(cache_mb)
        self.take_run_settings(run_settings or RunSettings())

    def take_run_settings(self, run_settings):
        """Keeps what ``run_settings`` (``RunSettings``) gives the run."""
        names = run_settings.label_names
        self.label_names = None if names is None else list(names)
        self.after_training_share = run_settings.after_training_share
        if run_settings.train_sampler is not None:
            self.train_sampler = run_settings.train_sampler  # set_epoch
        if run_settings.keep_random_state and self.checkpointer is not None:
            keep_random_state(self)

    @property
    def averaged_modules(self):
        """The modules whose weights ``weight_ema_epochs`` averages."""
        return {
            "encoder": self.modules.encoder,
            "classifier": self.modules.classifier,
        }

    @property
    def pipeline(self):
        """The inference pipeline over the Brain's current modules (DDP
        wrappers and precision copies included)."""
        return AudioClassificationPipeline(
            self.modules.compute_features,
            self.modules.normalize,
            self.modules.encoder,
            self.modules.classifier,
        )

    def on_fit_start(self):
        """Logs which training stages are on, then starts as usual (and
        the time budget's clock, with a resumed run's plan); freed memory
        is kept for the next steps (``keep_freed_memory``)."""
        logger.info(keep_freed_memory())
        logger.info(describe_stages(self.settings))
        if self.fbank_cache is not None:
            cache = self.fbank_cache
            logger.info(cache.describe(self.modules.compute_features))
        if self.weight_average is not None:
            logger.info(
                "validated, tested and exported: the weights averaged over "
                "about %g epochs (weight_ema_epochs)",
                self.weight_average.epochs,
            )
        super().on_fit_start()
        log_resume(self)
        self.fit_clock = (time.monotonic(), self.hparams.epoch_counter.current)
        self.budget = start_time_budget(self)

    def _wrap_distributed(self):
        """SpeechBrain's DDP wrapping, except on CPUs, where BatchNorm
        layers (the AudioFolder CPU preset's stem) stay per process:
        SpeechBrain 1.1.2 turns every BatchNorm of a DDP run into a
        ``SyncBatchNorm``, which runs on CUDA devices only."""
        if not self.distributed_launch or str(self.device) != "cpu":
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = torch.nn.parallel.DistributedDataParallel(
                    module, find_unused_parameters=self.find_unused_parameters
                )
        return None

    def follow_time_budget(self, epoch):
        """The budget's plan after ``epoch``, applied to the epoch counter
        and the learning-rate decay; its checkpoint meta."""
        if self.budget is None:
            return {}
        epochs, milestone = self.budget.epoch_done(
            epoch, time.monotonic() - self.valid_started,
            self.after_training_share,
        )  # fmt: skip
        self.hparams.epoch_counter.limit = epochs
        self.hparams.lr_schedule.milestone_start = milestone
        plan = self.budget.plan
        return {f"budget_{key}": value for key, value in plan.items()}

    def log_time_left(self, epoch):
        """Logs the epochs done and the time left at this run's pace."""
        log_time_left(self, epoch)

    def fit(self, *args, **kwargs):
        """SpeechBrain's ``fit``; with ``weight_ema_epochs``, the
        modules end with the averaged weights."""
        super().fit(*args, **kwargs)
        self.take_weight_average()

    def take_weight_average(self):
        """Loads the averaged weights into the modules (once there are
        any)."""
        if self.weight_average is not None and self.weight_average.updated:
            self.weight_average.copy_to(self.averaged_modules)

    def compute_forward(self, batch, stage):
        """Logits ``[batch, n_classes]`` and the (possibly mixed) targets."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        targets, _ = batch.targets
        pipeline = self.pipeline
        if stage == sb.Stage.VALID and self.weight_average is not None:
            averaged = self.weight_average.averaged_modules
            pipeline = AudioClassificationPipeline(
                self.modules.compute_features, self.modules.normalize,
                averaged["encoder"], averaged["classifier"],
            )  # fmt: skip
        if stage != sb.Stage.TRAIN:
            raw, frame_lens = self.raw_features(pipeline, batch, wavs, lens,
                                                stage)  # fmt: skip
            logits = pipeline.classify(pipeline.normalize(raw), frame_lens)
            return logits, targets
        mixup = self.settings["mixup"]
        mixed = None
        if mixup is not None:
            wavs, lens, targets, mixed = mixup.mix(wavs, lens, targets)
        distillation = self.settings["distillation"]
        generators = epoch = None
        if distillation is not None:  # the teacher draw's augmentation
            epoch = self.hparams.epoch_counter.current
            generators = distillation.generators(batch.id, epoch)
        raw = self.raw_features(pipeline, batch, wavs, lens, stage, mixed)
        feats, frame_lens = augment_features(
            pipeline, wavs, lens, self.settings["spec_augment"],
            self.settings["fbank_noise"], generators, raw=raw,
        )  # fmt: skip
        if distillation is None:
            return pipeline.classify(feats, frame_lens), targets
        teacher = None
        if distillation.online:  # on the same mixed clips and draw
            teacher = distillation.online_logits(
                wavs, lens, batch.id, epoch, raw, pipeline.compute_features
            )
        if pipeline.head_kind != "pair":  # one head learns both (Hinton)
            logits = pipeline.classify(feats, frame_lens)
            return (logits, logits, teacher), targets
        tokens = pipeline.encoder(feats, frame_lens)
        cls_logits, dist_logits = pipeline.head.pair(tokens)
        logits = (cls_logits.squeeze(1), dist_logits.squeeze(1), teacher)
        return logits, targets

    def raw_features(self, pipeline, batch, wavs, lens, stage, mixed=None):
        """The batch's fbank before scaling and its frame lengths: each
        clip's kept row (``fbank_cache_mb``) where there is one, else
        computed (and kept); ``mixed`` clips (``[batch]`` bool) are always
        computed and never kept."""
        if self.fbank_cache is None:
            return pipeline.raw_features(wavs, lens)
        keys = [(stage.name, clip_id) for clip_id in batch.id]
        return self.fbank_cache.raw_features(pipeline, keys, wavs, lens, mixed)

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy or BCE (with distillation: ``Distillation.loss``
        of both heads); collects the scores outside training."""
        logits, targets = predictions
        if isinstance(logits, tuple):  # distillation, training
            cls_logits, dist_logits, teacher = logits
            return self.settings["distillation"].loss(
                cls_logits, dist_logits, targets, batch.id,
                self.hparams.loss == "bce",
                self.hparams.epoch_counter.current, teacher,
            )  # fmt: skip
        if self.hparams.loss == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, targets)
        else:
            loss = F.cross_entropy(logits, targets)
        if stage != sb.Stage.TRAIN:
            top = logits.argmax(dim=-1, keepdim=True)
            self.correct += int((targets.gather(1, top) >= 0.5).sum())
            self.total += logits.shape[0]
            if self.hparams.loss == "bce":
                scores = torch.sigmoid(logits)
            else:
                scores = torch.softmax(logits, dim=-1)
            self.scores.append(batch.id, scores.float(), targets)
        return loss

    def on_fit_batch_start(self, batch, should_step):
        """Sets the learning rate of the coming optimizer step (and, in a
        run resumed inside an epoch, the random generators' saved state)."""
        if self.random_state is not None:
            self.random_state.apply_pending()
        self.hparams.lr_schedule.set_lr(
            self.optimizer,
            self.hparams.epoch_counter.current,
            self.optimizer_step + 1,
        )

    def on_stage_start(self, stage, epoch=None):
        """Resets the accuracy counters and the collected scores."""
        self.correct = 0
        self.total = 0
        self.scores = MultiLabelStats(self.label_names)
        self.valid_started = time.monotonic()

    def make_dataloader(self, dataset, stage, ckpt_prefix="dataloader-",
                        **loader_kwargs):  # fmt: skip
        """SpeechBrain's loader; with several processes, an evaluation
        loader over this process's part of the set (``EvaluationPart``)."""
        processes, rank = distributed_place()
        if (
            stage != sb.Stage.TRAIN
            and processes > 1
            and not isinstance(dataset, torch.utils.data.IterableDataset)
            and loader_kwargs.get("sampler") is None
        ):
            loader_kwargs = {**loader_kwargs, "shuffle": False}
            loader_kwargs["sampler"] = EvaluationPart(
                len(dataset), rank, processes
            )
            logger.info(
                "evaluation split over %d processes: rank %d scores %d of "
                "the %d clips", processes, rank,
                len(loader_kwargs["sampler"]), len(dataset),
            )  # fmt: skip
        return super().make_dataloader(
            dataset, stage, ckpt_prefix, **loader_kwargs
        )

    def gather_evaluation(self, stage_loss):
        """With several processes: every process's scores, counts and loss
        brought together in the evaluation set's order, so that the metrics
        are those of one process scoring it all. Returns the loss (the
        processes' means weighted by their clips)."""
        processes, _ = distributed_place()
        if processes == 1:
            return stage_loss
        ids, scores, targets = self.scores.stacked() if self.total else (
            [], np.zeros((0, 0)), np.zeros((0, 0))
        )  # fmt: skip
        mine = (ids, scores, targets, self.correct, self.total,
                float(stage_loss))  # fmt: skip
        parts = [None] * processes
        torch.distributed.all_gather_object(parts, mine)
        parts = [part for part in parts if part[4]]
        self.scores.clear()
        self.scores.append(
            interleave_parts([part[0] for part in parts]),
            np.stack(interleave_parts([list(part[1]) for part in parts])),
            np.stack(interleave_parts([list(part[2]) for part in parts])),
        )  # fmt: skip
        self.correct = sum(part[3] for part in parts)
        self.total = sum(part[4] for part in parts)
        return sum(part[5] * part[4] for part in parts) / self.total

    def stage_stats(self, stage_loss):
        """Loss, accuracy and (multi-label) mAP, mAUC and d-prime."""
        stats = {"loss": stage_loss, "accuracy": self.correct / self.total}
        if self.settings["multi_label"]:
            summary = self.scores.summarize()
            for key in ("mAP", "mAUC", "d_prime"):
                stats[key] = summary[key]
        return stats

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, checkpoints and records the stage's metrics."""
        if stage == sb.Stage.TRAIN:
            if self.random_state is not None:  # resumed after the last batch
                self.random_state.apply_pending()
            self.train_loss = stage_loss
            if self.weight_average is not None:
                self.weight_average.update(self.averaged_modules)
            return
        stage_loss = self.gather_evaluation(stage_loss)
        stats = self.stage_stats(stage_loss)
        if stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            # Recorded before the checkpoint: a run killed between the two
            # re-runs the epoch and its new line replaces this one.
            self.record({"epoch": epoch, **stats})
            plan = self.follow_time_budget(epoch)
            self.save_epoch_checkpoint(stats, epoch, plan)
            self.log_time_left(epoch)
            self.save_predictions(f"valid_epoch{epoch}")
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={
                    "evaluated": self.evaluation_name,
                    "epoch": self.hparams.epoch_counter.current,
                },
                test_stats=stats,
            )
            self.record({"test": self.evaluation_name, **stats})
            self.save_predictions(self.evaluation_name)
            self.write_per_class_stats()
        self.last_stats = stats

    def save_epoch_checkpoint(self, stats, epoch, extra_meta=None):
        """Keeps the best and latest checkpoints, or all of them."""
        best_key = self.settings["best_key"]
        meta = {best_key: stats[best_key], "epoch": epoch, **(extra_meta or {})}
        if self.settings["keep_all_checkpoints"]:
            self.checkpointer.save_checkpoint(meta=meta)
        else:
            self.checkpointer.save_and_keep_only(
                meta=meta, max_keys=[best_key], num_to_keep=1
            )

    def evaluate_current_weights(self, dataset, loader_kwargs, name):
        """Evaluates the weights now in the modules (no checkpoint loaded).

        Used for models built outside training, such as weight averages;
        ``name`` labels the log line, the metrics and the predictions file.
        """
        self.evaluation_name = name
        self.use_current_weights = True
        try:
            return self.evaluate(dataset, test_loader_kwargs=loader_kwargs)
        finally:
            self.use_current_weights = False
            self.evaluation_name = "test"

    def evaluate_in_precision(self, dataset, loader_kwargs, precision):
        """Evaluates a copy of the current encoder run in ``precision``.

        The copy is converted with ``ast_lobes.set_inference_precision``;
        the trained modules are left as they are. Metrics are recorded under
        ``test_<precision>``.
        """
        original = self.modules["encoder"]
        trained = getattr(original, "module", original)  # DDP-wrapped
        self.modules["encoder"] = set_inference_precision(
            copy.deepcopy(trained), precision, force=True
        )
        try:
            return self.evaluate_current_weights(
                dataset, loader_kwargs, f"test_{precision}"
            )
        finally:
            self.modules["encoder"] = original

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the chosen checkpoint (its averaged weights with
        ``weight_ema_epochs``) unless evaluating current weights."""
        if not self.use_current_weights:
            super().on_evaluate_start(max_key=max_key, min_key=min_key)
            self.take_weight_average()

    def save_predictions(self, name):
        """Writes ids, scores and targets to ``predictions_folder/name.npz``."""
        folder = self.settings["predictions_folder"]
        if folder is None or not sb.utils.distributed.if_main_process():
            return
        ids, scores, targets = self.scores.stacked()
        os.makedirs(folder, exist_ok=True)
        np.savez(
            os.path.join(folder, f"{name}.npz"),
            ids=np.array(ids),
            scores=scores,
            targets=targets,
        )

    def write_per_class_stats(self):
        """Writes per-class AP and AUC with label names (multi-label)."""
        path = self.settings["per_class_file"]
        if (
            path is None
            or not self.settings["multi_label"]
            or not sb.utils.distributed.if_main_process()
        ):
            return
        root, extension = os.path.splitext(path)
        path = f"{root}_{self.evaluation_name}{extension}"
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            self.scores.write_stats(handle)

    def record(self, stats):
        """Appends one JSON line to ``metrics_file`` (main process only)."""
        append_metrics_line(self.settings["metrics_file"], stats)


def check_autocast_precision(brain, force=False):
    """Refuses SpeechBrain's ``--precision bf16`` / ``--eval_precision
    bf16`` (autocast) on a device that runs bf16 slower than fp32
    (``SlowPrecisionError``, from the checks of ``auto``) unless ``force``.
    """
    if "bf16" in (brain.precision, brain.eval_precision):
        decide_precision("bf16-autocast", str(brain.device), force=force)


def start_time_budget(brain):
    """The ``TimeBudget`` of a Brain whose hparams set ``time_budget``
    (None without), started with the plan of the checkpoint it resumed."""
    minutes = optional(vars(brain.hparams), "time_budget")
    if minutes is None:
        return None
    budget = TimeBudget(
        minutes, brain.hparams.epoch_counter.limit,
        brain.hparams.lr_schedule.milestone_start,
    )  # fmt: skip
    checkpoint = brain.checkpointer.find_checkpoint() if brain.checkpointer \
        else None  # fmt: skip
    meta = checkpoint.meta if checkpoint is not None else {}
    stored = {
        key[len("budget_") :]: value for key, value in meta.items()
        if key.startswith("budget_")
    }  # fmt: skip
    budget.start(stored or None, brain.hparams.epoch_counter.current,
                 run_started())  # fmt: skip
    if stored:
        brain.hparams.epoch_counter.limit = stored["epochs"]
        brain.hparams.lr_schedule.milestone_start = stored["milestone_start"]
    return budget


def log_time_left(brain, epoch):
    """Logs a Brain's epochs done and time left at this run's pace (from
    ``brain.fit_clock``: the start time and the epoch counter then)."""
    started, first_epoch = getattr(brain, "fit_clock", (None, 0))
    limit = brain.hparams.epoch_counter.limit
    if started is None or epoch <= first_epoch:
        return
    per_epoch = (time.monotonic() - started) / (epoch - first_epoch)
    left = per_epoch * (limit - epoch)
    logger.info(
        "epoch %d of %d done, %.0f s per epoch, about %s left",
        epoch, limit, per_epoch, format_duration(left),
    )  # fmt: skip


def format_duration(seconds):
    """``1 h 02 min``, ``12 min 05 s`` or ``42 s``.

    Example
    -------
    >>> format_duration(3725), format_duration(725), format_duration(42)
    ('1 h 02 min', '12 min 05 s', '42 s')
    """
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
