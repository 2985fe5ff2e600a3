"""Data pipelines shared by the recipes: audio clips with class targets.

Manifests are CSV files with columns ``ID, duration, wav`` and a label
column holding one label, or several separated by ``;`` (multi-label).

Authors
 * AST-SpeechBrain contributors 2026
"""

import os

import speechbrain as sb
import torch
from speechbrain.dataio.encoder import CategoricalEncoder

from ast_lobes.audio.io import read_audio

LABEL_SEPARATOR = ";"


class UnknownLabelError(ValueError):
    """A manifest names a label the label encoder does not know."""


def split_labels(value):
    """Labels of one manifest cell: ``"a;b"`` gives ``["a", "b"]``."""
    return [label for label in value.split(LABEL_SEPARATOR) if label]


def build_label_encoder(path, train_csv, label_column="label"):
    """Loads the label encoder at ``path``, or creates it from a manifest.

    Arguments
    ---------
    path : str
        ``label_encoder.txt`` file (created when absent).
    train_csv : str
        Manifest whose labels define the classes (sorted, for a stable
        order across folds and runs).
    label_column : str
        Column holding the labels.

    Returns
    -------
    speechbrain.dataio.encoder.CategoricalEncoder
    """
    encoder = CategoricalEncoder()
    if os.path.isfile(path):
        encoder.load(path)
        return encoder
    data = sb.dataio.dataio.load_data_csv(train_csv)
    labels = sorted(
        {
            label
            for row in data.values()
            for label in split_labels(row[label_column])
        }
    )
    encoder.update_from_iterable(labels)
    encoder.save(path)
    return encoder


def clip_targets(labels, label_encoder, where="", csv_path="the manifest"):
    """The float targets ``[n_classes]`` of a manifest cell's labels: one-
    hot for one label, multi-hot for several; an unknown label is refused
    (``where``: the clip, first in the message).

    Example
    -------
    >>> encoder = CategoricalEncoder()
    >>> encoder.update_from_iterable(["cat", "dog", "owl"])
    >>> clip_targets("owl;cat", encoder)
    tensor([1., 0., 1.])
    """
    n_classes = len(label_encoder)
    targets = torch.zeros(n_classes)
    for label in split_labels(labels):
        if label not in label_encoder.lab2ind:
            raise UnknownLabelError(
                f"{where}label {label!r} in {csv_path} is not one of the "
                f"{n_classes} training labels"
            )
        targets[label_encoder.lab2ind[label]] = 1.0
    return targets


def classification_dataset(
    csv_path,
    label_encoder,
    sample_rate=16000,
    label_column="label",
    resample=False,
):
    """A dataset yielding ``id``, ``sig`` and float ``targets``.

    ``targets`` is one-hot for a single label and multi-hot for several.
    Audio must be at ``sample_rate`` unless ``resample``; a file at another
    rate, a missing or corrupt file or an unknown label raise errors that
    name the file.

    Arguments
    ---------
    csv_path : str
        Manifest with ``ID``, ``wav`` and the label column.
    label_encoder : CategoricalEncoder
        Maps labels to indices.
    sample_rate : int
        Expected sample rate of every file.
    label_column : str
        Column holding the labels.
    resample : bool
        Resample (and mix down) files at other rates when loading them.

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset
    """
    dataset = sb.dataio.dataset.DynamicItemDataset.from_csv(csv_path)

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return read_audio(wav, sample_rate, resample=resample)

    @sb.utils.data_pipeline.takes("wav", label_column)
    @sb.utils.data_pipeline.provides("targets")
    def label_pipeline(wav, labels):
        return clip_targets(labels, label_encoder, f"{wav}: ", csv_path)

    dataset.add_dynamic_item(audio_pipeline)
    dataset.add_dynamic_item(label_pipeline)
    dataset.set_output_keys(["id", "sig", "targets"])
    return dataset
