"""Audio Spectrogram Transformer lobes for SpeechBrain.

The package is layered; each layer imports only the ones below it
(checked by import-linter, see ``pyproject.toml``)::

    training        Brain, stages, data, metrics, export   (top)
    weights         registry, checkpoint readers, ImageNet, exported folders
    augmentation    SpecAugment, fbank noise, mixup
    model           config, encoder, head, pipeline, precision
    audio           file reading, Kaldi fbank                (bottom)

``pretrained_interfaces`` (tagger, CLI, ONNX) sits on top of all of them.
The names below are the public API, as used in YAML (``!new:ast_lobes.X``).
"""

from ast_lobes.audio.fbank import (
    NORMALIZATION_PRESETS,
    FbankNormalization,
    KaldiFbank,
)
from ast_lobes.audio.io import AudioFileError, read_audio
from ast_lobes.augmentation.mixup import Mixup
from ast_lobes.augmentation.spectrogram import FbankNoise, SpecAugment
from ast_lobes.model.config import (
    MODEL_SIZES,
    AudioSpectrogramTransformerConfig,
)
from ast_lobes.model.encoder import AudioSpectrogramTransformer
from ast_lobes.model.head import (
    AudioClassificationHead,
    DistillationHead,
    FrameLevelHead,
)
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.model.precision import PRECISIONS, set_inference_precision
from ast_lobes.training.brain import AudioClassificationBrain, read_metrics
from ast_lobes.training.crossval import summarize_folds, write_summary
from ast_lobes.training.data import (
    UnknownLabelError,
    build_label_encoder,
    classification_dataset,
)
from ast_lobes.training.distillation import Distillation
from ast_lobes.training.export import export_classifier
from ast_lobes.training.schedule import ReferenceLRSchedule
from ast_lobes.training.stages import UnknownHparamError
from ast_lobes.weights.exported import load_exported_model
from ast_lobes.weights.factory import pretrained_encoder
from ast_lobes.weights.files import CheckpointError
from ast_lobes.weights.imagenet import imagenet_to_ast_state_dict
from ast_lobes.weights.published import (
    load_ast_checkpoint,
    read_ast_checkpoint,
)
from ast_lobes.weights.registry import PUBLISHED_CHECKPOINTS

__all__ = [
    "AudioClassificationBrain",
    "AudioClassificationHead",
    "DistillationHead",
    "FrameLevelHead",
    "Distillation",
    "AudioClassificationPipeline",
    "AudioFileError",
    "AudioSpectrogramTransformer",
    "AudioSpectrogramTransformerConfig",
    "CheckpointError",
    "FbankNoise",
    "FbankNormalization",
    "KaldiFbank",
    "MODEL_SIZES",
    "Mixup",
    "NORMALIZATION_PRESETS",
    "PRECISIONS",
    "PUBLISHED_CHECKPOINTS",
    "ReferenceLRSchedule",
    "SpecAugment",
    "UnknownHparamError",
    "UnknownLabelError",
    "build_label_encoder",
    "classification_dataset",
    "export_classifier",
    "imagenet_to_ast_state_dict",
    "load_ast_checkpoint",
    "load_exported_model",
    "pretrained_encoder",
    "read_ast_checkpoint",
    "read_audio",
    "read_metrics",
    "set_inference_precision",
    "summarize_folds",
    "write_summary",
]

# Module paths of version 0.1, imported by the ``custom_interface.py`` of
# model folders exported then (SpeechBrain's ``foreign_class`` runs it).
_MOVED_MODULES = {
    "audio_io": "ast_lobes.audio.io",
    "checkpoints": "ast_lobes.weights.published",
    "features": "ast_lobes.audio.fbank",
    "labels": "ast_lobes.weights.labels",
    "precision": "ast_lobes.model.precision",
}


def _alias_moved_modules():
    import importlib
    import sys

    for old, new in _MOVED_MODULES.items():
        sys.modules.setdefault(f"ast_lobes.{old}", importlib.import_module(new))


_alias_moved_modules()
