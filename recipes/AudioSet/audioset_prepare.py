"""Prepares AudioSet manifests from the official CSVs and downloaded clips.

AudioSet is distributed as YouTube segment lists, not audio, so the clips
come from your own download. Inputs:

* ``class_labels_indices.csv`` (``index, mid, display_name``; 527 labels);
* the segment CSVs ``balanced_train_segments.csv``,
  ``unbalanced_train_segments.csv`` and ``eval_segments.csv`` (three
  comment lines starting with ``#``, then ``YTID, start_seconds,
  end_seconds, "mid1,mid2,..."``), with a folder of clips named
  ``<YTID>.wav``, ``Y<YTID>.wav``, ``<YTID>_<start>.wav`` (or
  ``Y<YTID>_<start>_<end>.wav``, or ``.flac``) anywhere below it;
* or, instead of the CSVs, the reference's JSON datafiles
  (``{"data": [{"wav": path, "labels": "mid1,mid2"}]}``).

A clip file named by two entries (in one split or in both, however its
path is spelled or linked) is refused.

Writes ``train.csv`` and ``eval.csv`` (``ID, duration, wav, label`` with
the labels' display names joined by ``;``), ``label_encoder.txt`` (the 527
labels in the official index order), ``prepare_report.json`` (per split:
segments listed, clips found, missing, unreadable) and
``missing_clips.tsv`` (one line per missing or unreadable clip, with the
reason). Missing or unreadable clips are left out of the manifests but are
always counted and listed.

``train.py`` runs this step first; to run it alone (for instance to get
the ``train.csv`` that ``write_shards.py`` packs into shards), give this
script the same YAML and options as ``train.py`` (training options are
read and ignored)::

    python audioset_prepare.py hparams/full.yaml --csv_folder /data/audioset \
        --clips_folder /data/audioset/audio --output_folder results/full

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import json
import logging
import os
import sys

from speechbrain.dataio.encoder import CategoricalEncoder

from ast_lobes.audio.io import AudioFileError, audio_duration
from ast_lobes.training.data.datasets import LABEL_SEPARATOR, UnknownLabelError
from ast_lobes.training.data.labelled_audio import (
    DataError,
    listing,
    spellings_of_one_file,
)
from ast_lobes.training.data.manifest import (
    already_prepared,
    mark_prepared,
    write_manifest,
)

logger = logging.getLogger(__name__)
SEGMENT_FILES = {
    "balanced": ["balanced_train_segments.csv"],
    "full": ["balanced_train_segments.csv", "unbalanced_train_segments.csv"],
    "eval": ["eval_segments.csv"],
}
AUDIO_EXTENSIONS = (".wav", ".flac")


def read_class_labels(path):
    """``[(mid, display_name)]`` in index order from the labels CSV."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing class labels file")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"index", "mid", "display_name"} <= set(rows[0]):
        raise DataError(
            f"{path}: expected the columns index, mid, display_name"
        )
    if [int(row["index"]) for row in rows] != list(range(len(rows))):
        raise DataError(f"{path}: indices are not 0..{len(rows) - 1}")
    names = [row["display_name"] for row in rows]
    if len(set(names)) != len(names) or any(
        LABEL_SEPARATOR in name for name in names
    ):
        raise DataError(
            f"{path}: display names must be unique and without "
            f"{LABEL_SEPARATOR!r}"
        )
    return [(row["mid"], row["display_name"]) for row in rows]


def read_segments(path):
    """``[(ytid, start, end, [mids])]`` from an official segment CSV."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing segment list")
    segments = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        for line, row in enumerate(reader, start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) != 4:
                raise DataError(
                    f"{path}:{line}: expected YTID, start, end and a quoted "
                    f"label list, got {len(row)} fields"
                )
            ytid, start, end, mids = (field.strip() for field in row)
            segments.append((ytid, start, end, mids.split(",")))
    return segments


def read_json_datafile(path):
    """``[(wav, [mids])]`` from a reference JSON datafile."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing JSON datafile")
    with open(path, encoding="utf-8") as handle:
        try:
            entries = json.load(handle)["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise DataError(
                f"{path}: not a datafile of the form "
                '{"data": [{"wav": ..., "labels": "mid1,mid2"}]}'
            ) from error
    return [(entry["wav"], entry["labels"].split(",")) for entry in entries]


