"""Trained classifiers to learn from (distillation teachers), whatever
their format: a model folder exported by this project, a published AST
(name, original ``.pth``, Hugging Face folder or hub id) or another
SpeechBrain classifier folder (``EncoderClassifier``).

Authors
 * AST-SpeechBrain contributors 2026
"""

import os

import torch
from torch import nn

from ast_lobes.audio.fbank import FbankNormalization, KaldiFbank
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.weights.exported import ExportedModel, load_exported_model
from ast_lobes.weights.labels import audioset_label_names
from ast_lobes.weights.published import (
    checkpoint_modules,
    default_front_end,
    read_ast_checkpoint,
)


class SpeechBrainClassifier(nn.Module):
    """A SpeechBrain ``EncoderClassifier`` as ``(wavs, lens) -> logits``
    (its classifier's outputs: log-probabilities for SpeechBrain's
    recipes, whose softmax is the class posterior)."""

    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None):
        """Outputs ``[batch, n_labels]``."""
        out = self.classifier.classify_batch(wavs, wav_lens)[0]
        return out.reshape(wavs.shape[0], -1)


def is_project_export(folder):
    """True for a folder written by ``ast_lobes.export_classifier``."""
    path = os.path.join(folder, "hyperparams.yaml")
    with open(path, encoding="utf-8") as handle:
        return "ast_lobes." in handle.read()


def load_speechbrain_classifier(folder, savedir=None):
    """Another SpeechBrain classifier folder, through ``EncoderClassifier``
    (its features are its own: no augmentation draws)."""
    from speechbrain.inference.classifiers import EncoderClassifier

    classifier = EncoderClassifier.from_hparams(
        source=os.path.abspath(folder),
        savedir=savedir or os.path.join(folder, ".loaded"),
    )
    classifier.eval()
    encoder = classifier.hparams.label_encoder
    return ExportedModel(
        pipeline=SpeechBrainClassifier(classifier).eval(),
        label_names=[encoder.ind2lab[i] for i in range(len(encoder))],
        multi_label=False,
        hparams=dict(classifier.hparams.__dict__),
    )


def load_published_classifier(source, savedir=None):
    """A published AST with its own front end and label names."""
    checkpoint = read_ast_checkpoint(source, savedir=savedir)
    encoder, classifier = checkpoint_modules(checkpoint)
    n_labels = classifier.linear.out_features
    names = checkpoint.labels
    if names is None and n_labels == 527:
        names = audioset_label_names()
    if names is None or len(names) != n_labels:
        raise ValueError(
            f"{source}: {n_labels} outputs and no label names for them; "
            "a teacher's labels must be known to match the student's"
        )
    front_end = default_front_end(checkpoint)
    pipeline = AudioClassificationPipeline(
        KaldiFbank(
            sample_rate=front_end.sample_rate,
            n_mels=front_end.n_mels,
            target_length=front_end.target_length,
        ),
        FbankNormalization(front_end.normalization),
        encoder,
        classifier,
    )
    return ExportedModel(pipeline.eval(), list(names),
                         checkpoint.multi_label, {})  # fmt: skip


def load_classifier(source, savedir=None):
    """Any trained classifier this project can learn from.

    Arguments
    ---------
    source : str
        A model folder exported by a recipe of this project; another
        SpeechBrain classifier folder (``hyperparams.yaml`` for
        ``EncoderClassifier``); or a published AST: a registry name, an
        original ``.pth``, a Hugging Face folder or hub id.
    savedir : str or None
        Where downloads and SpeechBrain's links go.

    Returns
    -------
    ExportedModel
        ``pipeline`` maps ``(wavs, lens)`` to logits; it is an
        ``AudioClassificationPipeline`` except for other SpeechBrain
        classifiers.
    """
    source = str(source)
    if os.path.isfile(os.path.join(source, "hyperparams.yaml")):
        if is_project_export(source):
            return load_exported_model(source)
        return load_speechbrain_classifier(source, savedir)
    return load_published_classifier(source, savedir)


def label_columns(teacher_labels, student_labels, source):
    """The teacher's output column of each of the student's labels.

    Example
    -------
    >>> label_columns(["cat", "dog", "cow"], ["dog", "cat"], "t")
    [1, 0]
    """
    missing = [name for name in student_labels if name not in teacher_labels]
    if missing:
        raise ValueError(
            f"{source}: the teacher has no output for {len(missing)} of the "
            f"student's labels, e.g. {missing[:5]}; its labels are "
            f"{list(teacher_labels)[:10]}..."
        )
    return [list(teacher_labels).index(name) for name in student_labels]
