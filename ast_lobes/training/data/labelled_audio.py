"""The user's labelled audio: a folder per class, or a table of paths and
labels, read into clips with errors that name the file, class or column.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import os
from collections import Counter
from dataclasses import dataclass, field

from ast_lobes.audio.io import (
    AUDIO_EXTENSIONS,
    AudioFileError,
    is_audio_name,
    open_audio,
)
from ast_lobes.audio.names import same_file

SHOWN = 10  # files named in an error before "and N more"


class DataError(ValueError):
    """Labelled data this recipe cannot train on as it is."""


@dataclass
class Clip:
    """One labelled file.

    Arguments
    ---------
    path : str
        The audio file.
    labels : tuple of str
        Its labels (one for single-label data).
    split : str or None
        ``train``, ``valid`` or ``test`` when the data says.
    fold : str or None
        Its cross-validation fold when the data says.
    group : str or None
        Its source (speaker, recording...): a group is never in two splits.
    """

    path: str
    labels: tuple
    split: str = None
    fold: str = None
    group: str = None
    duration: float = None


@dataclass
class DataReport:
    """What reading the data found beyond the clips."""

    skipped: list = field(default_factory=list)  # (path, reason)
    sample_rates: Counter = field(default_factory=Counter)
    channels: Counter = field(default_factory=Counter)

    def lines(self):
        """The report as text lines."""
        lines = [
            "sample rates: "
            + ", ".join(
                f"{r} Hz x{n}" for r, n in sorted(self.sample_rates.items())
            ),
            "channels: "
            + ", ".join(f"{c} x{n}" for c, n in sorted(self.channels.items())),
            f"skipped files: {len(self.skipped)}",
        ]
        return lines + [f"  {path}: {reason}" for path, reason in self.skipped]


def listing(paths):
    """Up to ``SHOWN`` items, then how many more.

    Example
    -------
    >>> listing(["a", "b"])
    'a, b'
    >>> listing([str(i) for i in range(12)])
    '0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more'
    """
    paths = list(paths)
    shown = ", ".join(paths[:SHOWN])
    more = len(paths) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def spellings_of_one_file(named):
    """The files named more than once in ``named``, however each is
    spelled: one text per such file, its spellings with where each was
    found.

    Arguments
    ---------
    named : iterable of tuple
        ``(path, where)``, or ``(path, where, spelling)`` where the path
        was written otherwise (relative to a table's folder).

    Example
    -------
    >>> spellings_of_one_file([("a.wav", "line 2"), ("b.wav", "line 3"),
    ...                        ("./a.wav", "line 4")])
    ['a.wav (line 2) = ./a.wav (line 4)']
    """
    seen = {}
    for path, where, *spelling in named:
        text = f"{(spelling or [path])[0]} ({where})"
        seen.setdefault(same_file(path), []).append(text)
    return [" = ".join(names) for names in seen.values() if len(names) > 1]


def check_one_listing_each(clips_of_tables):
    """Refuses a file listed in two tables (``{table: clips}``), however
    its path is spelled in each: it would be in two splits."""
    named = [
        (clip.path, table)
        for table, clips in clips_of_tables.items()
        for clip in clips
    ]
    repeated = spellings_of_one_file(named)
    if repeated:
        raise DataError(
            f"{len(repeated)} files listed in more than one table: "
            f"{listing(repeated)} (a clip is in one split only)"
        )


def scan_class_folders(root, extensions=AUDIO_EXTENSIONS, skip_other=False):
    """Clips of a folder with one subfolder per class.

    Audio files may lie at any depth below their class folder; hidden
    files and folders (``.DS_Store``, ``.git``) are ignored.

    Arguments
    ---------
    root : str
        The data folder.
    extensions : tuple of str
        Extensions of the audio files.
    skip_other : bool
        Skip (and report) files that are not audio, and files outside
        the class folders, instead of raising ``DataError``.

    Returns
    -------
    tuple
        ``(clips, skipped)``: sorted clips, and ``(path, reason)`` pairs.

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("dog/a.wav", "dog/x/b.wav", "cat/c.flac"):
    ...     os.makedirs(os.path.dirname(os.path.join(root, name)),
    ...                 exist_ok=True)
    ...     open(os.path.join(root, name), "w").close()
    >>> clips, _ = scan_class_folders(root)
    >>> [(os.path.relpath(c.path, root), c.labels[0]) for c in clips]
    [('cat/c.flac', 'cat'), ('dog/a.wav', 'dog'), ('dog/x/b.wav', 'dog')]
    """
    if not os.path.isdir(root):
        raise DataError(f"{root}: no such data folder")
    clips, other, outside, empty = [], [], [], []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry.startswith("."):
            continue
        if not os.path.isdir(path):
            outside.append(path)
            continue
        found = 0
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = sorted(s for s in subfolders if s[0] != ".")
            for name in sorted(n for n in names if n[0] != "."):
                file = os.path.join(folder, name)
                if is_audio_name(name, extensions):
                    clips.append(Clip(file, (entry,)))
                    found += 1
                else:
                    other.append(file)
        if not found:
            empty.append(entry)
    problems = [
        (outside, "files outside the class folders"),
        (other, f"files that are not audio ({' '.join(extensions)})"),
    ]
    skipped = []
    for paths, reason in problems:
        if paths and not skip_other:
            raise DataError(
                f"{root}: {len(paths)} {reason}: {listing(paths)} "
                "(move them, or skip them with skip_other_files: true)"
            )
        skipped += [(path, reason) for path in paths]
    if empty:
        raise DataError(
            f"{root}: class folders without audio: {listing(empty)}"
        )
    repeated = spellings_of_one_file(
        (clip.path, clip.labels[0]) for clip in clips
    )
    if repeated:
        raise DataError(
            f"{root}: {len(repeated)} files found more than once (linked "
            f"or through a linked folder): {listing(repeated)} (keep one)"
        )
    if not clips:
        raise DataError(f"{root}: no class folders with audio files")
    return clips, skipped


def read_label_table(
    path,
    path_column="path",
    label_column="label",
    split_column=None,
    fold_column=None,
    group_column=None,
    separator=";",
):
    """Clips of a CSV (``.csv``) or TSV (``.tsv``) table.

    Relative paths are taken from the table's folder; a label cell holds
    one label, or several joined by ``separator`` (multi-label).

    Returns
    -------
    list of Clip

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("a.wav", "b.wav"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> table = os.path.join(folder, "labels.tsv")
    >>> rows = ["path\\tlabel", "a.wav\\tdog", "b.wav\\tdog;cat"]
    >>> _ = open(table, "w").write("\\n".join(rows) + "\\n")
    >>> [c.labels for c in read_label_table(table)]
    [('dog',), ('dog', 'cat')]
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such table")
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = reader.fieldnames or []
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a UTF-8 table ({error})") from error
    wanted = [
        path_column,
        label_column,
        split_column,
        fold_column,
        group_column,
    ]
    for column in filter(None, wanted):
        if column not in columns:
            raise DataError(
                f"{path}: no column {column!r}; the columns are "
                f"{', '.join(columns) or 'none'} (set the column names)"
            )
    folder = os.path.dirname(os.path.abspath(path))
    clips, empty, missing, named = [], [], [], []
    for line, row in enumerate(rows, start=2):
        cell = (row[path_column] or "").strip()
        file = cell if os.path.isabs(cell) else os.path.join(folder, cell)
        labels = tuple(
            label.strip()
            for label in (row[label_column] or "").split(separator)
            if label.strip()
        )
        if not labels:
            empty.append(f"line {line}")
        if not os.path.isfile(file):
            missing.append(file)
        named.append((file, f"line {line}", cell))
        clips.append(
            Clip(
                file,
                labels,
                split=(row[split_column] or "").strip()
                if split_column
                else None,
                fold=(row[fold_column] or "").strip() if fold_column else None,
                group=(row[group_column] or "").strip()
                if group_column
                else None,
            )
        )
    if not clips:
        raise DataError(f"{path}: the table has no rows")
    if empty:
        raise DataError(f"{path}: empty label cells at {listing(empty)}")
    if missing:
        raise DataError(
            f"{path}: {len(missing)} missing files: {listing(missing)}"
        )
    repeated = spellings_of_one_file(named)
    if repeated:
        raise DataError(
            f"{path}: {len(repeated)} paths listed more than once: "
            f"{listing(repeated)}"
        )
    if split_column:
        odd = sorted({c.split for c in clips} - {"train", "valid", "test"})
        if odd:
            raise DataError(
                f"{path}: column {split_column!r} holds {listing(odd)}; "
                "expected train, valid or test"
            )
    return clips


def check_audio(clips, skip_bad=False):
    """Reads every clip's header: durations set, rates and channels
    counted; a missing, empty, corrupt or truncated file raises
    ``DataError`` listing every such file, or is skipped and reported.

    Returns
    -------
    tuple
        ``(good_clips, report)`` with a ``DataReport``.
    """
    report = DataReport()
    good, bad = [], []
    for clip in clips:
        try:
            with open_audio(clip.path) as handle:
                clip.duration = handle.frames / handle.samplerate
                report.sample_rates[handle.samplerate] += 1
                report.channels[handle.channels] += 1
            good.append(clip)
        except AudioFileError as error:
            bad.append((clip.path, str(error)))
    if bad and not skip_bad:
        raise DataError(
            f"{len(bad)} unreadable audio files: "
            + "; ".join(message for _, message in bad[:SHOWN])
            + (f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else "")
            + " (fix them, or skip them with skip_bad_files: true)"
        )
    report.skipped += bad
    return good, report


def is_multi_label(clips):
    """Whether any clip has more than one label."""
    return any(len(clip.labels) > 1 for clip in clips)
