"""The metrics file of a run: one JSON line of validation metrics per
epoch, written whole and read back per epoch.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os

import speechbrain as sb


def append_metrics_line(path, stats):
    """Appends ``stats`` as one JSON line to ``path`` (nothing if None, or
    outside the main process).

    The line goes out in a single write on an append-only descriptor, so a
    process killed meanwhile leaves the whole line or none of it.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.jsonl")
    >>> append_metrics_line(path, {"epoch": 1, "accuracy": 50.0})
    >>> append_metrics_line(path, {"epoch": 1, "accuracy": 75.0})
    >>> read_metrics(path)
    {1: 75.0}
    """
    if path is None or not sb.utils.distributed.if_main_process():
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    line = (json.dumps(stats) + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def read_metrics(path, key="accuracy"):
    """One validation metric per epoch from a ``metrics_file``.

    A re-run epoch (after an interruption) replaces the earlier line.

    Arguments
    ---------
    path : str
        The ``metrics_file``.
    key : str
        The metric (``accuracy``, ``mAP``...).

    Returns
    -------
    dict
        epoch (int) to the metric (float).
    """
    per_epoch = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            stats = json.loads(line)
            if "epoch" in stats:
                per_epoch[int(stats["epoch"])] = float(stats[key])
    return per_epoch
