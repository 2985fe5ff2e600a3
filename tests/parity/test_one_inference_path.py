"""The tagger, the Brain's evaluation, SpeechBrain's EncoderClassifier and
onnxruntime give the same scores for the same files (no longer than the
model's 1.015-s window): all four run ``AudioClassificationPipeline``
(onnxruntime runs its ONNX export)."""

import csv

import numpy as np
import pytest
import soundfile
import speechbrain as sb
import torch
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.inference.classifiers import EncoderClassifier

from ast_lobes import (
    AudioClassificationBrain,
    build_label_encoder,
    classification_dataset,
    export_classifier,
)
from pretrained_interfaces import AudioTagger
from pretrained_interfaces.onnx_export import main as onnx_export_main

LABELS = ["a", "b", "c"]
SECONDS = {"one_s.wav": 1.0, "short.wav": 0.6, "shorter.wav": 0.3}


def write_clips(folder):
    rng = np.random.default_rng(0)
    rows = []
    for index, (name, seconds) in enumerate(SECONDS.items()):
        wave = rng.normal(0, 0.1, int(seconds * 16000)).astype(np.float32)
        soundfile.write(folder / name, wave, 16000, subtype="FLOAT")
        rows.append(
            {"ID": name, "duration": seconds, "wav": str(folder / name),
             "label": LABELS[index]}
        )  # fmt: skip
    manifest = folder / "test.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def brain_scores(pipeline, manifest, folder):
    label_encoder = build_label_encoder(str(folder / "le.txt"), str(manifest))
    dataset = classification_dataset(str(manifest), label_encoder)
    hparams = {
        "loss": "ce",
        "predictions_folder": str(folder / "predictions"),
        "epoch_counter": sb.utils.epoch_loop.EpochCounter(1),
        "train_logger": sb.utils.train_logger.FileTrainLogger(
            str(folder / "log.txt")
        ),
    }
    modules = {
        "compute_features": pipeline.compute_features,
        "normalize": pipeline.normalize,
        "encoder": pipeline.encoder,
        "classifier": pipeline.classifier,
    }
    brain = AudioClassificationBrain(
        modules=modules, hparams=hparams, run_opts={"device": "cpu"}
    )
    brain.evaluate_current_weights(dataset, {"batch_size": 3}, "test")
    saved = np.load(folder / "predictions" / "test.npz")
    return dict(zip(saved["ids"].tolist(), saved["scores"], strict=True))


@pytest.mark.filterwarnings("ignore")
def test_four_paths_give_the_same_scores(tiny_pipeline, tmp_path):
    import onnx
    import onnxruntime

    manifest = write_clips(tmp_path)
    labels = CategoricalEncoder()
    labels.update_from_iterable(LABELS)
    model = tmp_path / "model"
    export_classifier(str(model), tiny_pipeline, labels)
    from_brain = brain_scores(tiny_pipeline, manifest, tmp_path)

    tagger = AudioTagger.from_hparams(
        source=str(model), savedir=str(tmp_path / "t"), precision="fp32"
    )
    classifier = EncoderClassifier.from_hparams(
        source=str(model), savedir=str(tmp_path / "e")
    )
    for name in SECONDS:
        path = str(tmp_path / name)
        tagged = tagger.tag_file(path, top_k=None).scores
        logits = classifier.classify_file(path)[0].squeeze()
        from_classifier = torch.softmax(logits, -1).numpy()
        assert np.abs(tagged - from_brain[name]).max() < 1e-5, name
        assert np.abs(tagged - from_classifier).max() < 1e-5, name

    onnx_file = tmp_path / "model.onnx"
    onnx_export_main(
        [str(model), str(onnx_file), "--front-end-samples", "16000"]
    )
    wave, _ = soundfile.read(tmp_path / "one_s.wav", dtype="float32")
    front = onnxruntime.InferenceSession(str(tmp_path / "model.frontend.onnx"))
    fbank = front.run(None, {"waveform": wave})[0]
    session = onnxruntime.InferenceSession(str(onnx_file))
    logits = session.run(None, {"fbank": fbank})[0][0]
    from_onnx = torch.softmax(torch.from_numpy(logits), -1).numpy()
    assert np.abs(from_onnx - from_brain["one_s.wav"]).max() < 1e-4

    # opset 18 (runtimes without ONNX's Attention): separate nodes, the
    # same scores
    portable = tmp_path / "model18.onnx"
    onnx_export_main([str(model), str(portable), "--opset", "18"])
    ops = {
        str(path): {node.op_type for node in onnx.load(path).graph.node}
        for path in (onnx_file, portable)
    }
    assert "Attention" in ops[str(onnx_file)]
    assert "Attention" not in ops[str(portable)]
    assert "Softmax" in ops[str(portable)]
    session = onnxruntime.InferenceSession(str(portable))
    logits = session.run(None, {"fbank": fbank})[0][0]
    from_portable = torch.softmax(torch.from_numpy(logits), -1).numpy()
    assert np.abs(from_portable - from_brain["one_s.wav"]).max() < 1e-4
