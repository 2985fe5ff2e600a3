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
import subprocess
import sys
import tempfile
import time

from kill_resume import (
    checkpoints,
    demo_shards,
    differing_tensors,
    exported_tensors,
    kill_every_process,
    recipe_command,
    run_and_kill,
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


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
            pattern = demo_shards(data, output, "balanced", 8)
            extra = ["--train_shards", pattern]
        commands[name] = lambda o=output, e=extra: recipe_command(
            data, o, args.processes, args.labels, args.epochs,
            args.interval, e,
        )  # fmt: skip
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
