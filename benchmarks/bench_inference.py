"""Inference precision modes, archive tagging and patchout training against
Hugging Face's AST.

The header names the CPU's vector capability, whether it has native bf16
and the mode ``auto`` picks there. A mode this hardware runs slower than
fp32 (see ``ast_lobes.model.hardware``) is timed once, not repeated, and
marked "slow here".

Inference: this project's encoder in each precision mode (fp32, bf16,
bf16-autocast, int8 compiled, int8-dynamic) against Hugging Face's
``ASTForAudioClassification`` (``attn_implementation="sdpa"``, fp32)
holding the same random weights, on the same 10-s fbank inputs (1024
frames), in the same run:

* speed: one process holds every model and times them alternately, so that
  load on the machine hits all alike; the median over repeats is reported;
* memory: each model runs once in a process of its own; the rise of its
  peak resident memory (VmHWM, reset after loading) over the forward pass
  (including int8's first-call compilation) is reported;
* agreement: on a model trained by the CPU demo (``bash run_demo.sh``; all
  five folds' exported models over their held-out clips), the share of
  clips whose top-1 class in the mode equals fp32's.

Distilled students: an AST-Tiny (192 wide, 12 blocks, random weights) in
precision ``auto`` at patch strides 10 and 16, timed in the same
alternation as AST-Base and compared with Hugging Face's fp32 AST-Base
(``--student-strides``; their accuracy is measured by the distillation
recipes, see ``bench_distillation.py``).

Archive tagging: clips per second over a folder of ten-second WAV files
(random noise, AST-Base random weights saved as a Hugging Face folder):
``ast-tag`` (precision auto, ``--output`` JSONL, default decoding workers)
against Hugging Face's ``audio-classification`` pipeline given the
decoded clips with the same batch size; model loading excluded.

Training: samples per second of a training step (forward, backward, Adam)
on 1024-frame inputs, with and without patchout at the PaSST default
(40 time columns and 4 frequency rows dropped), in fp32 and under bf16
autocast (SpeechBrain's ``--precision bf16``) where this CPU runs bf16
fast.

Usage::

    python benchmarks/bench_inference.py [--sizes base] [--batches 1 8] \
        [--demo-experiment demo_output/esc50] [--train-sizes tiny base] \
        [--archive-files 200] [--archive-batch 8]
"""

import argparse
import copy
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from peak_memory import peak_rss_mb, reset_peak_rss  # noqa: E402

from ast_lobes import set_inference_precision  # noqa: E402
from ast_lobes.model.config import patch_grid_size  # noqa: E402
from ast_lobes.model.hardware import (  # noqa: E402
    SlowPrecisionError,
    choose_precision,
    detect_hardware,
)
from ast_lobes.model.precision import (  # noqa: E402
    measured_speeds,
    resolve_precision,
)

SIZES = {  # hidden, layers, heads
    "tiny": (192, 12, 3),
    "base": (768, 12, 12),
}
MODES = ("hf-fp32", "fp32", "bf16", "bf16-autocast", "int8", "int8-dynamic")


@functools.cache
def slow_modes():
    """Modes this CPU runs slower than fp32: those ``set_inference_precision``
    refuses here (int8 counted compiled)."""
    slow = []
    for mode in MODES[1:]:
        try:
            resolve_precision(mode, "cpu", compile=mode == "int8")
        except SlowPrecisionError:
            slow.append(mode)
    return slow


def auto_precision():
    """The mode ``auto`` picks on this CPU, and the probe's figures."""
    hardware = detect_hardware("cpu")
    speeds = measured_speeds("auto", hardware, False)
    return choose_precision("auto", hardware, speeds=speeds), speeds


def hardware_line():
    """The CPU's capability, native bf16 and the mode ``auto`` picks."""
    hardware = detect_hardware("cpu")
    auto, speeds = auto_precision()
    probe = ", ".join(f"{m} {v:.2f}x" for m, v in (speeds or {}).items())
    return (
        f"{hardware.describe()}; probe vs fp32: {probe or '-'}; "
        f"precision auto: {auto}; slower than fp32 here: "
        f"{', '.join(slow_modes()) or 'none'}"
    )


