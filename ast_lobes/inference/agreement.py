"""The agreement record of a model folder: per precision and token-merging
rate, the share of a user's files whose top tag was the exact fp32
model's, and the seconds per file, measured by ``python -m
pretrained_interfaces.agreement MODEL CLIPS --record`` and kept in the
folder as ``inference_agreement.json`` with the SHA-256 of its weights and
the CPU class it was timed on.

A tagger built from that folder with ``precision="auto"`` then runs, on
that CPU class, the fastest setting that kept 99 % (``MIN_AGREEMENT``;
``followed_record``); elsewhere it never picks a mode whose recorded
agreement is under 99 % and merges tokens at the largest recorded rate
that keeps it; a mode the record lacks is judged by speed alone. Without
a record, ``auto`` decides by speed alone and never merges.

Authors
 * AST-SpeechBrain contributors 2026
"""

import hashlib
import json
import logging
import math
import os

from ast_lobes.inference.decision import MIN_AGREEMENT
from ast_lobes.inference.hardware import detect_hardware
from ast_lobes.inference.modes import PRECISIONS

logger = logging.getLogger(__name__)

RECORD_FILE = "inference_agreement.json"
# The largest record read (one a recipe writes is under 2 KB).
MAX_RECORD_BYTES = 1 << 20
# Each table's values: agreement a share; seconds per file a time.
VALUE_RANGES = {"agreement": (0.0, 1.0), "seconds_per_file": (0.0, 1e6)}
# The weights a record was measured on: an export of this version, or
# (without its safetensors file) of an earlier one.
WEIGHT_FILES = (("model.safetensors",),
                ("embedding_model.ckpt", "classifier.ckpt"))  # fmt: skip


def share_same(tags, reference):
    """The share of ``tags`` equal to ``reference``'s, position by position.

    Example
    -------
    >>> share_same(["a", "b", "c", "d"], ["a", "b", "c", "a"])
    0.75
    """
    same = sum(a == b for a, b in zip(tags, reference, strict=True))
    return same / len(reference)


def best_agreeing(rows, min_agreement=MIN_AGREEMENT):
    """The fastest ``(precision, rate)`` of measured rows (``precision``,
    ``rate``, ``agreement``, ``seconds``: those of
    ``pretrained_interfaces.agreement.measure_agreement``) whose
    agreement is at least ``min_agreement`` (fp32 at rate 0 keeps it by
    definition).

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
    """Writes measured ``rows`` (``best_agreeing``'s) of ``n_files``
    files into the exported model ``folder`` as ``RECORD_FILE``; returns
    its path."""
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


class AgreementRecordError(ValueError):
    """A model folder's agreement record that is not one; the message is
    one line naming the file and key."""


def refuse(path, key, what):
    """Raises the one-line ``AgreementRecordError`` naming ``key``."""
    raise AgreementRecordError(
        f"{path}: not an agreement record ({key}: {what}); measure it again "
        "with python -m pretrained_interfaces.agreement MODEL CLIPS --record"
    )


def per_mode_and_rate(table, path="record", key="agreement"):
    """``{precision: {rate: value}}`` of a record's JSON table ``key``, as
    numbers: each precision one of ``PRECISIONS``, each rate from 0 to 1
    and each value in ``VALUE_RANGES`` (else one line naming the key).

    Example
    -------
    >>> per_mode_and_rate({"bf16": {"0": 0.99, "0.2": "0.98"}})
    {'bf16': {0.0: 0.99, 0.2: 0.98}}
    >>> per_mode_and_rate({"bf16": {"0": float("inf")}})
    Traceback (most recent call last):
    ...
    ast_lobes.inference.agreement.AgreementRecordError: record: not an ...
    """
    low, high = VALUE_RANGES[key]
    if not isinstance(table, dict):
        refuse(path, key, "not an object of {precision: {rate: number}}")
    numbers = {}
    for mode, rates in table.items():
        if mode not in PRECISIONS:
            refuse(path, f"{key}.{mode}", "not a precision mode")
        if not isinstance(rates, dict):
            refuse(path, f"{key}.{mode}", "not an object of {rate: number}")
        numbers[mode] = {
            number_in(rate, path, f"{key}.{mode}.{rate}", 0.0, 1.0):
                number_in(value, path, f"{key}.{mode}.{rate}", low, high)
            for rate, value in rates.items()
        }  # fmt: skip
    return numbers


def number_in(value, path, key, low, high):
    """``value`` (a number, or its text) as a float from ``low`` to
    ``high``, else one line naming ``key``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        refuse(path, key, f"{value!r} is not a number from {low:g} to "
               f"{high:g}")  # fmt: skip
    return number


def read_record_file(path):
    """The JSON object of an agreement record, read within
    ``MAX_RECORD_BYTES``."""
    size = os.path.getsize(path)
    if size > MAX_RECORD_BYTES:
        refuse(path, "(file)", f"{size} bytes, more than the "
               f"{MAX_RECORD_BYTES} a record may have")  # fmt: skip
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        refuse(path, "(file)", f"not JSON ({type(error).__name__})")
    if not isinstance(record, dict):
        refuse(path, "(top)", f"a JSON {type(record).__name__}, not an "
               "object")  # fmt: skip
    for key in ("measured_on", "weights_sha256"):
        if not isinstance(record.get(key), str):
            refuse(path, key, "missing, or not a string")
    return record


def read_agreement_record(folder):
    """``{precision: {rate: agreement}}`` recorded in an exported model
    ``folder``, or None when it holds no record, or one measured on other
    weights (logged as a warning: the figures are not this model's). A
    record that is not one is refused, naming the file and key."""
    record = read_record(folder)
    return None if record is None else record["agreement"]


def read_record(folder):
    """The record of ``read_agreement_record`` whole: ``agreement``,
    ``seconds_per_file`` (``{precision: {rate: seconds}}``, None in a
    record written before it was kept) and ``measured_on`` (the CPU
    class, ``Hardware.describe()``); a record that is not one, or
    larger than ``MAX_RECORD_BYTES``, is one ``AgreementRecordError``
    line naming the file and key."""
    path = os.path.join(os.fspath(folder), RECORD_FILE)
    if not os.path.isfile(path):
        return None
    record = read_record_file(path)
    agreement = per_mode_and_rate(record.get("agreement"), path)
    seconds = record.get("seconds_per_file")
    if seconds is not None:
        seconds = per_mode_and_rate(seconds, path, "seconds_per_file")
    measured_on, digest = record["measured_on"], record["weights_sha256"]
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
    ``decide_precision`` weighs)."""
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


def followed_record(record, device="cpu"):
    """``(precision, merge rate)`` for ``auto`` from a model's agreement
    record (``read_record``): the fastest setting it timed that kept the
    agreement, when it was timed on this CPU class; else ``("auto",
    None)`` (``auto`` then weighs the recorded agreement with its probe).

    Example
    -------
    >>> followed_record({"measured_on": "a GPU"}, device="cuda")
    ('auto', None)
    """
    if not str(device).startswith("cpu"):
        return "auto", None
    fastest = recorded_fastest(record, detect_hardware("cpu").describe())
    if fastest is None:
        return "auto", None
    precision, rate = fastest
    logger.info(
        "precision auto: %s with merge rate %g (the fastest setting "
        "keeping %g %% top-1 agreement with fp32 in this model's record, "
        "timed on this CPU class)", precision, rate, 100 * MIN_AGREEMENT,
    )  # fmt: skip
    return precision, rate
