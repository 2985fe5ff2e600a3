"""Distillation through the distillation token: the losses against
hand-computed values, the two heads, stored teacher outputs, a teacher
run online."""

import copy
import math

import numpy as np
import pytest
import speechbrain as sb
import torch
import torchaudio
from clip_datasets import noise_clips_dataset
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.encoder import CategoricalEncoder

from ast_lobes import (
    AudioClassificationBrain,
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    DistillationHead,
    FbankNoise,
    FbankNormalization,
    KaldiFbank,
    Mixup,
    SpecAugment,
    export_classifier,
)
from ast_lobes.training.distillation import Distillation, distillation_loss
from ast_lobes.training.hparams_check import check_head_settings
from ast_lobes.weights.exported import load_exported_model

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
    with pytest.raises(ValueError, match="no teacher logits for 1 training"):
        Distillation(str(stored)).prepare(Clips(), tmp_path)


@pytest.mark.parametrize("axis", ["freq", "time"])
def test_seeded_masks_are_torchaudios_masks_for_the_same_numbers(axis):
    feats = torch.randn(1, 100, 64) + 5  # [clip, frames, mels]
    for seed in range(20):
        torch.manual_seed(seed)
        if axis == "freq":
            masking = torchaudio.transforms.FrequencyMasking(30, True)
        else:
            masking = torchaudio.transforms.TimeMasking(40, True)
        spec = feats.transpose(1, 2).unsqueeze(1)
        expected = masking(spec).squeeze(1).transpose(1, 2)
        augment = SpecAugment(**{f"{axis}_mask": 30 if axis == "freq" else 40})
        got = augment(feats, [torch.Generator().manual_seed(seed)])
        assert torch.equal(got, expected), seed


def tiny_pipeline(seed, two_heads=False):
    torch.manual_seed(seed)
    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2, target_length=64,
        fstride=16, tstride=16,
        pooling="cls_dist_pair" if two_heads else "cls",
    )  # fmt: skip
    if two_heads:
        head = DistillationHead(32, 3)
    else:
        from ast_lobes import AudioClassificationHead

        head = AudioClassificationHead(32, 3)
    return AudioClassificationPipeline(
        KaldiFbank(target_length=64), FbankNormalization("speechcommands"),
        encoder, head,
    )  # fmt: skip


def clips_dataset():
    return noise_clips_dataset(count=5, samples=8000, seed=3)


def exported_teacher(folder):
    """A tiny teacher exported to ``folder`` (labels a, b, c) and the
    pipeline loaded back from it."""
    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b", "c"])
    export_classifier(str(folder), tiny_pipeline(0).eval(), labels)
    return load_exported_model(str(folder)).pipeline.eval()


def test_student_trains_on_the_draw_its_stored_teacher_output_is_for(
    tmp_path,
):
    teacher = exported_teacher(tmp_path / "teacher")
    dataset, waves = clips_dataset()
    spec, noise = SpecAugment(8, 20), FbankNoise(0.1, 5)
    distillation = Distillation(str(tmp_path / "teacher"), kind="soft",
                                draws=3, seed=11)  # fmt: skip
    distillation.prepare(dataset, str(tmp_path / "save"), spec, noise)
    assert distillation.computed == 5 * 3

    student = tiny_pipeline(1, two_heads=True)
    modules = dict(student.named_children())
    hparams = {
        "loss": "ce", "spec_augment": spec, "fbank_noise": noise,
        "distillation": distillation,
        "epoch_counter": sb.utils.epoch_loop.EpochCounter(10),
    }  # fmt: skip
    brain = AudioClassificationBrain(modules=modules, hparams=hparams)
    seen = []
    student.encoder.register_forward_hook(
        lambda module, args, out: seen.append(args[0].detach().clone())
    )
    ids = ["clip3", "clip0"]
    batch = PaddedBatch(
        [{"id": i, "sig": waves[i], "targets": torch.eye(3)[0]} for i in ids]
    )
    inputs = {}
    for epoch in (1, 2, 4):
        hparams["epoch_counter"].current = epoch
        brain.compute_forward(batch, sb.Stage.TRAIN)
        inputs[epoch] = seen[-1]
        with torch.no_grad():
            teacher_saw = teacher.classify(inputs[epoch])
        stored = distillation.teacher_logits(ids, "cpu", epoch)
        assert torch.allclose(teacher_saw, stored, atol=1e-5), epoch
    assert torch.equal(inputs[1], inputs[4])  # draw 0 again
    assert not torch.equal(inputs[1], inputs[2])

    again = Distillation(str(tmp_path / "teacher"), kind="soft", draws=3,
                         seed=11)  # fmt: skip
    again.prepare(dataset, str(tmp_path / "save"), spec, noise)
    assert again.computed == 0  # reused, not recomputed
    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b", "c"])
    export_classifier(str(tmp_path / "teacher2"), tiny_pipeline(5).eval(),
                      labels)  # fmt: skip
    another = Distillation(str(tmp_path / "teacher2"), draws=3, seed=11)
    another.prepare(dataset, str(tmp_path / "save"), spec, noise)
    assert another.computed == 5 * 3  # another teacher: computed again
    other = Distillation(str(tmp_path / "teacher"), kind="soft", draws=3,
                         seed=11)  # fmt: skip
    other.prepare(dataset, str(tmp_path / "save"), SpecAugment(8, 30), noise)
    assert other.computed == 5 * 3  # other masks: the old draws do not fit
    user_file = Distillation(str(tmp_path / "save" / "teacher_logits.npz"),
                             draws=3, seed=11)  # fmt: skip
    with pytest.raises(ValueError, match="time_mask 30 .this run: 20."):
        user_file.prepare(dataset, str(tmp_path / "x"), spec, noise)


