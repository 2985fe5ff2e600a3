"""Audio Spectrogram Transformer lobes for SpeechBrain."""

from ast_lobes.audio_io import AudioFileError, read_audio
from ast_lobes.augment import FbankNoise, SpecAugment
from ast_lobes.checkpoints import (
    PUBLISHED_CHECKPOINTS,
    load_ast_checkpoint,
    load_ast_encoder_weights,
    read_ast_checkpoint,
)
from ast_lobes.encoder import MODEL_SIZES, AudioSpectrogramTransformer
from ast_lobes.features import (
    NORMALIZATION_PRESETS,
    FbankNormalization,
    KaldiFbank,
)
from ast_lobes.head import AudioClassificationHead
from ast_lobes.imagenet import imagenet_to_ast_state_dict, load_imagenet_weights
from ast_lobes.state_dict import CheckpointError

__all__ = [
    "AudioClassificationHead",
    "AudioFileError",
    "AudioSpectrogramTransformer",
    "CheckpointError",
    "FbankNoise",
    "FbankNormalization",
    "KaldiFbank",
    "MODEL_SIZES",
    "NORMALIZATION_PRESETS",
    "PUBLISHED_CHECKPOINTS",
    "SpecAugment",
    "imagenet_to_ast_state_dict",
    "load_ast_checkpoint",
    "load_ast_encoder_weights",
    "load_imagenet_weights",
    "read_ast_checkpoint",
    "read_audio",
]

from ast_lobes.brain import AudioClassificationBrain, read_metrics  # noqa: E402
from ast_lobes.crossval import summarize_folds, write_summary  # noqa: E402
from ast_lobes.data import (  # noqa: E402
    UnknownLabelError,
    build_label_encoder,
    classification_dataset,
)
from ast_lobes.export import export_classifier  # noqa: E402
from ast_lobes.mixup import Mixup  # noqa: E402
from ast_lobes.precision import (  # noqa: E402
    PRECISIONS,
    set_inference_precision,
)
from ast_lobes.schedule import ReferenceLRSchedule  # noqa: E402

__all__ += [
    "AudioClassificationBrain",
    "Mixup",
    "PRECISIONS",
    "ReferenceLRSchedule",
    "UnknownLabelError",
    "build_label_encoder",
    "classification_dataset",
    "export_classifier",
    "read_metrics",
    "set_inference_precision",
    "summarize_folds",
    "write_summary",
]
