"""Schedule, cross-validation summary and data pipeline checks."""

import csv

import numpy as np
import pytest
import soundfile
import torch

from ast_lobes import (
    ReferenceLRSchedule,
    UnknownLabelError,
    build_label_encoder,
    classification_dataset,
    summarize_folds,
)
from ast_lobes.audio.io import AudioFileError


def test_schedule_matches_torch_multisteplr():
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    torch_sched = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, list(range(5, 1000, 1)), gamma=0.85
    )
    ours = ReferenceLRSchedule(1e-4, 5, 1, 0.85)
    for epoch in range(1, 26):
        assert ours(epoch, 10_000) == pytest.approx(
            optimizer.param_groups[0]["lr"]
        )
        optimizer.step()
        torch_sched.step()


def test_schedule_balanced_audioset_and_warmup():
    ours = ReferenceLRSchedule(5e-5, 10, 5, 0.5, warmup_steps=1000)
    assert ours(1, 500) == pytest.approx(2.5e-5)
    assert ours(10, 5000) == pytest.approx(5e-5)
    assert ours(11, 5000) == pytest.approx(2.5e-5)
    assert ours(16, 5000) == pytest.approx(1.25e-5)


def test_crossval_summary_hand_computed():
    accuracy = {
        1: {1: 0.50, 2: 0.80, 3: 0.70},
        2: {1: 0.60, 2: 0.90, 3: 0.80},
    }
    summary = summarize_folds(accuracy)
    assert summary["last_epoch"]["epoch"] == 3
    assert summary["last_epoch"]["mean"] == pytest.approx(0.75)
    assert summary["last_epoch"]["std"] == pytest.approx(0.05)
    assert summary["best_epoch"]["epoch"] == 2
    assert summary["best_epoch"]["mean"] == pytest.approx(0.85)
    with pytest.raises(ValueError, match="some fold did not finish"):
        summarize_folds({1: {1: 0.5, 2: 0.6}, 2: {1: 0.5}})


def write_manifest(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["ID", "duration", "wav", "label"]
        )
        writer.writeheader()
        writer.writerows(rows)


def test_dataset_targets_and_errors(tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.zeros(1600, dtype="float32"), 16000)
    slow = tmp_path / "slow.wav"
    soundfile.write(slow, np.zeros(800, dtype="float32"), 8000)
    train = tmp_path / "train.csv"
    write_manifest(
        train,
        [
            {"ID": "a", "duration": 0.1, "wav": str(wav), "label": "dog"},
            {"ID": "b", "duration": 0.1, "wav": str(wav), "label": "cat;rain"},
        ],
    )
    encoder = build_label_encoder(str(tmp_path / "labels.txt"), str(train))
    assert [encoder.ind2lab[i] for i in range(3)] == ["cat", "dog", "rain"]
    dataset = classification_dataset(str(train), encoder)
    assert dataset[0]["targets"].tolist() == [0.0, 1.0, 0.0]
    assert dataset[1]["targets"].tolist() == [1.0, 0.0, 1.0]
    assert dataset[0]["sig"].shape == (1600,)

    bad = tmp_path / "bad.csv"
    write_manifest(
        bad,
        [
            {"ID": "c", "duration": 0.1, "wav": str(wav), "label": "horse"},
            {"ID": "d", "duration": 0.1, "wav": str(slow), "label": "dog"},
        ],
    )
    bad_set = classification_dataset(str(bad), encoder)
    with pytest.raises(UnknownLabelError, match="a.wav: label 'horse'"):
        bad_set[0]
    with pytest.raises(AudioFileError, match="slow.wav: sample rate 8000"):
        bad_set[1]


def test_start_from_exported_takes_encoder_and_head_of_same_labels(
    tiny_pipeline, tmp_path
):
    import copy

    from speechbrain.dataio.encoder import CategoricalEncoder

    from ast_lobes import AudioClassificationHead, export_classifier
    from ast_lobes.weights.exported import start_from_exported
    from ast_lobes.weights.files import CheckpointError

    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b", "c"])
    export_classifier(str(tmp_path / "model"), tiny_pipeline, labels)
    old_encoder, old_head = tiny_pipeline.encoder, tiny_pipeline.classifier

    def fresh():
        torch.manual_seed(7)
        encoder = copy.deepcopy(old_encoder)
        for parameter in encoder.parameters():
            torch.nn.init.normal_(parameter)
        return encoder, AudioClassificationHead(32, 3)

    encoder, head = fresh()
    assert start_from_exported(encoder, head, tmp_path / "model", "abc")
    for new, old in ((encoder, old_encoder), (head, old_head)):
        for key, value in old.state_dict().items():
            assert torch.equal(new.state_dict()[key], value), key
    encoder, head = fresh()
    before = copy.deepcopy(head.state_dict())
    assert not start_from_exported(encoder, head, tmp_path / "model", "acb")
    assert torch.equal(encoder.cls_token, old_encoder.cls_token)
    assert all(torch.equal(head.state_dict()[k], v) for k, v in before.items())
    from ast_lobes import AudioSpectrogramTransformer

    other = AudioSpectrogramTransformer(
        model_size=None, embed_dim=48, depth=1, num_heads=2, target_length=100
    )
    with pytest.raises(CheckpointError, match="build the same architecture"):
        start_from_exported(other, head, tmp_path / "model", "abc")
