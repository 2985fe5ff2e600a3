#!/usr/bin/env python3
"""Kills a several-process AudioSet run again and again, resuming it each
time with the same command, and checks that it ends with the weights of a
run that was never stopped, bit for bit.

On a demo set it writes (``make_audioset_demo.py``), with a tiny AST and
checkpoints every ``--interval`` steps, it trains once without a stop,
then starts the same command in a new folder ``--kills`` times: each time
it waits for the run's next checkpoint and a random time up to twice
the median time between two checkpoints of the uninterrupted run (or,
in a share of the rounds, a random time up to the uninterrupted run's
first checkpoint: a kill while the run starts, prepares or loads its
checkpoint), and kills every process of
the run (the ``torchrun`` launcher and its workers) with SIGKILL. Then
the same command runs to its end, and the exported models (``model/``
and ``model_weight_averaged/``) are compared with the uninterrupted
run's. A table gives where each resumed run started again (the log's
``resumed at step S of epoch E``). It takes minutes (the recipe's tests
kill once); it is not part of the tests.

To run::

    python recipes/AudioSet/soak_kill_resume.py [--kills 20] \\
        [--processes 2] [--source files|shards] [--seed 0] [--keep DIR]

Exit status 0 when the weights are identical, 1 otherwise.

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TINY = [
    "--model_size", "null", "--embed_dim", "32", "--depth", "1",
    "--num_heads", "2", "--imagenet_weights", "null", "--fstride", "16",
    "--tstride", "16", "--target_length", "98", "--batch_size", "2",
    "--num_workers", "0", "--warmup_steps", "4", "--lr", "0.002",
    "--mixup_probability", "0.5",
]  # fmt: skip
EXPORTS = ("model", "model_weight_averaged")


def free_port():
    """A TCP port free on this host now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def descendants(pid):
    """The process ids below ``pid`` (children, theirs, ...), from
    ``/proc`` (Linux)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_every_process(process):
    """SIGKILL to a launched run and every process below it (torchrun's
    workers live in sessions of their own), at once."""
    for pid in [process.pid, *descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def checkpoints(save_folder):
    """Names of the checkpoint folders whose meta file is written."""
    if not os.path.isdir(save_folder):
        return set()
    return {
        name for name in os.listdir(save_folder)
        if os.path.isfile(os.path.join(save_folder, name, "CKPT.yaml"))
    }  # fmt: skip


def run_and_kill(command, save_folder, delay, after_checkpoints, log,
                 timeout=600):  # fmt: skip
    """Starts ``command`` and kills every process of it ``delay`` seconds
    after its ``after_checkpoints``-th new checkpoint (after its start
    with 0); returns ``"killed"``, or ``"finished"`` (exit status 0) when
    it ended first."""
    seen = checkpoints(save_folder)
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + timeout
    try:
        made = 0
        while made < after_checkpoints and process.poll() is None:
            now = checkpoints(save_folder)
            made += len(now - seen)
            seen = now
            if time.monotonic() > deadline:
                raise TimeoutError(f"no checkpoint in {timeout} s: {log}")
            time.sleep(0.002)
        time.sleep(delay)
        if process.poll() is not None:
            if process.returncode != 0:
                raise RuntimeError(f"the run failed ({process.returncode}), "
                                   f"see {log}")  # fmt: skip
            return "finished"
    finally:
        kill_every_process(process)
    return "killed"


def run_to_end(command, log, timeout=900):
    """Runs ``command`` to its end (exit status 0)."""
    with open(log, "ab") as output:
        code = subprocess.run(
            command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
            timeout=timeout,
        ).returncode  # fmt: skip
    if code != 0:
        raise RuntimeError(f"the run failed ({code}), see {log}")


def checkpoint_gaps(command, save_folder, log, timeout=900):
    """Runs ``command`` to its end, watching its checkpoints; the seconds
    from its start to its first checkpoint, and between one new
    checkpoint and the next."""
    seen, times, started = checkpoints(save_folder), [], time.monotonic()
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            now = checkpoints(save_folder)
            if now - seen:
                times.append(time.monotonic())
            seen = now
            time.sleep(0.005)
    finally:
        kill_every_process(process)
    if process.returncode != 0:
        raise RuntimeError(f"the run failed ({process.returncode}), see {log}")
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return (times[0] - started if times else 1.0), gaps


def model_tensors(folder):
    """The encoder's and head's tensors of an exported model folder, by
    file and name."""
    import torch

    tensors = {}
    for name in ("embedding_model.ckpt", "classifier.ckpt"):
        state = torch.load(os.path.join(folder, name), weights_only=True)
        for key, value in state.items():
            tensors[f"{name}:{key}"] = value
    return tensors


def differing_tensors(first, second):
    """Names of the tensors of two runs' exports that are not identical
    (missing on one side included)."""
    import torch

    names = sorted(set(first) | set(second))
    return [
        name for name in names
        if name not in first or name not in second
        or not torch.equal(first[name], second[name])
    ]  # fmt: skip


def exported_tensors(output_folder):
    """The tensors of a run's exports (``EXPORTS``), by folder."""
    return {
        f"{export}/{name}": value
        for export in EXPORTS
        for name, value in model_tensors(
            os.path.join(output_folder, export)
        ).items()
    }


def resumes(log_file):
    """``(step, epoch)`` of each ``resumed at step S of epoch E`` line."""
    if not os.path.isfile(log_file):
        return []
    with open(log_file, encoding="utf-8") as handle:
        text = handle.read()
    return [
        (int(step), int(epoch))
        for step, epoch in re.findall(
            r"resumed at step (\d+) of epoch (\d+)", text
        )  # fmt: skip
    ]


