"""Distillation teachers in every format, checked against the libraries
that define them: a Hugging Face AST (transformers) and another SpeechBrain
classifier (``EncoderClassifier``); the teacher's outputs are matched to
the student's labels by name."""

import numpy as np
import pytest
import torch
from clip_datasets import noise_clips_dataset
from speechbrain.dataio.encoder import CategoricalEncoder

from ast_lobes import SpecAugment
from ast_lobes.training.distillation import Distillation
from ast_lobes.weights.exported import UnsafeModelFolderError


def clips_dataset():
    return noise_clips_dataset(count=3, samples=16000, seed=5)


def test_hugging_face_ast_teaches_the_students_labels(
    hf_speechcommands_dir, tmp_path
):
    from transformers import ASTFeatureExtractor

    path, model = hf_speechcommands_dir
    dataset, waves = clips_dataset()
    student_labels = ["word5", "word2", "word30"]
    distillation = Distillation(str(path), kind="soft")
    distillation.prepare(dataset, str(tmp_path), label_names=student_labels)
    extractor = ASTFeatureExtractor(max_length=128)
    inputs = extractor([w.numpy() for w in waves.values()],
                       sampling_rate=16000, return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        expected = model(**inputs).logits[:, [5, 2, 30]]
    got = distillation.teacher_logits(list(waves), "cpu")
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=0)
    with np.load(tmp_path / "teacher_logits.npz") as stored:
        assert stored["labels"].tolist() == student_labels

    with pytest.raises(ValueError, match="no output for 1 of the student"):
        Distillation(str(path)).prepare(
            dataset, str(tmp_path / "other"), label_names=["word1", "dog"]
        )


SPEECHBRAIN_CLASSIFIER = """\
compute_features: !new:speechbrain.lobes.features.Fbank
  n_mels: 24
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
  norm_type: sentence
  std_norm: false
embedding_model: !new:speechbrain.lobes.models.Xvector.Xvector
  in_channels: 24
  tdnn_channels: [16, 16, 16, 16, 32]
  lin_neurons: 16
classifier: !new:speechbrain.lobes.models.Xvector.Classifier
  input_shape: [null, null, 16]
  lin_blocks: 1
  lin_neurons: 16
  out_neurons: 3
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder
modules:
  compute_features: !ref <compute_features>
  mean_var_norm: !ref <mean_var_norm>
  embedding_model: !ref <embedding_model>
  classifier: !ref <classifier>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
  loadables:
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
    label_encoder: !ref <label_encoder>
"""


def test_speechbrain_classifier_folder_teaches_clean_clips(tmp_path):
    from hyperpyyaml import load_hyperpyyaml
    from speechbrain.inference.classifiers import EncoderClassifier

    folder = tmp_path / "xvector"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text(SPEECHBRAIN_CLASSIFIER)
    torch.manual_seed(2)
    built = load_hyperpyyaml(SPEECHBRAIN_CLASSIFIER)
    for name in ("embedding_model", "classifier"):
        torch.save(built[name].state_dict(), folder / f"{name}.ckpt")
    labels = CategoricalEncoder()
    labels.update_from_iterable(["cat", "dog", "cow"])
    labels.save(folder / "label_encoder.ckpt")

    dataset, waves = clips_dataset()
    student_labels = ["cow", "cat", "dog"]
    # building another toolkit's folder runs its YAML: refused untrusted
    with pytest.raises(UnsafeModelFolderError, match="teacher_trust_code"):
        Distillation(str(folder), kind="soft").prepare(
            dataset, str(tmp_path / "untrusted"), label_names=student_labels
        )
    distillation = Distillation(str(folder), kind="soft", trust_code=True)
    distillation.prepare(dataset, str(tmp_path / "save"),
                         label_names=student_labels)  # fmt: skip
    reference = EncoderClassifier.from_hparams(
        source=str(folder), savedir=str(tmp_path / "reference")
    )
    wavs = torch.stack(list(waves.values()))
    expected = reference.classify_batch(wavs)[0].squeeze(1)
    columns = [labels.lab2ind[name] for name in student_labels]
    got = distillation.teacher_logits(list(waves), "cpu")
    torch.testing.assert_close(got, expected[:, columns], atol=1e-4, rtol=0)

    with pytest.raises(ValueError, match="cannot see the student's augm"):
        Distillation(str(folder), draws=2, trust_code=True).prepare(
            dataset,
            str(tmp_path / "other"),
            SpecAugment(8, 10),
            label_names=student_labels,
        )
