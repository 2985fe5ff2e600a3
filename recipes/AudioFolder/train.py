#!/usr/bin/env python3
"""Your own labelled audio with the Audio Spectrogram Transformer.

``data_folder`` is a folder with one subfolder per class, ``table`` a
CSV/TSV table of paths and labels (several labels in a cell make the task
multi-label); ``train_table``/``valid_table``/``test_table`` give separate
tables. The
data decides the classes, single- or multi-label (loss, metrics and the
checkpoint key), the frame count and the normalisation statistics, unless
they are set on the command line. With ``n_folds`` every fold is trained
and the cross-validation summary printed.

To run::

    python train.py hparams/cpu.yaml --data_folder /path/to/my_sounds
    python train.py hparams/ast.yaml --table labels.csv --group_column speaker
    python train.py hparams/cpu_transfer.yaml --data_folder /path/to/my_sounds \
        --pretrained audioset_10_10_0.4593

``cpu_transfer.yaml`` trains a new head (and, with ``tune_blocks``, the
last blocks) on a pretrained encoder's stored outputs
(``ast_lobes.training.transfer``); the source decides the front end.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
import sys
import tempfile
import time

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from audiofolder_prepare import prepare_audio_folder  # noqa: E402

from ast_lobes.compat.aliases import renamed_options  # noqa: E402
from ast_lobes.training.budget import mark_run_start  # noqa: E402
from ast_lobes.training.data.manifest import manifests_audio  # noqa: E402
from ast_lobes.training.evaluation.crossval import summarize_fold_runs  # noqa: E402
from ast_lobes.training.evaluation.report import write_model_card  # noqa: E402
from ast_lobes.training.hparams_check import check_head_settings  # noqa: E402
from ast_lobes.training.recipe import (  # noqa: E402
    FOLD_PATH_KEYS,
    RecipeOptionError,
    end_distributed,
    fold_overrides,
    fold_root_overrides,
    hold_output_folder,
    load_experiment,
    parse_overrides,
    read_plain_hparams,
    recipe_pipeline,
    run_main,
    train_classifier,
)
from ast_lobes.training.transfer import (  # noqa: E402
    source_overrides,
    train_transfer,
)

TABLE_OPTIONS = (
    "path_column", "label_column", "split_column", "fold_column",
    "group_column", "separator",
)  # fmt: skip
FROM_DATA = ("n_classes", "multi_label", "target_length", "norm_mean",
             "norm_std")  # fmt: skip


def split_seed(plain):
    """The seed of the split and folds: ``split_seed``, or ``seed`` when
    it is null (training seeds measured on one split).

    Example
    -------
    >>> split_seed({"seed": 3, "split_seed": None})
    3
    >>> split_seed({"seed": 3, "split_seed": 1986})
    1986
    """
    given = plain.get("split_seed")
    if given is None:
        return plain["seed"]
    if isinstance(given, bool) or not isinstance(given, int):
        raise RecipeOptionError(
            f"--split_seed {given!r}: give an integer, or null for the "
            "split of --seed"
        )
    return given


def prepare_options(plain, fold):
    """``prepare_audio_folder`` arguments from the recipe's settings."""
    tables = {
        split: plain[f"{split}_table"]
        for split in ("train", "valid", "test")
        if plain.get(f"{split}_table")
    }
    given = [
        key for key in ("data_folder", "table", "train_table") if plain.get(key)
    ]
    if len(given) != 1:
        raise RecipeOptionError(
            "give one of --data_folder (a subfolder per class), --table (a "
            "CSV/TSV of paths and labels) or --train_table (with "
            f"--valid_table, --test_table); got {', '.join(given) or 'none'}"
        )
    data = tables or plain[given[0]]
    if given == ["data_folder"] and not os.path.isdir(data):
        raise RecipeOptionError(
            f"--data_folder {data}: no such folder (give a folder with a "
            "subfolder per class, or a table with --table)"
        )
    options = {
        "data": data,
        "save_folder": plain["save_folder"],
        "fold": fold,
        "n_folds": plain.get("n_folds"),
        "valid_share": plain["valid_share"],
        "test_share": plain["test_share"],
        "seed": split_seed(plain),
        "max_target_length": plain["max_target_length"],
        "sample_rate": plain["sample_rate"],
        "skip_bad_files": plain["skip_bad_files"],
    }
    if given == ["data_folder"]:
        options["skip_other_files"] = plain["skip_other_files"]
    else:
        options.update({k: plain[k] for k in TABLE_OPTIONS})
    return options


