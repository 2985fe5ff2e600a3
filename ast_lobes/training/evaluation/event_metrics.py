"""Sound event detection scores with sed_eval (Mesaros et al., 2016):
event-based F1 (onsets within a collar) and segment-based F1 (activity
per segment), over event lists in the DCASE layout.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv


def read_event_list(path):
    """Rows of a ``filename``, ``onset``, ``offset``, ``event_label`` TSV
    (onset and offset in seconds)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        {"filename": r["filename"], "onset": float(r["onset"]),
         "offset": float(r["offset"]), "event_label": r["event_label"]}
        for r in rows
    ]  # fmt: skip


def write_event_list(path, rows):
    """Writes event rows (as ``read_event_list`` gives) as a TSV."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["filename", "onset", "offset", "event_label"])
        for row in rows:
            writer.writerow([row["filename"], row["onset"], row["offset"],
                             row["event_label"]])  # fmt: skip
    return path


def event_scores(reference, estimated, labels, collar=0.2, segment=1.0):
    """Event-based and segment-based micro F1, precision and recall.

    Arguments
    ---------
    reference, estimated : list of dict
        Event rows (``read_event_list``).
    labels : list of str
        The event classes.
    collar : float
        Event-based onset collar in seconds (offsets: the larger of it and
        20 % of the event's length, as in DCASE).
    segment : float
        Segment length in seconds of the segment-based scores.

    Returns
    -------
    dict
        ``event_f1``, ``event_precision``, ``event_recall``,
        ``segment_f1``, ``segment_precision``, ``segment_recall``.
    """
    import dcase_util
    import sed_eval

    event_based = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=labels, t_collar=collar,
        percentage_of_length=0.2,
    )  # fmt: skip
    segment_based = sed_eval.sound_event.SegmentBasedMetrics(
        event_label_list=labels, time_resolution=segment
    )
    for name in sorted({row["filename"] for row in reference}):
        truth = dcase_util.containers.MetaDataContainer(
            [r for r in reference if r["filename"] == name]
        )
        found = dcase_util.containers.MetaDataContainer(
            [r for r in estimated if r["filename"] == name]
        )
        event_based.evaluate(truth, found)
        segment_based.evaluate(truth, found)
    scores = {}
    for kind, metrics in (("event", event_based), ("segment", segment_based)):
        overall = metrics.results_overall_metrics()["f_measure"]
        scores[f"{kind}_f1"] = float(overall["f_measure"])
        scores[f"{kind}_precision"] = float(overall["precision"])
        scores[f"{kind}_recall"] = float(overall["recall"])
    return scores
