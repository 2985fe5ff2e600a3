"""``ast-tag``: tag audio files with an AST from the command line.

Examples::

    ast-tag dog.wav street.flac                 # published AudioSet AST
    ast-tag long_recording.wav --window 10 --hop 5 --json
    ast-tag clip.wav --model results/AudioSet/full/1/model_weight_averaged
    ast-tag recordings/ --files-from more.txt --output tags.jsonl
    arecord -f S16_LE -r 16000 -c 1 -t raw | ast-tag --stream --window 1

``--model`` is a folder exported by a recipe, a Hugging Face AST folder or
hub id, a local ``.pth`` or a published checkpoint name (downloaded once).

Folders are searched recursively for audio files; windows of different
files run through the model together while worker processes decode the
next files. With ``--output`` (``.jsonl`` or ``.csv``) each file's result
is written as soon as it is known, and the same command started again
after an interruption tags only the files not in the output yet.

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import json
import os
import sys
import time

# Only torch-free modules here, so that --help and usage errors answer
# at once; the model's modules are imported by main() after parsing.
from ast_lobes.audio.names import AUDIO_EXTENSIONS, same_file, shown
from ast_lobes.inference.modes import PRECISIONS
from pretrained_interfaces.results_file import (
    ResultsFile,
    ResultsFileError,
    lock_output,
)

DEFAULT_MODEL = "audioset_10_10_0.4593"


def default_workers():
    """Decoding processes worth their cores: none on a machine of up to 3
    cores, where the model needs them all (a worker cost 10 % of the
    clips per second on 2 cores), then a quarter of the cores, at most 4.
    """
    return min(4, (os.cpu_count() or 1) // 4)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="ast-tag", description="Tag audio files with an AST."
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="FILE_OR_FOLDER",
        help="audio files, and folders searched recursively for "
        "--extensions",
    )  # fmt: skip
    parser.add_argument(
        "--files-from", action="append", default=[], metavar="LIST",
        help="text file listing audio files, one a line (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--extensions", nargs="+", default=list(AUDIO_EXTENSIONS),
        help="extensions of the audio files taken from folders",
    )  # fmt: skip
    parser.add_argument(
        "--output", metavar="FILE",
        help="stream results to FILE (.jsonl with windows, or .csv with "
        "the top-k tags); run again with the same FILE to resume",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=default_workers(),
        help="processes decoding audio ahead of the model (0: none; "
        "default: a quarter of the CPU cores, at most 4)",
    )  # fmt: skip
    parser.add_argument(
        "--stream", action="store_true",
        help="tag live audio from standard input: raw signed 16-bit "
        "little-endian mono PCM at --rate; each window is printed as one "
        "JSON line as soon as its last sample arrives",
    )  # fmt: skip
    parser.add_argument(
        "--rate", type=int, default=None,
        help="with --stream, the input's samples per second (default "
        "16000; resampled to the model's rate when it differs)",
    )  # fmt: skip
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
    parser.add_argument(
        "--json", action="store_true", help="JSON on stdout at the end"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--embeddings", metavar="FILE.npz", default=None,
        help="write embeddings instead of tags: per file (the vector the "
        "classifier sees) and per window",
    )  # fmt: skip
    parser.add_argument(
        "--time-steps", action="store_true",
        help="with --embeddings, also per time step (patch tokens averaged "
        "over frequency, with their centre times)",
    )  # fmt: skip
    parser.add_argument(
        "--events", action="store_true",
        help="sound events (label, onset, offset, score) instead of tags: "
        "per time step with a frame-level head, else per sliding window; "
        "with --stream each event is printed when it ends, after the half "
        "of the median filter that follows its last active step "
        "(--median-filter / 2, in whole steps: 0.15 s at the defaults with "
        "a frame-level head of 0.1-s steps; none with windows of hops "
        "longer than the filter), and open events at the end of input",
    )  # fmt: skip
    parser.add_argument(
        "--median-filter", type=float, default=0.3,
        help="with --events, seconds of the median filter (default 0.3)",
    )  # fmt: skip
    parser.add_argument(
        "--timeline", metavar="FOLDER", default=None,
        help="with --events, a PNG of each file's scores and events",
    )  # fmt: skip
    parser.add_argument(
        "--head", choices=("average", "cls", "dist"), default="average",
        help="a distilled model's output: the average of its two heads "
        "(default), the label (cls) head or the distillation head",
    )  # fmt: skip
    parser.add_argument(
        "--precision",
        choices=("auto", *PRECISIONS),
        default="auto",
        help="encoder precision (default auto: the fastest mode this "
        "hardware runs well, measured by a short probe: bf16, int8-dynamic "
        "or ort-int8 (ONNX Runtime, exported once per model into the "
        "cache), else fp32); a mode slower than fp32 here is refused",
    )
    parser.add_argument(
        "--force-precision",
        action="store_true",
        help="run --precision even where this hardware runs it slowly",
    )
    parser.add_argument(
        "--merge-tokens",
        type=float,
        default=None,
        metavar="RATE",
        help="merge that share of the patch tokens away by the last block "
        "(token merging: faster, approximate; 0 is exact; default: 0, or "
        "with --precision auto the rate the model folder's recorded "
        "agreement allows, see python -m pretrained_interfaces.agreement)",
    )
    args = parser.parse_args(argv)
    if args.stream and (args.inputs or args.files_from):
        parser.error("--stream reads standard input: no files or folders")
    if args.rate is not None and not args.stream:
        parser.error("--rate goes with --stream (files carry their rate)")
    if args.stream and (args.embeddings or args.json or args.timeline):
        parser.error("--stream prints JSON lines: no --embeddings, --json "
                     "or --timeline with it")  # fmt: skip
    if not args.stream and not args.inputs and not args.files_from:
        parser.error("give audio files, folders, --files-from or --stream")
    if args.output and args.json:
        parser.error("--json prints to stdout; --output writes a file")
    if args.embeddings and (args.output or args.json):
        parser.error("--embeddings writes embeddings, not tags: no --output "
                     "or --json with it")  # fmt: skip
    if args.events and not args.stream and (args.embeddings or args.output):
        parser.error("--events prints events (or --json): no --embeddings "
                     "or --output with it")  # fmt: skip
    if args.timeline and not args.events:
        parser.error("--timeline goes with --events")
    if args.time_steps and not args.embeddings:
        parser.error("--time-steps goes with --embeddings FILE.npz")
    if args.batch_size < 1 or args.workers < 0:
        parser.error("--batch-size must be positive, --workers not negative")
    return args


def describe(result):
    """Human-readable lines of one result."""
    tags = ", ".join(f"{label} ({score:.3f})" for label, score in result.tags)
    lines = [f"{shown(result.file)} ({result.duration:.2f} s): {tags}"]
    if len(result.windows) > 1:
        for window in result.windows:
            best = ", ".join(
                f"{label} ({score:.3f})" for label, score in window["tags"][:3]
            )
            lines.append(
                f"  {window['start']:8.2f}-{window['end']:8.2f} s: {best}"
            )
    return lines


def files_to_tag(args):
    """``(todo, results_file)``: files not yet in ``--output``, and that
    output opened for appending (None without ``--output``)."""
    from pretrained_interfaces.archive import find_audio_files

    extensions = tuple(e.lower() for e in args.extensions)
    files = find_audio_files(args.inputs, args.files_from, extensions)
    if not files:
        raise FileNotFoundError(
            f"no audio files ({' '.join(extensions)}) in "
            f"{' '.join(args.inputs + args.files_from)}"
        )
    if not args.output:
        return files, None
    # absolute: the record names the file from any working directory
    files = [os.path.abspath(path) for path in files]
    results_file = ResultsFile(args.output, args.top_k)
    done = results_file.open()
    todo = [path for path in files if same_file(path) not in done]
    if len(todo) < len(files):
        print(
            f"ast-tag: {len(files) - len(todo)} of {len(files)} files are "
            f"already in {args.output}; tagging the other {len(todo)}",
            file=sys.stderr,
        )
    return todo, results_file


def embed_files(tagger, paths, args):
    """``--embeddings``: embeds every file (a bad one is reported, the
    others go on) and writes the ``.npz``; exit status as for tags."""
    from tqdm import tqdm

    from ast_lobes.audio.io import AudioFileError
    from pretrained_interfaces.embeddings import embed_file, write_embeddings

    results, failed = [], 0
    for path in tqdm(paths, unit="file", file=sys.stderr,
                     disable=None if len(paths) > 1 else True):  # fmt: skip
        try:
            results.append(embed_file(
                tagger, path, window=args.window, hop=args.hop,
                time_steps=args.time_steps, batch_size=args.batch_size,
            ))  # fmt: skip
        except AudioFileError as error:
            failed += 1
            print(f"ast-tag: error: {error}", file=sys.stderr)
    if results:
        write_embeddings(args.embeddings, results)
    print(
        f"ast-tag: embeddings of {len(results)} files in {args.embeddings}"
        f"{f'; {failed} failed' if failed else ''}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def detect_events(tagger, paths, args):
    """``--events``: the events of every file, printed (or as JSON), and
    with ``--timeline`` a picture each; exit status as for tags."""
    from ast_lobes.audio.io import AudioFileError
    from pretrained_interfaces.events import detect_events as file_events
    from pretrained_interfaces.timeline import plot_timeline

    results, failures, pictures = [], [], set()
    if args.timeline:
        os.makedirs(args.timeline, exist_ok=True)
    for path in paths:
        try:
            result = file_events(
                tagger, path, threshold=args.threshold,
                median_filter=args.median_filter, window=args.window,
                hop=args.hop, batch_size=args.batch_size,
            )  # fmt: skip
        except AudioFileError as error:
            failures.append({"file": path, "error": str(error)})
            print(f"ast-tag: error: {error}", file=sys.stderr)
            continue
        results.append(result.as_dict())
        if args.timeline:
            name = picture_name(path, pictures)
            plot_timeline(result, tagger.label_names,
                          os.path.join(args.timeline, name))  # fmt: skip
        if not args.json:
            print(f"{shown(path)} ({result.duration:.2f} s, "
                  f"{len(result.events)} events, per "
                  f"{result.resolution}):")  # fmt: skip
            for event in result.events:
                print(f"  {event['onset']:8.2f}-{event['offset']:8.2f} s  "
                      f"{event['label']} ({event['score']:.3f})")  # fmt: skip
    if args.json:
        print(json.dumps({"results": results, "errors": failures}, indent=1))
    return 1 if failures else 0


def picture_name(path, taken):
    """A timeline picture's file name: the clip's name as ``.png``, with
    ``-2``, ``-3`` ... where another clip of the run took it already.

    Example
    -------
    >>> taken = set()
    >>> [picture_name(p, taken) for p in ("a/x.wav", "b/x.wav", "x.mp3")]
    ['x.png', 'x-2.png', 'x-3.png']
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    name, number = f"{stem}.png", 1
    while name in taken:
        number += 1
        name = f"{stem}-{number}.png"
    taken.add(name)
    return name


