"""Audio Spectrogram Transformer lobes for SpeechBrain.

The package is layered; each layer imports only the ones below it
(checked by import-linter, see ``pyproject.toml``)::

    training        Brain, stages, data, evaluation, export   (top)
    weights         registry, checkpoint readers, ImageNet, model sources
    augmentation    SpecAugment, fbank noise, mixup
    model           config, encoder, head, pipeline, precision
    audio           file reading, Kaldi fbank                   (bottom)

``pretrained_interfaces`` (tagger, CLI, ONNX) sits on top of all of them.
The names below are the public API, as used in YAML (``!new:ast_lobes.X``).
They are imported when first used (as ``transformers`` and ``timm`` do),
so ``import ast_lobes`` loads no SpeechBrain Brain, timm or scikit-learn.
"""

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.3.0"  # the one place of the version (setup.py reads it)

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
    "AudioClassificationPipeline": "ast_lobes.model.pipeline",
    "PRECISIONS": "ast_lobes.model.modes",
    "set_inference_precision": "ast_lobes.model.precision",
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
    "load_exported_model": "ast_lobes.weights.exported",
    "pretrained_encoder": "ast_lobes.weights.factory",
    "CheckpointError": "ast_lobes.weights.files",
    "imagenet_to_ast_state_dict": "ast_lobes.weights.imagenet",
    "load_ast_checkpoint": "ast_lobes.weights.published",
    "read_ast_checkpoint": "ast_lobes.weights.published",
    "PUBLISHED_CHECKPOINTS": "ast_lobes.weights.registry",
    "load_model_source": "ast_lobes.weights.sources",
}

__all__ = sorted(_PUBLIC_NAMES)


def __getattr__(name):
    module = _PUBLIC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'ast_lobes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access skips this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC_NAMES))


# Module paths of earlier versions, imported by the ``custom_interface.py``
# of model folders exported then and by users' code; each is the module
# it moved to, imported only when asked for.
_MOVED_MODULES = {
    "ast_lobes.audio_io": "ast_lobes.audio.io",
    "ast_lobes.checkpoints": "ast_lobes.weights.published",
    "ast_lobes.features": "ast_lobes.audio.fbank",
    "ast_lobes.labels": "ast_lobes.weights.labels",
    "ast_lobes.precision": "ast_lobes.model.precision",
    # before training/ was split into data/ and evaluation/ (0.3)
    **{
        f"ast_lobes.training.{name}": f"ast_lobes.training.{room}.{name}"
        for room, names in (
            (
                "data",
                (
                    "labelled_audio",
                    "unlabelled_audio",
                    "splits",
                    "manifest",
                    "sampling",
                ),
            ),
            (
                "evaluation",
                (
                    "metrics",
                    "thresholds",
                    "report",
                    "event_metrics",
                    "averaging",
                    "crossval",
                ),
            ),
        )
        for name in names
    },
    # renamed for what they hold
    "ast_lobes.training.stages": "ast_lobes.training.hparams_check",
    "ast_lobes.training.identity": "ast_lobes.training.run_fingerprint",
}


class _MovedModule(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as the module it moved to."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return importlib.import_module(_MOVED_MODULES[spec.name])

    def exec_module(self, module):
        pass


if not any(isinstance(f, _MovedModule) for f in sys.meta_path):
    sys.meta_path.append(_MovedModule())