def data_overrides(summary, overrides):
    """What the data decide (classes, frames, statistics, single- or
    multi-label, and from that the loss and the checkpoint's metric),
    where the command line did not; passed once to the YAML."""
    decided = {key: summary[key] for key in FROM_DATA}
    multi = overrides.get("multi_label", decided["multi_label"])
    decided["loss"] = "bce" if multi else "ce"
    decided["best_key"] = "mAP" if multi else "accuracy"
    return {k: v for k, v in decided.items() if k not in overrides}


CARD_SETTINGS = (
    "embed_dim", "depth", "num_heads", "patch_size", "fstride", "tstride",
    "stem_channels", "stem_kind", "image_stem_channels", "image_stem_bands",
    "image_stem_stride", "stem_layers", "stem_norm", "pretrained",
    "number_of_epochs", "batch_size", "lr", "weight_decay",
    "decoupled_weight_decay", "loss", "target_length", "norm_mean",
    "norm_std", "seed", "split_seed", "teacher", "teacher_loss",
    "teacher_online", "mixup_probability", "noise_scale",
    "noise_max_shift", "weight_ema_epochs", "tune_blocks", "block_weights",
    "encoder_precision",
)  # fmt: skip


def model_card(hparams, summary, data, trained):
    """The model card's content (see ``write_model_card``) of a
    ``TrainedClassifier``."""
    stats = trained.test_stats
    metrics = ("accuracy", "mAP", "mAUC", "d_prime")
    return {
        "title": f"AST on {os.path.basename(str(data).rstrip('/'))}",
        "labels": summary["labels"],
        "multi_label": summary["multi_label"],
        "clips": summary["clips"],
        "source": str(data),
        "test_metrics": {k: float(stats[k]) for k in metrics if k in stats},
        "per_class": trained.test_per_class,
        "settings": {
            **{k: hparams[k] for k in CARD_SETTINGS if k in hparams},
            **(trained.notes or {}),
        },
    }


def run(hparams_file, run_opts, overrides, fold=None, plain=None):
    """Prepares, trains, tests and exports one split (or fold), after its
    teacher when the YAML names a ``teacher_recipe``; ``plain``: the YAML's
    settings when they are already read for these overrides."""
    if fold is not None:
        overrides = {**fold_overrides(overrides, fold),
                     "run_folder": f"fold{fold}"}  # fmt: skip
    if plain is None or fold is not None:
        plain = read_plain_hparams(hparams_file, overrides)
    check_ecapa_channels(plain)
    mark_run_start()  # a time budget is for this split or fold
    if plain.get("teacher_recipe") and not plain.get("teacher"):
        check_student_settings(hparams_file, overrides, plain, fold)
        overrides, teacher = train_teacher_first(
            hparams_file, run_opts, overrides, plain, fold
        )
        plain = read_plain_hparams(hparams_file, overrides)
        print(f"stage 2 of 2: the student ({os.path.basename(hparams_file)})"
              f" in {plain['output_folder']}", flush=True)  # fmt: skip
        return train_split(hparams_file, run_opts, overrides, fold, plain,
                           teacher=teacher)  # fmt: skip
    return train_split(hparams_file, run_opts, overrides, fold, plain)


# What the teacher of a teacher_recipe shares with its student when set
# on the command line: the data, the split and the run's handling.
SHARED_WITH_TEACHER = (
    "data_folder", "table", "train_table", "valid_table", "test_table",
    *TABLE_OPTIONS, "skip_other_files", "skip_bad_files", "valid_share",
    "test_share", "split_seed", "n_folds", "fold", "sample_rate",
    "max_target_length", "resample_on_load", "start_over", "resume_anyway",
    "fbank_cache_mb",
)  # fmt: skip


# The augmentation the teacher's stored draws repeat: the student's own
# values (its YAML's or the command line's) go to the teacher.
DRAWN_AUGMENTATION = ("freq_mask", "time_mask", "noise_scale",
                      "noise_max_shift")  # fmt: skip


def check_student_settings(hparams_file, overrides, plain, fold=None):
    """Builds the student as it will be built on its data with its
    teacher's stored outputs (its folders in a scratch folder), so that
    settings which contradict each other or a teacher (mixup, a bad stem)
    are refused before the teacher trains."""
    teacher_recipe_path(plain["teacher_recipe"], hparams_file)
    _, summary = prepare_data(plain, fold)
    with tempfile.TemporaryDirectory() as scratch:
        folders = {
            key: os.path.join(scratch, key)
            for key in ("output_folder", *FOLD_PATH_KEYS) if key in plain
        }  # fmt: skip
        student = {**overrides, **data_overrides(summary, overrides),
                   **folders, "teacher": "teacher_logits.npz"}  # fmt: skip
        with open(hparams_file, encoding="utf-8") as handle:
            hparams = load_hyperpyyaml(handle, student)
        check_head_settings(hparams, source=hparams_file)


