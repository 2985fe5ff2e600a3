"""Tagging many files at the model's full speed.

``find_audio_files`` turns files, folders (searched recursively by
extension) and file lists into the paths to tag. ``tag_stream`` tags
them: worker processes decode and resample the audio ahead of the model
(``WindowReader``), windows of different files are batched together, and
each file's result is yielded as soon as its last window is scored, so a
caller can write it out at once. A file that cannot be read yields its
error and the others go on.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ast_lobes.audio.io import AudioFileError
from ast_lobes.audio.names import AUDIO_EXTENSIONS, is_audio_name
from pretrained_interfaces.windows import read_windows


def read_file_list(path):
    """Paths listed in a text file, one a line; blank lines and lines
    starting with ``#`` are skipped; relative paths are taken from the
    list's folder."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except OSError as error:
        raise FileNotFoundError(f"{path}: cannot read the file list") from error
    return [
        line if os.path.isabs(line) else os.path.join(folder, line)
        for line in lines
        if line and not line.startswith("#")
    ]


def find_audio_files(inputs, file_lists=(), extensions=AUDIO_EXTENSIONS):
    """The audio files to tag, in order, each once (the first spelling
    of a file named or reached twice).

    Arguments
    ---------
    inputs : list of str
        Files (kept as given, even if missing or not audio, so that their
        error is reported) and folders (searched recursively for files
        ending in one of ``extensions``, in sorted order).
    file_lists : list of str
        Text files listing paths (see ``read_file_list``).
    extensions : tuple of str
        Lower-case extensions of the audio files in folders.

    Returns
    -------
    list of str

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("b.wav", "a.FLAC", "sub/c.wav", "notes.txt"):
    ...     os.makedirs(os.path.dirname(os.path.join(root, name)),
    ...                 exist_ok=True)
    ...     open(os.path.join(root, name), "w").close()
    >>> [os.path.relpath(p, root) for p in find_audio_files([root])]
    ['a.FLAC', 'b.wav', 'sub/c.wav']
    """
    found = []
    for item in inputs:
        if os.path.isdir(item):
            for folder, subfolders, names in os.walk(item):
                subfolders.sort()
                found += [
                    os.path.join(folder, name)
                    for name in sorted(names)
                    if is_audio_name(name, extensions)
                ]
        else:
            found.append(item)
    for file_list in file_lists:
        found += read_file_list(file_list)
    once = {}  # one file however it is spelled or reached: by real path
    for path in found:
        once.setdefault(os.path.realpath(path), path)
    return list(once.values())


@dataclass
class DecodedWindow:
    """One window of a file, at the model's sample rate."""

    file_index: int
    path: str
    start: float
    end: float
    wav: torch.Tensor
    last: bool


@dataclass
class DecodeError:
    """A file that could not be read (or read to its end)."""

    file_index: int
    path: str
    message: str


class WindowReader(IterableDataset):
    """Yields the ``DecodedWindow`` items of files, in file order, and a
    ``DecodeError`` for a file that fails. Under a ``DataLoader`` with
    workers, each worker reads every n-th file.

    Arguments
    ---------
    paths : list of str
        Files to read.
    sample_rate : int
        Rate windows are resampled to.
    window : float
        Window in seconds.
    hop : float
        Hop between windows in seconds.
    min_samples : int
        Fewest samples a window needs (one fbank frame).

    Example
    -------
    >>> import tempfile, soundfile, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "clip.wav")
    >>> soundfile.write(path, numpy.zeros(32000), 16000)
    >>> items = list(WindowReader([path, "missing.wav"], 16000, 1.0, 1.0))
    >>> [(type(i).__name__, getattr(i, "last", None)) for i in items]
    [('DecodedWindow', False), ('DecodedWindow', True), ('DecodeError', None)]
    """

    def __init__(self, paths, sample_rate, window, hop, min_samples=1):
        super().__init__()
        self.paths = list(paths)
        self.sample_rate = sample_rate
        self.window = window
        self.hop = hop
        self.min_samples = min_samples

    def __iter__(self):
        worker = get_worker_info()
        first, step = 0, 1
        if worker is not None:
            first, step = worker.id, worker.num_workers
        for index in range(first, len(self.paths), step):
            yield from self.read_file(index)

    def read_file(self, index):
        """Items of file ``index``: its windows, the last marked, or an
        error (after any windows read before it)."""
        path = os.fspath(self.paths[index])
        previous = None
        try:
            for start, end, wav in read_windows(
                path, self.sample_rate, self.window, self.hop, self.min_samples
            ):
                if previous is not None:
                    yield previous
                previous = DecodedWindow(index, path, start, end, wav, False)
        except (AudioFileError, ValueError, RuntimeError) as error:
            yield DecodeError(index, path, str(error))
            return
        previous.last = True
        yield previous


def keep_item(item):
    """``DataLoader`` collation that passes one item through unchanged."""
    return item


def tag_stream(
    tagger,
    paths,
    window=None,
    hop=None,
    batch_size=8,
    num_workers=1,
    **tag_options,
):
    """Tags ``paths``, yielding each file's outcome as soon as it is known.

    Arguments
    ---------
    tagger : pretrained_interfaces.AudioTagger
        The model.
    paths : list of str
        Files to tag.
    window, hop : float or None
        Window and hop in seconds (default: the model's window, no overlap).
    batch_size : int
        Windows run through the model together, from any files.
    num_workers : int
        Processes decoding audio ahead of the model (0: in this process).
    **tag_options
        ``top_k``, ``threshold`` and ``aggregate`` of
        ``AudioTagger.result_of``.

    Yields
    ------
    tuple
        ``(path, result, error)``: a ``TaggingResult`` and None, or None
        and the error message; in the order files finish.
    """
    window = window or tagger.window_seconds
    hop = hop or window
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    reader = WindowReader(
        paths,
        tagger.sample_rate,
        window,
        hop,
        tagger.min_window_samples,
    )
    loader = DataLoader(
        reader,
        batch_size=None,
        num_workers=min(num_workers, len(paths)),
        collate_fn=keep_item,
        prefetch_factor=2 * batch_size if num_workers else None,
    )
    scored, pending = {}, []
    for item in loader:
        if isinstance(item, DecodeError):
            scored.pop(item.file_index, None)
            pending = [p for p in pending if p.file_index != item.file_index]
            yield item.path, None, item.message
            continue
        pending.append(item)
        if len(pending) == batch_size:
            yield from score_pending(tagger, pending, scored, tag_options,
                                     tagger.pads(window))  # fmt: skip
            pending = []
    if pending:
        yield from score_pending(tagger, pending, scored, tag_options,
                                 tagger.pads(window))  # fmt: skip


def score_pending(tagger, pending, scored, tag_options, pad=True):
    """Scores a batch of windows (``pad``: ``AudioTagger.pads``); yields
    the files it completes (a file's windows arrive in order, so its last
    one completes it)."""
    rows = tagger.score_windows([(w.start, w.end, w.wav) for w in pending],
                                pad)  # fmt: skip
    for item, row in zip(pending, rows, strict=True):
        scored.setdefault(item.file_index, []).append(row)
        if item.last:
            windows = scored.pop(item.file_index)
            result = tagger.result_of(item.path, windows, **tag_options)
            yield item.path, result, None