def load_tagger(args):
    """The ``AudioTagger`` of ``--model`` in ``--precision`` with
    ``--head``, or None after printing why it cannot be had."""
    from ast_lobes.inference.hardware import SlowPrecisionError
    from ast_lobes.weights.files import CheckpointError
    from pretrained_interfaces.audio_tagger import AudioTagger
    from pretrained_interfaces.precision_report import precision_reported

    try:
        with precision_reported("ast-tag"):
            tagger = AudioTagger.from_source(
                args.model, device=args.device, precision=args.precision,
                force_precision=args.force_precision,
                merge_rate=args.merge_tokens,
            )  # fmt: skip
        return tagger.use_head(args.head)
    except (CheckpointError, SlowPrecisionError, ValueError) as error:
        print(f"ast-tag: error: {error}", file=sys.stderr)
        return None


def stream_input(args, source=None, out=None):
    """``--stream``: tags standard input (or ``source``) window by window,
    one flushed JSON line each on ``out`` (stdout) or appended to
    ``--output``; says on stderr when it falls behind real time, and at
    the end the real-time factor and the latency; a second run on the
    same ``--output`` is refused (``lock_output``)."""
    from pretrained_interfaces.streaming import StreamError, check_rate

    try:
        rate = check_rate(16000 if args.rate is None else args.rate)
        lock = lock_output(args.output) if args.output else None
    except (StreamError, ResultsFileError) as error:
        print(f"ast-tag: error: {error}", file=sys.stderr)
        return 2
    try:
        return stream_locked(args, rate, source, out)
    finally:
        if lock is not None:
            lock.close()


