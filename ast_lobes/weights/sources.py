"""The one way in: one resolver from a model source to a model: an
exported folder of this project, a published AST (registry name, original
``.pth``, Hugging Face folder or hub id) or another SpeechBrain classifier
folder.

``load_model_source`` is what every ``AudioTagger`` constructor,
``ast-tag``, HEAR, distillation teachers and the recipes call; each gets
an ``ExportedModel``: the pipeline (``(wavs, lens) -> logits``), its
label names, single- or multi-label outputs, the calibrated thresholds
and the head's output kind. It reads with the same readers as
``ast_lobes.pretrained_encoder`` (``read_ast_checkpoint``), which builds
an encoder to train rather than a model to run.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
from dataclasses import dataclass

import torch
from torch import nn

from ast_lobes.audio.fbank import FbankNormalization, KaldiFbank
from ast_lobes.compat.exports import is_yaml_export
from ast_lobes.model.encoder import AudioSpectrogramTransformer
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.weights.exported import (
    DESCRIPTION_FILE,
    ExportedModel,
    load_exported_model,
)
from ast_lobes.weights.files import (
    CheckpointError,
    UnsafeModelFolderError,
    load_state_dict_exactly,
)
from ast_lobes.weights.labels import audioset_label_names
from ast_lobes.weights.published import (
    checkpoint_modules,
    default_front_end,
    read_ast_checkpoint,
)
from ast_lobes.weights.self_supervised import CONFIG_FILE as SSAST_CONFIG_FILE
from ast_lobes.weights.self_supervised import read_pretrained_encoder


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
    """True for a folder written by ``ast_lobes.export_classifier``
    (``model.json``; or a ``hyperparams.yaml`` of this project's modules,
    ``ast_lobes.compat.exports``)."""
    return os.path.isfile(
        os.path.join(folder, DESCRIPTION_FILE)
    ) or is_yaml_export(folder)


def load_speechbrain_classifier(folder, savedir=None, trust_code=False):
    """Another SpeechBrain classifier folder, through ``EncoderClassifier``
    (its features are its own: no augmentation draws). Building it runs
    what its ``hyperparams.yaml`` says, so it is refused unless
    ``trust_code``."""
    if not trust_code:
        raise UnsafeModelFolderError(
            f"{folder}: a SpeechBrain classifier folder of another model: "
            "loading it builds what its hyperparams.yaml says, which can "
            "run any code; refused unless you trust it (trust_code=True; "
            "for a teacher, --teacher_trust_code true)"
        )

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


def load_published_model(source, savedir=None, label_names=None,
                         target_length=None, normalization=None,
                         unnamed_labels=False):  # fmt: skip
    """A published AST with its own front end and label names (see
    ``load_model_source``)."""
    checkpoint = read_ast_checkpoint(source, savedir=savedir)
    encoder, classifier = checkpoint_modules(checkpoint)
    n_labels = classifier.linear.out_features
    names = label_names or checkpoint.labels
    if names is None and n_labels == 527:
        names = audioset_label_names()
    if names is None and unnamed_labels:
        names = [f"class_{index}" for index in range(n_labels)]
    if names is None:
        raise ValueError(
            f"{source}: {n_labels} outputs and no label names for them; "
            "pass the label names"
        )
    if len(names) != n_labels:
        raise ValueError(
            f"{source}: {n_labels} outputs but {len(names)} label names"
        )
    front_end = default_front_end(checkpoint)
    pipeline = AudioClassificationPipeline(
        KaldiFbank(
            sample_rate=front_end.sample_rate,
            n_mels=front_end.n_mels,
            target_length=target_length or front_end.target_length,
        ),
        FbankNormalization(normalization or front_end.normalization),
        encoder,
        classifier,
    )
    return ExportedModel(pipeline.eval(), list(names),
                         checkpoint.multi_label, {})  # fmt: skip


def load_model_source(source, savedir=None, trust_code=False, **published):
    """Any trained classifier this project can run or learn from.

    Arguments
    ---------
    source : str
        A model folder exported by a recipe of this project; another
        SpeechBrain classifier folder (``hyperparams.yaml`` for
        ``EncoderClassifier``); or a published AST: a registry name, an
        original ``.pth``, a Hugging Face folder or hub id.
    savedir : str or None
        Where downloads and SpeechBrain's links go.
    trust_code : bool
        Load another SpeechBrain classifier folder (building its YAML runs
        code); this project's folders and published ASTs are read as data
        and need no trust.
    **published
        For a published AST: ``label_names`` (default: the checkpoint's,
        or AudioSet's for 527 outputs), ``target_length`` and
        ``normalization`` (default: its front end's), ``unnamed_labels``
        (name unknown labels ``class_<i>`` instead of refusing).

    Returns
    -------
    ExportedModel
        ``pipeline`` maps ``(wavs, lens)`` to logits; it is an
        ``AudioClassificationPipeline`` except for other SpeechBrain
        classifiers.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> from ast_lobes import (AudioClassificationHead,
    ...     AudioClassificationPipeline, AudioSpectrogramTransformer,
    ...     FbankNormalization, KaldiFbank, export_classifier)
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
    >>> model.label_names, model.output_kind
    (['cat', 'dog'], 'clip')
    """
    source = str(source)
    if is_project_export(source):
        return load_exported_model(source)
    if os.path.isfile(os.path.join(source, "hyperparams.yaml")):
        return load_speechbrain_classifier(source, savedir, trust_code)
    return load_published_model(source, savedir, **published)


@dataclass
class EncoderSource:
    """A pretrained encoder with the front end it was trained with: what
    ``load_encoder_source`` gives.

    Arguments
    ---------
    encoder : ast_lobes.AudioSpectrogramTransformer
        The encoder (fp32, eval mode).
    compute_features : ast_lobes.KaldiFbank
        Its front end (sample rate, mel bins, frame shift, frames).
    normalize : ast_lobes.FbankNormalization
        Its fbank scaling.
    kind : str
        ``exported`` (a model folder of this project), ``published`` (a
        published AST: name, ``.pth``, Hugging Face folder or hub id) or
        ``ssast`` (an encoder folder of masked patch pretraining).
    """

    encoder: nn.Module
    compute_features: KaldiFbank
    normalize: FbankNormalization
    kind: str

    def front_end(self):
        """The front end's settings (``sample_rate``, ``n_mels``,
        ``frame_shift``, ``norm_mean``, ``norm_std``,
        ``per_clip_mean``), as a recipe's keys."""
        features = self.compute_features
        return {
            "sample_rate": int(features.sample_rate),
            "n_mels": int(features.n_mels),
            "frame_shift": float(features.frame_shift),
            "norm_mean": float(self.normalize.mean),
            "norm_std": float(self.normalize.std),
            "per_clip_mean": bool(self.normalize.per_clip_mean),
        }


def load_encoder_source(source, savedir=None):
    """The encoder and front end of any source ``load_model_source``
    reads, or of an encoder folder of masked patch pretraining
    (``recipes/SSAST``: ``encoder.json`` and ``encoder.ckpt``), which has
    no head: what a new head is trained on (transfer).

    Arguments
    ---------
    source : str
        An exported model folder of this project, a published AST (a
        registry name, an original ``.pth``, a Hugging Face folder or hub
        id) or an SSAST encoder folder.
    savedir : str or None
        Where downloads go.

    Returns
    -------
    EncoderSource

    Raises
    ------
    CheckpointError
        For a source that does not load, or that holds no AST encoder,
        naming it.

    Example
    -------
    >>> import tempfile
    >>> from ast_lobes import AudioSpectrogramTransformer
    >>> from ast_lobes.weights.self_supervised import save_pretrained_encoder
    >>> encoder = AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...     depth=1, num_heads=2, target_length=96, fstride=16, tstride=16)
    >>> folder = save_pretrained_encoder(tempfile.mkdtemp(), encoder,
    ...     {"sample_rate": 16000, "n_mels": 128, "normalization": [-4, 4]})
    >>> loaded = load_encoder_source(folder)
    >>> loaded.kind, loaded.front_end()["norm_mean"]
    ('ssast', -4.0)
    """
    source = str(source)
    if os.path.isfile(os.path.join(source, SSAST_CONFIG_FILE)):
        state, config, front_end = read_pretrained_encoder(source)
        encoder = AudioSpectrogramTransformer(config)
        load_state_dict_exactly(encoder, state, source)
        compute_features = KaldiFbank(
            sample_rate=front_end.get("sample_rate", 16000),
            n_mels=front_end.get("n_mels", config.input_fdim),
            target_length=front_end.get("target_length"),
        )
        normalize = FbankNormalization(
            tuple(front_end.get("normalization", (0.0, 1.0)))
        )
        return EncoderSource(encoder.eval(), compute_features, normalize,
                             "ssast")  # fmt: skip
    kind = "exported" if is_project_export(source) else "published"
    model = load_model_source(source, savedir, unnamed_labels=True)
    pipeline = model.pipeline
    encoder = getattr(pipeline, "bare_encoder", None)
    if not isinstance(encoder, AudioSpectrogramTransformer):
        raise CheckpointError(
            f"{source}: holds a {type(encoder).__name__}, not an Audio "
            "Spectrogram Transformer encoder to start from"
        )
    return EncoderSource(encoder.eval(), pipeline.compute_features,
                         pipeline.normalize, kind)  # fmt: skip


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
