"""One run per output folder, held by every process of the run (an
orphaned worker included) and let go when they die; a torchrun worker
ends when its launcher dies."""

import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

HOLD = """
import os, sys, time
import torch.distributed
from ast_lobes.training.run_lock import OutputFolderBusyError, \\
    hold_output_folder
folder, rank, world = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if world > 1:
    os.environ["RANK"] = str(rank)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{folder}.rendezvous", rank=rank,
        world_size=world,
    )
try:
    hold_output_folder(folder)
except OutputFolderBusyError as error:
    print(f"refused: {error}", flush=True)
    sys.exit(2)
print("held", flush=True)
time.sleep(600)
"""


def start(folder, rank=0, world=1):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(rank), str(world)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def stop(*processes):
    for process in processes:
        process.send_signal(signal.SIGKILL)
        process.wait()


def own_line(process):
    """A process's next line of its own (older torch's gloo prints its
    connections to standard output)."""
    line = process.stdout.readline()
    while line.startswith("[Gloo]"):
        line = process.stdout.readline()
    return line


def test_a_second_run_is_refused_while_any_process_of_the_first_lives(
    tmp_path,
):
    folder = tmp_path / "out"
    first = [start(folder, rank, 2) for rank in (0, 1)]
    try:
        assert [own_line(p) for p in first] == ["held\n"] * 2
        second = start(folder)
        line = second.stdout.readline()
        assert second.wait() == 2
        pids = f"{first[0].pid}, {first[1].pid}"
        assert line == (
            f"refused: another run holds {folder} (pids {pids}); wait for "
            f"it to end, stop it (kill {pids.replace(',', '')}) or choose "
            f"another --output_folder (the lock: {folder}/run.lock)\n"
        )
        stop(first[0])  # the main process dies, a worker lives on
        orphaned = start(folder)
        assert orphaned.stdout.readline() == (
            f"refused: another run holds {folder} (pid {first[1].pid}); "
            f"wait for it to end, stop it (kill {first[1].pid}) or choose "
            f"another --output_folder (the lock: {folder}/run.lock)\n"
        )
        assert orphaned.wait() == 2
    finally:
        stop(*first)
    # a killed run's lock went with its processes
    third = start(folder)
    try:
        assert own_line(third) == "held\n"
    finally:
        stop(third)


LAUNCHER = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1]],
                          start_new_session=True)  # as torchrun starts one
print(worker.pid, flush=True)
time.sleep(600)
"""

WORKER = """
import time
from ast_lobes.training.launcher import end_with_launcher
print("armed" if end_with_launcher() else "not armed", flush=True)
time.sleep(600)
"""


def process_state(pid):
    """The process's state letter (Z: ended, not yet reaped), or None."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG: Linux"
)
def test_a_torchrun_worker_ends_when_its_launcher_is_killed():
    env = {**os.environ, "PYTHONPATH": ROOT, "TORCHELASTIC_RUN_ID": "test"}
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, WORKER], stdout=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    worker = int(launcher.stdout.readline())
    try:
        assert launcher.stdout.readline() == "armed\n"
        launcher.send_signal(signal.SIGKILL)  # its session lives on alone
        launcher.wait()
        deadline = time.monotonic() + 10
        while process_state(worker) not in (None, "Z"):
            assert time.monotonic() < deadline, "the worker outlived it"
            time.sleep(0.05)
    finally:
        if process_state(worker) not in (None, "Z"):
            os.kill(worker, signal.SIGKILL)
