"""Inference interfaces for AST models (SpeechBrain ``Pretrained``)."""

from pretrained_interfaces.audio_tagger import AudioTagger, TaggingResult

__all__ = ["AudioTagger", "TaggingResult"]
