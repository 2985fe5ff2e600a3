"""Corpus-level multi-label metrics: mAP, mean AUC and d-prime.

The reference computes scikit-learn's average precision and ROC AUC for
every class over the whole evaluation set and averages them. A class with
no positive example has no defined AP (and no AUC); a class with no
negative example has no AUC. Such classes are left out of the means, shown
as ``nan`` per class, and counted in the summary (``classes_without_
positives``, ``classes_without_negatives``), so a partial evaluation set
neither crashes nor returns a silent NaN.

Authors
 * AST-SpeechBrain contributors 2026
"""

import math

import numpy as np
import torch
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score


def multilabel_scores(targets, scores):
    """Per-class AP and AUC and their means over the classes they fit.

    Arguments
    ---------
    targets : array-like
        ``[clips, classes]``; values of 0.5 and more count as positive.
    scores : array-like
        ``[clips, classes]`` scores (sigmoid outputs or logits).

    Returns
    -------
    dict
        ``mAP``, ``mAUC``, ``d_prime``, ``ap`` and ``auc`` (per class,
        ``nan`` where undefined), ``classes_without_positives`` and
        ``classes_without_negatives`` (index lists).

    Example
    -------
    >>> result = multilabel_scores(
    ...     [[1, 0, 0], [0, 1, 0], [1, 1, 0]],
    ...     [[0.9, 0.2, 0.1], [0.3, 0.8, 0.2], [0.4, 0.1, 0.3]])
    >>> round(result["mAP"], 4), result["classes_without_positives"]
    (0.9167, [2])
    """
    targets = np.asarray(targets, dtype=np.float64) >= 0.5
    scores = np.asarray(scores, dtype=np.float64)
    if targets.shape != scores.shape or targets.ndim != 2:
        raise ValueError(
            f"targets {targets.shape} and scores {scores.shape} must both "
            "be [clips, classes]"
        )
    positives = targets.sum(axis=0)
    n_clips, n_classes = targets.shape
    ap = np.full(n_classes, np.nan)
    auc = np.full(n_classes, np.nan)
    for index in range(n_classes):
        if positives[index] == 0:
            continue
        ap[index] = average_precision_score(targets[:, index], scores[:, index])
        if positives[index] < n_clips:
            auc[index] = roc_auc_score(targets[:, index], scores[:, index])
    if np.isnan(ap).all():
        raise ValueError("no class has a positive example: mAP is undefined")
    mean_auc = float(np.nanmean(auc)) if not np.isnan(auc).all() else math.nan
    return {
        "mAP": float(np.nanmean(ap)),
        "mAUC": mean_auc,
        "d_prime": d_prime(mean_auc),
        "ap": ap,
        "auc": auc,
        "classes_without_positives": np.flatnonzero(positives == 0).tolist(),
        "classes_without_negatives": np.flatnonzero(
            positives == n_clips
        ).tolist(),
    }


def d_prime(auc):
    """``sqrt(2) * Phi^-1(auc)``, the reference's d-prime.

    Example
    -------
    >>> round(d_prime(0.75), 4)
    0.9539
    """
    return float(math.sqrt(2.0) * norm.ppf(auc))


class MultiLabelStats:
    """Collects scores and targets over a stage; summarises them at the end.

    Follows SpeechBrain's ``MetricStats`` interface (``append``,
    ``summarize``, ``write_stats``).

    Arguments
    ---------
    label_names : list or None
        Class names for ``write_stats``.

    Example
    -------
    >>> stats = MultiLabelStats(["dog", "cat"])
    >>> stats.append(["a", "b"], torch.tensor([[0.9, 0.1], [0.2, 0.7]]),
    ...              torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    >>> stats.summarize("mAP")
    1.0
    """

    def __init__(self, label_names=None):
        self.label_names = label_names
        self.clear()

    def clear(self):
        """Forgets everything appended."""
        self.ids = []
        self.scores = []
        self.targets = []
        self.summary = {}

    def append(self, ids, scores, targets):
        """Adds a batch: ``ids``, ``scores`` and ``targets`` ``[batch, C]``."""
        self.ids.extend(ids)
        self.scores.append(torch.as_tensor(scores).detach().float().cpu())
        self.targets.append(torch.as_tensor(targets).detach().float().cpu())

    def stacked(self):
        """``(ids, scores, targets)`` with the arrays ``[clips, classes]``."""
        scores = torch.cat(self.scores).numpy()
        targets = torch.cat(self.targets).numpy()
        return list(self.ids), scores, targets

    def summarize(self, field=None):
        """The ``multilabel_scores`` of everything appended (or one field)."""
        _, scores, targets = self.stacked()
        self.summary = multilabel_scores(targets, scores)
        return self.summary if field is None else self.summary[field]

    def write_stats(self, filestream):
        """Writes the per-class AP and AUC table, best AP first."""
        if not self.summary:
            self.summarize()
        ap, auc = self.summary["ap"], self.summary["auc"]
        _, _, targets = self.stacked()
        positives = (targets >= 0.5).sum(axis=0)
        names = self.label_names or [str(i) for i in range(len(ap))]
        filestream.write("index\tlabel\tpositives\tAP\tAUC\n")
        order = sorted(
            range(len(ap)), key=lambda i: -np.nan_to_num(ap[i], nan=-1)
        )
        for index in order:
            filestream.write(
                f"{index}\t{names[index]}\t{int(positives[index])}\t"
                f"{ap[index]:.4f}\t{auc[index]:.4f}\n"
            )
        filestream.write(
            f"# mAP {self.summary['mAP']:.4f} over "
            f"{int(np.isfinite(ap).sum())} classes with a positive example; "
            f"mAUC {self.summary['mAUC']:.4f}; "
            f"d-prime {self.summary['d_prime']:.4f}\n"
        )