def stream_locked(args, rate, source, out):
    """``stream_input`` once the rate is known and ``--output`` locked."""
    import statistics

    from pretrained_interfaces.streaming import (
        pcm_chunks,
        stream_windows,
        window_record,
    )

    tagger = load_tagger(args)
    if tagger is None:
        return 2
    source = source or sys.stdin.buffer
    out = out or sys.stdout
    sink = open(args.output, "a", encoding="utf-8") if args.output else out
    chunks, state = pcm_chunks(source)
    if args.events:
        return stream_event_lines(tagger, chunks, state, rate, args, sink, out)
    windows = stream_windows(
        tagger, chunks, rate, args.window, args.hop, args.top_k,
        args.threshold,
    )  # fmt: skip
    latencies, scoring, audio, warned = [], 0.0, 0.0, -1e9

    def after_line(item):
        nonlocal scoring, audio, warned
        now = time.perf_counter()
        latencies.append(now - state["last_read"])
        scoring += item["seconds"]
        audio = max(audio, item["end"])
        behind = (now - state["first_read"]) - item["end_sample"] / rate
        if behind > max(1.0, args.hop or 0.0) and now - warned > 5:
            warned = now
            print(f"ast-tag: {behind:.1f} s behind real time (scoring is "
                  "slower than the audio arrives; every window is kept)",
                  file=sys.stderr, flush=True)  # fmt: skip

    status = write_stream_lines(windows, window_record, sink, out, state,
                                after_line)  # fmt: skip
    if latencies:
        print(
            f"ast-tag: {audio:.1f} s of audio in {len(latencies)} windows; "
            f"real-time factor {scoring / max(audio, 1e-9):.3f} (scoring "
            "time / audio time); latency from a window's last sample read "
            f"to its line written: median "
            f"{1000 * statistics.median(latencies):.0f} ms, max "
            f"{1000 * max(latencies):.0f} ms",
            file=sys.stderr,
        )
    return status


