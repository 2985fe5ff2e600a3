"""Distillation through the AST's distillation token (DeiT, Touvron et al.
2021): the cls head learns the labels, the distillation head a teacher's
outputs, which are computed once and stored, for the clean clips or for
each of a number of augmentation draws (the CED idea: the student then
sees exactly the augmented clip its stored teacher output is for), or
computed online on every training batch as the student sees it, mixed
clips included ("function matching", Beyer et al. 2022).

Authors
 * AST-SpeechBrain contributors 2026
"""

import itertools
import json
import logging
import os

import numpy as np
import torch
import torch.nn.functional as F
from speechbrain.utils.data_utils import batch_pad_right

from ast_lobes.augmentation.draws import (
    augment_features,
    augmentation_settings,
    draw_generators,
)
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.weights.sources import label_columns, load_model_source

logger = logging.getLogger(__name__)
KINDS = ("hard", "soft")


class TeacherError(ValueError):
    """A teacher, or teacher settings, that cannot teach this student as
    asked (a user's input: the recipes end with one line naming it)."""


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
        A model folder exported by a recipe of this project, another
        SpeechBrain classifier folder (clean clips only), a published AST
        (registry name, ``.pth``, Hugging Face folder or hub id), or a
        ``.npz`` of stored teacher logits (``write_teacher_logits``). Its
        outputs are matched to the student's labels by name.
    kind : str
        ``hard`` or ``soft`` (see ``distillation_loss``).
    tau : float
        Soft single-label temperature (DeiT: 3).
    weight : float
        Soft loss weight of the teacher term (DeiT: 0.1).
    draws : int
        Augmentation draws per clip with a stored teacher output; epoch
        ``e`` trains on draw ``(e - 1) % draws``. 0: the teacher's outputs
        on the clean clips, the student's augmentation drawn freely.
    seed : int
        Seed of the draws (with the clip id and the draw number).
    batch_size : int
        Clips per teacher batch when its outputs are computed.
    trust_code : bool
        Build another toolkit's SpeechBrain classifier folder by running
        its ``hyperparams.yaml``.
    online : bool
        Run the teacher on every training batch instead of storing its
        outputs: on the batch as the student sees it (mixup, a fresh
        augmentation draw each epoch, the same masks). The teacher is a
        model folder, or a trained pipeline given to ``use_teacher``.

    Example
    -------
    >>> Distillation("teacher.npz", kind="soft", draws=8).draw_of_epoch(10)
    1
    """

    def __init__(self, teacher, kind="hard", tau=3.0, weight=0.1, draws=0,
                 seed=0, batch_size=16, trust_code=False,
                 online=False):  # fmt: skip
        if kind not in KINDS:
            raise TeacherError(f"kind must be one of {KINDS}, not {kind!r}")
        if draws < 0:
            raise TeacherError(
                f"draws must be 0 (clean clips) or more: {draws}"
            )
        if online and draws:
            raise TeacherError(
                f"teacher_draws ({draws}) are stored teacher outputs, but an "
                "online teacher sees a new draw every epoch; set "
                "teacher_draws 0 (or teacher_online false)"
            )
        self.teacher, self.kind = str(teacher), kind
        self.tau, self.weight, self.batch_size = tau, weight, batch_size
        self.draws, self.seed = int(draws), int(seed)
        self.augmentation = {}
        self.label_names = None
        self.logits = {}
        self.computed = 0  # clip-draws the teacher ran on in this process
        self.trust_code = bool(trust_code)  # another toolkit's folder
        self.online = bool(online)
        self.pipeline = None  # the online teacher
        self.columns = None  # its outputs' columns of the student's labels
        self.spec_augment = self.fbank_noise = None

    def use_teacher(self, pipeline):
        """Runs ``pipeline`` (an ``AudioClassificationPipeline`` trained on
        the student's labels, e.g. a first stage's) as the online teacher.
        """
        if not self.online:
            raise ValueError("use_teacher is for an online teacher")
        self.pipeline = pipeline.eval()
        logger.info("the teacher runs online on every training batch")
        return self

    def settings(self):
        """What the stored outputs depend on besides the teacher."""
        if self.online:
            return {"online": True}
        if not self.draws:
            return {"draws": 0}
        return {"draws": self.draws, "seed": self.seed, **self.augmentation}

    def prepare(self, dataset, save_folder, spec_augment=None,
                fbank_noise=None, label_names=None):  # fmt: skip
        """Loads the teacher's logits of every clip (and draw) of
        ``dataset``: from the ``.npz`` teacher, else from
        ``save_folder/teacher_logits.npz`` when it holds them all for the
        same settings, else by running the teacher once and storing them
        there. ``spec_augment`` and ``fbank_noise`` are the student's
        augmentation, which the draws repeat; the teacher's outputs are
        matched to the student's ``label_names`` by name."""
        self.label_names = label_names
        if self.online:
            return self.prepare_online(spec_augment, fbank_noise, save_folder)
        if self.draws:
            self.augmentation = augmentation_settings(spec_augment, fbank_noise)
            if not any(self.augmentation.values()):
                raise TeacherError(
                    f"teacher draws ({self.draws}) need an augmentation "
                    "(SpecAugment or fbank noise); set draws to 0"
                )
        stored = os.path.join(save_folder, "teacher_logits.npz")
        ids = list(dataset.data_ids)
        if self.teacher.endswith(".npz"):
            self.load(self.teacher, ids, required=True)
            logger.info("teacher outputs read from %s", self.teacher)
            return self
        source = {"teacher": os.path.abspath(self.teacher)}
        if os.path.isfile(stored) and self.load(stored, ids, source):
            logger.info("teacher outputs reused from %s", stored)
            return self
        model = load_model_source(
            self.teacher, savedir=os.path.join(save_folder, "teacher_model"),
            trust_code=self.trust_code,
        )  # fmt: skip
        if self.draws and not isinstance(
            model.pipeline, AudioClassificationPipeline
        ):
            raise TeacherError(
                f"{self.teacher}: this teacher computes its own features, "
                "so it cannot see the student's augmentation draws; set "
                "teacher_draws to 0"
            )
        computed = teacher_logits_per_draw(
            model.pipeline, dataset, self.draws, spec_augment, fbank_noise,
            self.seed, self.batch_size,
        )  # fmt: skip
        if label_names is not None:
            computed = computed[..., label_columns(
                model.label_names, label_names, self.teacher
            )]  # fmt: skip
        self.logits = dict(zip(ids, computed, strict=True))
        self.computed += len(ids) * max(self.draws, 1)
        logger.info("teacher %s ran on %d training clips x %d draws",
                    self.teacher, len(ids), max(self.draws, 1))  # fmt: skip
        settings = {**self.settings(), **source}
        store_teacher_logits(stored, ids, computed, settings, label_names)
        return self

    def prepare_online(self, spec_augment, fbank_noise, save_folder):
        """Keeps the student's augmentation and loads the online teacher
        (unless ``use_teacher`` gave one)."""
        self.spec_augment, self.fbank_noise = spec_augment, fbank_noise
        if self.pipeline is not None:
            return self
        if self.teacher.endswith(".npz"):
            raise TeacherError(
                f"{self.teacher}: an online teacher (teacher_online: true) "
                "runs on every training batch, so it is a model, not stored "
                "outputs; give a model folder, or set teacher_online false"
            )
        model = load_model_source(
            self.teacher, savedir=os.path.join(save_folder, "teacher_model"),
            trust_code=self.trust_code,
        )  # fmt: skip
        if not isinstance(model.pipeline, AudioClassificationPipeline):
            raise TeacherError(
                f"{self.teacher}: this teacher computes its own features, "
                "so it cannot see the student's augmented batches; set "
                "teacher_online false"
            )
        self.pipeline = model.pipeline.eval()
        if self.label_names is not None:
            self.columns = label_columns(
                model.label_names, self.label_names, self.teacher
            )
        logger.info("the teacher %s runs online on every training batch",
                    self.teacher)  # fmt: skip
        return self

    def load(self, path, ids, source=None, required=False):
        """Reads stored logits; True when they cover ``ids`` with this
        run's settings (and ``source``, the teacher of a stored file).
        With ``required`` (the user's own file) anything else is an error
        that says what differs."""
        with np.load(path) as data:
            logits = data["logits"]
            stored_ids = data["ids"].tolist()
            settings = (
                json.loads(str(data["settings"]))
                if "settings" in data
                else {"draws": 0}
            )
            labels = data["labels"].tolist() if "labels" in data else None
        if logits.ndim == 2:  # clean-clip logits [clips, classes]
            logits = logits[:, None]
        problem = None
        if labels is not None and self.label_names is not None:
            columns = label_columns(labels, self.label_names, path)
            logits = logits[..., columns]
        elif self.label_names is not None and (
            logits.shape[-1] != len(self.label_names)
        ):
            problem = (
                f"{logits.shape[-1]} teacher outputs for "
                f"{len(self.label_names)} labels"
            )
        if source is None:  # a file of outputs: whichever teacher made it
            settings.pop("teacher", None)
        wanted = {**self.settings(), **(source or {})}
        if problem is None and settings != wanted:
            differ = ", ".join(
                f"{key} {settings.get(key)} (this run: {wanted.get(key)})"
                for key in sorted(set(settings) | set(wanted))
                if settings.get(key) != wanted.get(key)
            )
            problem = (
                f"its teacher outputs were made with other draws: {differ}; "
                "give the student the same teacher_draws, augmentation "
                "(freq_mask, time_mask, fbank noise) and seed, or write the "
                "teacher's outputs again"
            )
        elif problem is None:
            self.logits = dict(zip(stored_ids, logits, strict=True))
            missing = [i for i in ids if i not in self.logits]
            if missing:
                problem = (
                    f"no teacher logits for {len(missing)} training clips, "
                    f"e.g. {missing[:3]}"
                )
        if problem and required:
            raise TeacherError(f"{path}: {problem}")
        return problem is None

    def draw_of_epoch(self, epoch):
        """The draw an epoch (from 1) trains on (online: a new one every
        epoch); 0 without draws."""
        if self.online:
            return epoch - 1
        return (epoch - 1) % self.draws if self.draws else 0

    def generators(self, ids, epoch):
        """The clips' generators for ``epoch``'s draw (None without
        draws: the augmentation draws freely)."""
        if not (self.draws or self.online):
            return None
        return draw_generators(ids, self.draw_of_epoch(epoch), self.seed)

    def teacher_logits(self, ids, device, epoch=1):
        """The stored teacher logits of a batch, ``[batch, classes]``."""
        draw = self.draw_of_epoch(epoch)
        rows = np.stack([self.logits[i][draw] for i in ids])
        return torch.from_numpy(rows).to(device)

    @torch.no_grad()
    def online_logits(self, wavs, wav_lens, ids, epoch=1, raw=None,
                      front_end=None):  # fmt: skip
        """The online teacher's logits of a training batch as the student
        sees it: the same (mixed) waveforms and ``epoch``'s draw of the
        augmentation, ``[batch, classes]``.

        ``raw`` (the student's fbank of ``wavs`` before scaling, with its
        frame lengths) is reused when the student's ``front_end`` has the
        teacher's settings (``KaldiFbank.settings``): the same features,
        not computed twice.
        """
        pipeline = self.pipeline
        if next(pipeline.parameters()).device != wavs.device:
            pipeline.to(wavs.device)
        if raw is not None and not same_front_end(
            front_end, pipeline.compute_features
        ):
            raw = None
        feats, frame_lens = augment_features(
            pipeline, wavs, wav_lens, self.spec_augment, self.fbank_noise,
            self.generators(ids, epoch), raw=raw,
        )  # fmt: skip
        logits = pipeline.classify(feats, frame_lens)
        if self.columns is not None:
            logits = logits[..., self.columns]
        return logits.float()

    def loss(self, cls_logits, dist_logits, targets, ids, multi_label,
             epoch=1, teacher_logits=None):  # fmt: skip
        """``distillation_loss`` of a batch with its stored teacher (or
        the online teacher's ``teacher_logits``)."""
        teacher = teacher_logits
        if teacher is None:
            teacher = self.teacher_logits(ids, cls_logits.device, epoch)
        return distillation_loss(
            cls_logits, dist_logits, targets, teacher, self.kind, self.tau,
            self.weight, multi_label,
        )  # fmt: skip


