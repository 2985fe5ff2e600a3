#!/usr/bin/env python3
"""ESC-50 five-fold cross-validation with the Audio Spectrogram Transformer.

Runs every fold of ``folds`` (one after another, or ``parallel_folds`` at a
time in separate processes), then reports each fold's accuracy with their
mean and standard deviation at the last epoch and at the single epoch whose
fold mean is best (the reference protocol).

To run::

    python train.py hparams/ast.yaml --data_folder /path/to/ESC-50

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import speechbrain as sb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from esc50_prepare import prepare_esc50  # noqa: E402

from ast_lobes.compat.aliases import renamed_options  # noqa: E402
from ast_lobes.training.budget import mark_run_start  # noqa: E402
from ast_lobes.training.evaluation.crossval import summarize_fold_runs  # noqa: E402
from ast_lobes.training.recipe import (  # noqa: E402
    end_distributed,
    fold_overrides,
    fold_root_overrides,
    load_experiment,
    parse_overrides,
    read_plain_hparams,
    run_main,
    train_classifier,
)


def run_fold(hparams_file, run_opts, overrides, fold):
    """Trains and evaluates one fold in this process (a time budget is
    for each fold)."""
    mark_run_start()
    overrides = fold_overrides(overrides, fold)
    hparams = load_experiment(hparams_file, overrides)
    sb.utils.distributed.run_on_main(
        prepare_esc50,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["save_folder"],
            "fold": fold,
            "resampled_folder": hparams["resampled_folder"],
            "sample_rate": hparams["sample_rate"],
        },
    )
    manifests = {
        "train": os.path.join(hparams["save_folder"], "train.csv"),
        "valid": os.path.join(hparams["save_folder"], "test.csv"),
    }
    train_classifier(hparams, run_opts, manifests)
    end_distributed()


def without_options(argv, names):
    """``argv`` less the ``--name value`` / ``--name=value`` of ``names``."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
            continue
        name = token[2:].split("=")[0] if token.startswith("--") else None
        if name in names:
            skip = "=" not in token
            continue
        kept.append(token)
    return kept


def run_folds_in_parallel(folds, workers, overrides):
    """Runs each fold as its own process of this script (with the folds'
    root folder as decided by ``fold_root_overrides``)."""
    base = without_options(
        sys.argv[1:],
        {"folds", "parallel_folds", "output_folder", "experiment_folder"},
    )
    if overrides.get("experiment_folder") is not None:
        base += ["--experiment_folder", str(overrides["experiment_folder"])]

    def launch(fold):
        command = [sys.executable, os.path.abspath(__file__), *base]
        command += ["--folds", f"[{fold}]", "--parallel_folds", "1"]
        return subprocess.run(command).returncode

    with ThreadPoolExecutor(max_workers=workers) as pool:
        codes = list(pool.map(launch, folds))
    failed = [fold for fold, code in zip(folds, codes, strict=True) if code]
    if failed:
        raise RuntimeError(f"ESC-50 folds {failed} failed; see their logs")


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    overrides = renamed_options(parse_overrides(overrides))
    plain = read_plain_hparams(hparams_file, overrides)
    folds = [int(fold) for fold in plain["folds"]]
    rooted = fold_root_overrides(overrides, len(folds))
    if rooted != overrides:  # the folds' root folder moved
        overrides, plain = rooted, read_plain_hparams(hparams_file, rooted)
    workers = int(plain["parallel_folds"])
    if workers > 1 and len(folds) > 1:
        run_folds_in_parallel(folds, workers, overrides)
    else:
        for fold in folds:
            run_fold(hparams_file, run_opts, overrides, fold)
    if len(folds) > 1 and sb.utils.distributed.if_main_process():
        files = {
            fold: read_plain_hparams(hparams_file, {**overrides, "fold": fold})[
                "metrics_file"
            ]
            for fold in folds
        }
        path = os.path.join(plain["experiment_folder"], "cross_validation.json")
        text = summarize_fold_runs(files, path)
        print("\nESC-50 cross-validation\n" + text)
        print(f"(written to {path})")


if __name__ == "__main__":
    run_main(main)
