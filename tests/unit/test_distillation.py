"""Distillation through the distillation token: the losses against
hand-computed values, the two heads, stored teacher outputs."""

import math

import numpy as np
import pytest
import torch

from ast_lobes import DistillationHead
from ast_lobes.training.distillation import Distillation, distillation_loss

CLS = [[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]]
DIST = [[0.0, 2.0, 0.0], [1.0, -1.0, 0.0]]
TEACHER = [[3.0, 1.0, 0.0], [0.0, 0.0, 4.0]]
TARGETS = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


def tensors():
    return [torch.tensor(x) for x in (CLS, DIST, TARGETS, TEACHER)]


def log_softmax(row):
    row = np.asarray(row, dtype=float)
    return row - math.log(np.exp(row).sum())


def cross_entropy(rows, targets):
    return np.mean([-(np.asarray(t) * log_softmax(r)).sum()
                    for r, t in zip(rows, targets, strict=True)])  # fmt: skip


def bce(rows, targets):
    rows, targets = np.asarray(rows), np.asarray(targets)
    p = 1 / (1 + np.exp(-rows))
    return np.mean(-(targets * np.log(p) + (1 - targets) * np.log(1 - p)))


def test_hard_single_label_is_half_labels_half_teacher_decision():
    decision = [[1, 0, 0], [0, 0, 1]]  # the teacher's best classes
    expected = (cross_entropy(CLS, TARGETS) + cross_entropy(DIST, decision)) / 2
    got = distillation_loss(*tensors(), kind="hard")
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_soft_single_label_is_weighted_kl_at_temperature():
    tau, weight = 3.0, 0.1
    kl = np.mean([
        (np.exp(log_softmax(np.array(t) / tau))
         * (log_softmax(np.array(t) / tau) - log_softmax(np.array(d) / tau))
         ).sum()
        for d, t in zip(DIST, TEACHER, strict=True)
    ])  # fmt: skip
    expected = (1 - weight) * cross_entropy(CLS, TARGETS) + weight * tau**2 * kl
    got = distillation_loss(*tensors(), kind="soft", tau=tau, weight=weight)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_multi_label_hard_and_soft_use_the_teacher_sigmoid():
    teacher_p = 1 / (1 + np.exp(-np.asarray(TEACHER)))
    hard = (bce(CLS, TARGETS) + bce(DIST, teacher_p >= 0.5)) / 2
    got = distillation_loss(*tensors(), kind="hard", multi_label=True)
    assert got.item() == pytest.approx(hard, rel=1e-6)
    soft = 0.7 * bce(CLS, TARGETS) + 0.3 * bce(DIST, teacher_p)
    got = distillation_loss(*tensors(), kind="soft", weight=0.3,
                            multi_label=True)  # fmt: skip
    assert got.item() == pytest.approx(soft, rel=1e-6)
    with pytest.raises(ValueError, match="kind must be one of"):
        distillation_loss(*tensors(), kind="warm")


@pytest.mark.parametrize("multi_label", [False, True])
def test_head_average_and_choice(multi_label):
    torch.manual_seed(0)
    tokens = torch.randn(5, 2, 16)
    head = DistillationHead(16, 4, multi_label=multi_label)
    cls_logits, dist_logits = head.pair(tokens)
    act = torch.sigmoid if multi_label else lambda x: x.softmax(-1)
    average = (act(cls_logits) + act(dist_logits)) / 2
    assert torch.allclose(act(head(tokens)), average, atol=1e-6)
    head.use = "dist"
    assert torch.equal(head(tokens), dist_logits)
    head.use = "cls"
    assert torch.equal(head(tokens), cls_logits)
    with pytest.raises(ValueError, match="cls_dist_pair"):
        head(torch.randn(5, 1, 16))


def test_stored_teacher_logits_are_used_not_recomputed(tmp_path):
    class Clips:
        data_ids = ["a", "b"]

    stored = tmp_path / "teacher.npz"
    np.savez(stored, ids=np.array(["a", "b"]), logits=np.eye(2, 3))
    distillation = Distillation(str(stored)).prepare(Clips(), tmp_path)
    assert distillation.computed == 0
    assert torch.equal(
        distillation.teacher_logits(["b"], "cpu"), torch.tensor([[0, 1.0, 0]])
    )
    Clips.data_ids = ["a", "c"]
    with pytest.raises(KeyError, match="no teacher logits for 1 training"):
        Distillation(str(stored)).prepare(Clips(), tmp_path)
