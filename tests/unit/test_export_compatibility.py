"""A model folder exported by version 0.1 (before the layer split) still
loads and gives the outputs that version recorded (``outputs.json``)."""

import json
import os
import shutil

import numpy as np
import torch
from speechbrain.inference.classifiers import EncoderClassifier
from speechbrain.inference.interfaces import foreign_class

from pretrained_interfaces import AudioTagger

FIXTURE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fixtures",
    "export_v0_1",
)


def recorded():
    with open(os.path.join(FIXTURE, "outputs.json"), encoding="utf-8") as f:
        return json.load(f)


def clip(name):
    return os.path.join(FIXTURE, "audio", name)


def test_old_export_gives_the_same_encoder_classifier_outputs(tmp_path):
    model = EncoderClassifier.from_hparams(
        source=os.path.join(FIXTURE, "model"),
        hparams_file="hyperparams.yaml",
        savedir=str(tmp_path / "ec"),
    )
    for name, before in recorded().items():
        out = model.classify_file(clip(name))[0].squeeze()
        expected = torch.tensor(before["encoder_classifier_out"])
        assert torch.allclose(out, expected, atol=1e-6), name


def test_old_export_gives_the_same_tagger_windows(tmp_path):
    # foreign_class runs the folder's own custom_interface.py of 0.1
    folder = tmp_path / "model"
    shutil.copytree(os.path.join(FIXTURE, "model"), folder)
    tagger = foreign_class(
        source=str(folder),
        pymodule_file="custom_interface.py",
        classname="AudioTagger",
        savedir=str(tmp_path / "foreign"),
    )
    assert tagger.label_names[0] == "siren"
    tagger = AudioTagger.from_hparams(
        source=os.path.join(FIXTURE, "model"),
        savedir=str(tmp_path / "tag"),
        precision="fp32",
    )
    for name in ("full_2s.wav", "long_5s.wav"):  # windows of full length
        before = recorded()[name]
        result = tagger.tag_file(clip(name), top_k=None)
        assert len(result.windows) == len(before["tagger_windows"])
        for window, (start, end, scores) in zip(
            result.windows, before["tagger_windows"], strict=True
        ):
            assert (window["start"], window["end"]) == (start, end)
            assert np.abs(window["scores"] - np.array(scores)).max() < 1e-6
        assert np.abs(result.scores - before["tagger_scores"]).max() < 1e-6


def test_short_clip_is_now_scored_as_the_encoder_classifier_does(tmp_path):
    # 0.1's tagger ran a clip shorter than the window at its own length;
    # it is now padded to the window as in training, as EncoderClassifier
    # (and the recorded 0.1 EncoderClassifier output) always did.
    tagger = AudioTagger.from_hparams(
        source=os.path.join(FIXTURE, "model"),
        savedir=str(tmp_path / "tag"),
        precision="fp32",
    )
    result = tagger.tag_file(clip("short_1s.wav"), top_k=None)
    logits = torch.tensor(recorded()["short_1s.wav"]["encoder_classifier_out"])
    expected = torch.softmax(logits, dim=-1).numpy()
    assert np.abs(result.scores - expected).max() < 1e-6
