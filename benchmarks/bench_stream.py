"""Live tagging: the real-time factor and latency of ``ast-tag --stream``.

For AST-Base and an AST-Tiny student (random weights saved as Hugging Face
folders), in precision ``auto`` (the mode ``ast-tag`` decides for files
too), with 1-s windows (1-s hops; a window shorter than the model's runs
at its own frames), with the model's own window at 1-s hops (each hop
scores the last 10.255 s), and with the model's own window without
overlap: a feeder writes ``--seconds`` of noise to the tagger's
standard input in 0.1-s chunks at the pace of real time, as a microphone
would, and ``ast-tag`` reports the real-time factor (scoring time over
audio time: under 1 keeps up) and the latency from a window's last sample
read to its line written (median and maximum), and whether it fell behind.

Usage::

    python benchmarks/bench_stream.py [--seconds 20] [--sizes base tiny] \
        [--merge-rates 0.4]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import ROOT, auto_precision, build_reference, header  # noqa: E402


def feed(stdin, seconds, rate=16000, chunk=0.1):
    """Writes noise at the pace of real time, then closes the input."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for index in range(round(seconds / chunk)):
        samples = 0.1 * rng.standard_normal(round(chunk * rate))
        stdin.write((samples * 32767).astype("<i2").tobytes())
        stdin.flush()
        wait = started + (index + 1) * chunk - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    stdin.close()


def stream_once(model, seconds, window, merge_rate=0.0, hop=None):
    """``ast-tag --stream`` over live noise: its closing report."""
    command = [
        sys.executable, "-m", "pretrained_interfaces.tag_cli", "--stream",
        "--model", model, "--output", os.devnull,
        "--merge-tokens", str(merge_rate),
    ]  # fmt: skip
    if window:
        command += ["--window", str(window)]
    if hop:
        command += ["--hop", str(hop)]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    feeder = threading.Thread(target=feed, args=(process.stdin, seconds))
    feeder.start()
    report = process.stderr.read().decode()
    feeder.join()
    if process.wait():
        raise RuntimeError(report[-3000:])
    factor = float(re.search(r"real-time factor ([\d.]+)", report)[1])
    median = float(re.search(r"median (\d+) ms", report)[1])
    largest = float(re.search(r"max (\d+) ms", report)[1])
    behind = re.findall(r"([\d.]+) s behind real time", report)
    return factor, median, largest, max(map(float, behind), default=0.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sizes", nargs="+", default=["base", "tiny"])
    parser.add_argument(
        "--merge-rates", nargs="*", type=float, default=[],
        help="also stream with these token merging rates (--merge-tokens)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    print(header())
    print()
    print("| model | window | precision | real-time factor | latency median "
          "ms | latency max ms | most behind real time s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = os.path.join(tmp, size)
            build_reference(size, 1024, path)
            name = "AST-Base" if size == "base" else "AST-Tiny student"
            windows = ((1.0, None, "1 s, hop 1 s"),
                       (None, 1.0, "own (10.255 s), hop 1 s"),
                       (None, None, "own (10.255 s), no overlap"))  # fmt: skip
            for rate in [0.0, *args.merge_rates]:
                # with --merge-tokens, auto keeps to the modes that merge
                auto = auto_precision(merging=bool(rate))[0]
                mode = f"auto: {auto}" + (f", merge {rate:g}" if rate else "")
                for window, hop, label in windows:
                    factor, median, largest, behind = stream_once(
                        path, args.seconds, window, rate, hop
                    )
                    print(f"| {name} | {label} | {mode} | {factor:.3f} "
                          f"| {median:.0f} | {largest:.0f} | {behind:.1f} |",
                          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