def test_a_one_head_student_learns_labels_and_teacher_on_that_head():
    """Hinton's distillation: the one head's loss is the weighted sum."""
    student = tiny_pipeline(1)
    distillation = Distillation("t.npz", kind="soft", tau=2.0, weight=0.4)
    teacher = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]], np.float32)
    distillation.logits = {"x": teacher[:1], "y": teacher[1:]}
    hparams = {
        "loss": "ce",
        "distillation": distillation,
        "epoch_counter": sb.utils.epoch_loop.EpochCounter(1),
    }
    brain = AudioClassificationBrain(modules=dict(student.named_children()),
                                     hparams=hparams)  # fmt: skip
    _, waves = clips_dataset()
    targets = torch.eye(3)[[0, 2]]
    batch = PaddedBatch([
        {"id": i, "sig": waves[w], "targets": t}
        for i, w, t in zip(["x", "y"], ["clip0", "clip1"], targets,
                           strict=True)
    ])  # fmt: skip
    predictions = brain.compute_forward(batch, sb.Stage.TRAIN)
    first, second, online = predictions[0]
    assert first is second and online is None  # stored outputs
    loss = brain.compute_objectives(predictions, batch, sb.Stage.TRAIN)
    logits = first.detach().numpy()
    tau = 2.0
    kl = np.mean([
        (np.exp(log_softmax(t / tau))
         * (log_softmax(t / tau) - log_softmax(s / tau))).sum()
        for s, t in zip(logits, teacher, strict=True)
    ])  # fmt: skip
    expected = 0.6 * cross_entropy(logits, targets.numpy()) + 0.4 * 4 * kl
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_an_online_teacher_sees_the_mixed_clips_and_masks_the_student_sees(
    tmp_path,
):
    """Function matching: the teacher's logits of each training batch are
    those of the clips the student's encoder gets, mixed and masked with a
    new draw every epoch, and the loss is computed with them."""
    teacher = exported_teacher(tmp_path / "teacher")
    dataset, waves = clips_dataset()
    spec, noise = SpecAugment(8, 20), FbankNoise(0.1, 5)
    distillation = Distillation(str(tmp_path / "teacher"), kind="soft",
                                tau=2.0, weight=0.4, seed=11,
                                online=True)  # fmt: skip
    distillation.prepare(dataset, str(tmp_path / "save"), spec, noise,
                         label_names=["c", "a", "b"])  # fmt: skip
    assert distillation.computed == 0  # nothing stored
    student = tiny_pipeline(1, two_heads=True)
    hparams = {
        "loss": "ce", "spec_augment": spec, "fbank_noise": noise,
        "mixup": Mixup(probability=1.0, alpha=1.0),
        "distillation": distillation,
        "epoch_counter": sb.utils.epoch_loop.EpochCounter(10),
    }  # fmt: skip
    check_head_settings({**hparams, "classifier": student.head,
                         "encoder": student.encoder})  # fmt: skip
    brain = AudioClassificationBrain(modules=dict(student.named_children()),
                                     hparams=hparams)  # fmt: skip
    seen = []
    student.encoder.register_forward_hook(
        lambda module, args, out: seen.append(args[0].detach().clone())
    )
    ids = ["clip3", "clip0", "clip1"]
    batch = PaddedBatch([
        {"id": i, "sig": waves[i], "targets": torch.eye(3)[n]}
        for n, i in enumerate(ids)
    ])  # fmt: skip
    inputs = {}
    for epoch in (1, 2, 11):
        hparams["epoch_counter"].current = epoch
        torch.manual_seed(epoch)
        predictions = brain.compute_forward(batch, sb.Stage.TRAIN)
        (cls_logits, dist_logits, online), targets = predictions
        inputs[epoch] = seen[-1]
        with torch.no_grad():  # the teacher's columns are a, b, c
            teacher_saw = teacher.classify(inputs[epoch])[:, [2, 0, 1]]
        assert torch.allclose(online, teacher_saw, atol=1e-5), epoch
        assert not torch.equal(targets, torch.eye(3))  # mixed labels
        loss = brain.compute_objectives(predictions, batch, sb.Stage.TRAIN)
        student_rows = dist_logits.detach().numpy() / 2.0
        teacher_rows = online.numpy() / 2.0
        kl = np.mean([
            (np.exp(log_softmax(t)) * (log_softmax(t) - log_softmax(s))).sum()
            for s, t in zip(student_rows, teacher_rows, strict=True)
        ])  # fmt: skip
        expected = (
            0.6 * cross_entropy(cls_logits.detach().numpy(), targets.numpy())
            + 0.4 * 4 * kl
        )
        assert loss.item() == pytest.approx(expected, rel=1e-5)
    unmixed = teacher.raw_features(*PaddedBatch([
        {"sig": waves[i]} for i in ids
    ]).sig)[0]  # fmt: skip
    assert not torch.allclose(inputs[1], teacher.normalize(unmixed))
    assert not torch.equal(inputs[1], inputs[11])  # no stored draw repeats


