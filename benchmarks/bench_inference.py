"""Inference speed and memory: this project's AST against Hugging Face's.

Both models hold the same weights (a random ``ASTForAudioClassification``
saved with ``save_pretrained`` and loaded here with ``load_ast_checkpoint``)
and run on the same 10-s fbank inputs (1024 frames) in the same run:

* speed: one process holds both models and times them alternately, so that
  load on the machine hits both alike; the median over repeats is reported;
* memory: each model runs once in a process of its own, and the rise of its
  peak resident memory (VmHWM, reset after loading) over the forward pass is
  reported.

bf16 casts the weights and inputs of both models to bfloat16.

Usage::

    python benchmarks/bench_inference.py [--sizes base] [--batches 1 8]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peak_memory import peak_rss_mb, reset_peak_rss  # noqa: E402

SIZES = {  # hidden, layers, heads
    "tiny": (192, 12, 3),
    "base": (768, 12, 12),
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def build_reference(size, frames, path):
    """Saves a random HF AST of ``size`` with ``save_pretrained``."""
    from transformers import ASTConfig, ASTForAudioClassification

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


def load(impl, path, dtype):
    """A function fbank -> logits for ``impl`` (``hf`` or ``ours``)."""
    if impl == "hf":
        from transformers import ASTForAudioClassification

        model = ASTForAudioClassification.from_pretrained(
            path, attn_implementation="sdpa"
        )
        model = model.eval().to(DTYPES[dtype])
        return lambda x: model(input_values=x.to(DTYPES[dtype])).logits
    from ast_lobes import load_ast_checkpoint

    encoder, classifier = load_ast_checkpoint(path)
    encoder, classifier = (
        encoder.to(DTYPES[dtype]),
        classifier.to(DTYPES[dtype]),
    )
    return lambda x: classifier(encoder(x.to(DTYPES[dtype]))).squeeze(1)


def fbank_batch(batch, frames):
    torch.manual_seed(1)
    return torch.randn(batch, frames, 128)


def memory_worker(impl, dtype, batch, path, frames, out_file):
    """Peak-RSS rise of one forward pass; saves the logits."""
    forward = load(impl, path, dtype)
    fbank = fbank_batch(batch, frames)
    reset_peak_rss()
    before = peak_rss_mb()
    with torch.inference_mode():
        logits = forward(fbank).float()
    torch.save(logits, out_file)
    print(json.dumps({"peak_mb": peak_rss_mb() - before}))


def speed_worker(dtype, batch, path, frames, repeats):
    """Median seconds per clip of both models, timed alternately."""
    forwards = {impl: load(impl, path, dtype) for impl in ("hf", "ours")}
    fbank = fbank_batch(batch, frames)
    times = {impl: [] for impl in forwards}
    with torch.inference_mode():
        for forward in forwards.values():
            forward(fbank)
        for _ in range(repeats):
            for impl, forward in forwards.items():
                start = time.perf_counter()
                forward(fbank)
                times[impl].append((time.perf_counter() - start) / batch)
    print(json.dumps({k: statistics.median(v) for k, v in times.items()}))


def run(*args):
    command = [sys.executable, __file__, *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{args}: {result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["base"], choices=SIZES)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-worker", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--speed-worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker:
        impl, dtype, batch, path, frames, out_file = args.memory_worker
        memory_worker(impl, dtype, int(batch), path, int(frames), out_file)
        return
    if args.speed_worker:
        dtype, batch, path, frames, repeats = args.speed_worker
        speed_worker(dtype, int(batch), path, int(frames), int(repeats))
        return

    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, {args.frames} frames")
    print()
    print(
        "| size | batch | dtype | impl | s/clip | peak memory MB "
        "| max abs logit diff vs HF fp32 | speed vs HF same dtype |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = os.path.join(tmp, size)
            build_reference(size, args.frames, path)
            for batch in args.batches:
                reference = None
                for dtype in args.dtypes:
                    speed = run(
                        "--speed-worker", dtype, batch, path, args.frames,
                        args.repeats,
                    )  # fmt: skip
                    for impl in ("hf", "ours"):
                        out = os.path.join(tmp, "logits.pt")
                        memory = run(
                            "--memory-worker", impl, dtype, batch, path,
                            args.frames, out,
                        )  # fmt: skip
                        logits = torch.load(out)
                        reference = logits if reference is None else reference
                        diff = (logits - reference).abs().max().item()
                        ratio = speed["hf"] / speed[impl]
                        print(
                            f"| {size} | {batch} | {dtype} | {impl} "
                            f"| {speed[impl]:.3f} | {memory['peak_mb']:.0f} "
                            f"| {diff:.2e} | {ratio:.2f}x |",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
