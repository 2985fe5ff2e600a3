"""Steps shared by the recipes' ``train.py`` scripts.

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging
import os

import numpy as np
import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml, resolve_references
from ruamel.yaml import YAML

from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.training.brain import AudioClassificationBrain
from ast_lobes.training.checkpoints import keep_random_state
from ast_lobes.training.data.datasets import (
    build_label_encoder,
    classification_dataset,
)
from ast_lobes.training.data.sampling import label_balanced_sampler
from ast_lobes.training.data.shards import (
    ShardedClips,
    ShardLoader,
    names_shard_folder,
    shard_contents,
    write_shards,
)
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
from ast_lobes.training.export import export_classifier
from ast_lobes.training.hparams_check import optional
from ast_lobes.training.run_fingerprint import (
    check_run_identity,
    run_identity,
    value_digest,
)
from ast_lobes.weights.exported import start_from_exported

logger = logging.getLogger(__name__)


def parse_overrides(overrides):
    """Command-line overrides (SpeechBrain gives a YAML string) as a dict.

    Example
    -------
    >>> parse_overrides("{fold: 2, lr: 0.001}")
    {'fold': 2, 'lr': 0.001}
    """
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    return dict(YAML(typ="safe").load(overrides) or {})


def read_plain_hparams(hparams_file, overrides=None):
    """Resolves a HyperPyYAML file's references without building objects.

    Used to read plain settings (folds, folders) before any model is built.

    Arguments
    ---------
    hparams_file : str
        The YAML file.
    overrides : dict or str or None
        Overrides as for ``load_hyperpyyaml``.

    Returns
    -------
    dict
        The YAML tree; tagged nodes stay unbuilt.
    """
    with open(hparams_file, encoding="utf-8") as handle:
        text = resolve_references(handle, overrides or {}).getvalue()
    return YAML(typ="rt").load(text)


def load_experiment(hparams_file, overrides):
    """The recipe's hparams with ``overrides``, its experiment folder made
    (SpeechBrain's ``create_experiment_directory``: the resolved YAML and
    the log go there)."""
    with open(hparams_file, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    return hparams


# A fold's own folders and files, which folds may not share.
FOLD_PATH_KEYS = ("save_folder", "export_folder", "train_log", "metrics_file")


class RecipeOptionError(ValueError):
    """A command-line option a recipe cannot take as given."""


def fold_root_overrides(overrides, n_folds, folds_set_by_recipe=True):
    """Overrides under which folds never share a folder.

    With several folds, ``output_folder`` is the root of the fold folders
    (it becomes ``experiment_folder``; each fold runs in its ``fold<N>``
    there, and the summary is written there); a fold's own folder or file
    (``save_folder``, ``export_folder``, ``train_log``, ``metrics_file``)
    given without ``{fold}`` in it is refused, and so is ``fold``, which
    the recipe sets for each fold.

    Arguments
    ---------
    overrides : dict
        The command line's overrides.
    n_folds : int
        Folds this run trains.
    folds_set_by_recipe : bool
        Whether ``train.py`` sets ``fold`` for each fold.

    Returns
    -------
    dict
        The overrides to run the folds with.

    Example
    -------
    >>> fold_root_overrides({"output_folder": "runs/cv"}, 5)
    {'experiment_folder': 'runs/cv'}
    >>> fold_root_overrides({"save_folder": "runs/save"}, 5)
    Traceback (most recent call last):
    ...
    ast_lobes.training.recipe.RecipeOptionError: --save_folder runs/save ...
    """
    overrides = dict(overrides)
    if "fold" in overrides and folds_set_by_recipe:
        raise RecipeOptionError(
            "--fold: train.py sets the fold of each run; choose the folds "
            "with --folds (ESC-50, e.g. --folds [2]) or --n_folds"
        )
    if n_folds <= 1:
        return overrides
    for key in FOLD_PATH_KEYS:
        value = overrides.get(key)
        if value is not None and "{fold}" not in str(value):
            raise RecipeOptionError(
                f"--{key} {value} with {n_folds} folds would put every "
                f"fold's {key} in one place; pass --experiment_folder (each "
                "fold then runs in its own fold<N> folder there), or put "
                "{fold} in the path"
            )
    root = overrides.get("output_folder")
    if root is not None and "{fold}" not in str(root):
        if overrides.get("experiment_folder") is not None:
            raise RecipeOptionError(
                f"--output_folder and --experiment_folder with {n_folds} "
                "folds: pass --experiment_folder only (the folds run in its "
                "fold<N> folders)"
            )
        overrides["experiment_folder"] = overrides.pop("output_folder")
        logger.info(
            "--output_folder %s with %d folds: the root of the fold folders "
            "(%s/fold1 ... fold%d)", root, n_folds, root, n_folds,
        )  # fmt: skip
    return overrides


def fold_overrides(overrides, fold):
    """``overrides`` for one fold: ``fold`` set, and ``{fold}`` in a
    path replaced by it (a teacher or a pretrained encoder per fold, which
    never saw the fold's test clips).

    Example
    -------
    >>> fold_overrides({"teacher": "t/fold{fold}/logits.npz"}, 3)
    {'teacher': 't/fold3/logits.npz', 'fold': 3}
    """
    overrides = {
        key: value.replace("{fold}", str(fold))
        if isinstance(value, str) else value
        for key, value in overrides.items()
    }  # fmt: skip
    return {**overrides, "fold": fold}


def end_distributed():
    """Waits for every process, then closes the DDP process group.

    Call it last in a recipe: a process that exits with the group still
    open can be killed by its communication threads at interpreter exit.
    """
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def build_datasets(hparams, manifests):
    """The label encoder and a dataset per manifest.

    The label encoder is ``save_folder/label_encoder.txt`` if it exists
    (a prepare script may write it in a fixed order), else the sorted labels
    of the training manifest; its size must equal ``n_classes``. Without a
    training manifest (training from shards) the file must exist.

    Returns
    -------
    tuple
        ``(label_encoder, {split: dataset})``.
    """
    encoder_file = os.path.join(hparams["save_folder"], "label_encoder.txt")
    if "train" not in manifests and not os.path.isfile(encoder_file):
        raise FileNotFoundError(
            f"{encoder_file}: missing; without a training manifest the "
            "prepare step must write the labels"
        )
    train_csv = manifests.get("train")
    sb.utils.distributed.run_on_main(
        build_label_encoder, args=[encoder_file, train_csv]
    )
    label_encoder = build_label_encoder(encoder_file, train_csv)
    n_classes = hparams.get("n_classes")
    if n_classes is not None and n_classes != len(label_encoder):
        raise RecipeOptionError(
            f"n_classes is {n_classes} but the data has "
            f"{len(label_encoder)} labels ({encoder_file}); set "
            f"--n_classes {len(label_encoder)} or fix the data"
        )
    datasets = {
        split: classification_dataset(
            path,
            label_encoder,
            hparams["sample_rate"],
            resample=optional(hparams, "resample_on_load"),
        )
        for split, path in manifests.items()
    }
    return label_encoder, datasets


def after_training_share(hparams, datasets):
    """Clips scored after training (the test; the training clips once per
    stored teacher draw) per validation clip: what a time budget keeps."""
    valid_clips = max(1, len(datasets["valid"]))
    clips = len(datasets.get("test", ()))
    if optional(hparams, "teacher_logits_file") and "train" in datasets:
        draws = max(1, optional(hparams, "teacher_draws") or 0)
        clips += draws * len(datasets["train"])
    return clips / valid_clips


def train_classifier(hparams, run_opts, manifests):
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

    Returns
    -------
    AudioClassificationBrain
        With ``datasets`` and ``label_encoder`` attributes, and
        ``test_stats`` when a test set was evaluated.
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
    refuse_other_runs(hparams, manifests, label_names, split_digests)
    brain = AudioClassificationBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    keep_random_state(brain)
    brain.label_names = label_names
    brain.datasets, brain.label_encoder = datasets, label_encoder
    brain.after_training_share = after_training_share(hparams, datasets)
    train_loader_kwargs = dict(hparams["train_dataloader_opts"])
    train_set = datasets.get("train")
    if shard_loader is not None:
        brain.train_sampler = train_set = shard_loader  # set_epoch
        brain.checkpointer.add_recoverable(
            "train_shard_position", train_set, optional_load=True
        )
    elif optional(hparams, "balanced_sampling"):
        brain.train_sampler = label_balanced_sampler(
            manifests["train"], seed=hparams.get("seed", 0)
        )
        train_loader_kwargs["sampler"] = brain.train_sampler
        train_loader_kwargs.pop("shuffle", None)
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
    if "test" in datasets or brain.test_only:
        brain.evaluate(
            test_set,
            max_key=best_key,
            test_loader_kwargs=hparams["valid_dataloader_opts"],
        )
        brain.test_stats = brain.last_stats
        if sb.utils.distributed.if_main_process():
            brain.test_per_class = write_test_report(
                brain, hparams["output_folder"]
            )
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
    return brain


def shard_train_loader(hparams, label_encoder, manifest):
    """The ``ShardLoader`` of ``train_shards`` (``batch_size`` and
    ``num_workers`` of ``train_dataloader_opts``, ``balanced_sampling``,
    ``shuffle_buffer``, ``seed``).

    ``train_shards`` names shards (a ``.tar`` brace pattern or list), or a
    folder, into which the main process first writes the training
    manifest's clips (``clips_per_shard`` a shard), or finishes writing
    them, or checks that they are this manifest's."""
    shards = hparams["train_shards"]
    for key in ("distillation", "teacher_logits_file"):
        if optional(hparams, key) is not None:
            raise RecipeOptionError(
                f"train_shards: {key} is not supported from shards (the "
                "teacher's outputs are stored for the manifest's clips); set "
                f"train_shards: null or leave {key} out"
            )
    if names_shard_folder(shards):
        if manifest is None:
            raise RecipeOptionError(
                f"train_shards: {shards} is a folder to write shards into, "
                "from the training manifest, and there is none"
            )
        sb.utils.distributed.run_on_main(
            write_shards,
            args=[manifest, shards, optional(hparams, "clips_per_shard")],
            kwargs={"sample_rate": hparams["sample_rate"], "log": logger.info},
        )
    options = hparams["train_dataloader_opts"]
    clips = ShardedClips(
        shards, label_encoder, options["batch_size"],
        seed=hparams.get("seed", 0),
        balanced=bool(optional(hparams, "balanced_sampling")),
        shuffle_buffer=optional(hparams, "shuffle_buffer") or 0,
    )  # fmt: skip
    return ShardLoader(clips, num_workers=options.get("num_workers", 0))


def refuse_other_runs(hparams, manifests, label_names=None,
                      split_digests=None):  # fmt: skip
    """Stores this run's identity with its checkpoints and refuses the
    checkpoints of another run in its folder (``check_run_identity``;
    ``resume_anyway``, ``start_over``). Starting over also deletes the
    old run's metrics file."""
    identity = run_identity(manifests, hparams, label_names, split_digests)
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


def recipe_pipeline(hparams):
    """The inference pipeline of a recipe's modules (front end, scaling,
    encoder, head) with their current weights."""
    return AudioClassificationPipeline(
        hparams["compute_features"],
        hparams["normalize"],
        hparams["encoder"],
        hparams["classifier"],
    )


def export_model(hparams, folder, label_encoder, thresholds=None):
    """Exports the modules' current weights with the recipe's front end."""
    export_classifier(
        folder,
        recipe_pipeline(hparams),
        label_encoder,
        multi_label=optional(hparams, "multi_label"),
        thresholds=thresholds,
    )


def user_errors():
    """The errors that mean the input or the options are wrong (not the
    code): missing or bad files and folders, refused keys and folders."""
    from ast_lobes.audio.io import AudioFileError
    from ast_lobes.model.config import ModelSettingError
    from ast_lobes.model.hardware import SlowPrecisionError
    from ast_lobes.training.data.datasets import UnknownLabelError
    from ast_lobes.training.data.labelled_audio import DataError
    from ast_lobes.training.data.shards import ShardError
    from ast_lobes.training.distillation import TeacherError
    from ast_lobes.training.hparams_check import (
        ContradictoryHparamsError,
        UnknownHparamError,
    )
    from ast_lobes.training.run_fingerprint import RunIdentityError
    from ast_lobes.weights.files import CheckpointError

    return (
        AudioFileError, CheckpointError, ContradictoryHparamsError,
        DataError, FileNotFoundError, ModelSettingError, RecipeOptionError,
        RunIdentityError, ShardError, SlowPrecisionError, TeacherError,
        UnknownHparamError, UnknownLabelError,
    )  # fmt: skip


def run_main(main, extra_errors=()):
    """Runs a recipe's ``main``: an error of the input or options (see
    ``user_errors``, and ``extra_errors``) ends with one short line on
    stderr naming the file, key or folder, and exit status 2; its
    traceback goes to the run's ``log.txt`` when the run has one, and to
    the screen with ``--traceback``."""
    import sys

    from ast_lobes.training.budget import mark_run_start

    verbose = "--traceback" in sys.argv
    if verbose:
        sys.argv.remove("--traceback")
    mark_run_start()
    try:
        main()
    except (*user_errors(), *extra_errors) as error:
        if verbose:
            raise
        logs = [
            handler.baseFilename
            for handler in logging.getLogger().handlers
            if isinstance(handler, logging.FileHandler)
        ]
        if logs:  # the run's log.txt; without one, stderr keeps one line
            logger.error("stopped: %s", error, exc_info=True)
        where = f"traceback in {logs[0]}" if logs else "--traceback shows it"
        print(f"error: {error}\n({where})", file=sys.stderr)
        sys.exit(2)
