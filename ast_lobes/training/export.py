"""Export of a trained AST classifier into a self-contained model folder.

The folder holds ``model.json`` (the data-only description: architecture,
front end, head, labels, outputs, thresholds) and ``model.safetensors``
(the weights), which this project's loaders read without running anything
from the folder; and, for SpeechBrain's ``EncoderClassifier.from_hparams``
(which builds what the YAML says: for folders you trust),
``hyperparams.yaml``, ``embedding_model.ckpt``, ``classifier.ckpt`` and
``label_encoder.ckpt`` (SpeechBrain's text format of the label list), the
file names the ``Pretrainer`` looks for by default, and
``custom_interface.py`` (the tagger, for SpeechBrain's ``foreign_class``).
The YAML also defines ``pipeline``, the
``ast_lobes.AudioClassificationPipeline`` over the same modules.
``export_model`` exports a recipe's modules (its hparams) so.

Authors
 * AST-SpeechBrain contributors 2026
"""

import io
import json
import os

import torch
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.tag import Tag

from ast_lobes.model.head import BlockWeightedHead, head_kind
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.training.hparams_check import optional
from ast_lobes.weights.exported import (
    DESCRIPTION_FILE,
    WEIGHTS_FILE,
    describe_pipeline,
)

CUSTOM_INTERFACE = (
    '"""The tagger, for SpeechBrain\'s foreign_class."""\n\n'
    "from pretrained_interfaces.audio_tagger import AudioTagger\n\n"
    '__all__ = ["AudioTagger"]\n'
)
HEADER = "# Inference hyperparameters of an exported AST classifier.\n"


def per_clip_mean_setting(normalize):
    """``{"per_clip_mean": True}`` for a normalisation that removes each
    clip's mean, else nothing (the files of models without it unchanged)."""
    return {"per_clip_mean": True} if normalize.per_clip_mean else {}


def new(callable_name, **arguments):
    """A YAML mapping tagged ``!new:<callable_name>``."""
    node = CommentedMap(arguments)
    node.yaml_set_ctag(Tag(suffix=f"!new:{callable_name}"))
    return node


def inline(values):
    """A YAML list written on one line."""
    node = CommentedSeq(values)
    node.fa.set_flow_style()
    return node


def ref(name):
    """A YAML ``!ref <name>`` scalar."""
    return TaggedScalar(f"<{name}>", tag="!ref")


def head_node(head):
    """The YAML node that rebuilds ``head`` (by its ``output_kind``:
    clip, distillation pair or frame-level)."""
    kind = head_kind(head)
    if isinstance(head, BlockWeightedHead):
        return new(
            "ast_lobes.BlockWeightedHead",
            input_size=head.linear.in_features,
            n_labels=head.linear.out_features,
            n_blocks=head.n_blocks,
            norm_eps=head.norm.eps,
        )
    if kind == "frames":
        return new(
            "ast_lobes.FrameLevelHead",
            input_size=head.linear.in_features,
            n_labels=head.linear.out_features,
            pooling=head.pooling,
            norm_eps=head.norm.eps,
        )
    if kind == "pair":
        return new(
            "ast_lobes.DistillationHead",
            input_size=head.cls_head.linear.in_features,
            n_labels=head.cls_head.linear.out_features,
            multi_label=bool(head.multi_label),
            use=head.use,
            norm_eps=head.cls_head.norm.eps,
        )
    return new(
        "ast_lobes.AudioClassificationHead",
        input_size=head.linear.in_features,
        n_labels=head.linear.out_features,
        norm_eps=head.norm.eps,
    )


def inference_hparams(pipeline, multi_label, thresholds=None):
    """The exported ``hyperparams.yaml`` as a YAML tree."""
    features = pipeline.compute_features
    head = pipeline.head
    modules = ("compute_features", "mean_var_norm", "embedding_model")
    tree = CommentedMap(
        sample_rate=features.sample_rate,
        multi_label=bool(multi_label),
        compute_features=new(
            "ast_lobes.KaldiFbank",
            sample_rate=features.sample_rate,
            n_mels=features.n_mels,
            frame_shift=features.frame_shift,
            target_length=features.target_length,
        ),
        mean_var_norm=new(
            "ast_lobes.FbankNormalization",
            normalization=inline(
                [pipeline.normalize.mean, pipeline.normalize.std]
            ),
            **per_clip_mean_setting(pipeline.normalize),
        ),
        embedding_model=new(
            "ast_lobes.AudioSpectrogramTransformer",
            **{
                key: inline(value) if isinstance(value, list) else value
                for key, value in pipeline.bare_encoder.config.as_dict().items()
            },
        ),
        classifier=head_node(head),
        label_encoder=new("speechbrain.dataio.encoder.CategoricalEncoder"),
        pipeline=new(
            "ast_lobes.AudioClassificationPipeline",
            compute_features=ref("compute_features"),
            normalize=ref("mean_var_norm"),
            encoder=ref("embedding_model"),
            classifier=ref("classifier"),
        ),
        modules=CommentedMap(
            {name: ref(name) for name in (*modules, "classifier")}
        ),
        pretrainer=new(
            "speechbrain.utils.parameter_transfer.Pretrainer",
            loadables=CommentedMap(
                {
                    name: ref(name)
                    for name in (
                        "embedding_model",
                        "classifier",
                        "label_encoder",
                    )
                }
            ),
        ),
    )
    if thresholds is not None:  # per-class decision thresholds
        tree["thresholds"] = inline([round(float(t), 6) for t in thresholds])
    return tree


