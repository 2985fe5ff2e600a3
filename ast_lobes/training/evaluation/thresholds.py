"""Per-class decision thresholds for multi-label models, chosen on
validation data (the AST author's advice, YuanGongND/ast #2): for each
class the score threshold that maximises its F1.

Authors
 * AST-SpeechBrain contributors 2026
"""

import numpy as np
from sklearn.metrics import precision_recall_curve

MIN_POSITIVES = 3  # positive clips a class needs for a threshold of its own


def f1_thresholds(scores, targets, min_positives=MIN_POSITIVES, fallback=0.5):
    """The F1-maximising threshold of every class.

    A clip is predicted positive when its score is at least the threshold.
    Among equally good thresholds the highest is taken. A class with fewer
    than ``min_positives`` positive clips keeps ``fallback``.

    Arguments
    ---------
    scores : numpy.ndarray
        ``[clips, classes]`` sigmoid scores.
    targets : numpy.ndarray
        ``[clips, classes]`` 0/1 (soft targets are cut at 0.5).
    min_positives : int
        Positives a class needs for its own threshold.
    fallback : float
        The threshold of the other classes.

    Returns
    -------
    numpy.ndarray
        ``[classes]``.

    Example
    -------
    >>> scores = np.array([[0.9], [0.6], [0.4], [0.2]])
    >>> targets = np.array([[1], [1], [0], [0]])
    >>> f1_thresholds(scores, targets, min_positives=1)
    array([0.6])
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets) >= 0.5
    chosen = np.full(scores.shape[1], float(fallback))
    for index in range(scores.shape[1]):
        truth = targets[:, index]
        if truth.sum() < min_positives:
            continue
        precision, recall, cuts = precision_recall_curve(
            truth, scores[:, index]
        )
        precision, recall = precision[:-1], recall[:-1]  # one per cut
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total,
                       out=np.zeros_like(total), where=total > 0)  # fmt: skip
        best = np.flatnonzero(f1 >= f1.max() - 1e-9)  # ties, rounding aside
        chosen[index] = cuts[best].max()
    return chosen
