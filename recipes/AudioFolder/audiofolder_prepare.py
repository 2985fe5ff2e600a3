"""Manifests of the user's own labelled audio for the AudioFolder recipe.

Reads a folder with one subfolder per class, one CSV/TSV table, or
separate train/valid/test tables (``ast_lobes.training.data.labelled_audio``),
checks every file, splits or folds the clips
(``ast_lobes.training.data.splits``) and writes ``train.csv``, ``valid.csv``
and ``test.csv`` with ``data_summary.json`` (classes, single or
multi-label, frames, normalisation statistics of the training split) and
``data_report.txt``. A second run with the same options reuses them
while the table (or the folder's listing) and the audio files hold what
they held (``ast_lobes.training.data.manifest``).

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os

from ast_lobes.audio.fbank import KaldiFbank
from ast_lobes.audio.norm_stats import dataset_fbank_stats
from ast_lobes.training.data.labelled_audio import (
    DataError,
    check_audio,
    check_one_listing_each,
    is_multi_label,
    read_label_table,
    scan_class_folders,
)
from ast_lobes.training.data.manifest import (
    already_prepared,
    forget_preparation,
    mark_prepared,
    source_digest,
    write_manifest,
)
from ast_lobes.training.data.splits import assign_folds, assign_splits

SUMMARY_FILE = "data_summary.json"
SPLITS = ("train", "valid", "test")
STATS_CLIPS = 2000  # training clips the normalisation statistics read


def read_clips(data, columns):
    """Clips and skipped files of ``data`` (see ``prepare_audio_folder``)."""
    if isinstance(data, dict):  # separate tables, one per split
        unknown = sorted(set(data) - {"train", "valid", "test"})
        if unknown or "train" not in data:
            raise DataError(
                f"tables must be given for train (and valid, test), "
                f"not {', '.join(unknown) or 'without train'}"
            )
        tables = {}  # by table and split: one table may be given twice
        for split, table in data.items():
            clips = read_label_table(table, **columns)
            for clip in clips:
                clip.split = split
            tables[f"{table} ({split})"] = clips
        check_one_listing_each(tables)
        return [clip for part in tables.values() for clip in part], []
    if os.path.isdir(data):
        return scan_class_folders(
            data, skip_other=columns.pop("skip_other_files", False)
        )
    return read_label_table(data, **columns), []


def clip_id(clip, used):
    """A manifest ID: the file name without extension, made unique."""
    base = os.path.splitext(os.path.basename(clip.path))[0]
    name, number = base, 1
    while name in used:
        number += 1
        name = f"{base}_{number}"
    used.add(name)
    return name


def manifest_rows(clips):
    """Manifest rows: ID, duration, wav, label (labels joined by ;)."""
    used = set()
    return [
        {
            "ID": clip_id(clip, used),
            "duration": f"{clip.duration:.3f}",
            "wav": os.path.abspath(clip.path),
            "label": ";".join(clip.labels),
        }
        for clip in clips
    ]


def frames_covering(seconds, sample_rate=16000):
    """The fewest 10 ms frames whose window covers ``seconds`` of audio,
    so that the tagger reads a clip of the longest length as one window.

    Example
    -------
    >>> frames_covering(1.0), KaldiFbank().num_frames(16000)
    (99, 98)
    """
    fbank = KaldiFbank(sample_rate=sample_rate)
    samples = round(seconds * sample_rate)
    frames = fbank.num_frames(samples)
    covered = fbank.window_samples + (frames - 1) * (sample_rate // 100)
    return max(1, frames + (covered < samples))


def prepare_audio_folder(
    data,
    save_folder,
    fold=None,
    n_folds=None,
    valid_share=0.1,
    test_share=0.1,
    seed=0,
    max_target_length=1024,
    sample_rate=16000,
    skip_bad_files=False,
    **columns,
):
    """Writes the manifests and summary of one run (or one fold).

    Arguments
    ---------
    data : str or dict
        A folder with a subfolder per class, a ``.csv``/``.tsv`` table, or
        ``{"train": table, "valid": table, "test": table}``.
    save_folder : str
        Where the manifests go.
    fold : int or None
        With ``n_folds``: the held-out fold (valid and test).
    n_folds : int or None
        k-fold cross-validation (folds from the table's fold column, else
        stratified and grouped folds).
    valid_share, test_share : float
        Shares held out when the data gives no split.
    seed : int
        Seed of the splits.
    max_target_length : int
        Most frames of the model's input; the longest clip sets the frame
        count below it.
    sample_rate : int
        Front-end sample rate.
    skip_bad_files : bool
        Skip (and report) unreadable files instead of failing.
    **columns
        ``path_column``, ``label_column``, ``split_column``,
        ``fold_column``, ``group_column``, ``separator`` for tables;
        ``skip_other_files`` for folders.

    Returns
    -------
    dict
        The data summary.
    """
    options = {
        "data": data, "fold": fold, "n_folds": n_folds,
        "valid_share": valid_share, "test_share": test_share, "seed": seed,
        "max_target_length": max_target_length, "sample_rate": sample_rate,
        "skip_bad_files": skip_bad_files, **columns,
        "source": source_digest(data),  # an edited table, a new file
    }  # fmt: skip
    summary_path = os.path.join(save_folder, SUMMARY_FILE)
    if already_prepared(save_folder, options, audio_of=SPLITS):
        with open(summary_path, encoding="utf-8") as handle:
            return json.load(handle)
    forget_preparation(save_folder)  # other data: new manifests, labels
    clips, skipped = read_clips(data, dict(columns))
    clips, report = check_audio(clips, skip_bad=skip_bad_files)
    report.skipped = skipped + report.skipped
    if n_folds:
        assign_folds(clips, n_folds, seed)
        for clip in clips:
            clip.split = "test" if clip.fold == str(fold) else "train"
        splits = {
            "train": [c for c in clips if c.split == "train"],
            "valid": [c for c in clips if c.split == "test"],
            "test": [c for c in clips if c.split == "test"],
        }
    else:
        assign_splits(clips, valid_share, test_share, seed)
        splits = {
            split: [c for c in clips if c.split == split]
            for split in ("train", "valid", "test")
        }
    for split, part in splits.items():
        if not part:
            raise DataError(f"{data}: the {split} split is empty")
        write_manifest(
            os.path.join(save_folder, f"{split}.csv"), manifest_rows(part)
        )
    longest = max(clip.duration for clip in clips)
    frames = min(max_target_length, frames_covering(longest, sample_rate))
    train_paths = [clip.path for clip in splits["train"]][:STATS_CLIPS]
    mean, std = dataset_fbank_stats(train_paths, frames, sample_rate)
    labels = sorted({label for clip in clips for label in clip.labels})
    summary = {
        "n_classes": len(labels),
        "labels": labels,
        "multi_label": is_multi_label(clips),
        "target_length": frames,
        "norm_mean": round(mean, 6),
        "norm_std": round(std, 6),
        "clips": {split: len(part) for split, part in splits.items()},
        "skipped": len(report.skipped),
    }
    with open(summary_path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    with open(
        os.path.join(save_folder, "data_report.txt"), "w", encoding="utf-8"
    ) as handle:
        handle.write("\n".join(report.lines()) + "\n")
    mark_prepared(save_folder, options, audio_of=SPLITS,
                  skipped=[os.path.abspath(path)
                           for path, _ in report.skipped])  # fmt: skip
    return summary