def export_classifier(folder, pipeline, label_encoder, multi_label=False,
                      thresholds=None):  # fmt: skip
    """Writes a model folder for ``EncoderClassifier.from_hparams``.

    Arguments
    ---------
    folder : str
        Output folder (created).
    pipeline : ast_lobes.AudioClassificationPipeline
        The trained front end, scaling, encoder and head.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Label names.
    multi_label : bool
        Whether the model was trained with sigmoid (multi-label) outputs.
    thresholds : list or None
        Per-class decision thresholds (multi-label), one per label, used
        by the tagger unless a threshold is given.

    Returns
    -------
    str
        Path of the written ``hyperparams.yaml``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> from ast_lobes import (AudioClassificationHead,
    ...     AudioClassificationPipeline, AudioSpectrogramTransformer,
    ...     FbankNormalization, KaldiFbank, load_model_source)
    >>> pipeline = AudioClassificationPipeline(
    ...     KaldiFbank(target_length=100), FbankNormalization("esc50"),
    ...     AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...         depth=1, num_heads=2, target_length=100),
    ...     AudioClassificationHead(32, 2)).eval()
    >>> labels = CategoricalEncoder()
    >>> labels.update_from_iterable(["cat", "dog"])
    >>> folder = tempfile.mkdtemp()
    >>> _ = export_classifier(folder, pipeline, labels)
    >>> model = load_model_source(folder)
    >>> model.label_names, model.multi_label
    (['cat', 'dog'], False)
    >>> wav = torch.randn(1, 16000)
    >>> torch.allclose(model.pipeline(wav), pipeline(wav))
    True
    """
    os.makedirs(folder, exist_ok=True)
    encoder = pipeline.bare_encoder
    classifier = pipeline.head
    buffer = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump(inference_hparams(pipeline, multi_label, thresholds), buffer)
    path = os.path.join(folder, "hyperparams.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(HEADER + buffer.getvalue())
    torch.save(
        encoder.state_dict(), os.path.join(folder, "embedding_model.ckpt")
    )
    torch.save(classifier.state_dict(), os.path.join(folder, "classifier.ckpt"))
    label_encoder.save(os.path.join(folder, "label_encoder.ckpt"))
    write_description(folder, pipeline, label_encoder, multi_label,
                      thresholds)  # fmt: skip
    interface = os.path.join(folder, "custom_interface.py")
    with open(interface, "w", encoding="utf-8") as handle:
        handle.write(CUSTOM_INTERFACE)
    return path


def write_description(folder, pipeline, label_encoder, multi_label,
                      thresholds=None):  # fmt: skip
    """Writes ``model.json`` and ``model.safetensors`` (the encoder's
    tensors under ``encoder.``, the head's under ``classifier.``)."""
    from safetensors.torch import save_file

    labels = [label_encoder.ind2lab[i] for i in range(len(label_encoder))]
    description = describe_pipeline(pipeline, labels, multi_label, thresholds)
    with open(os.path.join(folder, DESCRIPTION_FILE), "w",
              encoding="utf-8") as handle:  # fmt: skip
        json.dump(description, handle, indent=1)
    tensors = {
        f"{prefix}.{name}": tensor.detach().cpu().contiguous()
        for prefix, module in (
            ("encoder", pipeline.bare_encoder),
            ("classifier", pipeline.head),
        )  # fmt: skip
        for name, tensor in module.state_dict().items()
    }
    save_file(tensors, os.path.join(folder, WEIGHTS_FILE))


def recipe_pipeline(hparams):
    """The inference pipeline of a recipe's modules (front end, scaling,
    encoder, head) with their current weights."""
    return AudioClassificationPipeline(
        hparams["compute_features"],
        hparams["normalize"],
        hparams["encoder"],
        hparams["classifier"],
    )


def export_model(hparams, folder, label_encoder, thresholds=None):
    """Exports the modules' current weights with the recipe's front end."""
    export_classifier(
        folder,
        recipe_pipeline(hparams),
        label_encoder,
        multi_label=optional(hparams, "multi_label"),
        thresholds=thresholds,
    )
