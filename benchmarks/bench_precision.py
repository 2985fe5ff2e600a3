"""Inference precision modes against Hugging Face's AST, on the CPU.

The header names the CPU's vector capability, whether it has native bf16,
the speed probe's figures and the mode ``auto`` picks there
(``ast_lobes.inference.decision.decide_precision``). A mode this hardware
runs slower than fp32 (see ``ast_lobes.inference.hardware``) is timed once,
not repeated, and marked "slow here".

This project's encoder in each precision mode (fp32, bf16, bf16-autocast,
int8 compiled, int8-dynamic, int8-bf16, ort-int8) and in ``auto`` (decided
by its probe, as a tagger decides it), the whole classifier exported to
ONNX and run by ONNX Runtime (``onnx-fp32``, ``onnx-int8``: the ONNX export's
users), Hugging Face's AST exported as Optimum exports it and run by ONNX
Runtime's dynamic int8 (``hf-ort-int8``: the Hugging Face port's best
ONNX Runtime row found; its transformer optimiser's fusions measured
slower), against Hugging Face's ``ASTForAudioClassification``
(``attn_implementation="sdpa"``, fp32) holding the same random weights,
on the same 10-s fbank inputs (1024 frames), in the same run:

* speed: one process holds every model and times them alternately, so that
  load on the machine hits all alike; the median over repeats is reported;
* memory: each model runs once in a process of its own; the rise of its
  peak resident memory (VmHWM, reset after loading) over the forward pass
  (including int8's first-call compilation) is reported;
* agreement: on a model trained by the CPU demo (``bash run_demo.sh``; all
  five folds' exported models over their held-out clips, each clip
  classified alone), the share of clips whose top-1 class in the mode
  equals fp32's (``bench_common.agreement``, as ``bench_vs_hf.py``).

Distilled students: an AST-Tiny (192 wide, 12 blocks, random weights) in
precision ``auto`` at patch strides 10 and 16, timed in the same
alternation as AST-Base and compared with Hugging Face's fp32 AST-Base
(``--student-strides``; their accuracy is measured by the distillation
recipes, see ``bench_distillation.py``).

Token merging (``--merge-rates 0.25 0.5``): the mode ``auto`` picks among
the modes that merge (not ``ort-int8``) with that share of the patch
tokens merged away by the last block, timed and checked for agreement
like the modes.

Usage::

    python benchmarks/bench_precision.py [--sizes base] [--batches 1 8] \
        [--demo-experiment demo_output/esc50] [--student-strides 10 16] \
        [--merge-rates 0.25 0.5]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import sys
import tempfile
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import (  # noqa: E402
    MODES,
    SIZES,
    agreement,
    auto_precision,
    build_reference,
    header,
    run_folders,
    run_worker,
    slow_modes,
    student_stride,
)


def inference_table(args, agreed):
    print(
        "| size | batch | mode | s/clip | speed vs HF fp32 | peak memory MB "
        "| max abs logit diff vs HF fp32 | top-1 agreement with fp32 (demo) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    auto = auto_precision()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = os.path.join(tmp, size)
            build_reference(size, args.frames, path)
            students = [f"student-s{s}" for s in args.student_strides]
            timed = args.modes + (students if size == "base" else [])
            for batch in args.batches:
                speed = run_worker(
                    "speed", batch, path, args.frames, args.repeats,
                    ",".join(timed),
                )  # fmt: skip
                reference = None
                for mode in timed:
                    out = os.path.join(tmp, "logits.pt")
                    memory = run_worker(
                        "memory", mode, batch, path, args.frames, out
                    )
                    if student_stride(mode):
                        print(
                            f"| tiny student, stride {student_stride(mode)} "
                            f"| {batch} | auto | {speed[mode]:.3f} "
                            f"| {speed['hf-fp32'] / speed[mode]:.2f}x "
                            f"| {memory['peak_mb']:.0f} | - | - |",
                            flush=True,
                        )
                        continue
                    logits = torch.load(out)
                    reference = logits if reference is None else reference
                    diff = (logits - reference).abs().max().item()
                    agree = "-"
                    if mode in agreed:
                        agreeing, clips, _ = agreed[mode]
                        agree = f"{100 * agreeing / clips:.1f} % of {clips}"
                    elif mode == "fp32" and agreed:
                        agree = "100 % (reference)"
                    name = f"auto ({auto})" if mode == "auto" else mode
                    if mode in slow_modes():
                        name = f"{mode} (slow here, timed once)"
                    print(
                        f"| {size} | {batch} | {name} | {speed[mode]:.3f} "
                        f"| {speed['hf-fp32'] / speed[mode]:.2f}x "
                        f"| {memory['peak_mb']:.0f} | {diff:.2e} | {agree} |",
                        flush=True,
                    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["base"], choices=SIZES)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo-experiment", default="demo_output/esc50")
    parser.add_argument(
        "--modes", nargs="+", default=list(MODES), choices=MODES,
        help="modes to time (hf-fp32 and fp32 are always kept)",
    )  # fmt: skip
    parser.add_argument(
        "--student-strides", nargs="*", type=int, default=[10, 16],
        help="AST-Tiny rows (the size of a distilled student) with these "
        "patch strides, timed beside AST-Base",
    )  # fmt: skip
    parser.add_argument(
        "--merge-rates", nargs="*", type=float, default=[],
        help="token merging rates timed on top of the mode auto picks here",
    )  # fmt: skip
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    args.modes = ["hf-fp32", "fp32"] + [
        m for m in args.modes if m not in ("hf-fp32", "fp32")
    ]
    merging = auto_precision(merging=True)[0]
    args.modes += [f"{merging}+merge{rate:g}" for rate in args.merge_rates]
    print(header())
    agreed = {}
    if run_folders(args.demo_experiment):
        agreed = agreement(args.demo_experiment, args.modes)
        for mode, (agreeing, clips, diff) in agreed.items():
            print(
                f"demo model, {mode}: top-1 agreement with fp32 "
                f"{100 * agreeing / clips:.1f} % over {clips} clips, largest "
                f"logit difference {diff:.2e}"
            )
    else:
        print(f"(no demo experiment in {args.demo_experiment}: run the demo)")
    print()
    inference_table(args, agreed)


if __name__ == "__main__":
    main()
