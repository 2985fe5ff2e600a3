"""Summaries of k-fold cross-validation, as the reference reports ESC-50.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os

import numpy as np

from ast_lobes.training.evaluation.metrics_file import read_metrics


def summarize_folds(accuracy):
    """Mean and spread of per-fold accuracies.

    Two numbers as in the reference protocol: at the last epoch, and at the
    single epoch whose mean over folds is best.

    Arguments
    ---------
    accuracy : dict
        fold to {epoch: accuracy}; every fold must have the same epochs.

    Returns
    -------
    dict
        ``last_epoch`` and ``best_epoch`` entries with ``epoch``,
        ``per_fold``, ``mean`` and ``std`` (population standard deviation).

    Example
    -------
    >>> summary = summarize_folds({1: {1: 0.5, 2: 0.7}, 2: {1: 0.9, 2: 0.6}})
    >>> summary["last_epoch"]["mean"], summary["best_epoch"]["epoch"]
    (0.65, 1)
    """
    folds = sorted(accuracy)
    epochs = sorted(accuracy[folds[0]])
    for fold in folds:
        if sorted(accuracy[fold]) != epochs:
            raise ValueError(
                f"Fold {fold} has epochs {sorted(accuracy[fold])}, but fold "
                f"{folds[0]} has {epochs}: some fold did not finish"
            )
    table = np.array([[accuracy[f][e] for e in epochs] for f in folds])
    means = table.mean(axis=0)
    best = int(np.argmax(means))

    def entry(column):
        values = table[:, column]
        return {
            "epoch": epochs[column],
            "per_fold": dict(zip(folds, values.round(6).tolist(), strict=True)),
            "mean": round(float(values.mean()), 6),
            "std": round(float(values.std()), 6),
        }

    return {"last_epoch": entry(len(epochs) - 1), "best_epoch": entry(best)}


def format_summary(summary, metric="accuracy"):
    """Human-readable lines of a ``summarize_folds`` result."""
    lines = []
    for key, title in (("last_epoch", "last epoch"), ("best_epoch", "best")):
        item = summary[key]
        folds = ", ".join(
            f"fold {fold}: {100 * acc:.1f}%"
            for fold, acc in item["per_fold"].items()
        )
        lines.append(
            f"{title} (epoch {item['epoch']}): mean {metric} "
            f"{100 * item['mean']:.2f}% +- {100 * item['std']:.2f}% ({folds})"
        )
    return "\n".join(lines)


def write_summary(path, summary, metric="accuracy"):
    """Writes the summary as JSON and returns its readable text."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    return format_summary(summary, metric)


def summarize_fold_runs(metrics_files, path, metric="accuracy"):
    """Summarises the folds' validation ``metric`` per epoch (each fold's
    own ``metrics_file``), writes ``path`` and returns the readable text.
    Two folds read from one file are refused: they would be one fold's
    run counted twice.

    Example
    -------
    >>> summarize_fold_runs({1: "run/m.jsonl", 2: "run/m.jsonl"}, "s.json")
    Traceback (most recent call last):
    ...
    ValueError: folds 1 and 2 read the same metrics file run/m.jsonl: ...
    """
    seen = {}
    for fold, file in metrics_files.items():
        where = os.path.abspath(file)
        if where in seen:
            raise ValueError(
                f"folds {seen[where]} and {fold} read the same metrics file "
                f"{file}: each fold must run in its own folder"
            )
        seen[where] = fold
    per_fold = {
        fold: read_metrics(file, metric) for fold, file in metrics_files.items()
    }
    return write_summary(path, summarize_folds(per_fold), metric)
