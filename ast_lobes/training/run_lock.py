"""One run per output folder: every process of a run holds the folder's
lock (``run.lock``, an advisory ``flock``) until it ends, however it ends,
and a second run on the folder is refused while any process of the first
lives (an orphaned worker of a killed run included).

The main process takes the lock exclusively, which no other run's process
may hold in any way, writes its process id into the file, then turns it
into a shared lock that the run's other processes join (told by the main
process that it holds it). The system lets go of a lock when its process
ends, so a killed run's lock never stays stuck. Windows has no ``flock``:
there no lock is taken and one run per folder is the user's care.

Authors
 * AST-SpeechBrain contributors 2026
"""

import atexit
import os
import socket

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None

LOCK_NAME = "run.lock"

# this process's locks (real path of the folder: open lock file); a file's
# flock taken twice by one process through two handles would refuse itself
HELD = {}


class LockHeldError(OSError):
    """A lock another process holds.

    Arguments
    ---------
    path : str
        The lock file.
    holders : str
        What the lock file says of its holders (one line each).
    """

    def __init__(self, path, holders):
        super().__init__(f"{path}: held by another process")
        self.path = path
        self.holders = holders


class OutputFolderBusyError(RuntimeError):
    """An output folder another run holds."""


def hold_lock(path, shared=False):
    """An open handle of ``path`` holding its ``flock`` (exclusive unless
    ``shared``), this process's id and host written in it (appended to
    the others' when shared), until the handle is closed or the process
    ends; ``LockHeldError`` when another process holds it in a way that
    excludes this one, ``OSError`` when the file cannot be opened.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.lock")
    >>> lock = hold_lock(path)
    >>> try:
    ...     hold_lock(path)
    ... except LockHeldError as held:
    ...     print(held.holders.split()[0] == str(os.getpid()))
    True
    >>> lock.close()
    >>> hold_lock(path).close()
    """
    handle = open(path, "a+", encoding="utf-8")
    if fcntl is None:
        return handle
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except OSError as error:
        handle.seek(0)
        holders = handle.read()
        handle.close()
        raise LockHeldError(path, holders) from error
    if not shared:
        handle.truncate(0)
    handle.write(f"{os.getpid()} {socket.gethostname()}\n")
    handle.flush()
    return handle


def live_holders(holders):
    """The process ids of a lock file's lines (``PID HOST``) that still
    run on this host, and those of other hosts (not checked).

    Example
    -------
    >>> here = f"{os.getpid()} {socket.gethostname()}"
    >>> live_holders(f"{here}\\n12 elsewhere") == [str(os.getpid()),
    ...                                            "12 on elsewhere"]
    True
    """
    here, named = socket.gethostname(), []
    for line in holders.splitlines():
        pid, _, host = line.strip().partition(" ")
        if not pid.isdigit():
            continue
        if host and host != here:
            named.append(f"{pid} on {host}")
        elif process_lives(int(pid)):
            named.append(pid)
    return list(dict.fromkeys(named))


def process_lives(pid):
    """Whether process ``pid`` runs (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def hold_output_folder(folder):
    """Holds ``folder``'s run lock in every process of this run (call it
    in all of them, with the process group started: a collective call);
    ``OutputFolderBusyError`` (naming the folder and the holders' process
    ids) in every process when another run holds it. Holding it again in
    the same process does nothing.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> hold_output_folder(folder)
    >>> sorted(os.listdir(folder))
    ['run.lock']
    >>> release_output_folders()
    """
    key = os.path.realpath(folder)
    if key in HELD:
        return
    from speechbrain.utils.distributed import ddp_broadcast

    from ast_lobes.training.data.sampling import distributed_place

    path = os.path.join(folder, LOCK_NAME)
    world, rank = distributed_place()
    handle, refusal = None, None
    if rank == 0:
        handle, refusal = take_run_lock(folder, path, world > 1)
    if world > 1:
        refusal = ddp_broadcast(refusal, src=0)
    if refusal is not None:
        raise OutputFolderBusyError(refusal)
    if rank != 0:
        try:
            handle = hold_lock(path, shared=True)
        except (LockHeldError, OSError) as error:
            raise OutputFolderBusyError(
                f"{folder}: cannot join this run's lock {path} ({error})"
            ) from error
    HELD[key] = handle


def take_run_lock(folder, path, for_several):
    """The main process's part of ``hold_output_folder``: the lock's
    handle and None, or None and the refusal's message."""
    try:
        os.makedirs(folder, exist_ok=True)
        handle = hold_lock(path)
    except LockHeldError as held:
        pids = live_holders(held.holders)
        who = f" (pid{'s' if len(pids) > 1 else ''} {', '.join(pids)})"
        stop = " ".join(pid for pid in pids if pid.isdigit())
        return None, (
            f"another run holds {folder}{who if pids else ''}; wait for it "
            f"to end, stop it{f' (kill {stop})' if stop else ''} or choose "
            f"another --output_folder (the lock: {path})"
        )
    except OSError as error:
        return None, f"{folder}: cannot take its lock {path} ({error})"
    if for_several and fcntl is not None:
        try:  # the run's other processes join it
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None, f"another run took {folder} as this one started"
    return handle, None


@atexit.register
def release_output_folders():
    """Lets go of this process's output folder locks (the system does
    when the process ends)."""
    while HELD:
        HELD.popitem()[1].close()
