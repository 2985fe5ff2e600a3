"""Training speed with and without patchout, in fp32 and bf16.

Samples per second of a training step (forward, backward, Adam) on
1024-frame inputs, with and without patchout at the PaSST default (40
time columns and 4 frequency rows dropped), in fp32 and under bf16
autocast (SpeechBrain's ``--precision bf16``) where this CPU runs bf16
fast.

Usage::

    python benchmarks/bench_training.py [--train-sizes tiny base] \
        [--train-steps 3] [--train-precisions fp32 bf16]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import SIZES, header, run_worker, slow_modes  # noqa: E402

from ast_lobes.model.config import patch_grid_size  # noqa: E402


def training_table(args):
    """Training speed: patchout off and on, in each training precision
    (a precision this CPU runs slower than fp32 is left out)."""
    print()
    print(
        "| size | batch | frames | patchout (time, freq) | tokens "
        "| precision | training samples/s | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|")
    precisions = [
        p for p in args.train_precisions
        if p == "fp32" or "bf16-autocast" not in slow_modes()
    ]  # fmt: skip
    for size in args.train_sizes:
        batch = 8 if size == "tiny" else 2
        plain = None
        for patchout in (False, True):
            for precision in precisions:
                result = run_worker(
                    "training", size, batch, args.frames,
                    int(patchout), args.train_steps, precision,
                )  # fmt: skip
                rate = result["samples_per_s"]
                plain = plain or rate
                grid = patch_grid_size(args.frames, 128, (16, 16), 10, 10)
                f_dim, t_dim = grid
                if patchout:
                    f_dim, t_dim = max(1, f_dim - 4), max(1, t_dim - 40)
                print(
                    f"| {size} | {batch} | {args.frames} "
                    f"| {'40, 4' if patchout else 'none'} "
                    f"| {2 + f_dim * t_dim} | {precision} | {rate:.2f} "
                    f"| {rate / plain:.2f}x |",
                    flush=True,
                )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument(
        "--train-sizes", nargs="+", default=["tiny", "base"], choices=SIZES
    )
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument(
        "--train-precisions", nargs="+", default=["fp32", "bf16"],
        choices=["fp32", "bf16"],
    )  # fmt: skip
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    print(header())
    training_table(args)


if __name__ == "__main__":
    main()
