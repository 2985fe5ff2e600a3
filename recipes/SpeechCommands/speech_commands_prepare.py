"""Prepares Speech Commands V2 (35 words) with its official split.

The official layout has one folder per word (``yes/0a7c2a8d_nohash_0.wav``,
16-kHz mono clips of at most one second), ``validation_list.txt`` and
``testing_list.txt`` (paths relative to the data folder), and
``_background_noise_/``, which holds noise recordings and is not a class.
Validation and test clips are the ones the lists name; training is every
other clip. The lists are built so that a speaker (the part of the file
name before ``_nohash_``) stays in one split; this is checked. Clips are
one file each, compared by real path: a list's ``./yes/x.wav`` is
``yes/x.wav``, and a file found twice (a link) or named twice in the
lists is refused.

Writes ``train.csv``, ``valid.csv`` and ``test.csv`` (``ID, duration, wav,
label, speaker``) and ``split_counts.json`` (clips, speakers and words per
split) into the save folder; skipped when already done with the same
options.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import logging
import os

from ast_lobes.audio.io import audio_duration
from ast_lobes.audio.names import same_file
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
SPEECH_COMMANDS_URL = (
    "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
)
LIST_FILES = {"valid": "validation_list.txt", "test": "testing_list.txt"}
SPLITS = ("train", "valid", "test")
SPEAKER_SEPARATOR = "_nohash_"


class SplitLeakError(ValueError):
    """A speaker has clips in more than one split."""


def download_speech_commands(data_folder):
    """Downloads and unpacks the official archive into ``data_folder``."""
    from speechbrain.utils.data_utils import download_file

    os.makedirs(data_folder, exist_ok=True)
    archive = os.path.join(data_folder, "speech_commands_v0.02.tar.gz")
    download_file(
        SPEECH_COMMANDS_URL, archive, unpack=True, dest_unpack=data_folder
    )


def speaker_of(relative_path):
    """The speaker id of a clip: its file name before ``_nohash_``.

    Example
    -------
    >>> speaker_of("yes/0a7c2a8d_nohash_1.wav")
    '0a7c2a8d'
    """
    return os.path.basename(relative_path).split(SPEAKER_SEPARATOR)[0]


def read_split_list(data_folder, split):
    """The clips (relative paths) a split's list file names."""
    path = os.path.join(data_folder, LIST_FILES[split])
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: missing; data_folder must hold the Speech Commands "
            "layout (one folder per word, validation_list.txt, "
            "testing_list.txt)"
        )
    with open(path, encoding="utf-8") as handle:
        clips = [line.strip() for line in handle if line.strip()]
    if not clips:
        raise DataError(f"{path}: the list names no clips")
    return clips


def list_word_clips(data_folder):
    """Relative paths of every clip in the word folders, each file once.

    Folders whose names start with ``_`` (``_background_noise_``) are not
    classes and are left out. A file found twice (linked under another
    name or word, or through a linked word folder) is refused: its two
    names could fall in two splits.
    """
    clips = []
    for word in sorted(os.listdir(data_folder)):
        folder = os.path.join(data_folder, word)
        if word.startswith("_") or not os.path.isdir(folder):
            continue
        clips += [
            f"{word}/{name}"
            for name in sorted(os.listdir(folder))
            if name.endswith(".wav")
        ]
    if not clips:
        raise FileNotFoundError(
            f"{data_folder}: no word folders with .wav clips"
        )
    found = {}
    for clip in clips:
        key = same_file(os.path.join(data_folder, clip))
        found.setdefault(key, []).append(clip)
    repeated = [" = ".join(names) for names in found.values() if len(names) > 1]
    if repeated:
        raise DataError(
            f"{data_folder}: {len(repeated)} files found more than once "
            f"(linked, or through a linked folder): {listing(repeated)} "
            "(keep one)"
        )
    return clips