def build_reference(size, frames, path):
    """Saves a random HF AST of ``size`` with ``save_pretrained``."""
    from transformers import (
        ASTConfig,
        ASTFeatureExtractor,
        ASTForAudioClassification,
    )

    hidden, layers, heads = SIZES[size]
    torch.manual_seed(0)
    config = ASTConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_length=frames,
        num_labels=527,
        layer_norm_eps=1e-6,
    )
    ASTForAudioClassification(config).save_pretrained(path)
    ASTFeatureExtractor(max_length=frames).save_pretrained(path)


def student_stride(mode):
    """The patch stride of a ``student-s<N>`` mode, else None."""
    return int(mode[len("student-s") :]) if mode.startswith("student") else None


def load_student(stride, frames):
    """An AST-Tiny (DeiT-Tiny size: 192 wide, 12 blocks, 3 heads) with
    patch stride ``stride``, random weights, in precision auto: the size
    of a distilled student."""
    from ast_lobes import AudioClassificationHead, AudioSpectrogramTransformer

    hidden, layers, heads = SIZES["tiny"]
    torch.manual_seed(0)
    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=hidden, depth=layers, num_heads=heads,
        input_tdim=frames, fstride=stride, tstride=stride,
    )  # fmt: skip
    classifier = AudioClassificationHead(hidden, 527).eval()
    set_inference_precision(encoder, "auto")
    return lambda x: classifier(encoder(x)).squeeze(1)


def load(mode, path, frames):
    """A function fbank -> logits for ``mode``."""
    if student_stride(mode):
        return load_student(student_stride(mode), frames)
    if mode == "hf-fp32":
        from transformers import ASTForAudioClassification

        model = ASTForAudioClassification.from_pretrained(
            path, attn_implementation="sdpa"
        ).eval()
        return lambda x: model(input_values=x).logits
    from ast_lobes import load_ast_checkpoint

    encoder, classifier = load_ast_checkpoint(path)
    set_inference_precision(encoder, mode, compile=mode == "int8", force=True)
    return lambda x: classifier(encoder(x)).squeeze(1)


def fbank_batch(batch, frames):
    torch.manual_seed(1)
    return torch.randn(batch, frames, 128)


def memory_worker(mode, batch, path, frames, out_file):
    """Peak-RSS rise of one forward pass; saves the logits."""
    forward = load(mode, path, frames)
    fbank = fbank_batch(batch, frames)
    reset_peak_rss()
    before = peak_rss_mb()
    with torch.inference_mode():
        logits = forward(fbank).float()
    torch.save(logits, out_file)
    print(json.dumps({"peak_mb": peak_rss_mb() - before}))


def speed_worker(batch, path, frames, repeats, modes):
    """Median seconds per clip of every mode, timed alternately; a mode
    slow on this CPU is timed once (its first call) and not repeated."""
    forwards = {mode: load(mode, path, frames) for mode in modes}
    fbank = fbank_batch(batch, frames)
    times = {mode: [] for mode in forwards}
    slow = slow_modes()
    with torch.inference_mode():
        for mode, forward in forwards.items():
            start = time.perf_counter()
            forward(fbank)  # warm-up (and int8 compilation)
            if mode in slow:
                times[mode].append((time.perf_counter() - start) / batch)
        for _ in range(repeats):
            for mode, forward in forwards.items():
                if mode in slow:
                    continue
                start = time.perf_counter()
                forward(fbank)
                times[mode].append((time.perf_counter() - start) / batch)
    print(json.dumps({k: statistics.median(v) for k, v in times.items()}))


def demo_agreement(experiment, modes):
    """Per mode: top-1 agreement with fp32 and largest logit difference
    over every fold's held-out clips of a demo experiment."""
    import glob

    from ast_lobes import load_exported_model, read_audio

    modes = [m for m in modes if m not in ("hf-fp32", "fp32", *slow_modes())]
    hits = dict.fromkeys(modes, 0)
    largest = dict.fromkeys(modes, 0.0)
    total = 0
    for fold in sorted(glob.glob(os.path.join(experiment, "fold*"))):
        pipeline = load_exported_model(os.path.join(fold, "model")).pipeline
        encoder, head = pipeline.encoder, pipeline.classifier
        with open(os.path.join(fold, "save", "test.csv")) as handle:
            wavs = [line.split(",")[2] for line in handle.read().split()[1:]]
        fbank = torch.cat(
            [pipeline.features(read_audio(wav))[0] for wav in wavs]
        )
        with torch.inference_mode():
            reference = head(encoder(fbank)).squeeze(1)
            for mode in hits:
                converted = set_inference_precision(
                    copy.deepcopy(encoder), mode, compile=mode == "int8",
                    force=True,
                )  # fmt: skip
                logits = head(converted(fbank)).squeeze(1)
                hits[mode] += int(
                    (logits.argmax(-1) == reference.argmax(-1)).sum()
                )
                difference = float((logits - reference).abs().max())
                largest[mode] = max(largest[mode], difference)
        total += len(wavs)
    return {m: (hits[m] / total, largest[m], total) for m in hits}


