"""Training and inference speed on one CUDA GPU, against Hugging Face's AST.

AST-Base with random weights, the same in both models: a Hugging Face
``ASTForAudioClassification`` (``attn_implementation="sdpa"``) is saved,
and this project's encoder and head are loaded from that folder with
``load_ast_checkpoint``. On the same random fbank inputs (``--frames``,
1024: 10 s), in the same process, timed alternately (CUDA synchronised,
median of ``--repeats``), each precision as a user turns it on:

* ``fp32``: TF32 off (PyTorch's default for matrix products);
* ``tf32``: ``torch.backends.cuda.matmul.allow_tf32 = True``;
* ``bf16``: ``torch.autocast("cuda", torch.bfloat16)`` (SpeechBrain's
  ``--precision bf16``);
* ``fp16``: ``torch.autocast("cuda", torch.float16)``, with a
  ``GradScaler`` in training (SpeechBrain's ``--precision fp16``).

Inference: clips per second at ``--batch``. Training: samples per second
of a step (forward, binary cross-entropy over 527 labels, backward, Adam)
at ``--train-batch``, for this project's encoder without and with
patchout at PaSST's setting (40 time columns, 4 frequency rows dropped).
Each row gives the peak GPU memory of its first timed call and the speed-up
over Hugging Face in the same precision. The first line names the GPU;
the last says how far this project's fp32 logits are from Hugging
Face's on that GPU.

Usage::

    python benchmarks/bench_gpu.py [--device cuda:0] [--batch 64] \
        [--train-batch 48] [--frames 1024] [--repeats 10]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import build_reference  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def set_tf32(enabled):
    """TF32 matrix products and convolutions on or off."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def autocast(device, precision):
    """The autocast context of ``precision`` (none for fp32 and tf32)."""
    if precision in AUTOCAST:
        return torch.autocast(device.type, AUTOCAST[precision])
    return contextlib.nullcontext()


def ours(folder, device, frames, patchout=False):
    """This project's encoder and head holding the weights saved in
    ``folder``, on ``device``, as ``(module, forward)``."""
    from ast_lobes.weights.published import load_ast_checkpoint

    encoder, classifier = load_ast_checkpoint(
        folder,
        target_length=frames,
        patchout_time=40 if patchout else 0,
        patchout_freq=4 if patchout else 0,
    )
    model = torch.nn.Sequential(encoder, classifier).to(device)
    return model, lambda x: model(x).squeeze(1)


def models(folder, device, frames):
    """``{name: (module, forward)}`` for Hugging Face's AST and this
    project's, on ``device``, holding the weights saved in ``folder``."""
    from transformers import ASTForAudioClassification

    reference = ASTForAudioClassification.from_pretrained(
        folder, attn_implementation="sdpa"
    ).to(device)
    return {
        "hugging face": (
            reference,
            lambda x: reference(input_values=x).logits,
        ),
        "this project": ours(folder, device, frames),
    }


def synchronize(device):
    """Waits for ``device``'s queued work (CUDA only)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(call, device):
    """Seconds ``call`` takes, its queued device work included."""
    synchronize(device)
    start = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - start


def peak_gb(device):
    """Peak memory allocated on ``device`` since the last reset (GB)."""
    if device.type != "cuda":
        return float("nan")
    return torch.cuda.max_memory_allocated(device) / 2**30


def alternate(calls, device, repeats):
    """Median seconds and peak GPU memory (GB) of each call, timed
    alternately after a warm-up."""
    seconds = {name: [] for name in calls}
    peak = {}
    for name, call in calls.items():
        call()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds[name].append(timed(call, device))
        peak[name] = peak_gb(device)
    for _ in range(repeats - 1):
        for name, call in calls.items():
            seconds[name].append(timed(call, device))
    return {n: statistics.median(s) for n, s in seconds.items()}, peak


def inference_table(folder, args, device):
    """Prints clips per second of both models in every precision."""
    print(
        f"\nInference, batch {args.batch}, {args.frames} frames\n\n"
        "| precision | model | clips/s | peak GPU memory (GB) "
        "| vs Hugging Face |\n|---|---|---|---|---|"
    )
    nets = models(folder, device, args.frames)
    fbank = torch.randn(args.batch, args.frames, 128, device=device)
    for module, _ in nets.values():
        module.eval()
    for precision in PRECISIONS:
        set_tf32(precision == "tf32")
        calls = {
            name: inference_call(forward, fbank, device, precision)
            for name, (_, forward) in nets.items()
        }
        seconds, peak = alternate(calls, device, args.repeats)
        report(precision, seconds, peak, args.batch)
    set_tf32(False)


def inference_call(forward, fbank, device, precision):
    """A call running ``forward`` once on ``fbank`` in ``precision``."""

    def call():
        with torch.inference_mode(), autocast(device, precision):
            forward(fbank)

    return call


def training_step(module, forward, fbank, targets, precision, device):
    """A call running one Adam step of ``module`` in ``precision``."""
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step():
        with autocast(device, precision):
            logits = forward(fbank)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), targets
        )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def training_table(folder, args, device):
    """Prints training samples per second in every precision, this
    project's encoder without and with patchout."""
    print(
        f"\nTraining step (Adam), batch {args.train_batch}, {args.frames} "
        "frames\n\n| precision | model | samples/s | peak GPU memory (GB) "
        "| vs Hugging Face |\n|---|---|---|---|---|"
    )
    fbank = torch.randn(args.train_batch, args.frames, 128, device=device)
    targets = torch.rand(args.train_batch, 527, device=device).round()
    for precision in PRECISIONS:
        set_tf32(precision == "tf32")
        nets = models(folder, device, args.frames)
        nets["this project, patchout 40/4"] = ours(
            folder, device, args.frames, patchout=True
        )
        calls = {}
        for name, (module, forward) in nets.items():
            module.train()
            calls[name] = training_step(
                module, forward, fbank, targets, precision, device
            )
        seconds, peak = alternate(calls, device, args.repeats)
        report(precision, seconds, peak, args.train_batch)
        del nets, calls
        if device.type == "cuda":
            torch.cuda.empty_cache()
    set_tf32(False)


def report(precision, seconds, peak, batch):
    """Prints a row per model, its speed-up over Hugging Face's."""
    reference = seconds["hugging face"]
    for name, value in seconds.items():
        print(
            f"| {precision} | {name} | {batch / value:.0f} | "
            f"{peak[name]:.1f} | {reference / value:.2f}x |",
            flush=True,
        )


def agreement(folder, args, device):
    """Largest difference between the two models' fp32 logits."""
    set_tf32(False)
    nets = models(folder, device, args.frames)
    fbank = torch.randn(4, args.frames, 128, device=device)
    logits = []
    with torch.inference_mode():
        for module, forward in nets.values():
            module.eval()
            logits.append(forward(fbank))
    difference = (logits[0] - logits[1]).abs().max().item()
    scale = logits[0].abs().max().item()
    print(
        f"\nfp32 logits, this project against Hugging Face on {device}: "
        f"largest difference {difference:.2e} (largest logit {scale:.2f})"
    )
    return difference


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--train-batch", type=int, default=48)
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"bench_gpu.py: no CUDA device {args.device!r} here")
    warnings.filterwarnings("ignore")
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({device}; for trying the script, not for its figures)"
    )
    print(
        f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
        "AST-Base (random weights)"
    )
    with tempfile.TemporaryDirectory() as folder:
        build_reference("base", args.frames, folder)
        difference = agreement(folder, args, device)
        inference_table(folder, args, device)
        if not args.skip_training:
            training_table(folder, args, device)
    return difference


if __name__ == "__main__":
    main()
