"""The training run of a classifier recipe: builds the Brain with its
``RunSettings``, trains, tests, calibrates and exports it (or, with
SpeechBrain's ``--test_only``, only tests the best checkpoint).

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging
import os
from dataclasses import dataclass

import numpy as np
import speechbrain as sb

from ast_lobes.training.brain import AudioClassificationBrain
from ast_lobes.training.data.sampling import label_balanced_sampler
from ast_lobes.training.data.shards import shard_contents
from ast_lobes.training.distillation import write_teacher_logits
from ast_lobes.training.evaluation.report import (
    per_class_table,
    plot_confusion,
    write_per_class_csv,
)
from ast_lobes.training.evaluation.thresholds import (
    MIN_POSITIVES,
    f1_thresholds,
)
from ast_lobes.training.export import export_model
from ast_lobes.training.hparams_check import optional
from ast_lobes.training.run_datasets import (
    after_training_share,
    build_datasets,
    shard_train_loader,
)
from ast_lobes.training.run_fingerprint import (
    check_run_identity,
    run_identity,
    value_digest,
)
from ast_lobes.training.run_settings import RunSettings
from ast_lobes.weights.exported import start_from_exported

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedClassifier:
    """What ``train_classifier`` gives back.

    Arguments
    ---------
    brain : AudioClassificationBrain
        The Brain, its modules holding the weights tested and exported.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        The labels.
    datasets : dict
        The dataset of each split.
    test_stats : dict or None
        The metrics of the test (of the validation set with
        ``--test_only`` and no test set), None when nothing was tested.
    test_per_class : list or None
        The test's per-class rows (``per_class_table``; main process).
    notes : dict or None
        Settings the run chose itself (a transfer's regularisation), for
        the model card.
    """

    brain: AudioClassificationBrain
    label_encoder: object
    datasets: dict
    test_stats: dict = None
    test_per_class: list = None
    notes: dict = None

    @property
    def test_only(self):
        """Whether the run only tested (SpeechBrain's ``--test_only``)."""
        return self.brain.test_only


def train_classifier(hparams, run_opts, manifests, contents=None):
    """Trains, optionally tests, and exports one classifier.

    Arguments
    ---------
    hparams : dict
        Loaded hparams (see ``AudioClassificationBrain``), with
        ``save_folder``, ``export_folder``, ``sample_rate`` and the
        ``*_dataloader_opts``; optionally ``balanced_sampling`` (label-
        balanced weighted sampling of the training set), ``multi_label``,
        ``best_key`` and ``resample_on_load``.
    run_opts : dict
        SpeechBrain run options (device, DDP...).
    manifests : dict
        ``train`` and ``valid`` manifests, and optionally ``test``: the
        checkpoint with the best validation ``best_key`` is then tested and
        exported (else the last epoch is exported). With SpeechBrain's
        ``--test_only`` (``run_opts``) nothing is trained or exported: the
        best checkpoint is evaluated on ``test`` (else ``valid``).
    contents : dict or None
        ``{"audio": {split: digest}}`` of what the manifests' audio files
        hold (``manifests_audio``), part of the run's identity: a
        checkpoint made from other audio at the same paths is refused.

    Returns
    -------
    TrainedClassifier
        The Brain, the labels, the datasets and the test's metrics.
    """
    label_encoder, datasets = build_datasets(hparams, manifests)
    label_names = [
        label_encoder.ind2lab[index] for index in range(len(label_encoder))
    ]
    shard_loader, split_digests = None, None
    if optional(hparams, "train_shards"):
        shard_loader = shard_train_loader(
            hparams, label_encoder, manifests.get("train")
        )
        split_digests = {
            "train": value_digest(shard_contents(shard_loader.dataset.shards))
        }
    refuse_other_runs(hparams, manifests, label_names, split_digests,
                      contents)  # fmt: skip
    train_loader_kwargs = dict(hparams["train_dataloader_opts"])
    train_set, train_sampler = datasets.get("train"), None
    if shard_loader is not None:
        train_set = train_sampler = shard_loader  # its set_epoch
    elif optional(hparams, "balanced_sampling"):
        train_sampler = label_balanced_sampler(
            manifests["train"], seed=hparams.get("seed", 0)
        )
        train_loader_kwargs["sampler"] = train_sampler
        train_loader_kwargs.pop("shuffle", None)
    brain = AudioClassificationBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
        run_settings=RunSettings(
            label_names=tuple(label_names),
            after_training_share=after_training_share(hparams, datasets),
            train_sampler=train_sampler,
            keep_random_state=True,
        ),
    )
    if shard_loader is not None:
        brain.checkpointer.add_recoverable(
            "train_shard_position", shard_loader, optional_load=True
        )
    start_weights(brain, hparams)
    prepare_teacher(brain, hparams, datasets.get("train"))
    best_key = optional(hparams, "best_key")
    if brain.test_only and (
        hparams["checkpointer"].find_checkpoint(max_key=best_key) is None
    ):
        raise FileNotFoundError(
            f"--test_only: no checkpoint in {hparams['save_folder']} to "
            "test; train first"
        )
    brain.fit(
        hparams["epoch_counter"],
        train_set,
        datasets["valid"],
        train_loader_kwargs=train_loader_kwargs,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    test_set = datasets.get("test", datasets["valid"])
    test_stats = test_per_class = None
    if "test" in datasets or brain.test_only:
        brain.evaluate(
            test_set,
            max_key=best_key,
            test_loader_kwargs=hparams["valid_dataloader_opts"],
        )
        test_stats = brain.last_stats
        if sb.utils.distributed.if_main_process():
            test_per_class = write_test_report(brain, hparams["output_folder"])
    for precision in brain.test_precisions:
        brain.evaluate_in_precision(
            test_set, hparams["valid_dataloader_opts"], precision
        )
    logits_file = optional(hparams, "teacher_logits_file")
    if logits_file and sb.utils.distributed.if_main_process():
        write_teacher_logits(
            brain, datasets["train"], logits_file,
            draws=optional(hparams, "teacher_draws") or 0,
            seed=hparams.get("seed", 0),
        )  # fmt: skip
        print(f"teacher logits of the training clips: {logits_file}")
    thresholds = None
    if optional(hparams, "multi_label") and not brain.test_only:
        thresholds = calibrate_thresholds(
            brain, datasets["valid"], hparams["valid_dataloader_opts"],
            best_key, tested="test" in datasets,
        )  # fmt: skip
    if sb.utils.distributed.if_main_process() and not brain.test_only:
        if hasattr(brain.pipeline.bare_encoder, "config"):
            export_model(hparams, hparams["export_folder"], label_encoder,
                         thresholds)  # fmt: skip
        else:
            logger.warning(
                "not exported: a model folder holds an AST encoder, and "
                "this one is a %s",
                type(brain.pipeline.bare_encoder).__name__,
            )
    brain.fbank_cache = None  # its rows are not read after the test
    return TrainedClassifier(
        brain, label_encoder, datasets, test_stats, test_per_class
    )


def refuse_other_runs(hparams, manifests, label_names=None,
                      split_digests=None, contents=None):  # fmt: skip
    """Stores this run's identity with its checkpoints and refuses the
    checkpoints of another run in its folder (``check_run_identity``;
    ``resume_anyway``, ``start_over``). Starting over also deletes the
    old run's metrics file. Returns the identity (``run_identity``, with
    ``contents`` where the run stores what it computed from the files)."""
    identity = run_identity(manifests, hparams, label_names, split_digests,
                            contents)  # fmt: skip
    deleted = check_run_identity(
        hparams["checkpointer"], identity,
        resume_anyway=optional(hparams, "resume_anyway"),
        start_over=optional(hparams, "start_over"),
    )  # fmt: skip
    metrics_file = optional(hparams, "metrics_file")
    if deleted and metrics_file and os.path.isfile(metrics_file):
        if sb.utils.distributed.if_main_process():
            os.remove(metrics_file)
    return identity


def start_weights(brain, hparams):
    """Starts from the exported model folder ``init_from`` (its encoder,
    and its head when the labels are the same); a checkpoint of this run,
    when there is one, is restored over it by ``fit``."""
    folder = optional(hparams, "init_from")
    if not folder or brain.test_only:
        return
    same = start_from_exported(
        hparams["encoder"], hparams["classifier"], folder, brain.label_names
    )
    logger.info(
        "starting from %s: its encoder%s",
        folder,
        " and head (same labels)" if same else ", a new head (other labels)",
    )


def prepare_teacher(brain, hparams, train_set):
    """Gets the stored teacher outputs of the training clips ready when
    the recipe distils (the main process computes them once; the others
    read them)."""
    distillation = optional(hparams, "distillation")
    if distillation is None or brain.test_only:
        return
    args = [
        train_set,
        hparams["save_folder"],
        brain.settings["spec_augment"],
        brain.settings["fbank_noise"],
        brain.label_names,
    ]
    sb.utils.distributed.run_on_main(distillation.prepare, args=args)
    distillation.prepare(*args)


def write_test_report(brain, folder):
    """Per-class precision, recall and F1 of the test evaluation
    (``per_class_test.csv``) and, single-label, its confusion matrix
    (``confusion_test.png``). Returns the per-class rows."""
    _, scores, targets = brain.scores.stacked()
    multi_label = bool(brain.settings["multi_label"])
    rows = per_class_table(scores, targets, brain.label_names, multi_label)
    os.makedirs(folder, exist_ok=True)
    write_per_class_csv(os.path.join(folder, "per_class_test.csv"), rows)
    if not multi_label:
        plot_confusion(
            os.path.join(folder, "confusion_test.png"),
            scores,
            targets,
            brain.label_names,
        )
    return rows


def calibrate_thresholds(brain, valid_set, loader_kwargs, best_key, tested):
    """Per-class F1-maximising thresholds of the best checkpoint on the
    validation clips (``f1_thresholds``; classes with fewer than 3
    positives keep 0.5), logged and returned."""
    if not tested:  # the best checkpoint is not loaded yet
        brain.checkpointer.recover_if_possible(max_key=best_key)
    brain.evaluate_current_weights(valid_set, loader_kwargs, "calibration")
    _, scores, targets = brain.scores.stacked()
    thresholds = f1_thresholds(scores, targets)
    logger.info(
        "per-class thresholds from %d validation clips: %d of %d classes "
        "calibrated (median %.3f), the others 0.5",
        len(scores), int(((targets >= 0.5).sum(0) >= MIN_POSITIVES).sum()),
        len(thresholds), float(np.median(thresholds)),
    )  # fmt: skip
    return thresholds
