"""Per-class thresholds: the F1-maximising ones, found independently by
trying every candidate with scikit-learn's f1_score."""

import numpy as np
from sklearn.metrics import f1_score

from ast_lobes.training.evaluation.thresholds import f1_thresholds


def brute_force(scores, truth):
    cuts = np.unique(scores)
    f1 = np.array([f1_score(truth, scores >= cut, zero_division=0)
                   for cut in cuts])  # fmt: skip
    return cuts[f1 >= f1.max() - 1e-9].max()  # ties: the highest threshold


def test_thresholds_maximise_each_class_f1():
    rng = np.random.default_rng(0)
    targets = rng.random((200, 6)) < [0.5, 0.3, 0.1, 0.05, 0.02, 0.0]
    scores = np.clip(targets * rng.uniform(0.1, 0.6, (200, 6))
                     + rng.uniform(0, 0.6, (200, 6)), 0, 1)  # fmt: skip
    scores = np.round(scores, 2)  # ties among scores
    chosen = f1_thresholds(scores, targets, min_positives=3, fallback=0.5)
    for index in range(6):
        if targets[:, index].sum() < 3:
            assert chosen[index] == 0.5
        else:
            expected = brute_force(scores[:, index], targets[:, index])
            assert chosen[index] == expected, index
    assert (targets.sum(0) < 3).any() and (targets.sum(0) >= 3).sum() >= 3