def same_front_end(first, second):
    """True when two front ends give the same features (both with
    ``settings``, equal).

    Example
    -------
    >>> from ast_lobes import KaldiFbank
    >>> same_front_end(KaldiFbank(), KaldiFbank())
    True
    >>> same_front_end(KaldiFbank(), KaldiFbank(frame_shift=20.0))
    False
    """
    settings = [getattr(end, "settings", None) for end in (first, second)]
    if None in settings or type(first) is not type(second):
        return False
    return settings[0]() == settings[1]()


def distillation_from(teacher=None, kind="hard", tau=3.0, weight=0.1,
                      draws=0, seed=0, trust_code=False,
                      online=False):  # fmt: skip
    """A ``Distillation`` from ``teacher``, or None without one (for a
    YAML whose ``teacher`` key may be null).

    Example
    -------
    >>> distillation_from(None) is None
    True
    """
    if not teacher:
        return None
    return Distillation(teacher, kind=kind, tau=tau, weight=weight,
                        draws=draws, seed=seed, trust_code=trust_code,
                        online=online)  # fmt: skip


@torch.no_grad()
def teacher_logits_per_draw(
    pipeline, dataset, draws=0, spec_augment=None, fbank_noise=None, seed=0,
    batch_size=16,
):  # fmt: skip
    """A teacher's logits on every clip of ``dataset``: on the clean clips
    (``draws`` 0) or on each augmentation draw, drawn as the student's
    training draws them (``augment_features`` with ``draw_generators``).

    Arguments
    ---------
    pipeline : ast_lobes.AudioClassificationPipeline
        The teacher, in eval mode.
    dataset : speechbrain.dataio.dataset.DynamicItemDataset
        With ``id`` and ``sig`` items.
    draws : int
        Augmentation draws per clip (0: the clean clip once).
    spec_augment, fbank_noise : torch.nn.Module or None
        The student's augmentation.
    seed : int
        Seed of the draws.
    batch_size : int
        Clips per teacher batch.

    Returns
    -------
    numpy.ndarray
        ``[clips, max(draws, 1), classes]``, float32, in dataset order.
    """
    rows = []
    with dataset.output_keys_as(["id", "sig"]):
        items = iter(dataset)
        while batch := list(itertools.islice(items, batch_size)):
            ids = [item["id"] for item in batch]
            wavs, lens = batch_pad_right([item["sig"] for item in batch])
            if not draws:
                rows.append(pipeline(wavs, lens)[:, None])
                continue
            raw = pipeline.raw_features(wavs, lens)
            per_draw = []
            for draw in range(draws):
                feats, frame_lens = augment_features(
                    pipeline, wavs, lens, spec_augment, fbank_noise,
                    draw_generators(ids, draw, seed), raw=raw,
                )  # fmt: skip
                per_draw.append(pipeline.classify(feats, frame_lens))
            rows.append(torch.stack(per_draw, dim=1))
    return torch.cat(rows).float().numpy()


