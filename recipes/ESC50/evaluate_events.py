#!/usr/bin/env python3
"""Scores a model's sound events on recordings with reference events
(``make_event_data.py``) with sed_eval: event-based F1 (200 ms onset
collar) and segment-based F1 (1-s segments), for the events of a
frame-level head (per time step) and for those of the same model's clip
scores over sliding windows.

Usage::

    python evaluate_events.py --model results/.../model --data EVENTS_FOLDER

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import json
import os
import time

from ast_lobes.training.evaluation.event_metrics import (
    event_scores,
    read_event_list,
    write_event_list,
)
from pretrained_interfaces.audio_tagger import AudioTagger
from pretrained_interfaces.events import detect_events
from pretrained_interfaces.timeline import plot_timeline


def detected_rows(tagger, folder, names, **options):
    """Event rows of every recording, with the seconds it took."""
    rows, started, results = [], time.perf_counter(), {}
    for name in names:
        result = detect_events(tagger, os.path.join(folder, "audio", name),
                               **options)  # fmt: skip
        results[name] = result
        rows += [
            {"filename": name, "onset": e["onset"], "offset": e["offset"],
             "event_label": e["label"]}
            for e in result.events
        ]  # fmt: skip
    return rows, time.perf_counter() - started, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", default="results/ESC50/events")
    parser.add_argument("--median-filter", type=float, default=0.3)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--window-hop", type=float, default=0.5)
    args = parser.parse_args(argv)
    tagger = AudioTagger.from_source(args.model, precision="fp32")
    reference = read_event_list(os.path.join(args.data, "events.tsv"))
    names = sorted({row["filename"] for row in reference})
    modes = {"windows": {"resolution": "windows", "hop": args.window_hop}}
    if tagger.pipeline.head_kind == "frames":
        modes = {"frames": {"resolution": "frames"}, **modes}
    os.makedirs(args.output, exist_ok=True)
    report = {}
    for mode, options in modes.items():
        rows, seconds, results = detected_rows(
            tagger, args.data, names, threshold=args.threshold,
            median_filter=args.median_filter, **options,
        )  # fmt: skip
        write_event_list(os.path.join(args.output, f"{mode}.tsv"), rows)
        report[mode] = {
            **event_scores(reference, rows, tagger.label_names),
            "events": len(rows), "seconds": round(seconds, 1),
        }  # fmt: skip
        first = names[0]
        plot_timeline(
            results[first], tagger.label_names,
            os.path.join(args.output, f"{mode}_{first[:-4]}.png"),
            reference=[
                {"label": r["event_label"], "onset": r["onset"],
                 "offset": r["offset"]}
                for r in reference if r["filename"] == first
            ],
        )  # fmt: skip
    with open(os.path.join(args.output, "scores.json"), "w") as handle:
        json.dump(report, handle, indent=1)
    print(f"{len(reference)} reference events in {len(names)} recordings")
    print("| events from | event F1 | segment F1 | events | time |")
    print("|---|---|---|---|---|")
    for mode, scores in report.items():
        print(f"| {mode} | {scores['event_f1']:.3f} | "
              f"{scores['segment_f1']:.3f} | {scores['events']} | "
              f"{scores['seconds']} s |")  # fmt: skip
    print(f"(event lists, pictures and scores.json in {args.output})")
    return report


if __name__ == "__main__":
    main()
