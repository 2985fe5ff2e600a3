"""Clips of unlabelled audio for masked patch pretraining.

Folders (searched recursively) and file lists of audio of any length and
format, plus optionally a recipe's training manifest (its labelled
training clips: never its validation or test clips unless those
manifests are given too), are cut into clips; a share of the files is
held out for the validation losses. Writes ``train.csv``, ``valid.csv``
and ``data_summary.json`` (clips, hours, fbank statistics) to
``save_folder``; a second call with the same options does nothing.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os
import random

from ast_lobes.audio.norm_stats import dataset_fbank_stats
from ast_lobes.training.data.labelled_audio import DataError
from ast_lobes.training.data.manifest import (
    already_prepared,
    mark_prepared,
    write_manifest,
)
from ast_lobes.training.data.unlabelled_audio import (
    cut_into_clips,
    find_audio,
    training_manifest_paths,
)

STATS_FILES = 500  # files the normalisation statistics read
SUMMARY_FILE = "data_summary.json"


def prepare_pretraining(
    save_folder, unlabelled=(), labelled_manifests=(), clip_seconds=1.0,
    min_seconds=0.5, valid_share=0.05, seed=1986, skip_bad_files=False,
    sample_rate=16000, target_length=100,
):  # fmt: skip
    """Writes the pretraining manifests; returns the data summary.

    Arguments
    ---------
    save_folder : str
        Where the manifests go.
    unlabelled : list of str
        Folders and text files listing audio files.
    labelled_manifests : list of str
        Recipes' manifests (``wav`` column) whose clips are added.
    clip_seconds, min_seconds : float
        Clip length and shortest last piece (``cut_into_clips``).
    valid_share : float
        Share of the files held out for the validation losses.
    seed : int
        Seed of the hold-out.
    skip_bad_files : bool
        Skip unreadable audio (listed in the summary) instead of stopping.
    sample_rate, target_length : int
        Front end of the statistics.

    Returns
    -------
    dict
        ``clips`` (train, valid), ``hours``, ``files``, ``norm_mean``,
        ``norm_std``, ``skipped``.
    """
    options = {
        "unlabelled": [os.path.abspath(s) for s in unlabelled],
        "labelled_manifests": [os.path.abspath(m) for m in labelled_manifests],
        "clip_seconds": clip_seconds, "min_seconds": min_seconds,
        "valid_share": valid_share, "seed": seed,
        "skip_bad_files": skip_bad_files, "sample_rate": sample_rate,
        "target_length": target_length,
    }  # fmt: skip
    summary_path = os.path.join(save_folder, SUMMARY_FILE)
    if already_prepared(save_folder, options):
        with open(summary_path, encoding="utf-8") as handle:
            return json.load(handle)
    if not unlabelled and not labelled_manifests:
        raise DataError(
            "nothing to pretrain on: give unlabelled folders or file lists "
            "(--unlabelled) and/or a training manifest (--labelled_manifest)"
        )
    paths = find_audio(unlabelled) if unlabelled else []
    for manifest in labelled_manifests:
        paths += [
            p for p in training_manifest_paths(manifest) if p not in paths
        ]
    files = sorted(paths)
    random.Random(seed).shuffle(files)
    held = max(1, round(len(files) * valid_share)) if len(files) > 1 else 0
    valid_files, train_files = set(files[:held]), files[held:]
    rows, bad = cut_into_clips(
        sorted(paths), clip_seconds, min_seconds, skip_bad_files
    )
    train = [row for row in rows if row["wav"] not in valid_files]
    valid = [row for row in rows if row["wav"] in valid_files] or train[:1]
    write_manifest(os.path.join(save_folder, "train.csv"), train)
    write_manifest(os.path.join(save_folder, "valid.csv"), valid)
    readable = sorted({row["wav"] for row in train})
    step = max(1, len(readable) // STATS_FILES)
    mean, std = dataset_fbank_stats(readable[::step], target_length,
                                    sample_rate)  # fmt: skip
    summary = {
        "clips": {"train": len(train), "valid": len(valid)},
        "files": len(train_files) + len(valid_files) - len(bad),
        "hours": round(sum(r["duration"] for r in rows) / 3600, 3),
        "norm_mean": round(mean, 6),
        "norm_std": round(std, 6),
        "skipped": bad,
    }
    with open(summary_path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    mark_prepared(save_folder, options)
    return summary
