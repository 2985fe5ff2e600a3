"""Distillation through the AST's distillation token (DeiT, Touvron et al.
2021): the cls head learns the labels, the distillation head a teacher's
outputs, which are computed once and stored.

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging
import os

import numpy as np
import torch
import torch.nn.functional as F
from speechbrain.utils.data_utils import batch_pad_right

logger = logging.getLogger(__name__)
KINDS = ("hard", "soft")


def distillation_loss(
    cls_logits,
    dist_logits,
    targets,
    teacher_logits,
    kind="hard",
    tau=3.0,
    weight=0.1,
    multi_label=False,
):
    """The student's loss: labels on the cls head, the teacher on the
    distillation head.

    * hard: ``(loss(cls, targets) + loss(dist, teacher's decision)) / 2``;
      the decision is the teacher's best class (single-label) or its
      classes scoring at least 0.5 (multi-label).
    * soft: ``(1 - weight) * loss(cls, targets) + weight * teacher term``;
      single-label: ``tau^2 * KL(softmax(teacher / tau) ||
      softmax(dist / tau))``; multi-label: BCE of the distillation head
      against the teacher's sigmoid outputs (``tau`` unused).

    ``loss`` is cross-entropy (single-label; targets may be soft) or BCE.

    Arguments
    ---------
    cls_logits, dist_logits, teacher_logits : torch.Tensor
        ``[batch, classes]``.
    targets : torch.Tensor
        ``[batch, classes]``: one-hot (or mixed) single-label targets, or
        multi-hot.
    kind : str
        ``hard`` or ``soft``.
    tau : float
        Temperature of the soft single-label term.
    weight : float
        Share of the teacher term in the soft loss.
    multi_label : bool
        BCE and sigmoid instead of cross-entropy and softmax.

    Returns
    -------
    torch.Tensor
        The scalar loss.

    Example
    -------
    >>> cls, dist = torch.zeros(1, 2), torch.tensor([[0.0, 2.0]])
    >>> teacher, targets = torch.tensor([[3.0, 1.0]]), torch.tensor([[1., 0]])
    >>> round(distillation_loss(cls, dist, targets, teacher).item(), 4)
    1.41
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    teacher_logits = teacher_logits.to(dist_logits.dtype)
    if multi_label:
        label_loss = F.binary_cross_entropy_with_logits(cls_logits, targets)
        teacher_probs = torch.sigmoid(teacher_logits)
        if kind == "hard":
            hard = (teacher_probs >= 0.5).to(dist_logits.dtype)
            teacher_loss = F.binary_cross_entropy_with_logits(dist_logits, hard)
            return (label_loss + teacher_loss) / 2
        teacher_loss = F.binary_cross_entropy_with_logits(
            dist_logits, teacher_probs
        )
        return (1 - weight) * label_loss + weight * teacher_loss
    label_loss = F.cross_entropy(cls_logits, targets)
    if kind == "hard":
        decision = teacher_logits.argmax(dim=-1)
        return (label_loss + F.cross_entropy(dist_logits, decision)) / 2
    teacher_loss = F.kl_div(
        F.log_softmax(dist_logits / tau, dim=-1),
        F.log_softmax(teacher_logits / tau, dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    return (1 - weight) * label_loss + weight * tau**2 * teacher_loss


class Distillation:
    """A teacher and how the student learns from it (set in YAML).

    Arguments
    ---------
    teacher : str
        A model folder exported by a recipe of this project, or a ``.npz``
        of stored teacher logits (``ids``, ``logits``).
    kind : str
        ``hard`` or ``soft`` (see ``distillation_loss``).
    tau : float
        Soft single-label temperature (DeiT: 3).
    weight : float
        Soft loss weight of the teacher term (DeiT: 0.1).
    batch_size : int
        Clips per teacher batch when its outputs are computed.

    Example
    -------
    >>> Distillation("teacher.npz", kind="soft").kind
    'soft'
    """

    def __init__(self, teacher, kind="hard", tau=3.0, weight=0.1,
                 batch_size=16):  # fmt: skip
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.teacher, self.kind = str(teacher), kind
        self.tau, self.weight, self.batch_size = tau, weight, batch_size
        self.logits = {}
        self.computed = 0  # clips the teacher ran on in this process

    def prepare(self, dataset, save_folder):
        """Loads the teacher's logits of every clip of ``dataset``: from
        the ``.npz`` teacher, else from ``save_folder/teacher_logits.npz``
        when it holds them all, else by running the teacher once (without
        augmentation) and storing them there."""
        stored = os.path.join(save_folder, "teacher_logits.npz")
        ids = list(dataset.data_ids)
        for path in (self.teacher, stored):
            if path.endswith(".npz") and os.path.isfile(path):
                self.load(path)
                missing = [i for i in ids if i not in self.logits]
                if not missing:
                    logger.info("teacher outputs reused from %s", path)
                    return self
                if path == self.teacher:
                    raise KeyError(
                        f"{path}: no teacher logits for {len(missing)} "
                        f"training clips, e.g. {missing[:3]}"
                    )
        self.run_teacher(dataset)
        os.makedirs(save_folder, exist_ok=True)
        np.savez(
            stored,
            ids=np.array(ids),
            logits=np.stack([self.logits[i] for i in ids]),
        )
        return self

    def load(self, path):
        """Reads stored logits (``ids``, ``logits``)."""
        with np.load(path) as data:
            self.logits.update(
                zip(data["ids"].tolist(), data["logits"], strict=True)
            )

    def run_teacher(self, dataset):
        """Runs the exported teacher over the clips of ``dataset``, a
        batch at a time."""
        from ast_lobes.weights.exported import load_exported_model

        pipeline = load_exported_model(self.teacher).pipeline
        count = 0
        with dataset.output_keys_as(["id", "sig"]), torch.no_grad():
            batch = []
            for item in dataset:
                batch.append(item)
                if len(batch) == self.batch_size:
                    count += self.run_batch(pipeline, batch)
                    batch = []
            if batch:
                count += self.run_batch(pipeline, batch)
        self.computed += count
        logger.info("teacher %s ran on %d training clips", self.teacher, count)

    def run_batch(self, pipeline, batch):
        """Stores the teacher's logits of a list of ``id``/``sig`` items."""
        wavs, lens = batch_pad_right([item["sig"] for item in batch])
        logits = pipeline(wavs, lens).reshape(len(batch), -1)
        for item, row in zip(batch, logits.numpy(), strict=True):
            self.logits[item["id"]] = row
        return len(batch)

    def teacher_logits(self, ids, device):
        """The stored teacher logits of a batch, ``[batch, classes]``."""
        rows = np.stack([self.logits[i] for i in ids])
        return torch.from_numpy(rows).to(device)

    def loss(self, cls_logits, dist_logits, targets, ids, multi_label):
        """``distillation_loss`` of a batch with its stored teacher."""
        teacher = self.teacher_logits(ids, cls_logits.device)
        return distillation_loss(
            cls_logits, dist_logits, targets, teacher, self.kind, self.tau,
            self.weight, multi_label,
        )  # fmt: skip


def distillation_from(teacher=None, kind="hard", tau=3.0, weight=0.1):
    """A ``Distillation`` from ``teacher``, or None without one (for a
    YAML whose ``teacher`` key may be null).

    Example
    -------
    >>> distillation_from(None) is None
    True
    """
    if not teacher:
        return None
    return Distillation(teacher, kind=kind, tau=tau, weight=weight)


def write_teacher_logits(brain, dataset, loader_kwargs, path):
    """Runs the Brain's current model (a teacher just trained) over
    ``dataset`` without augmentation and stores its logits per clip in
    ``path`` (``ids``, ``logits``) for a student's ``Distillation``.

    The evaluation keeps softmax (or sigmoid) scores; their logarithm (or
    logit) gives the same softmax (sigmoid) at any temperature, so it
    stands for the logits.
    """
    brain.evaluate_current_weights(dataset, loader_kwargs, "teacher_train")
    ids, scores, _ = brain.scores.stacked()
    scores = np.clip(scores, 1e-7, 1 - 1e-7)
    if brain.hparams.loss == "bce":
        logits = np.log(scores) - np.log1p(-scores)
    else:
        logits = np.log(scores)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez(path, ids=np.array(ids), logits=logits.astype(np.float32))
    logger.info("teacher logits of %d clips written to %s", len(ids), path)
    return path