def stream_event_lines(tagger, chunks, state, rate, args, sink, out):
    """``--stream --events``: one flushed JSON line per event as it ends."""
    from pretrained_interfaces.streaming import stream_events

    events = stream_events(
        tagger, chunks, rate, threshold=args.threshold,
        median_filter=args.median_filter, window=args.window, hop=args.hop,
    )  # fmt: skip
    count = []
    status = write_stream_lines(events, dict, sink, out, state, count.append)
    print(f"ast-tag: {len(count)} events", file=sys.stderr)
    return status


def write_stream_lines(items, to_record, sink, out, state, after_line):
    """Writes each of ``items`` as one flushed JSON line on ``sink``
    (``after_line`` is told of each); closes ``sink`` unless it is
    ``out``. Returns the exit status: 2 for a stream that cannot be read
    (said on stderr, after the lines it gave), 130 when interrupted, else
    0."""
    from pretrained_interfaces.streaming import StreamError

    try:
        for item in items:
            sink.write(json.dumps(to_record(item)) + "\n")
            sink.flush()
            after_line(item)
    except StreamError as error:
        print(f"ast-tag: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ast-tag: stream interrupted", file=sys.stderr)
        return 130
    finally:
        if sink is not out:
            sink.close()
    if state["odd_byte"]:
        print("ast-tag: error: the stream ended with half a sample (an odd "
              "number of bytes); expected signed 16-bit little-endian mono "
              "PCM", file=sys.stderr)  # fmt: skip
        return 2
    return 0


def main(argv=None):
    """Tags the files; exits with 1 if any file could not be tagged, 2 on
    a usage error and 130 when interrupted (run again to resume)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.stream:
        return stream_input(args)
    try:
        todo, results_file = files_to_tag(args)
    except (FileNotFoundError, ResultsFileError) as error:
        print(f"ast-tag: error: {error}", file=sys.stderr)
        return 2
    tagger = load_tagger(args)
    if tagger is None:
        return 2
    if args.embeddings:
        return embed_files(tagger, todo, args)
    if args.events:
        return detect_events(tagger, todo, args)
    from tqdm import tqdm

    from pretrained_interfaces.archive import tag_stream

    results, failures = [], []
    bar = tqdm(
        total=len(todo), unit="clip", file=sys.stderr,
        disable=None if len(todo) > 1 else True,
    )  # fmt: skip
    started = time.perf_counter()
    stream = tag_stream(
        tagger, todo, window=args.window, hop=args.hop,
        batch_size=args.batch_size, num_workers=args.workers,
        top_k=args.top_k, threshold=args.threshold, aggregate=args.aggregate,
    )  # fmt: skip
    try:
        for path, result, error in stream:
            bar.update(1)
            record = {"file": path, "error": error}
            if error is None:
                record = result.as_dict()
                results.append(record)
            else:
                failures.append(record)
                bar.write(f"ast-tag: error: {error}", file=sys.stderr)
            if results_file is not None:
                results_file.write(record)
            elif error is None and not args.json:
                bar.write("\n".join(describe(result)), file=sys.stdout)
    except KeyboardInterrupt:
        bar.close()
        where = f"; run again with --output {args.output} to resume"
        print(
            f"ast-tag: interrupted after {len(results) + len(failures)} "
            f"files{where if results_file else ''}",
            file=sys.stderr,
        )
        return 130
    finally:
        stream.close()
        if results_file is not None:
            results_file.close()
    bar.close()
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({"results": results, "errors": failures}, indent=1))
    if results_file is not None:
        print(
            f"ast-tag: {len(results)} files tagged, {len(failures)} failed, "
            f"in {seconds:.1f} s ({len(todo) / max(seconds, 1e-9):.2f} "
            f"clips/s); results in {args.output}",
            file=sys.stderr,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