def recipe_command(data, output, processes, args, extra=()):
    """The recipe's command on ``processes`` processes (gloo, CPU)."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run",
                     f"--nproc_per_node={processes}",
                     f"--master_port={free_port()}"]  # fmt: skip
    return [
        *launcher, os.path.join(HERE, "train.py"),
        os.path.join(HERE, "hparams", "balanced.yaml"),
        "--csv_folder", data, "--clips_folder", os.path.join(data, "audio"),
        "--output_folder", output, "--n_classes", str(args.labels), *TINY,
        "--number_of_epochs", str(args.epochs),
        "--average_epochs", f"[1, {args.epochs}]",
        "--ckpt_interval_steps", str(args.interval), "--device", "cpu",
        *(["--distributed_backend", "gloo"] if processes > 1 else []),
        *extra,
    ]  # fmt: skip


def write_shards_for(data, output):
    """The demo's training clips in shards of 8 in ``output``/shards (the
    manifest from the prepare step alone); their brace pattern."""
    from audioset_prepare import prepare_audioset

    from ast_lobes.training.data.shards import write_shards

    save = os.path.join(output, "save")
    prepare_audioset(save, os.path.join(data, "class_labels_indices.csv"),
                     "balanced", data, os.path.join(data, "audio"))  # fmt: skip
    index = write_shards(os.path.join(save, "train.csv"),
                         os.path.join(output, "shards"), 8,
                         log=lambda line: None)  # fmt: skip
    last = len(index["shards"]) - 1
    return os.path.join(output, "shards", f"shard-{{000000..{last:06d}}}.tar")


def soak(args, work):
    """The uninterrupted run, the killed rounds and the final run; the
    figures."""
    from make_audioset_demo import make_demo_audioset

    rng = random.Random(args.seed)
    data = os.path.join(work, "data")
    make_demo_audioset(data, args.labels, (args.clips, 0, 8), 1.0,
                       args.seed, clean=True)  # fmt: skip
    runs = {name: os.path.join(work, name) for name in ("whole", "killed")}
    commands = {}
    for name, output in runs.items():
        extra = []
        if args.source == "shards":
            extra = ["--train_shards", write_shards_for(data, output)]
        commands[name] = lambda o=output, e=extra: recipe_command(
            data, o, args.processes, args, e
        )
    started = time.monotonic()
    first, gaps = checkpoint_gaps(
        commands["whole"](), os.path.join(runs["whole"], "save"),
        os.path.join(work, "whole.log"),
    )  # fmt: skip
    whole_seconds = time.monotonic() - started
    steps = args.epochs * -(-args.clips // (2 * args.processes))
    between = sorted(gaps)[len(gaps) // 2] if gaps else 1.0  # the median
    save = os.path.join(runs["killed"], "save")
    log = os.path.join(work, "killed.log")
    outcomes = []
    started = time.monotonic()
    for _ in range(args.kills):
        at_start = rng.random() < args.start_share
        delay = rng.uniform(0, 2 * between)
        if at_start:  # while it starts, prepares or loads a checkpoint
            delay = rng.uniform(0, first)
        outcome = run_and_kill(commands["killed"](), save, delay,
                               0 if at_start else 1, log)  # fmt: skip
        outcomes.append(f"{outcome} at start" if at_start else outcome)
    run_to_end(commands["killed"](), log)
    killed_seconds = time.monotonic() - started
    differing = differing_tensors(
        exported_tensors(runs["whole"]), exported_tensors(runs["killed"])
    )
    return {
        "outcomes": outcomes,
        "resumes": resumes(os.path.join(runs["killed"], "log.txt")),
        "differing": differing,
        "whole_seconds": whole_seconds,
        "killed_seconds": killed_seconds,
        "steps": steps,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--source", choices=("files", "shards"),
                        default="files")  # fmt: skip
    parser.add_argument(
        "--clips", type=int, default=96, help="training clips of the demo set"
    )
    parser.add_argument("--labels", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--interval", type=int, default=2, help="--ckpt_interval_steps"
    )
    parser.add_argument(
        "--start_share",
        type=float,
        default=0.15,
        help="share of kills at a random time from start",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="folder to work in and keep")
    args = parser.parse_args(argv)
    sys.path.insert(0, HERE)
    sys.path.insert(0, ROOT)
    work = args.keep or tempfile.mkdtemp(prefix="soak-")
    os.makedirs(work, exist_ok=True)
    try:
        result = soak(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    killed = sum(o.startswith("killed") for o in result["outcomes"])
    at_start = result["outcomes"].count("killed at start")
    points = sorted(set(result["resumes"]))
    print("| processes | source | training steps | kills (while starting) "
          "| runs that ended before their kill | resumed | uninterrupted "
          "| killed and resumed | weights |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.processes} | {args.source} | {result['steps']} | {killed} "
        f"({at_start}) | {len(result['outcomes']) - killed} | "
        f"{len(result['resumes'])} times, at {len(points)} steps | "
        f"{result['whole_seconds']:.0f} s | {result['killed_seconds']:.0f} s "
        f"| {'identical' if not result['differing'] else 'DIFFERENT'} |"
    )
    print(f"resume points (step, epoch): {points}")
    if result["differing"]:
        print(f"differing tensors: {result['differing'][:10]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