def index_clips(folder):
    """Maps every audio file's name without extension to its path."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: missing clips folder")
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            stem, extension = os.path.splitext(name)
            if extension.lower() in AUDIO_EXTENSIONS:
                found.setdefault(stem, os.path.join(root, name))
    return found


def clip_names(ytid, start, end):
    """File names (without extension) under which a segment may be saved.

    Example
    -------
    >>> clip_names("abc", "30.000", "40.000")[:4]
    ['abc', 'Yabc', 'abc_30.000', 'abc_30']
    """
    starts = [start, str(int(float(start))), f"{float(start):.1f}"]
    names = [ytid, f"Y{ytid}"]
    names += [f"{ytid}_{s}" for s in dict.fromkeys(starts)]
    names += [f"Y{ytid}_{start}_{end}", f"{ytid}_{start}_{end}"]
    return names


def label_names(mids, mid_to_name, source):
    """Display names of ``mids``; an unknown mid raises naming ``source``."""
    unknown = [mid for mid in mids if mid not in mid_to_name]
    if unknown:
        raise UnknownLabelError(
            f"{source}: label {unknown[0]!r} is not in the class labels file"
        )
    return [mid_to_name[mid] for mid in mids]


def check_clip(path):
    """``(duration, None)``, or ``(None, (kind, reason))`` for a bad clip."""
    if path is None:
        return None, ("missing", "no downloaded clip")
    if not os.path.isfile(path):
        return None, ("missing", f"{path}: no such audio file")
    try:
        return audio_duration(path), None
    except AudioFileError as error:
        return None, ("unreadable", str(error))


def split_entries(split, segment_files, json_file, clips, mid_to_name):
    """``[(id, path or None, names, source)]`` for one split."""
    entries = []
    if json_file:
        for wav, mids in read_json_datafile(json_file):
            clip_id = os.path.splitext(os.path.basename(wav))[0]
            names = label_names(mids, mid_to_name, f"{json_file} ({wav})")
            entries.append((clip_id, wav, names))
        return entries
    seen = set()
    for path in segment_files:
        for ytid, start, end, mids in read_segments(path):
            if ytid in seen:
                continue
            seen.add(ytid)
            names = label_names(mids, mid_to_name, f"{path} ({ytid})")
            wav = next(
                (clips[n] for n in clip_names(ytid, start, end) if n in clips),
                None,
            )
            entries.append((ytid, wav, names))
    return entries


def check_one_entry_each(listed):
    """Refuses a clip file that two entries name (``{split: entries}``),
    however each spells its path: in two splits it would leak test clips
    into training, in one it would count twice."""
    repeated = spellings_of_one_file(
        (wav, f"{split} {clip_id}")
        for split, entries in listed.items()
        for clip_id, wav, _ in entries
        if wav is not None and os.path.isfile(wav)
    )
    if repeated:
        raise DataError(
            f"{len(repeated)} clip files listed more than once: "
            f"{listing(repeated)} (a clip is in one split only)"
        )


def prepare_audioset(
    save_folder,
    labels_csv,
    subset="balanced",
    csv_folder=None,
    clips_folder=None,
    train_json=None,
    eval_json=None,
    splits=("train", "eval"),
):
    """Writes the train and eval manifests and the missing-clip report.

    Arguments
    ---------
    save_folder : str
        Where the manifests and reports go.
    labels_csv : str
        ``class_labels_indices.csv``.
    subset : str
        ``balanced`` (balanced_train_segments) or ``full`` (balanced and
        unbalanced training segments).
    csv_folder : str or None
        Folder of the official segment CSVs.
    clips_folder : str or None
        Folder (searched recursively) of the downloaded clips.
    train_json, eval_json : str or None
        Reference JSON datafiles, used instead of the CSVs when given.
    splits : tuple
        The splits prepared: ``("eval",)`` when the training clips come
        from shards (their loose files are then neither listed nor read).

    Returns
    -------
    dict
        The report: per split ``listed``, ``found``, ``missing``,
        ``unreadable``.
    """
    if subset not in ("balanced", "full"):
        raise DataError(f"subset must be balanced or full, got {subset!r}")
    options = {
        name: os.path.abspath(value) if isinstance(value, str) else value
        for name, value in [
            ("labels_csv", labels_csv),
            ("csv_folder", csv_folder),
            ("clips_folder", clips_folder),
            ("train_json", train_json),
            ("eval_json", eval_json),
        ]
    }
    options["subset"] = subset
    splits = tuple(splits)
    if splits != ("train", "eval"):  # folders prepared before keep counting
        options["splits"] = list(splits)
    report_file = os.path.join(save_folder, "prepare_report.json")
    if already_prepared(save_folder, options):
        logger.info("AudioSet already prepared in %s", save_folder)
        with open(report_file, encoding="utf-8") as handle:
            return json.load(handle)
    labels = read_class_labels(labels_csv)
    mid_to_name = dict(labels)
    jsons = {"train": train_json, "eval": eval_json}
    clips = {}
    if not all(jsons[split] for split in splits):
        if not (csv_folder and clips_folder):
            raise DataError(
                "give csv_folder and clips_folder, or train_json and eval_json"
            )
        clips = index_clips(clips_folder)
    report, problems, listed = {}, [], {}
    for split, key in (("train", subset), ("eval", "eval")):
        if split not in splits:
            continue
        files = [os.path.join(csv_folder or "", f) for f in SEGMENT_FILES[key]]
        listed[split] = split_entries(
            split, files, jsons[split], clips, mid_to_name
        )
    check_one_entry_each(listed)
    for split, entries in listed.items():
        rows, bad = [], {"missing": 0, "unreadable": 0}
        for clip_id, wav, names in entries:
            duration, problem = check_clip(wav)
            if problem:
                bad[problem[0]] += 1
                problems.append((split, clip_id, problem[1]))
                continue
            rows.append(
                {
                    "ID": clip_id,
                    "duration": f"{duration:.3f}",
                    "wav": os.path.abspath(wav),
                    "label": LABEL_SEPARATOR.join(names),
                }
            )
        report[split] = {
            "listed": len(entries),
            "found": len(rows),
            **bad,
        }
        logger.info(
            "AudioSet %s: %d segments listed, %d clips found, %d missing, "
            "%d unreadable", split, *report[split].values(),
        )  # fmt: skip
        write_manifest(os.path.join(save_folder, f"{split}.csv"), rows)
    with open(
        os.path.join(save_folder, "missing_clips.tsv"), "w", encoding="utf-8"
    ) as handle:
        handle.write("split\tclip\treason\n")
        handle.writelines(f"{s}\t{c}\t{r}\n" for s, c, r in problems)
    with open(report_file, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)
    encoder = CategoricalEncoder()
    encoder.update_from_iterable([name for _, name in labels])
    encoder.save(os.path.join(save_folder, "label_encoder.txt"))
    mark_prepared(save_folder, options)
    return report


PREPARE_KEYS = ("save_folder", "labels_csv", "subset", "csv_folder",
                "clips_folder", "train_json", "eval_json")  # fmt: skip


def prepare_options(hparams, splits=("train", "eval")):
    """``prepare_audioset``'s arguments from the recipe's hparams (loaded,
    or the plain settings of ``read_plain_hparams``).

    Example
    -------
    >>> options = prepare_options(dict.fromkeys(PREPARE_KEYS), ("eval",))
    >>> options["splits"]
    ('eval',)
    """
    return {**{key: hparams[key] for key in PREPARE_KEYS}, "splits": splits}


def main(argv=None):
    """The prepare step alone, with ``train.py``'s YAML and options."""
    import speechbrain as sb

    from ast_lobes.training.recipe import (
        hold_output_folder,
        parse_overrides,
        read_plain_hparams,
    )

    hparams_file, _, overrides = sb.parse_arguments(
        sys.argv[1:] if argv is None else argv
    )
    plain = read_plain_hparams(hparams_file, parse_overrides(overrides))
    hold_output_folder(plain["output_folder"])
    report = prepare_audioset(**prepare_options(plain))
    for split, counts in report.items():
        print(f"{split}: {counts['found']} of {counts['listed']} clips found")
    print(
        f"manifests in {plain['save_folder']} (train.csv, eval.csv); "
        "missing and unreadable clips in missing_clips.tsv"
    )
    return report


if __name__ == "__main__":
    from ast_lobes.training.recipe import run_main

    run_main(main)
