"""Inference interfaces for AST models (SpeechBrain ``Pretrained``).

``AudioTagger`` and ``TaggingResult`` are imported when first used, so
that ``ast-tag --help`` answers without loading torch."""

import importlib

__all__ = ["AudioTagger", "TaggingResult"]


def __getattr__(name):
    if name not in __all__:
        raise AttributeError(
            f"module 'pretrained_interfaces' has no attribute {name!r}"
        )
    module = importlib.import_module("pretrained_interfaces.audio_tagger")
    return getattr(module, name)
