"""How far the fast inference modes can go on your model and your clips:
per precision and token-merging rate, the share of files whose top tag is
the exact fp32 model's, and the seconds per file.

    python -m pretrained_interfaces.agreement MODEL FILES_OR_FOLDERS \
        [--precisions int8-dynamic bf16] [--rates 0.2 0.4] [--record]

Without ``--precisions``, every mode this CPU runs faster than fp32 is
measured (and fp32 itself, for the merge rates). ``--record`` writes the
figures into MODEL (a folder exported by a recipe) as
``inference_agreement.json``, with the SHA-256 of its weights, the
seconds per file and the CPU class: a tagger built from that folder with
``precision="auto"`` then runs, on that CPU class, the fastest setting
that kept 99 % (``MIN_AGREEMENT``); elsewhere it never picks a mode whose
recorded agreement is under 99 % and merges tokens at the largest
recorded rate that keeps it; a mode the record lacks is judged by speed
alone. Without a record, ``auto`` decides by
speed alone and never merges.

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import hashlib
import json
import logging
import os
import sys
import time

from ast_lobes.inference.hardware import MIN_AGREEMENT
from ast_lobes.inference.modes import UNMERGEABLE

logger = logging.getLogger(__name__)

RECORD_FILE = "inference_agreement.json"
# The weights a record was measured on: an export of this version, or
# (without its safetensors file) of an earlier one.
WEIGHT_FILES = (("model.safetensors",),
                ("embedding_model.ckpt", "classifier.ckpt"))  # fmt: skip


def top_tags(tagger, paths, window=None):
    """``(tags, seconds)``: each file's top clip-level tag and the seconds
    per file."""
    start = time.perf_counter()
    tags = [tagger.tag_file(p, top_k=1, window=window).tags[0][0]
            for p in paths]  # fmt: skip
    return tags, (time.perf_counter() - start) / len(paths)


def share_same(tags, reference):
    """The share of ``tags`` equal to ``reference``'s, position by position.

    Example
    -------
    >>> share_same(["a", "b", "c", "d"], ["a", "b", "c", "a"])
    0.75
    """
    same = sum(a == b for a, b in zip(tags, reference, strict=True))
    return same / len(reference)


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
    from pretrained_interfaces.audio_tagger import AudioTagger

    def tagger_in(precision):
        return AudioTagger.from_source(source, device=device,
                                       precision=precision)  # fmt: skip

    exact = tagger_in("fp32")
    reference, seconds = top_tags(exact, paths, window)
    rows = [{"precision": "fp32", "rate": 0.0, "agreement": 1.0,
             "seconds": seconds}]  # fmt: skip
    from ast_lobes.inference.hardware import SlowPrecisionError

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


def best_agreeing(rows, min_agreement=MIN_AGREEMENT):
    """The fastest ``(precision, rate)`` of ``measure_agreement``'s rows
    whose agreement is at least ``min_agreement`` (fp32 at rate 0 keeps
    it by definition).

    Example
    -------
    >>> rows = [
    ...     {"precision": "fp32", "rate": 0.0, "agreement": 1.0,
    ...      "seconds": 2.0},
    ...     {"precision": "int8-dynamic", "rate": 0.0, "agreement": 0.995,
    ...      "seconds": 1.0},
    ...     {"precision": "int8-dynamic", "rate": 0.4, "agreement": 0.98,
    ...      "seconds": 0.7}]
    >>> best_agreeing(rows)
    ('int8-dynamic', 0.0)
    """
    kept = [r for r in rows if r["agreement"] >= min_agreement]
    best = min(kept, key=lambda r: r["seconds"])
    return best["precision"], best["rate"]


def weights_digest(folder):
    """SHA-256 over the weight files of an exported model ``folder``."""
    for names in WEIGHT_FILES:
        paths = [os.path.join(folder, name) for name in names]
        if all(os.path.isfile(path) for path in paths):
            break
    else:
        raise ValueError(
            f"{folder}: no model.safetensors (nor embedding_model.ckpt and "
            "classifier.ckpt); --record writes into a model folder "
            "exported by a recipe"
        )
    digest = hashlib.sha256()
    for name, path in zip(names, paths, strict=True):
        digest.update(name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_agreement_record(folder, rows, n_files):
    """Writes ``rows`` of ``measure_agreement`` into the exported model
    ``folder`` as ``RECORD_FILE``; returns its path."""
    from ast_lobes.inference.hardware import detect_hardware

    agreement, seconds = {}, {}
    for row in rows:
        rate = f"{row['rate']:g}"
        agreement.setdefault(row["precision"], {})[rate] = round(
            row["agreement"], 6
        )
        seconds.setdefault(row["precision"], {})[rate] = round(
            row["seconds"], 6
        )
    record = {
        "weights_sha256": weights_digest(folder),
        "files": n_files,
        "measured_on": detect_hardware("cpu").describe(),
        "agreement": agreement,
        "seconds_per_file": seconds,
    }
    path = os.path.join(folder, RECORD_FILE)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    return path


def per_mode_and_rate(table):
    """``{precision: {rate: value}}`` of a record's JSON table, as numbers.

    Example
    -------
    >>> per_mode_and_rate({"bf16": {"0": 0.99, "0.2": "0.98"}})
    {'bf16': {0.0: 0.99, 0.2: 0.98}}
    """
    return {
        str(mode): {float(rate): float(value) for rate, value in rates.items()}
        for mode, rates in table.items()
    }


def read_agreement_record(folder):
    """``{precision: {rate: agreement}}`` recorded in an exported model
    ``folder``, or None when it holds no record, or one measured on other
    weights (logged as a warning: the figures are not this model's). A
    record that is not such JSON is refused, naming the file."""
    record = read_record(folder)
    return None if record is None else record["agreement"]


def read_record(folder):
    """The record of ``read_agreement_record`` whole: ``agreement``,
    ``seconds_per_file`` (``{precision: {rate: seconds}}``, None in a
    record written before it was kept) and ``measured_on`` (the CPU
    class, ``Hardware.describe()``)."""
    path = os.path.join(os.fspath(folder), RECORD_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        agreement = per_mode_and_rate(record["agreement"])
        seconds = record.get("seconds_per_file")
        seconds = None if seconds is None else per_mode_and_rate(seconds)
        measured_on = str(record["measured_on"])
        digest = str(record["weights_sha256"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"{path}: not an agreement record ({type(error).__name__}: "
            f"{error}); measure it again with python -m "
            "pretrained_interfaces.agreement MODEL CLIPS --record"
        ) from None
    if digest != weights_digest(folder):
        logger.warning(
            "%s was measured on other weights than this folder's; not "
            "used (measure it again with --record)", path,
        )  # fmt: skip
        return None
    return {"agreement": agreement, "seconds_per_file": seconds,
            "measured_on": measured_on}  # fmt: skip


def recorded_fastest(record, hardware_description):
    """The fastest ``(precision, rate)`` of a ``read_record`` record that
    keeps ``MIN_AGREEMENT``, when it was timed on a CPU of
    ``hardware_description`` (``Hardware.describe()``); else None.

    Example
    -------
    >>> record = {"measured_on": "CPU AVX2 without native bf16",
    ...           "agreement": {"fp32": {0.0: 1.0},
    ...                         "ort-int8": {0.0: 1.0},
    ...                         "int8-dynamic": {0.0: 1.0, 0.4: 0.97}},
    ...           "seconds_per_file": {"fp32": {0.0: 2.0},
    ...                                "ort-int8": {0.0: 0.9},
    ...                                "int8-dynamic": {0.0: 1.2, 0.4: 0.7}}}
    >>> recorded_fastest(record, "CPU AVX2 without native bf16")
    ('ort-int8', 0.0)
    >>> recorded_fastest(record, "CPU AVX512 with native bf16") is None
    True
    """
    seconds = record.get("seconds_per_file")
    if not seconds or record["measured_on"] != hardware_description:
        return None
    rows = [
        {"precision": mode, "rate": rate, "seconds": value,
         "agreement": record["agreement"].get(mode, {}).get(rate, 0.0)}
        for mode, rates in seconds.items() for rate, value in rates.items()
    ]  # fmt: skip
    kept = [row for row in rows if row["agreement"] >= MIN_AGREEMENT]
    return best_agreeing(kept) if kept else None


def mode_agreement(record):
    """``{precision: agreement}`` at rate 0 of a record (what
    ``choose_precision`` weighs)."""
    return {mode: rates[0.0] for mode, rates in record.items() if 0.0 in rates}


def recorded_merge_rate(record, precision):
    """The largest merge rate recorded for ``precision`` that keeps
    ``MIN_AGREEMENT`` (0 when none does, or none was measured).

    Example
    -------
    >>> recorded_merge_rate({"int8-dynamic": {0.0: 0.995, 0.2: 0.992,
    ...                                       0.4: 0.97}}, "int8-dynamic")
    0.2
    """
    rates = (record or {}).get(precision, {})
    kept = [rate for rate, share in rates.items() if share >= MIN_AGREEMENT]
    return max(kept, default=0.0)


def default_precisions():
    """The modes this CPU runs faster than fp32, fastest first (those
    ``auto`` chooses among, without compiling)."""
    from ast_lobes.inference.hardware import detect_hardware, fast_precisions

    modes = fast_precisions(detect_hardware("cpu"))
    return [m for m in modes if m not in ("fp32", "bf16-autocast")]


def main(argv=None):
    from ast_lobes.inference.hardware import SlowPrecisionError
    from ast_lobes.inference.modes import PRECISIONS
    from ast_lobes.weights.files import CheckpointError
    from pretrained_interfaces.archive import find_audio_files
    from pretrained_interfaces.precision_report import precision_reported

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
