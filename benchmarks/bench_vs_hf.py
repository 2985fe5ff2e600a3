"""AST-Base against Hugging Face on this CPU, in one table: every
precision mode, ``auto``, and ONNX Runtime's int8 of Hugging Face's own
export, with the top-1 agreement with fp32 of trained models.

One process holds Hugging Face's ``ASTForAudioClassification``
(``attn_implementation="sdpa"``, fp32; ``hf-fp32``), the same model
exported as Optimum exports it and quantised by ONNX Runtime's dynamic
int8 (``hf-ort-int8``), and this project's AST-Base holding the same
random weights in each mode (``fp32``, ``bf16``, ``int8-dynamic``,
``int8-bf16``, ``ort-int8``) and in ``auto`` as a tagger decides it (its
probe here); they are timed alternately on the same batch of 10-s fbank
inputs (1,024 frames), the median of ``--repeats`` per mode, so that load
on the machine hits all alike. A mode this CPU runs slower than fp32 is
timed once and marked. ``--merge-rates`` adds rows of ``auto`` among the
modes that merge tokens with that share merged away; ``--levers`` adds
the variants measured and not made modes (``bench_common.LEVERS``).

Top-1 agreement with fp32: each trained model under ``--models`` (an
experiment folder of the ESC-50 demo or of an AudioFolder run: every
run folder in it holding ``model/`` and ``save/test.csv``) on its test
clips, in each mode, against the same model in fp32 (``auto`` as its
tagger decides it at the model's own token count).

The first line names the CPU class (model name, AMD family, cores,
vector units); the second the probe's figures and ``auto``'s choice.

Usage::

    bash run_demo.sh   # the demo's five fold models, once
    python benchmarks/bench_vs_hf.py [--batch 4] [--repeats 5] \
        [--models demo_output/esc50 ...] [--merge-rates 0.4] [--levers]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import (  # noqa: E402
    LEVERS,
    agreement,
    auto_precision,
    build_reference,
    header,
    run_worker,
    slow_modes,
)

HF_MODES = ("hf-fp32", "hf-ort-int8")
PROJECT_MODES = ("fp32", "bf16", "int8-dynamic", "int8-bf16", "ort-int8",
                 "auto")  # fmt: skip


def name_of(mode, auto):
    """A row's mode as the table shows it."""
    if mode == "auto":
        return f"auto ({auto})"
    if mode.startswith("auto+merge"):
        return f"auto, merge {mode.split('merge')[1]} ({auto})"
    if mode in slow_modes():
        return f"{mode} (slow here, timed once)"
    return mode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--models", nargs="*", default=["demo_output/esc50"],
        help="experiment folders of trained models (ESC-50 demo, "
        "AudioFolder) whose test clips measure the agreement",
    )  # fmt: skip
    parser.add_argument(
        "--merge-rates", nargs="*", type=float, default=[],
        help="rows of auto among the modes that merge, at these rates",
    )  # fmt: skip
    parser.add_argument("--levers", action="store_true",
                        help=f"rows of {', '.join(LEVERS)}")  # fmt: skip
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    modes = [*HF_MODES, *PROJECT_MODES]
    modes += [f"auto+merge{rate:g}" for rate in args.merge_rates]
    modes += list(LEVERS) if args.levers else []
    print(header())
    merging = auto_precision(merging=True)[0]
    # auto is always measured: no agreement means no test clips
    agreed = {m: agreement(m, modes) for m in args.models}
    models = [m for m in args.models if agreed[m]]
    for missing in sorted(set(args.models) - set(models)):
        print(f"(no trained models in {missing}: bash run_demo.sh, or "
              "train an AudioFolder model)")  # fmt: skip
    print()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "base")
        build_reference("base", args.frames, path)
        speed = run_worker("speed", args.batch, path, args.frames,
                           args.repeats, ",".join(modes))  # fmt: skip
    columns = ["mode", "s/clip", "vs HF fp32"]
    columns += [f"top-1 agreement with fp32, {m}" for m in models]
    seconds = (args.frames - 1) * 0.01 + 0.025  # 25-ms frames every 10 ms
    print(f"AST-Base, batch {args.batch} of {args.frames}-frame "
          f"({seconds:.2f}-s) inputs, median of {args.repeats}")  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for mode in modes:
        auto = merging if "+merge" in mode else auto_precision()[0]
        cells = [name_of(mode, auto), f"{speed[mode]:.3f}",
                 f"{speed['hf-fp32'] / speed[mode]:.2f}x"]  # fmt: skip
        for model in models:
            share = agreed[model].get(mode)
            if mode == "fp32":
                cells.append("100 % (reference)")
            elif share is None:
                cells.append("-")
            else:
                agreeing, clips, _ = share
                cells.append(f"{100 * agreeing / clips:.1f} % of {clips}")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