def check_ecapa_channels(plain):
    """Refuses ``ecapa_channels`` (``cnn_teacher.yaml``) or
    ``teacher_ecapa_channels`` (a student's, for its teacher) that are not
    ECAPA-TDNN's five channel counts in one line, before anything runs.

    Example
    -------
    >>> check_ecapa_channels({"ecapa_channels": [64, 64, 64, 64, 192]})
    >>> check_ecapa_channels({"teacher_ecapa_channels": [64, 64]})
    Traceback (most recent call last):
    ...
    ast_lobes.training.options.RecipeOptionError: --teacher_ecapa_channels \
[64, 64]: give 5 channel counts, multiples of 8 from 8 to 4096 (its 4 \
blocks and its last layer), e.g. [128, 128, 128, 128, 384]
    """
    for key in ("ecapa_channels", "teacher_ecapa_channels"):
        value = plain.get(key)
        if value is None:
            continue
        if not (
            isinstance(value, list)
            and len(value) == 5
            and all(
                type(count) is int and 8 <= count <= 4096 and count % 8 == 0
                for count in value
            )
        ):
            raise RecipeOptionError(
                f"--{key} {value!r}: give 5 channel counts, multiples of 8 "
                "from 8 to 4096 (its 4 blocks and its last layer), e.g. "
                "[128, 128, 128, 128, 384]"
            )


def teacher_recipe_path(name, hparams_file):
    """A ``teacher_recipe`` as given, or beside the student's YAML."""
    if os.path.isfile(name):
        return name
    beside = os.path.join(os.path.dirname(os.path.abspath(hparams_file)), name)
    if os.path.isfile(beside):
        return beside
    raise RecipeOptionError(
        f"--teacher_recipe {name}: no such YAML (as given, or beside "
        f"{hparams_file})"
    )


def train_teacher_first(hparams_file, run_opts, overrides, plain, fold):
    """Trains the ``teacher_recipe`` on the same data, split and seed in
    ``<output_folder>/teacher`` (its outputs stored for ``teacher_draws``
    draws, and a ``time_budget`` share of ``teacher_budget_share``);
    returns the student's overrides, with that teacher's stored outputs,
    and the teacher's inference pipeline (its best weights) for a student
    that runs it online. The student's budget counts from the same start,
    so it gets what is left."""
    teacher_yaml = teacher_recipe_path(plain["teacher_recipe"], hparams_file)
    folder = os.path.join(plain["output_folder"], "teacher")
    teacher_overrides = {
        key: value for key, value in overrides.items()
        if key in SHARED_WITH_TEACHER
    }  # fmt: skip
    teacher_overrides.update({
        key: plain[key] for key in DRAWN_AUGMENTATION if key in plain
    })  # fmt: skip
    teacher_overrides.update({
        "seed": plain["seed"], "teacher_draws": plain["teacher_draws"],
        "output_folder": folder,
    })  # fmt: skip
    if plain.get("teacher_ecapa_channels") is not None:
        teacher_overrides["ecapa_channels"] = plain["teacher_ecapa_channels"]
    budget = plain.get("time_budget")
    if budget:
        share = plain["teacher_budget_share"]
        teacher_overrides["time_budget"] = budget * share
    print(f"stage 1 of 2: the teacher ({os.path.basename(teacher_yaml)}) in "
          f"{folder}", flush=True)  # fmt: skip
    started = time.monotonic()
    teacher = train_split(teacher_yaml, run_opts, teacher_overrides, fold)
    minutes = (time.monotonic() - started) / 60
    print(f"stage 1 of 2 done in {minutes:.1f} min", flush=True)
    if budget:
        print(f"{max(budget - minutes, 0):.1f} of the {budget} minutes left "
              "for the student", flush=True)  # fmt: skip
    stored = {**overrides, "teacher": teacher["teacher_logits_file"]}
    return stored, recipe_pipeline(teacher)


def prepare_data(plain, fold=None):
    """Prepares a split or fold's data (once: a second call reads what the
    first wrote); returns the preparation's options and its summary."""
    options = prepare_options(plain, fold)
    hold_output_folder(plain["output_folder"])  # before anything is written
    sb.utils.distributed.run_on_main(prepare_audio_folder, kwargs=options)
    return options, prepare_audio_folder(**options)  # reads the summary


