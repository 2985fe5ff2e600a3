"""``ast-tag``: tag audio files with an AST from the command line.

Examples::

    ast-tag dog.wav street.flac                 # published AudioSet AST
    ast-tag long_recording.wav --window 10 --hop 5 --json
    ast-tag clip.wav --model results/AudioSet/full/1/model_weight_averaged

``--model`` is a folder exported by a recipe, a Hugging Face AST folder or
hub id, a local ``.pth`` or a published checkpoint name (downloaded once).

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import hashlib
import json
import os
import sys
from functools import partial

import soundfile
from tqdm import tqdm

from ast_lobes.model.hardware import SlowPrecisionError
from ast_lobes.model.precision import PRECISIONS
from pretrained_interfaces.audio_tagger import AudioTagger, window_plan

DEFAULT_MODEL = "audioset_10_10_0.4593"


def cache_dir(source):
    """Where SpeechBrain links an exported model's files."""
    root = os.environ.get(
        "AST_LOBES_CACHE", os.path.expanduser("~/.cache/ast_lobes")
    )
    digest = hashlib.sha1(os.path.abspath(source).encode()).hexdigest()[:12]
    return os.path.join(root, "models", digest)


def load_tagger(source, device="cpu"):
    """An ``AudioTagger`` from an exported folder or a published AST."""
    if os.path.isfile(os.path.join(source, "hyperparams.yaml")):
        return AudioTagger.from_hparams(
            source=os.path.abspath(source),
            savedir=cache_dir(source),
            run_opts={"device": device},
        )
    return AudioTagger.from_ast_checkpoint(source, device=device)


def advance(bar, done):
    """Moves a progress bar to ``done`` windows."""
    bar.update(done - bar.n)


def expected_windows(path, window, hop):
    """Windows a file will need (0 if its header cannot be read)."""
    try:
        info = soundfile.info(path)
    except Exception:
        return 0
    return len(window_plan(info.frames, info.samplerate, window, hop)[1])


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="ast-tag", description="Tag audio files with an AST."
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument(
        "--window", type=float, default=None,
        help="window in seconds (default: the model's)",
    )  # fmt: skip
    parser.add_argument(
        "--hop", type=float, default=None,
        help="hop in seconds (default: the window)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--aggregate", choices=["max", "mean"], default="max")
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision",
        choices=("auto", *PRECISIONS),
        default="auto",
        help="encoder precision (default auto: the fastest mode this "
        "hardware runs well, e.g. bf16 on a CPU with native bf16, else "
        "fp32); a mode slower than fp32 here is refused",
    )
    parser.add_argument(
        "--force-precision",
        action="store_true",
        help="run --precision even where this hardware runs it slowly",
    )
    return parser.parse_args(argv)


def describe(result):
    """Human-readable lines of one result."""
    tags = ", ".join(f"{label} ({score:.3f})" for label, score in result.tags)
    lines = [f"{result.file} ({result.duration:.2f} s): {tags}"]
    if len(result.windows) > 1:
        for window in result.windows:
            best = ", ".join(
                f"{label} ({score:.3f})" for label, score in window["tags"][:3]
            )
            lines.append(
                f"  {window['start']:8.2f}-{window['end']:8.2f} s: {best}"
            )
    return lines


def main(argv=None):
    """Tags the files; exits with 1 if any file could not be tagged."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    tagger = load_tagger(args.model, args.device)
    try:
        tagger.set_precision(args.precision, force=args.force_precision)
    except SlowPrecisionError as error:
        print(f"ast-tag: error: {error}", file=sys.stderr)
        return 2
    window = args.window or tagger.window_seconds
    hop = args.hop or window
    results, failures = [], []
    for path in args.files:
        total = expected_windows(path, window, hop)
        bar = None
        if total > args.batch_size:
            bar = tqdm(total=total, desc=os.path.basename(path),
                       unit="window", file=sys.stderr)  # fmt: skip
        progress = None if bar is None else partial(advance, bar)
        found, failed = tagger.tag_files(
            [path], top_k=args.top_k, threshold=args.threshold,
            window=window, hop=hop, batch_size=args.batch_size,
            aggregate=args.aggregate, progress=progress,
        )  # fmt: skip
        if bar is not None:
            bar.close()
        results += found
        failures += failed
        for message in (m for _, m in failed):
            print(f"ast-tag: error: {message}", file=sys.stderr)
        if not args.json:
            for result in found:
                print("\n".join(describe(result)))
    if args.json:
        print(
            json.dumps(
                {
                    "results": [r.as_dict() for r in results],
                    "errors": [{"file": f, "error": m} for f, m in failures],
                },
                indent=1,
            )
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