def test_an_online_teacher_takes_the_students_fbank_from_an_equal_front_end(
    tmp_path,
):
    """The student's fbank is not computed again for the teacher when
    the front ends are equal, and not taken from another front end."""
    exported_teacher(tmp_path / "teacher")
    distillation = Distillation(str(tmp_path / "teacher"), online=True)
    distillation.prepare(None, str(tmp_path / "save"))
    teacher = distillation.pipeline
    _, waves = clips_dataset()
    wavs, lens = PaddedBatch([{"sig": waves[i]} for i in ("clip0", "clip1")
                              ]).sig  # fmt: skip
    others = PaddedBatch([{"sig": waves[i]} for i in ("clip2", "clip3")]).sig
    others_fbank = teacher.raw_features(*others)
    equal = copy.deepcopy(teacher.compute_features)
    other = copy.deepcopy(teacher.compute_features)
    other.frame_shift = 20.0
    with torch.no_grad():
        own, others_logits = teacher(wavs, lens), teacher(*others)
    taken = distillation.online_logits(wavs, lens, ["a", "b"], 1,
                                       others_fbank, equal)  # fmt: skip
    assert torch.allclose(taken, others_logits, atol=1e-5)
    assert not torch.allclose(taken, own, atol=1e-3)
    ignored = distillation.online_logits(wavs, lens, ["a", "b"], 1,
                                         others_fbank, other)  # fmt: skip
    assert torch.allclose(ignored, own, atol=1e-5)


def test_an_online_teacher_is_a_model_and_draws_anew(tmp_path):
    class Clips:
        data_ids = ["a"]

    stored = tmp_path / "teacher.npz"
    np.savez(stored, ids=np.array(["a"]), logits=np.eye(1, 3))
    with pytest.raises(ValueError, match="teacher.npz: an online teacher"):
        Distillation(str(stored), online=True).prepare(Clips(), tmp_path)
    with pytest.raises(ValueError, match=r"teacher_draws \(10\) are stored"):
        Distillation("model", draws=10, online=True)
    student = tiny_pipeline(1, two_heads=True)
    settings = {"classifier": student.head, "encoder": student.encoder,
                "loss": "ce", "mixup": Mixup(probability=0.5)}  # fmt: skip
    stored_teacher = Distillation(str(stored), kind="soft")
    with pytest.raises(ValueError, match="or teacher_online: true"):
        check_head_settings({**settings, "distillation": stored_teacher})
