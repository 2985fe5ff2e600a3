"""Prepares ESC-50 for one cross-validation fold.

Reads the official layout (``meta/esc50.csv`` with columns filename, fold,
target, category, esc10, src_file, take; ``audio/*.wav`` at 44.1 kHz),
downloads the archive when the folder is absent, resamples every clip to
16 kHz once into a cache folder, and writes ``train.csv`` (the other four
folds) and ``test.csv`` (the held-out fold) into the experiment's save
folder, so that folds run in parallel never share a manifest.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import logging
import os
import shutil

import soundfile

from ast_lobes.audio.io import read_audio
from ast_lobes.training.data.labelled_audio import (
    DataError,
    listing,
    spellings_of_one_file,
)
from ast_lobes.training.data.manifest import (
    already_prepared,
    mark_prepared,
    write_manifest,
)

logger = logging.getLogger(__name__)
ESC50_URL = "https://github.com/karoldvl/ESC-50/archive/master.zip"
META_COLUMNS = ("filename", "fold", "target", "category")
FOLDS = (1, 2, 3, 4, 5)


def download_esc50(data_folder):
    """Downloads and unpacks the official archive into ``data_folder``."""
    from speechbrain.utils.data_utils import download_file

    parent = os.path.dirname(os.path.abspath(data_folder))
    archive = os.path.join(parent, "ESC-50-master.zip")
    download_file(ESC50_URL, archive, unpack=True, dest_unpack=parent)
    unpacked = os.path.join(parent, "ESC-50-master")
    if os.path.abspath(unpacked) != os.path.abspath(data_folder):
        shutil.move(unpacked, data_folder)


def read_meta(data_folder):
    """Rows of ``meta/esc50.csv``, with a check of its columns and folds;
    a file outside ``audio/`` (``../x.wav``, an absolute path) is refused,
    and one listed twice (however spelled, or linked under another name
    in ``audio/``): it could be in two folds."""
    meta = os.path.join(data_folder, "meta", "esc50.csv")
    if not os.path.isfile(meta):
        raise FileNotFoundError(
            f"{meta}: missing; data_folder must hold the ESC-50 layout "
            "(meta/esc50.csv and audio/)"
        )
    with open(meta, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in META_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise DataError(f"{meta}: no rows or missing columns {missing}")
    for line, row in enumerate(rows, start=2):
        if int(row["fold"]) not in FOLDS:
            raise DataError(f"{meta}: {row['filename']} has fold {row['fold']}")
        name = os.path.normpath(row["filename"])
        if os.path.isabs(name) or name.split(os.sep)[0] == os.pardir:
            raise DataError(
                f"{meta}: line {line}: {row['filename']!r} is not a file "
                "in audio/ (its resampled copy would be written outside "
                "the cache folder)"
            )
    repeated = spellings_of_one_file(
        (os.path.join(data_folder, "audio", row["filename"]), f"line {line}",
         row["filename"])
        for line, row in enumerate(rows, start=2)
    )  # fmt: skip
    if repeated:
        raise DataError(
            f"{meta}: {len(repeated)} files listed more than once: "
            f"{listing(repeated)} (a clip is in one fold only)"
        )
    return rows


def resample_clip(source, target, sample_rate):
    """Writes ``source`` at ``sample_rate`` to ``target`` unless present."""
    if os.path.isfile(target):
        return
    wav = read_audio(source, sample_rate)
    partial = f"{target}.{os.getpid()}.part.wav"  # folds may run at once
    soundfile.write(partial, wav.numpy(), sample_rate, subtype="FLOAT")
    os.replace(partial, target)


def prepare_esc50(
    data_folder, save_folder, fold, resampled_folder=None, sample_rate=16000
):
    """Writes the manifests of one fold (skipped when already written).

    Arguments
    ---------
    data_folder : str
        ESC-50 folder (downloaded there when absent).
    save_folder : str
        Where ``train.csv`` and ``test.csv`` go.
    fold : int
        Held-out fold, 1 to 5.
    resampled_folder : str or None
        Cache of the 16-kHz clips (default ``<data_folder>/audio_16k``).
    sample_rate : int
        Target sample rate.
    """
    if fold not in FOLDS:
        raise DataError(f"ESC-50 fold must be one of {FOLDS}, got {fold}")
    resampled_folder = resampled_folder or os.path.join(
        data_folder, "audio_16k"
    )
    options = {
        "data_folder": os.path.abspath(data_folder),
        "fold": fold,
        "resampled_folder": os.path.abspath(resampled_folder),
        "sample_rate": sample_rate,
    }
    if already_prepared(save_folder, options):
        logger.info("ESC-50 fold %d already prepared", fold)
        return
    if not os.path.isdir(data_folder):
        logger.info("%s absent: downloading ESC-50", data_folder)
        download_esc50(data_folder)
    rows = read_meta(data_folder)
    os.makedirs(resampled_folder, exist_ok=True)
    os.makedirs(save_folder, exist_ok=True)
    splits = {"train": [], "test": []}
    for row in rows:
        source = os.path.join(data_folder, "audio", row["filename"])
        target = os.path.join(resampled_folder, row["filename"])
        resample_clip(source, target, sample_rate)
        duration = soundfile.info(target).duration
        split = "test" if int(row["fold"]) == fold else "train"
        splits[split].append(
            {
                "ID": os.path.splitext(row["filename"])[0],
                "duration": f"{duration:.3f}",
                "wav": os.path.abspath(target),
                "label": row["category"],
            }
        )
    for split, items in splits.items():
        write_manifest(os.path.join(save_folder, f"{split}.csv"), items)
    mark_prepared(save_folder, options)
    logger.info(
        "ESC-50 fold %d: %d train, %d test clips",
        fold, len(splits["train"]), len(splits["test"]),
    )  # fmt: skip
