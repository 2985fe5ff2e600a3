"""How far the fast inference modes can go on your model and your clips:
per precision and token-merging rate, the share of files whose top tag is
the exact fp32 model's, and the seconds per file.

    python -m pretrained_interfaces.agreement MODEL FILES_OR_FOLDERS \
        [--precisions int8-dynamic bf16] [--rates 0.2 0.4] [--record]

Without ``--precisions``, every mode this CPU runs faster than fp32 is
measured (and fp32 itself, for the merge rates). ``--record`` writes the
figures into MODEL (a folder exported by a recipe) as
``inference_agreement.json`` (``ast_lobes.inference.agreement``), with
the SHA-256 of its weights, the seconds per file and the CPU class: a
tagger built from that folder with ``precision="auto"`` then follows it.

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import logging
import os
import sys
import time

from ast_lobes.inference.agreement import (
    RECORD_FILE,
    best_agreeing,
    share_same,
    write_agreement_record,
)
from ast_lobes.inference.decision import MIN_AGREEMENT
from ast_lobes.inference.hardware import (
    SlowPrecisionError,
    detect_hardware,
    fast_precisions,
)
from ast_lobes.inference.modes import PRECISIONS, UNMERGEABLE
from ast_lobes.weights.files import CheckpointError
from pretrained_interfaces.archive import find_audio_files
from pretrained_interfaces.audio_tagger import AudioTagger
from pretrained_interfaces.precision_report import precision_reported

logger = logging.getLogger(__name__)


def top_tags(tagger, paths, window=None):
    """``(tags, seconds)``: each file's top clip-level tag and the seconds
    per file."""
    start = time.perf_counter()
    tags = [tagger.tag_file(p, top_k=1, window=window).tags[0][0]
            for p in paths]  # fmt: skip
    return tags, (time.perf_counter() - start) / len(paths)


def merge_agreement(tagger, paths, rates, window=None, reference=None,
                    exact=False):  # fmt: skip
    """Top-1 agreement of ``tagger`` at each merge rate of ``rates`` (0
    first) with ``reference`` (each file's top tag; default: the tagger's
    own at rate 0), over ``paths``; ``exact``: the tagger at rate 0 is the
    reference itself, not measured again.

    Returns
    -------
    list of dict
        Per rate: ``rate``, ``agreement`` (0 to 1) and ``seconds`` per
        file.
    """
    rows = []
    rates = [r for r in rates if r != 0.0]
    for rate in rates if exact else [0.0, *rates]:
        tagger.merge_tokens(rate)
        tags, seconds = top_tags(tagger, paths, window)
        reference = tags if reference is None else reference
        rows.append({"rate": rate, "agreement": share_same(tags, reference),
                     "seconds": seconds})  # fmt: skip
    tagger.merge_tokens(0.0)
    return rows


def measure_agreement(source, paths, precisions, rates, window=None,
                      device="cpu", skip_slow=False):  # fmt: skip
    """Per precision of ``precisions`` and merge rate of ``rates``, the
    top-1 agreement over ``paths`` with the model of ``source`` in fp32,
    unmerged (each precision on a fresh copy of the model; one it runs
    slower than fp32 here is refused, ``SlowPrecisionError``, or with
    ``skip_slow`` left out, saying so in the log; ``ort-int8``, which
    cannot merge, at rate 0 only).

    Returns
    -------
    list of dict
        ``precision``, ``rate``, ``agreement`` and ``seconds`` per file;
        fp32 at rate 0 first.
    """

    def tagger_in(precision):
        return AudioTagger.from_source(source, device=device,
                                       precision=precision)  # fmt: skip

    exact = tagger_in("fp32")
    reference, seconds = top_tags(exact, paths, window)
    rows = [{"precision": "fp32", "rate": 0.0, "agreement": 1.0,
             "seconds": seconds}]  # fmt: skip
    for precision in dict.fromkeys(["fp32", *precisions]):
        try:
            tagger = exact if precision == "fp32" else tagger_in(precision)
        except SlowPrecisionError as error:
            if not skip_slow:
                raise
            logger.warning("%s not measured: %s", precision, error)
            continue
        merged = [] if precision in UNMERGEABLE else rates
        measured = merge_agreement(tagger, paths, merged, window, reference,
                                   exact=precision == "fp32")  # fmt: skip
        rows += [{"precision": precision, **row} for row in measured]
    return rows


def default_precisions():
    """The modes this CPU runs faster than fp32, fastest first (those
    ``auto`` chooses among, without compiling)."""
    modes = fast_precisions(detect_hardware("cpu"))
    return [m for m in modes if m not in ("fp32", "bf16-autocast")]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="agreement", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("model", help="what ast-tag --model takes")
    parser.add_argument("inputs", nargs="+", help="audio files or folders")
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=PRECISIONS,
        help="default: the modes faster than fp32 here",
    )
    parser.add_argument(
        "--rates", nargs="+", type=float, default=[0.1, 0.2, 0.3, 0.4, 0.5]
    )
    parser.add_argument("--window", type=float, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--record", action="store_true",
                        help=f"write the figures into MODEL ({RECORD_FILE}"
                        "), for precision auto")  # fmt: skip
    args = parser.parse_args(argv)
    paths = find_audio_files(args.inputs)
    if not paths:
        sys.exit(f"agreement: no audio files in {args.inputs}")
    if args.record and not os.path.isdir(args.model):
        sys.exit(f"agreement: --record writes into a model folder; "
                 f"{args.model} is not one")  # fmt: skip
    precisions = args.precisions or default_precisions()
    try:
        with precision_reported("agreement"):
            rows = measure_agreement(
                args.model, paths, precisions, args.rates, args.window,
                args.device, skip_slow=args.precisions is None,
            )  # fmt: skip
        if args.record:
            written = write_agreement_record(args.model, rows, len(paths))
    except (CheckpointError, SlowPrecisionError, ValueError) as error:
        sys.exit(f"agreement: {error}")
    print(f"{len(paths)} files")
    print("| precision | merge rate | top-1 agreement | s/file | speed |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['precision']} | {row['rate']:g} | "
              f"{100 * row['agreement']:.1f} % | {row['seconds']:.3f} | "
              f"{rows[0]['seconds'] / row['seconds']:.2f}x |")  # fmt: skip
    precision, rate = best_agreeing(rows)
    print(f"fastest keeping {100 * MIN_AGREEMENT:g} %: ast-tag --precision "
          f"{precision} --merge-tokens {rate:g}")  # fmt: skip
    if args.record:
        print(f"wrote {written} (precision auto now follows it)")
    return precision, rate


if __name__ == "__main__":
    main()
