"""Unlabelled audio for self-supervised pretraining: folders and file
lists of audio of any length and format, and recipes' training manifests,
cut into clips.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import os

from ast_lobes.audio.io import AudioFileError, audio_duration, is_audio_name
from ast_lobes.training.data.labelled_audio import DataError, listing


def find_audio(sources):
    """Audio files of folders (searched recursively) and of text files
    that list one path per line (relative to the list's folder), in a
    stable order.

    Arguments
    ---------
    sources : list of str
        Folders and list files.

    Returns
    -------
    list of str
        Absolute paths, without repeats.

    Raises
    ------
    DataError
        A source that does not exist, or that holds no audio.
    """
    found = {}
    for source in sources:
        source = str(source)
        if os.path.isdir(source):
            paths = [
                os.path.join(root, name)
                for root, _, names in sorted(os.walk(source))
                for name in sorted(names)
                if is_audio_name(name)
            ]
        elif os.path.isfile(source):
            base = os.path.dirname(os.path.abspath(source))
            with open(source, encoding="utf-8") as handle:
                paths = [
                    os.path.join(base, line.strip())
                    for line in handle
                    if line.strip() and not line.startswith("#")
                ]
        else:
            raise DataError(f"{source}: no such folder or file list")
        if not paths:
            raise DataError(f"{source}: no audio files found")
        for path in paths:
            found.setdefault(os.path.abspath(path), None)
    return list(found)


def training_manifest_paths(manifest, path_column="wav"):
    """The audio files of a recipe's training manifest (its ``wav``
    column), for pretraining on the labelled training clips only."""
    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and path_column not in rows[0]:
        raise DataError(
            f"{manifest}: no {path_column!r} column (columns: "
            f"{', '.join(rows[0])})"
        )
    return [os.path.abspath(row[path_column]) for row in rows]


def cut_into_clips(paths, clip_seconds, min_seconds=0.5, skip_bad=False):
    """Rows of clips of at most ``clip_seconds``: every file is cut from
    its start; a last piece shorter than ``min_seconds`` is dropped (a
    whole file that short is one clip when at least 0.1 s).

    Arguments
    ---------
    paths : list of str
        Audio files.
    clip_seconds : float
        Clip length.
    min_seconds : float
        Shortest last piece kept.
    skip_bad : bool
        Skip unreadable, empty or truncated files (returned) instead of
        raising.

    Returns
    -------
    rows : list of dict
        ``ID``, ``wav``, ``start``, ``stop``, ``duration`` (seconds).
    bad : list of str
        The skipped files with their problem.

    Example
    -------
    >>> import tempfile, soundfile, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "long.wav")
    >>> soundfile.write(path, numpy.zeros(16000 * 25 // 10), 16000)
    >>> rows, _ = cut_into_clips([path], 1.0)
    >>> [(row["start"], row["stop"]) for row in rows]
    [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    """
    rows, bad = [], []
    for number, path in enumerate(paths):
        try:
            duration = audio_duration(path)
        except AudioFileError as error:
            bad.append(str(error))
            continue
        start = 0.0
        while start < duration:
            stop = min(start + clip_seconds, duration)
            piece = stop - start
            if piece >= min_seconds or (start == 0 and piece >= 0.1):
                rows.append({
                    "ID": f"u{number}_{len(rows)}",
                    "wav": path,
                    "start": round(start, 4),
                    "stop": round(stop, 4),
                    "duration": round(piece, 4),
                })  # fmt: skip
            start = stop
    if bad and not skip_bad:
        raise DataError(
            f"{len(bad)} unreadable audio files (skip them with "
            f"skip_bad_files: true): {listing(bad)}"
        )
    if not rows:
        raise DataError("no clip of unlabelled audio to pretrain on")
    return rows, bad
