"""How far token merging can go on your model and your clips: per merge
rate, the share of files whose top tag is the unmerged model's, and the
seconds per file, then the largest rate that keeps ``--min-agreement``
(for ``ast-tag --merge-tokens``).

    python -m pretrained_interfaces.merge_agreement MODEL FILES_OR_FOLDERS \
        [--rates 0.1 0.2 0.3 0.4 0.5] [--min-agreement 0.99] \
        [--precision auto]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import sys
import time


def merge_agreement(tagger, paths, rates, window=None):
    """Top-1 agreement of ``tagger`` with token merging at each of
    ``rates`` against itself without, over ``paths`` (each file's clip-level
    top tag; windows of ``window`` seconds, default the model's).

    Returns
    -------
    list of dict
        Per rate (0 first): ``rate``, ``agreement`` (0 to 1) and
        ``seconds`` per file.
    """
    rows = []
    reference = None
    for rate in [0.0, *[r for r in rates if r != 0.0]]:
        tagger.merge_tokens(rate)
        start = time.perf_counter()
        tops = [tagger.tag_file(p, top_k=1, window=window).tags[0][0]
                for p in paths]  # fmt: skip
        seconds = (time.perf_counter() - start) / len(paths)
        reference = tops if reference is None else reference
        same = sum(a == b for a, b in zip(tops, reference, strict=True))
        rows.append({"rate": rate, "agreement": same / len(paths),
                     "seconds": seconds})  # fmt: skip
    tagger.merge_tokens(0.0)
    return rows


def largest_agreeing_rate(rows, min_agreement):
    """The largest rate of ``merge_agreement``'s rows whose agreement is at
    least ``min_agreement`` (0 when none is).

    Example
    -------
    >>> rows = [{"rate": 0.0, "agreement": 1.0},
    ...         {"rate": 0.3, "agreement": 0.995},
    ...         {"rate": 0.5, "agreement": 0.98}]
    >>> largest_agreeing_rate(rows, 0.99)
    0.3
    """
    kept = [r["rate"] for r in rows if r["agreement"] >= min_agreement]
    return max(kept, default=0.0)


def main(argv=None):
    from pretrained_interfaces.archive import find_audio_files
    from pretrained_interfaces.audio_tagger import AudioTagger

    parser = argparse.ArgumentParser(
        prog="merge_agreement", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("model", help="what ast-tag --model takes")
    parser.add_argument("inputs", nargs="+", help="audio files or folders")
    parser.add_argument("--rates", nargs="+", type=float,
                        default=[0.1, 0.2, 0.3, 0.4, 0.5])  # fmt: skip
    parser.add_argument("--min-agreement", type=float, default=0.99)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--window", type=float, default=None)
    args = parser.parse_args(argv)
    paths = find_audio_files(args.inputs)
    if not paths:
        sys.exit(f"merge_agreement: no audio files in {args.inputs}")
    try:
        tagger = AudioTagger.from_source(args.model, precision=args.precision)
        rows = merge_agreement(tagger, paths, args.rates, args.window)
    except ValueError as error:
        sys.exit(f"merge_agreement: {error}")
    print(f"{len(paths)} files, precision {tagger.precision}")
    print("| merge rate | top-1 agreement | s/file | speed |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['rate']:g} | {100 * row['agreement']:.1f} % | "
              f"{row['seconds']:.3f} | "
              f"{rows[0]['seconds'] / row['seconds']:.2f}x |")  # fmt: skip
    best = largest_agreeing_rate(rows, args.min_agreement)
    print(f"largest rate keeping {100 * args.min_agreement:g} %: {best:g} "
          f"(ast-tag --merge-tokens {best:g})")  # fmt: skip
    return best


if __name__ == "__main__":
    main()