def assign_splits(data_folder, clips):
    """Maps each split to its clips: the lists' clips, the rest training.

    A list names a clip by its path from the data folder, however spelled
    (``./yes/x.wav`` is ``yes/x.wav``); a clip named twice, in one list
    or in both, is refused."""
    by_file = {same_file(os.path.join(data_folder, clip)): clip
               for clip in clips}  # fmt: skip
    splits, named = {}, []
    for split, list_file in LIST_FILES.items():
        listed = read_split_list(data_folder, split)
        absent = [
            entry for entry in listed
            if same_file(os.path.join(data_folder, entry)) not in by_file
        ]  # fmt: skip
        if absent:
            raise FileNotFoundError(
                f"{os.path.join(data_folder, list_file)} names "
                f"{len(absent)} clip(s) not found under {data_folder}, "
                f"e.g. {absent[0]}"
            )
        named += [(os.path.join(data_folder, entry), list_file, entry)
                  for entry in listed]  # fmt: skip
        splits[split] = [
            by_file[same_file(os.path.join(data_folder, entry))]
            for entry in listed
        ]
    repeated = spellings_of_one_file(named)
    if repeated:
        raise DataError(
            f"{data_folder}: {len(repeated)} clips named more than once in "
            f"the lists: {listing(repeated)} (a clip is in one split only)"
        )
    held_out = set(splits["valid"]) | set(splits["test"])
    splits["train"] = [clip for clip in clips if clip not in held_out]
    return splits


def check_speakers(splits):
    """Raises ``SplitLeakError`` if a speaker appears in two splits."""
    speakers = {
        split: {speaker_of(clip) for clip in clips}
        for split, clips in splits.items()
    }
    for index, first in enumerate(SPLITS):
        for second in SPLITS[index + 1 :]:
            shared = sorted(speakers[first] & speakers[second])
            if shared:
                raise SplitLeakError(
                    f"{len(shared)} speaker(s) have clips in both {first} "
                    f"and {second}, e.g. {shared[0]}; the lists do not "
                    "match the clips"
                )
    return speakers


def manifest_rows(data_folder, clips, sample_rate):
    """Manifest rows, reading every clip's header (named errors)."""
    rows = []
    for clip in clips:
        path = os.path.abspath(os.path.join(data_folder, clip))
        duration = audio_duration(path, sample_rate)
        rows.append(
            {
                "ID": os.path.splitext(clip)[0].replace("/", "__"),
                "duration": f"{duration:.3f}",
                "wav": path,
                "label": clip.split("/")[0],
                "speaker": speaker_of(clip),
            }
        )
    return rows


def prepare_speech_commands(data_folder, save_folder, sample_rate=16000):
    """Writes the train, valid and test manifests of the official split.

    Arguments
    ---------
    data_folder : str
        Speech Commands V2 folder (downloaded there when absent).
    save_folder : str
        Where the manifests and ``split_counts.json`` go.
    sample_rate : int
        Expected sample rate; a clip at another rate is an error.

    Returns
    -------
    dict
        Per split: ``clips``, ``speakers`` and ``words`` counts.
    """
    options = {
        "data_folder": os.path.abspath(data_folder),
        "sample_rate": sample_rate,
    }
    counts_file = os.path.join(save_folder, "split_counts.json")
    if already_prepared(save_folder, options):
        logger.info("Speech Commands already prepared in %s", save_folder)
        with open(counts_file, encoding="utf-8") as handle:
            return json.load(handle)
    if not os.path.isdir(data_folder):
        logger.info("%s absent: downloading Speech Commands V2", data_folder)
        download_speech_commands(data_folder)
    splits = assign_splits(data_folder, list_word_clips(data_folder))
    speakers = check_speakers(splits)
    counts = {}
    for split in SPLITS:
        rows = manifest_rows(data_folder, splits[split], sample_rate)
        write_manifest(os.path.join(save_folder, f"{split}.csv"), rows)
        counts[split] = {
            "clips": len(rows),
            "speakers": len(speakers[split]),
            "words": len({row["label"] for row in rows}),
        }
        logger.info(
            "Speech Commands %s: %d clips, %d speakers, %d words",
            split, *counts[split].values(),
        )  # fmt: skip
    with open(counts_file, "w", encoding="utf-8") as handle:
        json.dump(counts, handle, indent=1)
    mark_prepared(save_folder, options)
    return counts
