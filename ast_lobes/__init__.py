"""Audio Spectrogram Transformer lobes for SpeechBrain.

The package is layered; each layer imports only the ones below it
(checked by import-linter, see ``pyproject.toml``)::

    training        Brain, recipe steps, data, evaluation, export (top)
    weights         registry, checkpoint readers, ImageNet, model sources
    augmentation    SpecAugment, fbank noise, mixup
    inference       precision modes, hardware policy, speed probe, ONNX
                    Runtime, token merging, agreement records
    model           config, encoder, head, pipeline
    audio           file reading, Kaldi fbank                   (bottom)

Weights, augmentation and inference are independent of each other.
``pretrained_interfaces`` (tagger, CLI, ONNX) sits on top of all of them;
``compat`` (names of earlier versions) below all of them.
The names below are the public API, as used in YAML (``!new:ast_lobes.X``).
They are imported when first used (as ``transformers`` and ``timm`` do),
so ``import ast_lobes`` loads no SpeechBrain Brain, timm or scikit-learn.
"""

import importlib

from ast_lobes.compat.aliases import (
    DEPRECATED_PACKAGE_NAMES,
    deprecated_call,
    install_moved_modules,
)

__version__ = "0.4.0"  # the one place of the version (setup.py reads it)

# Public name -> the module that defines it.
_PUBLIC_NAMES = {
    "NORMALIZATION_PRESETS": "ast_lobes.audio.fbank",
    "FbankNormalization": "ast_lobes.audio.fbank",
    "KaldiFbank": "ast_lobes.audio.fbank",
    "AudioFileError": "ast_lobes.audio.io",
    "read_audio": "ast_lobes.audio.io",
    "Mixup": "ast_lobes.augmentation.mixup",
    "FbankNoise": "ast_lobes.augmentation.spectrogram",
    "SpecAugment": "ast_lobes.augmentation.spectrogram",
    "MODEL_SIZES": "ast_lobes.model.config",
    "AudioSpectrogramTransformerConfig": "ast_lobes.model.config",
    "AudioSpectrogramTransformer": "ast_lobes.model.encoder",
    "AudioClassificationHead": "ast_lobes.model.head",
    "DistillationHead": "ast_lobes.model.head",
    "FrameLevelHead": "ast_lobes.model.head",
    "BlockWeightedHead": "ast_lobes.model.head",
    "AudioClassificationPipeline": "ast_lobes.model.pipeline",
    "PRECISIONS": "ast_lobes.inference.modes",
    "set_inference_precision": "ast_lobes.inference.precision",
    "AudioClassificationBrain": "ast_lobes.training.brain",
    "read_metrics": "ast_lobes.training.evaluation.metrics_file",
    "summarize_folds": "ast_lobes.training.evaluation.crossval",
    "write_summary": "ast_lobes.training.evaluation.crossval",
    "UnknownLabelError": "ast_lobes.training.data.datasets",
    "build_label_encoder": "ast_lobes.training.data.datasets",
    "classification_dataset": "ast_lobes.training.data.datasets",
    "Distillation": "ast_lobes.training.distillation",
    "export_classifier": "ast_lobes.training.export",
    "ReferenceLRSchedule": "ast_lobes.training.schedule",
    "UnknownHparamError": "ast_lobes.training.hparams_check",
    "pretrained_encoder": "ast_lobes.weights.factory",
    "source_encoder": "ast_lobes.weights.factory",
    "CheckpointError": "ast_lobes.weights.files",
    "imagenet_to_ast_state_dict": "ast_lobes.weights.imagenet",
    "PUBLISHED_CHECKPOINTS": "ast_lobes.weights.registry",
    "load_model_source": "ast_lobes.weights.sources",
}

__all__ = sorted(_PUBLIC_NAMES)


def __getattr__(name):
    module = _PUBLIC_NAMES.get(name)
    if module is None and name in DEPRECATED_PACKAGE_NAMES:
        deprecated_call(f"ast_lobes.{name}")
        return getattr(
            importlib.import_module(DEPRECATED_PACKAGE_NAMES[name]), name
        )
    if module is None:
        raise AttributeError(f"module 'ast_lobes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access skips this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC_NAMES))


install_moved_modules()  # old module paths import as their new ones