def train_split(hparams_file, run_opts, overrides, fold=None, plain=None,
                teacher=None):  # fmt: skip
    """Prepares, trains, tests and exports one split or fold, with the
    folders ``overrides`` give (and ``teacher``, the first stage's
    pipeline, for a student whose teacher runs online)."""
    if plain is None:
        plain = read_plain_hparams(hparams_file, overrides)
    transfer = "tune_blocks" in plain  # a pretrained encoder's new head
    if transfer:  # the source decides its front end
        overrides = {**overrides, **source_overrides(plain, overrides)}
        plain = read_plain_hparams(hparams_file, overrides)
    options, summary = prepare_data(plain, fold)
    overrides = {**overrides, **data_overrides(summary, overrides)}
    hparams = load_experiment(hparams_file, overrides)
    distillation = hparams.get("distillation")
    if teacher is not None and getattr(distillation, "online", False):
        distillation.use_teacher(teacher)
    manifests = {
        split: os.path.join(hparams["save_folder"], f"{split}.csv")
        for split in ("train", "valid", "test")
    }
    if transfer:
        trained = train_transfer(hparams, run_opts, manifests)
    else:  # a checkpoint of other audio at the same paths is refused
        contents = {"audio": manifests_audio(hparams["save_folder"])}
        trained = train_classifier(hparams, run_opts, manifests, contents)
    key = hparams["best_key"]
    exported = os.path.isdir(hparams["export_folder"])
    if not sb.utils.distributed.if_main_process():
        return hparams
    if exported and not trained.test_only:
        write_model_card(hparams["export_folder"], model_card(
            hparams, summary, options["data"], trained
        ))  # fmt: skip
    where = f" (fold {fold})" if fold is not None else ""
    model = f"; model in {hparams['export_folder']}" if exported else ""
    print(
        f"test {key}{where}: {trained.test_stats[key]:.4f}; "
        f"{summary['clips']['train']} training clips, "
        f"{summary['n_classes']} classes{model}"
    )
    return hparams


def chosen_folds(plain):
    """The folds to train: ``folds`` (each from 1 to ``n_folds``), or
    every fold when it is null.

    Example
    -------
    >>> chosen_folds({"n_folds": 5, "folds": None})
    [1, 2, 3, 4, 5]
    >>> chosen_folds({"n_folds": 5, "folds": [2, 1]})
    [1, 2]
    >>> chosen_folds({"n_folds": 5, "folds": [6]})
    Traceback (most recent call last):
    ...
    ast_lobes.training.options.RecipeOptionError: --folds [6]: give folds ...
    """
    n_folds = int(plain.get("n_folds") or 0)
    given = plain.get("folds")
    if given is None:
        return list(range(1, n_folds + 1))
    if n_folds < 2:
        raise RecipeOptionError(
            f"--folds {given}: folds need --n_folds (e.g. --n_folds 5 "
            f"--folds [1,2])"
        )
    if isinstance(given, int) and not isinstance(given, bool):
        given = [given]
    try:
        folds = sorted({int(fold) for fold in given})
        if any(str(fold) != str(int(fold)) for fold in given):
            raise ValueError
    except (TypeError, ValueError):
        folds = []
    if not folds or folds[0] < 1 or folds[-1] > n_folds:
        raise RecipeOptionError(
            f"--folds {given}: give folds from 1 to {n_folds} (--n_folds), "
            "e.g. --folds [1,2]"
        )
    return folds


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    overrides = renamed_options(parse_overrides(overrides))
    plain = read_plain_hparams(hparams_file, overrides)
    n_folds = int(plain.get("n_folds") or 0)
    overrides = fold_root_overrides(
        overrides, n_folds, folds_set_by_recipe=n_folds > 0
    )
    if n_folds > 1:  # the root folder may have moved
        plain = read_plain_hparams(hparams_file, overrides)
    folds = chosen_folds(plain)
    if not n_folds:
        run(hparams_file, run_opts, overrides, plain=plain)
        end_distributed()
        return
    files, key = {}, "accuracy"
    for fold in folds:
        hparams = run(hparams_file, run_opts, overrides, fold)
        files[fold], key = hparams["metrics_file"], hparams["best_key"]
    if sb.utils.distributed.if_main_process():
        path = os.path.join(plain["experiment_folder"], "cross_validation.json")
        text = summarize_fold_runs(files, path, key)
        which = "" if len(folds) == n_folds else f", folds {folds}"
        print(f"\n{plain['n_folds']}-fold cross-validation ({key}{which})"
              f"\n{text}")  # fmt: skip
        print(f"(written to {path})")
    end_distributed()


if __name__ == "__main__":
    run_main(main)
