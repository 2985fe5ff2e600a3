"""Export of a trained AST classifier into a self-contained model folder.

The folder holds ``hyperparams.yaml`` (loadable with SpeechBrain's
``EncoderClassifier.from_hparams`` and with
``pretrained_interfaces.AudioTagger.from_hparams``), ``embedding_model.ckpt``,
``classifier.ckpt`` and ``label_encoder.ckpt`` (SpeechBrain's text format
of the label list), the file names the ``Pretrainer`` looks for by default,
and ``custom_interface.py`` (the tagger, for SpeechBrain's
``foreign_class``).

Authors
 * AST-SpeechBrain contributors 2026
"""

import importlib.util
import json
import os
import shutil

import torch

TAGGER_MODULE = "pretrained_interfaces.audio_tagger"

INFERENCE_YAML = """\
# Inference hyperparameters of an exported AST classifier.
sample_rate: {sample_rate}
multi_label: {multi_label}

compute_features: !new:ast_lobes.KaldiFbank
  sample_rate: {sample_rate}
  n_mels: {n_mels}
  frame_shift: {frame_shift}
  target_length: {target_length}

mean_var_norm: !new:ast_lobes.FbankNormalization
  normalization: [{mean}, {std}]

embedding_model: !new:ast_lobes.AudioSpectrogramTransformer
{encoder_args}

classifier: !new:ast_lobes.AudioClassificationHead
  input_size: {embed_dim}
  n_labels: {n_labels}
  norm_eps: {head_eps}

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


def export_classifier(
    folder,
    encoder,
    classifier,
    label_encoder,
    features,
    normalization,
    multi_label=False,
):
    """Writes a model folder for ``EncoderClassifier.from_hparams``.

    Arguments
    ---------
    folder : str
        Output folder (created).
    encoder : ast_lobes.AudioSpectrogramTransformer
        Trained encoder.
    classifier : ast_lobes.AudioClassificationHead
        Trained head.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Label names.
    features : ast_lobes.KaldiFbank
        The front end used in training.
    normalization : ast_lobes.FbankNormalization
        The scaling used in training.
    multi_label : bool
        Whether the model was trained with sigmoid (multi-label) outputs.

    Returns
    -------
    str
        Path of the written ``hyperparams.yaml``.
    """
    os.makedirs(folder, exist_ok=True)
    encoder_args = "\n".join(
        f"  {key}: {json.dumps(value)}" for key, value in encoder.config.items()
    )
    text = INFERENCE_YAML.format(
        sample_rate=features.sample_rate,
        multi_label=json.dumps(multi_label),
        n_mels=features.n_mels,
        frame_shift=features.frame_shift,
        target_length=json.dumps(features.target_length),
        mean=normalization.mean,
        std=normalization.std,
        encoder_args=encoder_args,
        embed_dim=encoder.embed_dim,
        n_labels=classifier.linear.out_features,
        head_eps=classifier.norm.eps,
    )
    path = os.path.join(folder, "hyperparams.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    torch.save(
        encoder.state_dict(), os.path.join(folder, "embedding_model.ckpt")
    )
    torch.save(classifier.state_dict(), os.path.join(folder, "classifier.ckpt"))
    label_encoder.save(os.path.join(folder, "label_encoder.ckpt"))
    tagger = importlib.util.find_spec(TAGGER_MODULE)
    if tagger is not None:
        shutil.copyfile(
            tagger.origin, os.path.join(folder, "custom_interface.py")
        )
    return path


def load_exported_model(folder):
    """Loads a folder written by ``export_classifier`` without SpeechBrain's
    inference classes.

    Returns
    -------
    tuple
        ``(encoder, classifier, features, normalization)``, in eval mode.
    """
    from hyperpyyaml import load_hyperpyyaml

    path = os.path.join(folder, "hyperparams.yaml")
    with open(path, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle)
    for name in ("embedding_model", "classifier"):
        state = torch.load(
            os.path.join(folder, f"{name}.ckpt"), map_location="cpu"
        )
        hparams[name].load_state_dict(state)
    return (
        hparams["embedding_model"].eval(),
        hparams["classifier"].eval(),
        hparams["compute_features"],
        hparams["mean_var_norm"],
    )