def store_teacher_logits(path, ids, logits, settings, label_names=None):
    """Writes ``ids``, ``logits`` ``[clips, draws, classes]``, the draws'
    ``settings`` (JSON) and the ``labels`` of the columns (when known) to
    the ``.npz`` ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    extra = {} if label_names is None else {"labels": np.array(label_names)}
    np.savez(
        path,
        ids=np.array(ids),
        logits=np.asarray(logits, dtype=np.float32),
        settings=np.array(json.dumps(settings, sort_keys=True)),
        **extra,
    )
    return path


def write_teacher_logits(brain, dataset, path, draws=0, seed=0):
    """Runs the Brain's current model (a teacher just trained, in eval
    mode) over ``dataset`` and stores its logits per clip and draw in
    ``path`` for a student's ``Distillation``; the draws repeat the
    Brain's own ``spec_augment`` and ``fbank_noise``."""
    settings = brain.settings
    brain.modules.eval()
    ids = list(dataset.data_ids)
    logits = teacher_logits_per_draw(
        brain.pipeline, dataset, draws, settings["spec_augment"],
        settings["fbank_noise"], seed,
    )  # fmt: skip
    meta = Distillation(path, draws=draws, seed=seed)
    meta.augmentation = augmentation_settings(
        settings["spec_augment"], settings["fbank_noise"]
    )
    store_teacher_logits(path, ids, logits, meta.settings(),
                         brain.label_names)  # fmt: skip
    logger.info("teacher logits of %d clips x %d draws written to %s",
                len(ids), max(draws, 1), path)  # fmt: skip
    return path
