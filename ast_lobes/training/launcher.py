"""A recipe's processes under ``torchrun``: each worker ends when its
launcher dies, and a worker's one-line error is what ``torchrun``'s
summary of the failure shows.

``torchrun`` starts each worker in a session of its own, so killing the
launcher, or its process group (Ctrl-C in a terminal, ``kill -- -PGID``),
leaves the workers training. On Linux each worker asks the system for
SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and ends at
once if its launcher is already gone. Other systems have no such request:
there stop the workers themselves (``pkill -P`` the launcher's process id
before killing it, or kill each worker).

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_AT_IMPORT = os.getppid()


def launched_by_torchrun():
    """Whether this process is a worker ``torchrun`` started (its elastic
    agent sets ``TORCHELASTIC_RUN_ID``).

    Example
    -------
    >>> launched_by_torchrun() == ("TORCHELASTIC_RUN_ID" in os.environ)
    True
    """
    return "TORCHELASTIC_RUN_ID" in os.environ


def end_with_launcher():
    """In a ``torchrun`` worker on Linux: SIGKILL when the launcher dies
    (``prctl(PR_SET_PDEATHSIG)``), and exit now (status 1) when it died
    before the request was made (this process's parent is no longer the
    one it had when this module was imported, or is ``init``). Does
    nothing elsewhere. Returns whether the request was made.

    Example
    -------
    >>> end_with_launcher() == (launched_by_torchrun()
    ...                         and sys.platform.startswith("linux"))
    True
    """
    if not launched_by_torchrun() or not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    parent = os.getppid()
    if parent == 1 or parent != PARENT_AT_IMPORT:
        print("the torchrun launcher of this worker is gone: stopping",
              file=sys.stderr)  # fmt: skip
        os._exit(1)
    return True


def worker_rank():
    """This worker's global rank under ``torchrun`` (None outside it)."""
    rank = os.environ.get("RANK")
    if not launched_by_torchrun() or rank is None or not rank.isdigit():
        return None
    return int(rank)


def record_for_torchrun(message):
    """Writes ``message`` where ``torchrun`` reads a failed worker's error
    (``TORCHELASTIC_ERROR_FILE``), so that its summary of the failure
    shows this line instead of a link to its documentation. Does nothing
    outside ``torchrun``.

    Example
    -------
    >>> record_for_torchrun("error: a.wav: not audio")  # not under torchrun
    """
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not launched_by_torchrun() or not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"message": {  # the layout of torch's ErrorHandler
                "message": message,
                "extraInfo": {"py_callstack": message,
                              "timestamp": str(int(time.time()))},
            }}, handle)  # fmt: skip
    except OSError:
        pass  # the summary then shows torch's own line