def training_worker(size, batch, frames, patchout, steps, precision):
    """Training samples per second of AST ``size`` (Adam; ``precision``
    ``bf16``: under bf16 autocast, as SpeechBrain's ``--precision bf16``)."""
    from ast_lobes import AudioClassificationHead, AudioSpectrogramTransformer

    hidden, layers, heads = SIZES[size]
    torch.manual_seed(0)
    encoder = AudioSpectrogramTransformer(
        model_size=None,
        embed_dim=hidden,
        depth=layers,
        num_heads=heads,
        input_tdim=frames,
        patchout_time=40 if patchout else 0,
        patchout_freq=4 if patchout else 0,
    ).train()
    head = AudioClassificationHead(hidden, 527)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-5)
    fbank = fbank_batch(batch, frames)
    targets = torch.rand(batch, 527).round()
    bf16 = precision == "bf16"
    seconds = []
    for step in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            logits = head(encoder(fbank)).squeeze(1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), targets
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:  # the first step warms up
            seconds.append(time.perf_counter() - start)
    print(json.dumps({"samples_per_s": batch / statistics.median(seconds)}))


def run(*args):
    command = [sys.executable, __file__, *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{args}: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def inference_table(args, agreement):
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
                speed = run(
                    "--speed-worker", batch, path, args.frames, args.repeats,
                    ",".join(timed),
                )  # fmt: skip
                reference = None
                for mode in timed:
                    out = os.path.join(tmp, "logits.pt")
                    memory = run(
                        "--memory-worker", mode, batch, path, args.frames, out
                    )
                    if student_stride(mode):
                        print(
                            f"| tiny student, stride {student_stride(mode)} "
                            f"| {batch} | auto: {auto} | {speed[mode]:.3f} "
                            f"| {speed['hf-fp32'] / speed[mode]:.2f}x "
                            f"| {memory['peak_mb']:.0f} | - | - |",
                            flush=True,
                        )
                        continue
                    logits = torch.load(out)
                    reference = logits if reference is None else reference
                    diff = (logits - reference).abs().max().item()
                    agree = "-"
                    if mode in agreement:
                        share, _, clips = agreement[mode]
                        agree = f"{100 * share:.1f} % of {clips}"
                    elif mode == "fp32" and agreement:
                        agree = "100 % (reference)"
                    name = mode
                    if mode in slow_modes():
                        name = f"{mode} (slow here, timed once)"
                    print(
                        f"| {size} | {batch} | {name} | {speed[mode]:.3f} "
                        f"| {speed['hf-fp32'] / speed[mode]:.2f}x "
                        f"| {memory['peak_mb']:.0f} | {diff:.2e} | {agree} |",
                        flush=True,
                    )


def hf_archive_worker(path, folder, batch):
    """Clips per second of Hugging Face's audio-classification pipeline
    over the WAV files of ``folder``, decoded as it goes."""
    import glob

    import soundfile
    from transformers import pipeline

    classify = pipeline(
        "audio-classification", model=path, batch_size=batch, top_k=5,
        device="cpu",
    )  # fmt: skip
    files = sorted(glob.glob(os.path.join(folder, "*.wav")))

    def clips():
        for file in files:
            audio, rate = soundfile.read(file, dtype="float32")
            yield {"raw": audio, "sampling_rate": rate}

    start = time.perf_counter()
    tagged = sum(1 for _ in classify(clips()))
    seconds = time.perf_counter() - start
    print(json.dumps({"clips_per_s": tagged / seconds}))


def ast_tag_archive(path, folder, batch, output):
    """Clips per second ``ast-tag`` reports over ``folder``."""
    import re

    command = [
        sys.executable, "-m", "pretrained_interfaces.tag_cli", folder,
        "--model", path, "--output", output, "--batch-size", str(batch),
    ]  # fmt: skip
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(command, capture_output=True, text=True, cwd=root)
    if result.returncode:
        raise RuntimeError(f"ast-tag: {result.stderr[-3000:]}")
    return float(re.search(r"\(([\d.]+) clips/s\)", result.stderr)[1])


def archive_table(args):
    """Archive tagging, ast-tag against HF's pipeline, AST-Base."""
    import numpy as np
    import soundfile

    print()
    print("| files | batch | tool | precision | clips/s | vs HF pipeline |")
    print("|---|---|---|---|---|---|")
    auto = auto_precision()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "base")
        build_reference("base", args.frames, path)
        folder = os.path.join(tmp, "clips")
        os.makedirs(folder)
        rng = np.random.default_rng(0)
        for index in range(args.archive_files):
            clip = 0.1 * rng.standard_normal(160000)
            soundfile.write(
                os.path.join(folder, f"clip{index:04d}.wav"), clip, 16000
            )
        batch = args.archive_batch
        hf = run("--hf-archive-worker", path, folder, batch)["clips_per_s"]
        ours = ast_tag_archive(
            path, folder, batch, os.path.join(tmp, "tags.jsonl")
        )
        files = args.archive_files
        print(f"| {files} | {batch} | HF pipeline | fp32 | {hf:.3f} | 1.00x |")
        print(
            f"| {files} | {batch} | ast-tag | auto: {auto} | {ours:.3f} "
            f"| {ours / hf:.2f}x |",
            flush=True,
        )


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
                result = run(
                    "--training-worker", size, batch, args.frames,
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["base"], choices=SIZES)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo-experiment", default="demo_output/esc50")
    parser.add_argument(
        "--train-sizes", nargs="*", default=["tiny", "base"], choices=SIZES
    )
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument(
        "--train-precisions", nargs="+", default=["fp32", "bf16"],
        choices=["fp32", "bf16"],
    )  # fmt: skip
    parser.add_argument("--memory-worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument(
        "--modes", nargs="+", default=list(MODES), choices=MODES,
        help="modes to time (hf-fp32 and fp32 are always kept)",
    )  # fmt: skip
    parser.add_argument(
        "--student-strides", nargs="*", type=int, default=[10, 16],
        help="AST-Tiny rows (the size of a distilled student) with these "
        "patch strides, timed beside AST-Base",
    )  # fmt: skip
    parser.add_argument("--archive-files", type=int, default=200)
    parser.add_argument("--archive-batch", type=int, default=8)
    parser.add_argument("--speed-worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--hf-archive-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--training-worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.memory_worker:
        mode, batch, path, frames, out_file = args.memory_worker
        memory_worker(mode, int(batch), path, int(frames), out_file)
        return
    if args.speed_worker:
        batch, path, frames, repeats, modes = args.speed_worker
        speed_worker(
            int(batch), path, int(frames), int(repeats), modes.split(",")
        )
        return
    if args.hf_archive_worker:
        path, folder, batch = args.hf_archive_worker
        hf_archive_worker(path, folder, int(batch))
        return
    args.modes = ["hf-fp32", "fp32"] + [
        m for m in args.modes if m not in ("hf-fp32", "fp32")
    ]
    if args.training_worker:
        size, batch, frames, patchout, steps, precision = args.training_worker
        training_worker(
            size, int(batch), int(frames), int(patchout), int(steps),
            precision,
        )  # fmt: skip
        return

    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, {hardware_line()}")
    agreement = {}
    if os.path.isdir(args.demo_experiment):
        agreement = demo_agreement(args.demo_experiment, args.modes)
        for mode, (share, diff, clips) in agreement.items():
            print(
                f"demo model, {mode}: top-1 agreement with fp32 "
                f"{100 * share:.1f} % over {clips} clips, largest logit "
                f"difference {diff:.2e}"
            )
    else:
        print(f"(no demo experiment in {args.demo_experiment}: run the demo)")
    print()
    if args.sizes:
        inference_table(args, agreement)
    if args.archive_files:
        archive_table(args)
    if args.train_sizes:
        training_table(args)


if __name__ == "__main__":
    main()
