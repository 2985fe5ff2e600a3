"""CPU time of the AudioFolder CPU preset's student-stage steps with
glibc's default handling of freed memory and with the freed memory kept
(``ast_lobes.training.heap.keep_freed_memory``, what every training run
does).

A step is what the student's stage runs on a batch of 8 clips of
``--frames`` frames: the Kaldi fbank of the 4 mixed clips, the online
teacher's forward pass and the student's training step (forward,
backward, AdamW). Each arm runs in a process of its own (the allocator's
settings hold for a whole process), the two arms taking turns for
``--rounds`` rounds of ``--steps`` steps; the table gives each arm's
median user and system CPU milliseconds a step (the process's own
counters, so other processes on the machine move them less than wall
time) and its minor page faults a step.

Usage::

    python benchmarks/bench_heap.py [--frames 498] [--rounds 3] \
        [--steps 20]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_common import cpu_class  # noqa: E402

ARMS = ("glibc's default", "kept (keep_freed_memory)")


def run_arm(keep, frames, steps):
    """One arm's steps in this process: ``{user, sys, faults}`` a step."""
    import resource

    import bench_cpu_step
    import torch

    from ast_lobes import KaldiFbank
    from ast_lobes.training.heap import keep_freed_memory

    torch.set_num_threads(1)
    if keep:
        keep_freed_memory()
    bench_cpu_step.FRAMES = frames
    torch.manual_seed(0)
    student = bench_cpu_step.build("cpu.yaml")
    teacher = bench_cpu_step.build("cnn_teacher.yaml").eval()
    optimizer = torch.optim.AdamW(student.parameters(), 1e-3, fused=True)
    fbank = KaldiFbank(target_length=frames)
    wavs = torch.randn(4, 400 + 160 * (frames - 1))
    feats = torch.randn(8, frames, 128)

    def step():
        fbank(wavs)
        with torch.no_grad():
            teacher[0](feats)
        bench_cpu_step.training_step(student, optimizer, feats)

    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        step()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "user": 1000 * (after.ru_utime - before.ru_utime) / steps,
        "sys": 1000 * (after.ru_stime - before.ru_stime) / steps,
        "faults": (after.ru_minflt - before.ru_minflt) / steps,
    }


def measure(keep, frames, steps):
    """``run_arm`` in a new process, without the environment's glibc
    thresholds (they would decide both arms)."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith("MALLOC_") and key != "GLIBC_TUNABLES"
    }  # fmt: skip
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, os.path.abspath(__file__), "--arm",
               str(int(keep)), "--frames", str(frames),
               "--steps", str(steps)]  # fmt: skip
    output = subprocess.run(
        command, env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=498)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--arm", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.arm is not None:
        print(json.dumps(run_arm(bool(args.arm), args.frames, args.steps)))
        return
    import torch

    print(f"CPU: {cpu_class()}\ntorch {torch.__version__}")
    results = {arm: [] for arm in ARMS}
    for _ in range(args.rounds):
        for keep, arm in enumerate(ARMS):
            results[arm].append(measure(bool(keep), args.frames, args.steps))
    print(f"\nstudent-stage step, batch 8 of {args.frames} frames, one "
          f"thread; median of {args.rounds} rounds of {args.steps} "
          "steps")  # fmt: skip
    print("\n| freed memory | user ms | system ms | CPU ms | vs default "
          "| page faults |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    base = None
    for arm in ARMS:
        user = statistics.median(r["user"] for r in results[arm])
        system = statistics.median(r["sys"] for r in results[arm])
        faults = statistics.median(r["faults"] for r in results[arm])
        base = base or user + system
        print(f"| {arm} | {user:.0f} | {system:.0f} | {user + system:.0f} "
              f"| {(user + system) / base:.2f}x | {faults:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
