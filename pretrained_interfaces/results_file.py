"""Tagging results streamed to a JSONL or CSV file, resumable.

Each file's result is written and flushed as soon as it is known, so an
interrupted run loses at most the line being written. Opening the same
output again reads the files it already holds (tagged or failed), drops a
last line cut short by the interruption, and appends after it: the caller
tags only the files not there yet.

* JSONL: one object a file, ``{"file", "duration", "tags": [{"label",
  "score"}], "windows": [...]}``, or ``{"file", "error"}``.
* CSV: one row a file, ``file, duration, error, label_1, score_1, ...,
  label_K, score_K`` for the ``top_k`` best tags (blank past the last).

File names are data: a name that is not UTF-8 is written as the bytes
the file system holds in CSV (read it with ``errors="surrogateescape"``
and ``os.fsencode`` gives the name back) and with ``\\udcXX`` escapes in
JSONL (``json.loads`` then ``os.fsencode`` give it back). A file is
recognised on resume by its real path, however it was spelled or
reached (another working directory, a linked folder).

One writer per output: a run holds ``<output>.lock`` (an advisory
``flock``, released by the system when the run ends however it ends) and
a second run on the same output is refused.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import io
import json
import os

from ast_lobes.audio.names import same_file
from ast_lobes.training.run_lock import LockHeldError, hold_lock

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class ResultsFileError(ValueError):
    """An output file this run cannot append to."""


def csv_header(top_k):
    """Columns of the CSV output for ``top_k`` tags.

    Example
    -------
    >>> csv_header(2)
    ['file', 'duration', 'error', 'label_1', 'score_1', 'label_2', 'score_2']
    """
    columns = ["file", "duration", "error"]
    for rank in range(1, top_k + 1):
        columns += [f"label_{rank}", f"score_{rank}"]
    return columns


def lock_output(path):
    """Holds the lock of output ``path`` (``<real path>.lock``, holding
    the writer's process id; ``ast_lobes.training.run_lock.hold_lock``)
    until the returned handle is closed or the process ends;
    ``ResultsFileError`` when another process holds it.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tags.jsonl")
    >>> lock = lock_output(path)
    >>> try:
    ...     lock_output(path)
    ... except ResultsFileError as error:
    ...     print(str(error).split(";")[0].endswith("is writing it"))
    True
    >>> lock.close()
    >>> lock_output(path).close()
    """
    lock_path = os.path.realpath(path) + ".lock"
    try:
        return hold_lock(lock_path)
    except LockHeldError as held:
        holder = held.holders.split(maxsplit=1)[0] if held.holders else ""
        raise ResultsFileError(
            f"{path}: another ast-tag"
            f"{f' (process {holder})' if holder.isdigit() else ''} "
            f"is writing it; wait for it to end or choose another output "
            f"(the lock is {lock_path})"
        ) from held
    except OSError as error:
        raise ResultsFileError(
            f"{path}: cannot open its lock {lock_path} ({error.strerror})"
        ) from error


class ResultsFile:
    """A JSONL or CSV file of tagging results that a new run resumes.

    Arguments
    ---------
    path : str
        Output file; ``.jsonl`` (or ``.ndjson``) or ``.csv``.
    top_k : int or None
        Tags a CSV row holds (needed for CSV).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tags.jsonl")
    >>> with ResultsFile(path) as results:
    ...     results.write({"file": "a.wav", "duration": 1.0, "tags": []})
    ...     results.write({"file": "b.wav", "error": "b.wav: corrupt"})
    >>> with ResultsFile(path) as results:
    ...     sorted(os.path.basename(f) for f in results.done)
    ['a.wav', 'b.wav']
    """

    def __init__(self, path, top_k=None):
        self.path = path
        extension = os.path.splitext(path)[1].lower()
        if extension not in FORMATS:
            raise ResultsFileError(
                f"{path}: output must end in .jsonl, .ndjson or .csv"
            )
        self.format = FORMATS[extension]
        if self.format == "csv" and not top_k:
            raise ResultsFileError(f"{path}: a CSV output needs --top-k")
        self.top_k = top_k
        self.done = set()
        self.handle = None
        self.writer = None
        self.lock = None

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        """Reads the files already written, cuts a partial last line and
        opens for appending, holding the output's lock (``lock_output``)
        until ``close``. Returns the set of done files (``same_file``
        keys)."""
        self.lock = lock_output(self.path)
        try:
            return self.open_locked()
        except BaseException:
            self.close()
            raise

    def open_locked(self):
        """``open`` once the lock is held."""
        size = 0
        if os.path.exists(self.path):
            with open(self.path, "rb") as handle:
                data = handle.read()
            size = data.rfind(b"\n") + 1  # a last line without \n was cut
            text = data[:size].decode("utf-8", errors="surrogateescape")
            self.done = self.read_done(text)
        self.handle = open(
            self.path, "a+", encoding="utf-8", errors="surrogateescape",
            newline="",
        )  # fmt: skip
        self.handle.truncate(size)
        self.handle.seek(size)
        if self.format == "csv":
            self.writer = csv.writer(self.handle, lineterminator="\n")
            if size == 0:
                self.writer.writerow(csv_header(self.top_k))
                self.handle.flush()
        return self.done

    def read_done(self, text):
        """``same_file`` keys of the files recorded in ``text``."""
        if self.format == "csv":
            rows = list(csv.reader(io.StringIO(text)))
            if rows and rows[0] != csv_header(self.top_k):
                raise ResultsFileError(
                    f"{self.path}: written with other columns "
                    f"({len(rows[0])}); resume with the same --top-k or "
                    "choose another output"
                )
            return {same_file(row[0]) for row in rows[1:] if row}
        done = set()
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                done.add(same_file(json.loads(line)["file"]))
            except (
                json.JSONDecodeError, KeyError, TypeError, ValueError,
                RecursionError,
            ) as error:  # fmt: skip
                raise ResultsFileError(
                    f"{self.path}: line {number} is not a result ({error}); "
                    "choose another output"
                ) from error
        return done

    def write(self, record):
        """Appends one file's record (``TaggingResult.as_dict()`` or
        ``{"file", "error"}``) and flushes it to disk."""
        if self.format == "jsonl":
            self.handle.write(json.dumps(record) + "\n")
        else:
            row = [record["file"], record.get("duration", ""),
                   record.get("error", "")]  # fmt: skip
            tags = record.get("tags", [])[: self.top_k]
            for tag in tags:
                row += [tag["label"], tag["score"]]
            row += ["", ""] * (self.top_k - len(tags))
            self.writer.writerow(row)
        self.handle.flush()
        self.done.add(same_file(record["file"]))

    def close(self):
        """Closes the file (every record is already flushed) and lets go
        of its lock."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.lock is not None:
            self.lock.close()
            self.lock = None
